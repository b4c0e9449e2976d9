"""Where a cell's flavors are read from: its own database or nova's API one.

A cell's capacity is counted in units of its flavors' sizes (reference
§3.5), and ``nova-cells-manage explain`` asks about one flavor.  Since
Newton nova keeps flavors in the API database (``flavors`` and
``flavor_extra_specs``) and a Stein cell's ``instance_types`` is empty:
read there, a real cell reported ``units_by_mb: {}`` and its parent's RAM
weigher scored it 0.  Two readers, with one interface, chosen once from
the configuration by :func:`from_conf`:

* :class:`APIFlavors` when ``[api_database] connection`` is set: nova's
  ``FlavorList.get_all`` as the cells manager called it (an admin
  context, no filters): every flavor, disabled and private ones
  included, with its extra specs, ordered by ``flavorid`` then ``id``.
  Read only; the engine is made once (without connecting) and disposed
  by :meth:`APIFlavors.dispose`.  A failed read raises
  :class:`~nova_cells.exception.FlavorsUnavailable`, one line naming the
  option, so the caller can log it and go on.
* :class:`CellFlavors` otherwise: the live rows of the cell's
  ``instance_types`` (an older layout, or a cell that only ever ran
  nova-cells), as before.

Both return plain dicts with the same keys (:data:`FLAVOR_KEYS`,
``description`` and ``extra_specs``), and both create a flavor where they
read it (:func:`new_flavor` values; ``nova-cells-manage flavor create``,
for an operator's smoke test without nova-api): a name or flavorid taken
raises :class:`~nova_cells.exception.FlavorExists`.
"""

from oslo_db import exception as db_exc
from oslo_db.sqlalchemy import engines
from oslo_utils import timeutils
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from nova_cells.db import models
from nova_cells import exception
from nova_cells import transport_url

__all__ = ['FLAVOR_KEYS', 'CellFlavors', 'APIFlavors', 'from_conf',
           'api_engine_options', 'new_flavor']

#: The columns both tables have, under the same names.
FLAVOR_KEYS = ('id', 'flavorid', 'name', 'memory_mb', 'vcpus', 'root_gb',
               'ephemeral_gb', 'swap', 'rxtx_factor', 'vcpu_weight',
               'disabled', 'is_public')

# [api_database] options handed to the engine as they are (their names are
# oslo.db's create_engine arguments).
_ENGINE_OPTIONS = ('connection_parameters', 'sqlite_synchronous',
                   'mysql_sql_mode', 'connection_recycle_time',
                   'max_pool_size', 'max_overflow', 'pool_timeout',
                   'connection_debug', 'connection_trace')


def from_conf(conf, db):
    """The reader ``conf`` asks for: the API database's flavors when
    ``[api_database] connection`` is set, else the cell's own.

    :param db: the cell's :class:`nova_cells.db.api.Database`.
    """
    if conf.api_database.connection:
        return APIFlavors(conf.api_database.connection,
                          **api_engine_options(conf))
    return CellFlavors(db)


def new_flavor(name, memory_mb, vcpus, root_gb, ephemeral_gb=0, swap=0,
               flavorid=None, is_public=True):
    """The values of a new flavor, nova's defaults for the rest (its
    ``flavorid`` defaults to its name)."""
    return {'name': name, 'flavorid': flavorid or name,
            'memory_mb': memory_mb, 'vcpus': vcpus, 'root_gb': root_gb,
            'ephemeral_gb': ephemeral_gb, 'swap': swap, 'rxtx_factor': 1.0,
            'vcpu_weight': None, 'disabled': False, 'is_public': is_public}


def _insert(conn, table, values, taken):
    """Insert a flavor unless its name or flavorid is taken (``taken``: a
    where-clause of the live rows)."""
    clash = conn.execute(sa.select(table.c.name).where(
        taken, sa.or_(table.c.name == values['name'],
                      table.c.flavorid == values['flavorid']))).first()
    if clash is not None:
        raise exception.FlavorExists(name=values['name'],
                                     flavorid=values['flavorid'])
    conn.execute(table.insert(), values)


def api_engine_options(conf):
    """The ``[api_database]`` options that shape the engine."""
    return {name: conf.api_database[name] for name in _ENGINE_OPTIONS}


# -- the cell's instance_types ------------------------------------------------

_INSTANCE_TYPES = models.InstanceTypes.__table__
# NOTE(nova-cells): named columns, not the whole row: nova's cell
# ``instance_types`` has no ``description`` (nova added it to the API
# database's ``flavors`` only), so selecting it failed on a cell database
# nova created.
_CELL_QUERY = sa.select(*[_INSTANCE_TYPES.c[k] for k in FLAVOR_KEYS]).where(
    _INSTANCE_TYPES.c.deleted == 0).order_by(_INSTANCE_TYPES.c.flavorid,
                                             _INSTANCE_TYPES.c.id)


class CellFlavors(object):
    """The live rows of the cell's ``instance_types``; no extra specs
    (nova-cells never read ``instance_type_extra_specs``) and no
    description (the table has none)."""

    def __init__(self, db):
        self.db = db
        self.where = "this cell's instance_types ([database] connection)"

    def get_all(self):
        """Every live flavor; database errors propagate, as for the
        cell's other reads."""
        with self.db.connection_reader() as conn:
            rows = conn.execute(_CELL_QUERY).mappings().all()
        return [dict(row, description=None, extra_specs={}) for row in rows]

    def create(self, values):
        """A live ``instance_types`` row from :func:`new_flavor` values."""
        values = dict(values, deleted=0, created_at=timeutils.utcnow())
        with self.db.connection_writer() as conn:
            _insert(conn, _INSTANCE_TYPES, values,
                    _INSTANCE_TYPES.c.deleted == 0)

    def dispose(self):
        """Nothing to release: the cell's database belongs to its owner."""


# -- nova's API database ------------------------------------------------------

# The columns read of nova's API tables (tests/reference/nova_stein/
# api_db_schema.sql), in a metadata of their own so that they are never
# part of the cell's schema or migrations, and typed as nova's models are
# so that values come back as Python's (SQLite keeps booleans as 0 and 1).
_API_TABLES = sa.MetaData()
_FLAVORS = sa.Table(
    'flavors', _API_TABLES,
    sa.Column('id', sa.Integer), sa.Column('flavorid', sa.String(255)),
    sa.Column('name', sa.String(255)), sa.Column('memory_mb', sa.Integer),
    sa.Column('vcpus', sa.Integer), sa.Column('root_gb', sa.Integer),
    sa.Column('ephemeral_gb', sa.Integer), sa.Column('swap', sa.Integer),
    sa.Column('rxtx_factor', sa.Float), sa.Column('vcpu_weight', sa.Integer),
    sa.Column('disabled', sa.Boolean), sa.Column('is_public', sa.Boolean),
    sa.Column('description', sa.Text), sa.Column('created_at', sa.DateTime))
_EXTRA_SPECS = sa.Table('flavor_extra_specs', _API_TABLES,
                        sa.Column('flavor_id', sa.Integer),
                        sa.Column('key', sa.String(255)),
                        sa.Column('value', sa.String(255)))
_API_FLAVORS_QUERY = sa.select(
    *[_FLAVORS.c[k] for k in FLAVOR_KEYS + ('description',)]).order_by(
        _FLAVORS.c.flavorid, _FLAVORS.c.id)
_API_SPECS_QUERY = sa.select(_EXTRA_SPECS).order_by(_EXTRA_SPECS.c.flavor_id,
                                                    _EXTRA_SPECS.c.key)


class APIFlavors(object):
    """Flavors from nova's API database, read only."""

    def __init__(self, connection, **engine_options):
        """Make the engine; nothing connects until :meth:`get_all`.

        :raises: SQLAlchemy's error for a URL it cannot use (start-up
            refuses those first, see ``conf/validation.py``).
        """
        self.where = ('the API database in [api_database] connection (%s)'
                      % transport_url.mask(connection))
        # max_retries=0: oslo.db would otherwise connect (and retry,
        # sleeping) right here; a read that fails is retried by the next
        # capacity refresh instead.
        self._engine = engines.create_engine(connection, max_retries=0,
                                             **engine_options)

    def get_all(self):
        """Every flavor with its extra specs, read in one transaction.

        :raises FlavorsUnavailable: the database does not answer, or has
            no flavor tables.
        """
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(_API_FLAVORS_QUERY).mappings().all()
                specs = conn.execute(_API_SPECS_QUERY).all()
        except (db_exc.DBError, sa_exc.SQLAlchemyError) as exc:
            raise exception.FlavorsUnavailable(where=self.where,
                                               reason=_first_line(exc))
        by_flavor = {}
        for flavor_id, key, value in specs:
            by_flavor.setdefault(flavor_id, {})[key] = value
        return [dict(row, extra_specs=by_flavor.get(row['id'], {}))
                for row in rows]

    def create(self, values):
        """A ``flavors`` row in nova's API database, from
        :func:`new_flavor` values (as ``openstack flavor create``).

        :raises FlavorsUnavailable: the database does not answer.
        """
        values = dict(values, created_at=timeutils.utcnow())
        try:
            with self._engine.begin() as conn:
                _insert(conn, _FLAVORS, values, sa.true())
        except (db_exc.DBError, sa_exc.SQLAlchemyError) as exc:
            raise exception.FlavorsUnavailable(where=self.where,
                                               reason=_first_line(exc))

    def dispose(self):
        """Close the pooled connections (on the daemon's stop)."""
        self._engine.dispose()


def _first_line(exc):
    """The driver's message without the SQL, the parameters and the
    link SQLAlchemy appends: one line for the log."""
    cause = getattr(exc, 'inner_exception', None) or exc
    text = str(getattr(cause, 'orig', None) or cause).strip()
    return text.splitlines()[0] if text else type(exc).__name__
