"""Schema migrations (alembic), driven without an ``alembic.ini``.

``nova-cells-manage db sync`` and ``db version`` call these; the daemon never
migrates by itself (an operator decides when a schema changes, as with
``nova-manage db sync``).
"""

import logging
import os

from alembic import command
from alembic import config as alembic_config
from alembic import migration as alembic_migration
from alembic import script as alembic_script
from alembic import util as alembic_util

from nova_cells import exception

__all__ = ['db_sync', 'db_version', 'head_version']

_SCRIPT_LOCATION = os.path.join(os.path.dirname(__file__), 'migrations')


def _alembic_config(connection=None):
    config = alembic_config.Config()
    config.set_main_option('script_location', _SCRIPT_LOCATION)
    config.attributes['connection'] = connection
    return config


def db_sync(database, version='head'):
    """Upgrade the schema of ``database`` to ``version`` (default: head).

    :param database: a :class:`nova_cells.db.api.Database`.
    :raises NovaCellsException: ``version`` names no revision (alembic's
        own error was a traceback in ``db sync bogus``).
    """
    with database.engine.begin() as connection:
        try:
            command.upgrade(_alembic_config(connection), version)
        except alembic_util.CommandError as exc:
            raise exception.NovaCellsException(
                'db sync %s: %s' % (version, str(exc).splitlines()[0]))


def db_version(database):
    """Return the current schema revision of ``database``, or None."""
    quiet = logging.getLogger('alembic.runtime.migration')
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # "Context impl ..." on every check
    try:
        with database.engine.connect() as connection:
            context = alembic_migration.MigrationContext.configure(
                connection)
            return context.get_current_revision()
    finally:
        quiet.setLevel(level)


def head_version():
    """Return the newest revision this nova-cells knows."""
    scripts = alembic_script.ScriptDirectory.from_config(_alembic_config())
    return scripts.get_current_head()
