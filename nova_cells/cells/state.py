"""What a cell knows of itself and its neighbours (reference §3.3-§3.6).

:class:`CellState` is one cell as seen from here: its row (``db_info``), the
capabilities and capacities it last reported and when.
:class:`CellStateManager` keeps "me", the parents and the children, fed by
the ``cells`` table (:class:`DBCellSource`) or by the ``cells_config`` JSON
file (:class:`FileCellSource`); :func:`make_state_manager` picks the source
(nova's ``__new__`` trick is gone).

Differences from nova, on purpose:

* no I/O in constructors: :meth:`CellStateManager.sync` is the readiness
  step and raises instead of sleeping for up to an hour (§10.14);
* removing a cell or flipping it between parent and child no longer breaks
  the refresh (§10.12), and the refresh interval is measured in total
  seconds (§10.13);
* JSON entries without ``weight_offset``/``weight_scale`` get nova's column
  defaults instead of a KeyError (§10.19).

Beyond nova: a neighbour's ``signing_keys`` (JSON text in the row, a list
in the file) is parsed once when the entry is read: ``db_info`` holds a
list (empty: the link is not signed), see :mod:`nova_cells.transport.signing`.
The keys never leave the daemon: :meth:`CellStateManager.cell_get` drops them.
"""

import copy
import datetime
import itertools
import json
import os
import threading
import time

from oslo_log import log as logging
from oslo_utils import timeutils

from nova_cells.cells import capacity
from nova_cells.cells import cell_values
from nova_cells.db import api as db_api
from nova_cells.db import flavors as flavor_source
from nova_cells import exception
from nova_cells import routing
from nova_cells.cells import servicegroup
from nova_cells.transport import signing
from nova_cells import transport_url
from nova_cells import wire_guard

__all__ = ['CellState', 'CellStateManager', 'StateSettings',
           'DBCellSource', 'FileCellSource', 'make_state_manager',
           'parse_capabilities', 'own_capability_entries', 'ENABLED',
           'DISABLED', 'DRAINING', 'ADMIN_STATES', 'check_admin_state']

LOG = logging.getLogger(__name__)

_NEVER = datetime.datetime.min
_ROW_DEFAULTS = {'weight_offset': 0.0, 'weight_scale': 1.0, 'api_url': None,
                 'state': None, 'state_reason': None}

# A neighbour's administrative state (the ``cells.state`` column, beyond
# nova): an operator takes a child out of service in its parent.  Both
# DISABLED and DRAINING keep new builds away; DRAINING says the operator is
# emptying the cell, so ``tree`` shows its instances going down.
ENABLED = cell_values.ENABLED
DISABLED = cell_values.DISABLED
DRAINING = cell_values.DRAINING
ADMIN_STATES = cell_values.ADMIN_STATES
check_admin_state = cell_values.check_admin_state


def parse_capabilities(entries):
    """``['hypervisor=xenserver;kvm']`` -> ``{'hypervisor': {...}}``."""
    caps = {}
    for entry in entries:
        name, _sep, value = entry.partition('=')
        caps[name.strip()] = set(v for v in value.split(';') if v)
    return caps


class CellState(object):
    """One cell as seen from here: a neighbour, or "me" (``is_me``).

    ``accepts_builds`` is False for a neighbour disabled or draining in
    this cell's table (see :attr:`admin_state`); ``ram_units_by_mb`` is
    ``capacities['ram_free']['units_by_mb']`` (``{}`` when unknown).
    """

    def __init__(self, name, is_me=False):
        self.name = name
        self.is_me = is_me
        self.last_seen = _NEVER
        self.capabilities = {}
        # A report and an estimate (assume_build, from the threads that
        # schedule) must not overwrite each other.
        self._capacities_lock = threading.Lock()
        self.capacities = {}
        self.db_info = {}
        # Kept as a plain attribute: the scheduler reads it for every
        # candidate of every pick.
        self.accepts_builds = True

    @property
    def is_parent(self):
        return bool(self.db_info.get('is_parent'))

    def update_db_info(self, row):
        """Keep the row (minus ``name``), as nova's ``db_info``."""
        info = dict(_ROW_DEFAULTS)
        info.update(row)
        info.pop('name', None)
        _parse_signing_keys(self.name, info)
        self.db_info = info
        self.accepts_builds = (info.get('state') or ENABLED) == ENABLED

    @property
    def admin_state(self):
        """enabled, disabled or draining; an unknown value (a hand-edited
        row) counts as disabled: an operator who marked the cell meant to
        keep builds away, so erring that way is the safe reading."""
        value = self.db_info.get('state') or ENABLED
        return value if value in ADMIN_STATES else DISABLED

    @property
    def admin_state_reason(self):
        value = self.db_info.get('state')
        if check_admin_state(value):
            return 'unknown state %r in the cells table' % value
        return self.db_info.get('state_reason')

    def update_capabilities(self, capabilities, now=None):
        self.capabilities = {k: set(v) for k, v in capabilities.items()}
        self.last_seen = now or timeutils.utcnow()

    @property
    def capacities(self):
        return self._capacities

    @capacities.setter
    def capacities(self, capacities):
        self._capacities = capacities
        # The RAM weigher's lookup for every pick, resolved once per update.
        self.ram_units_by_mb = ((capacities or {}).get('ram_free') or
                                {}).get('units_by_mb') or {}

    def update_capacities(self, capacities, now=None):
        with self._capacities_lock:
            self.capacities = capacities
        self.last_seen = now or timeutils.utcnow()

    def assume_build(self, count, memory_mb=0, disk_mb=0, vcpus=0):
        """Count ``count`` instances sent to this cell since its last
        report against its capacities, until the next report replaces
        them (:func:`nova_cells.cells.capacity.assume_placed`); a report
        arriving meanwhile is never overwritten by an estimate made from
        the one before."""
        with self._capacities_lock:
            self.capacities = capacity.assume_placed(
                self.capacities, count, memory_mb=memory_mb,
                disk_mb=disk_mb, vcpus=vcpus)

    def seen_ever(self):
        """False until the cell has reported once."""
        return self.last_seen != _NEVER

    def is_mute(self, mute_child_interval, now=None):
        """True when not heard from for ``mute_child_interval`` seconds."""
        now = now or timeutils.utcnow()
        return (now - self.last_seen).total_seconds() > mute_child_interval

    def get_cell_info(self):
        """The neighbour summary nova-api shows (no password, ever)."""
        info = {'name': self.name, 'capabilities': self.capabilities}
        if self.db_info:
            info['is_parent'] = self.db_info.get('is_parent')
            info['weight_offset'] = self.db_info.get('weight_offset')
            info['weight_scale'] = self.db_info.get('weight_scale')
            url = self.db_info.get('transport_url')
            if url:
                host = transport_url.first_host_info(url)
                info['username'] = host['username']
                info['rpc_host'] = host['rpc_host']
                info['rpc_port'] = host['rpc_port']
        return info

    def __repr__(self):
        return "Cell '%s' (%s)" % (self.name, 'me' if self.is_me else 'not_me')


def _parse_signing_keys(name, info):
    """Replace ``info['signing_keys']`` by its list of keys.

    A row whose keys cannot be read (hand-edited) gets no keys and a
    ``signing_keys_error``: nothing is signed to that neighbour and, with
    signing on, nothing from it is accepted; an operator who put keys there
    meant to protect the link, so erring that way is the safe reading.
    """
    info.pop('signing_keys_error', None)
    try:
        info['signing_keys'] = signing.parse_keys(info.get('signing_keys'))
    except ValueError as exc:
        LOG.error('Cell %s: unusable signing_keys: %s', name, exc)
        info['signing_keys'] = []
        info['signing_keys_error'] = str(exc)


# How long a reader waits for another thread's refresh before it settles for
# the cached view (seconds).
SHARED_REFRESH_WAIT = 5


class StateSettings(object):
    """The options the state manager obeys; rebuilt on SIGHUP."""

    def __init__(self, db_check_interval=60, mute_child_interval=300,
                 reserve_percent=10.0, service_down_time=60):
        self.db_check_interval = db_check_interval
        self.mute_child_interval = mute_child_interval
        self.reserve_percent = reserve_percent
        self.service_down_time = service_down_time

    @classmethod
    def from_conf(cls, conf):
        return cls(db_check_interval=conf.cells.db_check_interval,
                   mute_child_interval=conf.cells.mute_child_interval,
                   reserve_percent=conf.cells.reserve_percent,
                   service_down_time=conf.service_down_time)


class DBCellSource(object):
    """Neighbours from the ``cells`` table; read-write."""

    writable = True

    def __init__(self, db):
        self.db = db

    def load(self, force=False):
        """Return name -> row; always re-read (the manager paces calls)."""
        return {row['name']: row for row in db_api.cell_get_all(self.db)}

    def create(self, values):
        return db_api.cell_create(self.db, values)

    def update(self, name, values):
        return db_api.cell_update(self.db, name, values)

    def delete(self, name):
        return db_api.cell_delete(self.db, name)


class FileCellSource(object):
    """Neighbours from the ``cells_config`` JSON file; read-only.

    The file is re-read when its mtime or size changes, or when forced
    (SIGHUP).  A file that became unreadable or invalid keeps the last good
    content and logs why.
    """

    writable = False

    def __init__(self, path):
        self.path = path
        self._stamp = None
        self._cells = None

    def _file_stamp(self):
        stat = os.stat(self.path)
        return (stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size,
                stat.st_ino)

    def load(self, force=False):
        """Return name -> entry, or None when the file did not change."""
        stamp = self._file_stamp()
        if not force and stamp == self._stamp and self._cells is not None:
            return None
        try:
            with open(self.path) as f:
                data = json.load(f)
            if not isinstance(data, dict):
                raise ValueError('top level must be an object keyed by name')
        except ValueError as exc:
            return self._invalid(stamp, exc)
        problems = _file_problems(data)
        if problems:
            return self._invalid(stamp, ValueError('; '.join(problems)))
        self._stamp = stamp
        self._cells = {name: dict(entry, name=name)
                       for name, entry in data.items()}
        LOG.info('Read %d cells from %s', len(self._cells), self.path)
        return self._cells

    def _invalid(self, stamp, exc):
        """Refuse a bad file: an error at start, the last good content
        (and a log line) afterwards."""
        if self._cells is None:
            raise exc
        LOG.error('Ignoring invalid cells_config %s (keeping the previous '
                  'content): %s', self.path, exc)
        self._stamp = stamp
        return None

    def _refuse(self, *args, **kwargs):
        raise exception.CellsUpdateUnsupported()

    create = update = delete = _refuse


def _file_problems(data):
    """Every reason the ``cells_config`` content cannot be used, by the
    rules the CLI and the ``cells`` RPC use
    (:mod:`nova_cells.cells.cell_values`):
    the name (the key), the URL, the weights, the state and the keys.
    Keys that are not columns are ignored, as nova ignored them."""
    problems = []
    for name, entry in data.items():
        if not isinstance(entry, dict):
            problems.append('%r: each entry must be an object' % (name,))
            continue
        # The file holds keys as a list (the table as JSON text).
        values = {k: v for k, v in entry.items()
                  if k in cell_values.WRITABLE_COLUMNS and
                  k not in ('name', 'signing_keys')}
        values['name'] = name
        reasons = cell_values.check_values(values, creating=True)
        if 'signing_keys' in entry:
            reasons.append(signing.check_keys(entry['signing_keys']))
        shown = repr(name) if routing.check_cell_name(name) else name
        problems += ['%s: %s' % (shown, reason) for reason in reasons
                     if reason]
    return problems


class CellStateManager(object):
    """Me, my parents and my children, kept in sync with their source.

    Every accessor syncs first when ``db_check_interval`` has passed (nova's
    ``sync_before``); writes sync after (``sync_after``).
    """

    def __init__(self, my_name, my_capabilities, source, db, settings,
                 flavors=None):
        """:param flavors: where this cell's flavors are read from (see
            :mod:`nova_cells.db.flavors`); default: the cell's own
            ``instance_types``."""
        self.my_cell_state = CellState(my_name, is_me=True)
        self.my_cell_state.capabilities = parse_capabilities(my_capabilities)
        self.parent_cells = {}
        self.child_cells = {}
        self.source = source
        self.db = db
        self.flavors = flavors or flavor_source.CellFlavors(db)
        self.settings = settings
        self.last_cell_db_check = _NEVER
        self._lock = threading.RLock()
        # monotonic start time of the last refresh that finished; a reader
        # that waited for a refresh begun after it arrived shares that one.
        self._last_refresh_started = None
        self._listeners = []
        # Own-capacity reads are numbered so that a slow read finishing
        # after a newer one never puts its older figures back.
        self._capacity_reads = itertools.count(1)
        self._capacity_applied = 0

    def add_listener(self, callback):
        """Call ``callback(active_urls)`` after each change of the cell list
        (the intercell driver releases transports no neighbour uses)."""
        self._listeners.append(callback)

    def _notify_listeners(self):
        urls = {c.db_info.get('transport_url')
                for c in list(self.parent_cells.values()) +
                list(self.child_cells.values())}
        for callback in self._listeners:
            try:
                callback(urls)
            except Exception:  # noqa - a listener must not break the sync
                LOG.exception('Cell list listener failed')

    # -- syncing -------------------------------------------------------------

    def _time_to_sync(self, now):
        elapsed = (now - self.last_cell_db_check).total_seconds()
        return elapsed >= self.settings.db_check_interval

    def sync(self, force=False):
        """Refresh neighbours and own capacity if due (or ``force``).

        :raises: the source's or database's error; callers at start-up treat
            it as "not ready", later callers log it and keep the old view.
        """
        with self._lock:
            started = time.monotonic()
            now = timeutils.utcnow()
            due = force or self._time_to_sync(now)
            # NOTE(nova-cells): as nova, a JSON file is checked for changes
            # on every access (cheap: a stat); the DB waits until due.
            if due or not self.source.writable:
                cells = self.source.load(force=force)
                if cells is not None:
                    self._refresh_cells_from_dict(cells)
                    self._notify_listeners()
            if not due:
                return False
            self._update_our_capacity()
            self.last_cell_db_check = now
            self._last_refresh_started = started
            return True

    def refresh_own_capacity(self):
        """Recompute own capacity now (after this cell placed instances).

        The database is read outside the lock: message routing, which
        takes the lock on every hop, never waits for this cell's own
        capacity read (a refresh after every burst of builds).
        """
        self._update_our_capacity()

    def _safe_sync(self):
        """Sync if due, sharing a refresh another thread is running.

        When nothing is due and the cells come from the database, the
        cached view is returned at once, without the lock: every routing
        step of every message asks, and only a due refresh needs the
        readers to queue.

        A reader that finds a refresh running waits for it (at most
        ``SHARED_REFRESH_WAIT`` seconds, so a hung database cannot stall
        message handling) and uses its result only when that refresh began
        after the reader arrived; otherwise the view could predate a change
        the operator made before the request (``cell enable`` then a build
        saw the cell still disabled).  On a timeout the cached view is used.
        """
        if self.source.writable and \
                not self._time_to_sync(timeutils.utcnow()):
            return
        arrived = time.monotonic()
        if not self._lock.acquire(timeout=SHARED_REFRESH_WAIT):
            LOG.warning('Cell state refresh still running after %ss; using '
                        'the cached view', SHARED_REFRESH_WAIT)
            return
        try:
            started = self._last_refresh_started
            if started is not None and started >= arrived:
                return
            self.sync()
        except Exception:
            LOG.exception('Cell state refresh failed; using the cached view')
        finally:
            self._lock.release()

    def _refresh_cells_from_dict(self, cells):
        """Make parents/children match ``cells`` (name -> row).

        Existing states keep their reported capabilities and capacities.
        """
        for name, row in cells.items():
            wanted, other = ((self.parent_cells, self.child_cells)
                             if row.get('is_parent')
                             else (self.child_cells, self.parent_cells))
            state = other.pop(name, None) or wanted.get(name) or \
                CellState(name)
            state.update_db_info(row)
            wanted[name] = state
        for registry in (self.parent_cells, self.child_cells):
            for name in [n for n in registry if n not in cells]:
                LOG.info('Cell %s was removed from the cell list', name)
                del registry[name]

    def _update_our_capacity(self):
        """Read this cell's flavors and hosts and set its capacities,
        unless a newer read has already set them.

        Flavors that cannot be read (nova's API database down) leave the
        previous capacities as they were, with one log line: a cell whose
        hosts are unchanged is better described by its last figures than
        by none, and its routing goes on either way.
        """
        ticket = next(self._capacity_reads)
        try:
            flavors = self.flavors.get_all()
        except exception.FlavorsUnavailable as exc:
            LOG.error('%s; keeping the capacities computed before',
                      exc.format_message())
            return
        nodes, services_by_host = db_api.compute_nodes_with_services(self.db)
        now = timeutils.utcnow()
        down_time = self.settings.service_down_time
        caps = capacity.compute_capacities(
            compute_nodes=nodes, services_by_host=services_by_host,
            flavors=flavors, reserve_percent=self.settings.reserve_percent,
            is_up=lambda s: servicegroup.is_up(s, down_time, now))
        with self._lock:
            if ticket > self._capacity_applied:
                self._capacity_applied = ticket
                self.my_cell_state.update_capacities(caps, now)

    # -- queries --------------------------------------------------------------

    def get_my_state(self):
        self._safe_sync()
        return self.my_cell_state

    def get_child_cells(self):
        self._safe_sync()
        return list(self.child_cells.values())

    def get_parent_cells(self):
        self._safe_sync()
        return list(self.parent_cells.values())

    def get_child_cell(self, name):
        self._safe_sync()
        return self.child_cells.get(name)

    def get_parent_cell(self, name):
        self._safe_sync()
        return self.parent_cells.get(name)

    def get_cell_info_for_neighbors(self):
        """Children first, then parents, as nova returned them."""
        self._safe_sync()
        return [c.get_cell_info() for c in self.child_cells.values()] + \
            [c.get_cell_info() for c in self.parent_cells.values()]

    def _is_mute(self, cell, now):
        return cell.is_mute(self.settings.mute_child_interval, now)

    def get_our_capabilities(self, include_children=True):
        """Own capabilities, unioned with every non-mute child's."""
        self._safe_sync()
        caps = copy.deepcopy(self.my_cell_state.capabilities)
        if include_children:
            now = timeutils.utcnow()
            for child in self.child_cells.values():
                if self._is_mute(child, now):
                    continue
                for name, values in child.capabilities.items():
                    caps.setdefault(name, set()).update(values)
        return caps

    def get_our_capacities(self, include_children=True):
        """Own capacities plus every child's, summed key by key."""
        self._safe_sync()
        caps = copy.deepcopy(self.my_cell_state.capacities)
        if include_children:
            for child in self.child_cells.values():
                _add_capacities(caps, child.capacities)
        return caps

    def get_capacities(self, cell_name=None):
        """Capacities of me (None or my name) or of one child."""
        if not cell_name or cell_name == self.my_cell_state.name:
            return self.get_our_capacities()
        child = self.get_child_cell(cell_name)
        if child is None:
            raise exception.CellNotFound(cell_name=cell_name)
        return child.capacities

    def update_cell_capabilities(self, cell_name, capabilities):
        cell = self._neighbour(cell_name)
        if cell is None:
            LOG.error('Unknown cell %r in capabilities update', cell_name)
            return
        cell.update_capabilities(capabilities)

    def update_cell_capacities(self, cell_name, capacities):
        cell = self._neighbour(cell_name)
        if cell is None:
            LOG.error('Unknown cell %r in capacities update', cell_name)
            return
        cell.update_capacities(capacities)

    def _neighbour(self, name):
        self._safe_sync()
        return self.child_cells.get(name) or self.parent_cells.get(name)

    # -- writes ---------------------------------------------------------------

    def cell_create(self, values):
        row = self.source.create(values)
        self.sync(force=True)
        return row

    def cell_update(self, cell_name, values):
        row = self.source.update(cell_name, values)
        self.sync(force=True)
        return row

    def cell_delete(self, cell_name):
        count = self.source.delete(cell_name)
        self.sync(force=True)
        return count

    def cell_get(self, cell_name):
        """Return the neighbour's row as a dict (nova returned a CellState,
        which could not cross RPC, §10.18)."""
        cell = self._neighbour(cell_name)
        if cell is None:
            raise exception.CellNotFound(cell_name=cell_name)
        row = dict(cell.db_info, name=cell.name)
        # The signing keys are secrets: they never leave the daemon.
        row.pop('signing_keys', None)
        row.pop('signing_keys_error', None)
        return row


def _add_capacities(total, other):
    """Add nested numeric dict ``other`` into ``total`` in place."""
    for key, value in other.items():
        if isinstance(value, dict):
            _add_capacities(total.setdefault(key, {}), value)
        else:
            total[key] = total.get(key, 0) + value


def make_state_manager(conf, db, flavors=None):
    """Build the state manager ``conf`` asks for (file or DB source).

    :param flavors: the flavor reader (see :class:`CellStateManager`).

    :raises oslo_config.cfg.ConfigFilesNotFoundError: if ``cells_config``
        names a file that cannot be found.
    """
    from oslo_config import cfg

    source = DBCellSource(db)
    if conf.cells.cells_config:
        path = conf.find_file(conf.cells.cells_config)
        if not path:
            raise cfg.ConfigFilesNotFoundError([conf.cells.cells_config])
        source = FileCellSource(path)
    return CellStateManager(conf.cells.name, own_capability_entries(conf),
                            source, db, StateSettings.from_conf(conf),
                            flavors=flavors)


def own_capability_entries(conf):
    """What this cell announces: ``[cells] capabilities``, and its
    message size limit
    (:data:`nova_cells.wire_guard.SIZE_CAPABILITY`)
    unless the operator set that one (at start and on reload)."""
    entries = list(conf.cells.capabilities)
    if wire_guard.SIZE_CAPABILITY not in parse_capabilities(entries):
        entries.append(wire_guard.size_capability(
            conf.cells.max_message_size))
    return entries
