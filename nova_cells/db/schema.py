"""The schema revision the daemon needs, without loading alembic.

The daemon only has to check that its database is at the revision this
code was written for; importing alembic for that cost ~12 MB of resident
memory in every daemon.  :data:`HEAD_REVISION` must name the newest
migration (``tests/unit/test_migrations.py`` holds it to alembic's head);
:func:`current_revision` reads alembic's own table with plain SQL.
"""

import sqlalchemy as sa

__all__ = ['HEAD_REVISION', 'current_revision', 'problem']

HEAD_REVISION = '0008'

_VERSION_TABLE = sa.table('alembic_version', sa.column('version_num'))


def current_revision(database):
    """The revision recorded in ``database``, or None when it has none
    (an empty or never-synced database)."""
    with database.engine.connect() as connection:
        if not sa.inspect(connection).has_table('alembic_version'):
            return None
        return connection.execute(
            sa.select(_VERSION_TABLE.c.version_num)).scalar()


def _has_tables(database):
    with database.engine.connect() as connection:
        return bool(sa.inspect(connection).get_table_names())


def problem(database):
    """Why ``database`` cannot be used as it is, as the end of one line
    naming what to run; None when its schema is at
    :data:`HEAD_REVISION`."""
    current = current_revision(database)
    if current == HEAD_REVISION:
        return None
    if current is None and not _has_tables(database):
        return 'empty database: run `nova-cells-manage db sync`'
    if current is None:
        return ('no nova-cells schema revision (a database nova made?): '
                'run `nova-cells-manage db sync` to adopt it')
    return ('at schema %s, not %s: run `nova-cells-manage db sync`'
            % (current, HEAD_REVISION))
