"""Fixtures shipped for tests, benchmarks and the demo alike (as
oslo.messaging ships its fake driver): an in-process tree of cells, and
throw-away vhosts, databases and daemons.  No product module imports
this package.

* :mod:`.inprocess`, :mod:`.fake_services`: cells in one process;
* :mod:`.vhosts`: RabbitMQ vhosts made and deleted;
* :mod:`.databases`: databases created on a server, schema-synced, dropped;
* :mod:`.daemons`: ``nova-cells`` and helper processes that cannot
  outlive their parent;
* :mod:`.conf`: the ``cells.conf`` of a throw-away daemon;
* :mod:`.demo_processes`: the demo's daemon per cell, built on the above.
"""
