"""The demo: a tree of cells on its embedded default layout, building
instances end to end.  No product module imports this package.
"""
