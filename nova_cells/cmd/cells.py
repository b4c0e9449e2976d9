"""``nova-cells``: the daemon of one cell, launched by oslo.service."""

import sys

from oslo_config import cfg
from oslo_log import log as logging
from oslo_db import exception as db_exc
from sqlalchemy import exc as sa_exc

from nova_cells.service import assembly
from nova_cells.cmd import _common
from nova_cells import exception
from nova_cells.db import api as db_api
from nova_cells.db import schema
from nova_cells.scheduler import plugins
from nova_cells.scheduler import core as scheduler
from nova_cells.service import daemon as service
from nova_cells.service import launcher
from nova_cells.service import reports
from nova_cells.cells import state
from nova_cells.transport import connections
from nova_cells import transport_url


LOG = logging.getLogger(__name__)

# Seconds start-up waits for the cell's own broker to answer.
_BROKER_WAIT = 10.0


def _check_database(conf, db):
    """The database answers and its schema is current."""
    where = transport_url.mask(conf.database.connection)
    try:
        db.check_connection()
        problem = schema.problem(db)
    except (db_exc.DBError, sa_exc.SQLAlchemyError) as exc:
        _common.die('nova-cells: cannot connect to the database in '
                    '[database] connection (%s): %s'
                    % (where, _common.first_line(exc)), status=1)
    if problem:
        _common.die('nova-cells: the database in [database] connection '
                    '(%s): %s' % (where, problem), status=1)


def _check_cell_list(conf, db):
    """The neighbours can be read (the cells_config file, if any)."""
    try:
        state.make_state_manager(conf, db).source.load(force=True)
    except (cfg.ConfigFilesNotFoundError, OSError, ValueError) as exc:
        _common.die('nova-cells: cannot read [cells] cells_config (%s): %s'
                    % (conf.cells.cells_config, exc), status=1)


def _check_scheduler_plugins(conf):
    """The filters and weighers load, with their options (an unknown
    name, a pin naming no cell, a negative soft multiplier)."""
    try:
        scheduler.load_plugin_lists(conf)
    except (plugins.UnknownPlugin, ValueError) as exc:
        _common.die('nova-cells: invalid configuration: %s'
                    % _common.first_line(exc), status=2)


def _check_transport(conf):
    """The cell's own broker (``transport_url``) takes our login: a bad
    URL, port, password or vhost is one line and status 2, not a forked
    worker crashing with a traceback and re-forked forever."""
    where = transport_url.mask(conf.transport_url or '')
    try:
        reason = connections.broker_problem(
            connections.ConnectionFactory.from_conf(conf),
            conf.transport_url, wait=_BROKER_WAIT)
    except exception.InvalidTransportURL as exc:
        reason = exc.format_message()
    if reason:
        _common.die('nova-cells: cannot use the broker in [DEFAULT] '
                    'transport_url (%s): %s' % (where, reason), status=2)


def preflight(conf):
    """Fail fast, one line naming the option, before the launcher forks
    (a worker failing later would be restarted forever)."""
    _check_scheduler_plugins(conf)
    db = db_api.Database.from_conf(conf)
    try:
        _check_database(conf, db)
        _check_cell_list(conf, db)
    finally:
        db.dispose()
    _check_transport(conf)


def guard_reloads(conf):
    """Make SIGHUP's re-read of the configuration all or nothing.

    oslo.service mutates ``conf`` in the launcher, then either resets the
    running service (eventlet) or starts a new worker from the mutated
    ``conf`` (threading): a value start-up refuses (``max_hop_count =
    0``) would reach the worker either way.  Here the re-read is checked
    by the start-up validation first, and a failing one is undone: the
    options keep the values they had, and one ERROR line says why.
    """
    mutate = conf.mutate_config_files

    def mutate_or_keep():
        before = conf._mutable_ns
        changed = mutate()
        problems, _lists = assembly.settings_problems(conf)
        if not problems:
            return changed
        # NOTE(nova-cells): oslo.config has no public way back; its
        # mutable namespace and value cache are put back as they were.
        conf._mutable_ns = before
        getattr(conf, '_ConfigOpts__cache', {}).clear()
        LOG.error('Refused the reloaded configuration, keeping the running '
                  'settings: %s', '; '.join(problems))
        return {}
    conf.mutate_config_files = mutate_or_keep


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    conf = _common.load_config(argv, 'nova-cells')
    preflight(conf)
    guard_reloads(conf)
    reports.setup(conf)
    server = service.CellsService(conf)
    wait = launcher.launch(conf, server)
    sys.exit(wait() or 0)
