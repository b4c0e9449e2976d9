"""nova 19.3.2 (Stein) as the tests meet it: its databases and its facts.

The schemas in ``tests/reference/nova_stein/`` are what nova's own
migrations create on SQLite.  :func:`create_database` makes a cell
(``'main'``) or API (``'api'``) database from them on any of the three
backends, so a test can run our daemon on a database *nova* created, as an
operator migrating a cell does, instead of on one made by our own models:

* on SQLite the captured DDL runs as it is;
* on PostgreSQL and MySQL/MariaDB the tables are read back from that DDL
  (SQLAlchemy reflection) and created with the generic type of each column
  (nova's models are generic too: ``Boolean`` is ``boolean`` on
  PostgreSQL, ``DateTime`` is ``timestamp``), with their primary keys,
  unique constraints, indexes and foreign keys.  The ``CHECK (x IN (0,
  1))`` constraints SQLite needs for booleans are left out (a boolean
  column holds nothing else there); on MySQL, indexes too long for InnoDB
  get prefix lengths, as nova's migrations gave them.

Nothing here is product code: no module of ``nova_cells`` imports it.
"""

import json
import pathlib

import sqlalchemy as sa
from sqlalchemy import pool as sa_pool

__all__ = ['REFERENCE', 'SCHEMAS', 'schema_sql', 'create_database',
           'table_columns', 'leaf_rows', 'wire_sample']

REFERENCE = pathlib.Path(__file__).parent / 'reference' / 'nova_stein'
SCHEMAS = {'main': 'main_db_schema.sql', 'api': 'api_db_schema.sql'}

# InnoDB's limit on an index key, and what nova's MySQL migrations gave
# each string column of a longer one.
_INNODB_KEY_BYTES = 3072
_UTF8_BYTES = 3
_MYSQL_PREFIX = 100


def schema_sql(which):
    """The DDL text of nova's ``'main'`` (cell) or ``'api'`` database."""
    return (REFERENCE / SCHEMAS[which]).read_text()


def _run_script(engine, script):
    raw = engine.raw_connection()
    try:
        raw.driver_connection.executescript(script)
        raw.commit()
    finally:
        raw.close()


def _reflected(which):
    """nova's tables, read back from its SQLite DDL."""
    engine = sa.create_engine('sqlite://', poolclass=sa_pool.StaticPool)
    try:
        _run_script(engine, schema_sql(which))
        metadata = sa.MetaData()
        metadata.reflect(bind=engine)
        return metadata
    finally:
        engine.dispose()


def _string_bytes(column):
    length = getattr(column.type, 'length', None)
    return (length or 0) * _UTF8_BYTES


def _index_kwargs(index, dialect):
    if dialect != 'mysql':
        return {}
    columns = list(index.columns)
    if sum(_string_bytes(c) for c in columns) <= _INNODB_KEY_BYTES:
        return {}
    return {'mysql_length': {c.name: _MYSQL_PREFIX for c in columns
                             if getattr(c.type, 'length', None)}}


def _serial_key(table):
    """The name of the table's integer primary key when it has only
    that one (nova's ``id`` columns are serial), else None."""
    keys = list(table.primary_key.columns)
    if len(keys) == 1 and isinstance(keys[0].type.as_generic(), sa.Integer):
        return keys[0].name
    return None


def _portable(reflected, dialect):
    """The reflected tables rebuilt with generic types for ``dialect``."""
    metadata = sa.MetaData()
    for table in reflected.sorted_tables:
        serial = _serial_key(table)
        columns = [sa.Column(c.name, c.type.as_generic(),
                             primary_key=c.primary_key,
                             nullable=c.nullable,
                             autoincrement=c.name == serial,
                             server_default=c.server_default)
                   for c in table.columns]
        constraints = []
        for constraint in table.constraints:
            if isinstance(constraint, sa.UniqueConstraint):
                constraints.append(sa.UniqueConstraint(
                    *[c.name for c in constraint.columns],
                    name=constraint.name))
            elif isinstance(constraint, sa.ForeignKeyConstraint):
                constraints.append(sa.ForeignKeyConstraint(
                    [c.name for c in constraint.columns],
                    [e.target_fullname for e in constraint.elements],
                    name=constraint.name))
        kwargs = ({'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8'}
                  if dialect == 'mysql' else {})
        new = sa.Table(table.name, metadata, *(columns + constraints),
                       **kwargs)
        for index in table.indexes:
            sa.Index(index.name, *[new.c[c.name] for c in index.columns],
                     unique=index.unique, **_index_kwargs(index, dialect))
    return metadata


def create_database(url, which='main'):
    """Create nova's ``which`` database (``'main'`` or ``'api'``) in the
    empty database at ``url``, as nova 19.3.2's migrations leave it."""
    engine = sa.create_engine(url, poolclass=sa_pool.NullPool)
    try:
        if engine.dialect.name == 'sqlite':
            _run_script(engine, schema_sql(which))
            return
        _portable(_reflected(which), engine.dialect.name).create_all(engine)
    finally:
        engine.dispose()


def table_columns(which):
    """``{table: {column: generic SQLAlchemy type}}`` of nova's schema."""
    return {table.name: {c.name: c.type.as_generic() for c in table.columns}
            for table in _reflected(which).tables.values()}


def leaf_rows():
    """Every row an original leaf wrote for one instance of a build, by
    table (``leaf_rows_after_build.json``, its only instance)."""
    with open(REFERENCE / 'leaf_rows_after_build.json') as handle:
        data = json.load(handle)
    (rows,) = data.values()
    return rows


def wire_sample(key):
    """The parsed message of a captured wire sample (``key`` as in
    ``wire_samples.json``: ``targeted/build_instances/down``, ...), or an
    ``oslo/...`` sample's oslo message."""
    path = REFERENCE.parent / 'wire_samples.json'
    sample = json.loads(path.read_text())['samples'][key]
    return sample.get('message') or sample['oslo_message']
