"""The installed release of nova-cells, as ``--version`` prints it."""

from importlib import metadata

__all__ = ['version_string']


def version_string():
    """The version of the installed distribution (``setup.cfg``), or
    ``unknown`` when it runs from a checkout that was never installed."""
    try:
        return metadata.version('nova-cells')
    except metadata.PackageNotFoundError:
        return 'unknown'
