"""Fixtures shipped for tests, benchmarks and the demo alike (as
oslo.messaging ships its fake driver): an in-process tree of cells, and
throw-away vhosts, databases and daemons.  No product module imports
this package.
"""
