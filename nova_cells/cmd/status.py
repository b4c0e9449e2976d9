"""``nova-cells-status upgrade check``: is this cell ready to run (again)?

oslo.upgradecheck's command, as every OpenStack service has one: run
before starting a new release (or after changing links), it reads this
cell's configuration and database and asks its neighbours, and prints a
table of checks; exit status 0 (all passed), 1 (warnings) or 2 (a
failure).  Checks: the database schema, each neighbour's broker, link
symmetry (each neighbour's own daemon lists this cell, on the other
side), signing keys, and options whose meaning differs from nova's.
"""

import sys

from oslo_config import cfg
from oslo_db import exception as db_exc
from oslo_upgradecheck import upgradecheck
from sqlalchemy import exc as sa_exc

from nova_cells import api_methods
from nova_cells.cells import state
from nova_cells.cmd import _common
from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.db import schema
from nova_cells import rpcapi
from nova_cells.transport import connections
from nova_cells.transport import rpc
from nova_cells.transport import signing
from nova_cells import transport_url
from nova_cells import version

__all__ = ['Checks', 'main']

Code = upgradecheck.Code
Result = upgradecheck.Result

# Seconds each neighbour's broker and daemon may take to answer.
NEIGHBOUR_WAIT = 10

# Options nova-cells accepts from old files and ignores.
_IGNORED = (('cells', 'topic'), ('cells', 'manager'), ('cells', 'driver'))


def _set_in_a_file(conf, group, name):
    location = conf.get_location(name, group)
    return location is not None and \
        location.location == cfg.Locations.user


class Checks(upgradecheck.UpgradeCommands):
    """The checks, against ``conf`` (parsed by :func:`main`)."""

    def __init__(self, conf, ask_neighbour=None, broker_problem=None):
        """:param ask_neighbour: ``(conf, neighbour) -> its neighbours'
            info`` (default: ``get_cell_info_for_neighbors`` on its
            broker).
        :param broker_problem: ``(conf, url) -> why unusable, or None``."""
        self.conf = conf
        self._ask = ask_neighbour or _ask_neighbour
        self._find_broker_problem = broker_problem or _broker_problem
        self._neighbours = None
        self._broker_problems = {}

    # -- helpers ---------------------------------------------------------

    def neighbours(self):
        """The neighbours as this cell's state reads them (cached);
        :raises Exception: the database or the file cannot be read."""
        if self._neighbours is None:
            db = db_api.Database.from_conf(self.conf)
            try:
                manager = state.make_state_manager(self.conf, db)
                manager.sync(force=True)
                self._neighbours = (
                    [('child', c) for c in manager.get_child_cells()] +
                    [('parent', p) for p in manager.get_parent_cells()])
            finally:
                db.dispose()
        return self._neighbours

    def broker_problem(self, cell):
        """Why the neighbour's broker cannot be used, or None (asked once
        per URL)."""
        url = _url_of(cell)
        if url not in self._broker_problems:
            self._broker_problems[url] = self._find_broker_problem(
                self.conf, url)
        return self._broker_problems[url]

    def _neighbours_or_result(self):
        try:
            return self.neighbours(), None
        except Exception as exc:  # noqa - the check says why
            return None, Result(Code.FAILURE, 'Cannot read the cell list: %s'
                                % _common.first_line(exc))

    # -- the checks ------------------------------------------------------

    def _check_schema(self):
        where = transport_url.mask(self.conf.database.connection or '')
        db = db_api.Database.from_conf(self.conf)
        try:
            db.check_connection()
            problem = schema.problem(db)
        except (db_exc.DBError, sa_exc.SQLAlchemyError) as exc:
            return Result(Code.FAILURE, 'Cannot connect to the database in '
                          '[database] connection (%s): %s'
                          % (where, _common.first_line(exc)))
        finally:
            db.dispose()
        if problem:
            return Result(Code.FAILURE, 'The database in [database] '
                          'connection (%s): %s' % (where, problem))
        return Result(Code.SUCCESS, 'Schema %s' % schema.HEAD_REVISION)

    def _for_neighbours(self, check):
        """``check(neighbours)``, unless the cell list cannot be read or
        is empty."""
        neighbours, failed = self._neighbours_or_result()
        if failed:
            return failed
        if not neighbours:
            return Result(Code.SUCCESS, 'No neighbours')
        return check(neighbours)

    def _check_brokers(self):
        return self._for_neighbours(self._brokers_of)

    def _brokers_of(self, neighbours):
        problems = []
        for _role, cell in neighbours:
            reason = self.broker_problem(cell)
            if reason:
                problems.append('%s (%s): %s' % (
                    cell.name, transport_url.mask(_url_of(cell)), reason))
        if problems:
            return Result(Code.WARNING, 'Unreachable brokers: %s'
                          % '; '.join(problems))
        return Result(Code.SUCCESS, '%d neighbour broker(s) reachable'
                      % len(neighbours))

    def _check_link_symmetry(self):
        return self._for_neighbours(self._symmetry_of)

    def _symmetry_of(self, neighbours):
        ours, wrong, silent = self.conf.cells.name, [], []
        for role, cell in neighbours:
            if self.broker_problem(cell):
                silent.append('%s (its broker is unreachable)' % cell.name)
                continue
            try:
                theirs = self._ask(self.conf, cell)
            except Exception as exc:  # noqa - reported, not raised
                silent.append('%s (%s)' % (cell.name, _common.first_line(exc)))
                continue
            verdict = _symmetry_problem(ours, role, cell.name, theirs)
            if verdict:
                wrong.append(verdict)
        if wrong:
            return Result(Code.FAILURE, '; '.join(wrong))
        if silent:
            return Result(Code.WARNING, 'No answer from the daemon of: %s'
                          % ', '.join(silent))
        return Result(Code.SUCCESS, 'Every neighbour lists %s on the other '
                      'side' % ours)

    def _check_signing_keys(self):
        mode = self.conf.cells.signing
        if mode == 'off':
            return Result(Code.SUCCESS, 'Signing is off')
        neighbours, failed = self._neighbours_or_result()
        if failed:
            return failed
        broken = [c.name for _r, c in neighbours
                  if c.db_info.get('signing_keys_error')]
        keyless = [c.name for _r, c in neighbours
                   if not signing.LinkSigning.keys_of(c)]
        if broken:
            return Result(Code.FAILURE, 'Unreadable signing keys for: %s'
                          % ', '.join(sorted(broken)))
        if keyless:
            code = Code.FAILURE if mode == 'require' else Code.WARNING
            return Result(code, 'No signing keys for: %s (signing = %s)'
                          % (', '.join(sorted(keyless)), mode))
        return Result(Code.SUCCESS, 'Every neighbour has keys (signing = %s)'
                      % mode)

    def _check_changed_options(self):
        """Options set (or left unset) where nova-cells reads them
        differently from nova: a warning each; the new default of
        ``intercell_send_retries`` is only noted."""
        warnings = ['[%s] %s is set but ignored (removed from nova)'
                    % (group, name) for group, name in _IGNORED
                    if _set_in_a_file(self.conf, group, name)]
        if not self.conf.database.connection:
            warnings.append('[database] connection is not set: a SQLite '
                            'file under state_path is used (nova required '
                            'it)')
        notes = []
        retries = self.conf.cells.intercell_send_retries
        if retries != -1:
            notes.append('[cells] intercell_send_retries = %d: a send to a '
                         'neighbour whose broker is down gives up after '
                         'that many reconnections (nova retried for ever; '
                         '-1 restores that)' % retries)
        if warnings:
            return Result(Code.WARNING, '; '.join(warnings + notes))
        return Result(Code.SUCCESS, '; '.join(notes) or None)

    _upgrade_checks = (
        ('Database schema', _check_schema),
        ("Neighbours' brokers", _check_brokers),
        ('Link symmetry', _check_link_symmetry),
        ('Signing keys', _check_signing_keys),
        ('Options that changed meaning', _check_changed_options),
    )


def _url_of(cell):
    return cell.db_info.get('transport_url') or ''


def _symmetry_problem(ours, role, name, theirs):
    """Why ``name`` (our ``role``) does not list us on the other side, or
    None.  ``theirs``: its ``get_cell_info_for_neighbors`` answer."""
    entry = next((e for e in theirs or [] if e.get('name') == ours), None)
    if entry is None:
        return '%s (our %s) does not list %s as a neighbour' % (
            name, role, ours)
    # Our child sees us as its parent, and the other way round.
    if bool(entry.get('is_parent')) != (role == 'child'):
        return '%s (our %s) lists %s as its %s too' % (
            name, role, ours, role)
    return None


def _broker_problem(conf, url):
    return connections.broker_problem(
        connections.ConnectionFactory.from_conf(conf), url,
        wait=NEIGHBOUR_WAIT)


def _ask_neighbour(conf, cell):
    """``get_cell_info_for_neighbors`` of the neighbour's own daemon, on
    its broker (its link's URL), within :data:`NEIGHBOUR_WAIT` whatever
    the broker does (:func:`nova_cells.cmd._common.bounded`).

    :raises NoAnswer: nothing came back in time.
    """
    transport = rpc.get_transport(conf, url=_url_of(cell))
    api = rpcapi.CellsAPI(conf, transport)
    answer = _common.bounded(lambda: api_methods.send(
        api.client, cells_context.get_admin_context(),
        'get_cell_info_for_neighbors', {}, True, timeout=NEIGHBOUR_WAIT),
        NEIGHBOUR_WAIT)
    # Only once answered: a call still reconnecting goes with the process.
    transport.cleanup()
    return answer


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ['--version']:
        print(version.version_string())
        return 0
    conf = cfg.ConfigOpts()
    cells_conf.register_all(conf, with_logging=False)
    return upgradecheck.main(conf, 'nova-cells', Checks(conf), argv=argv)
