"""SIGHUP: mutable options are re-read without a restart of the daemon.

``[cells] capabilities`` is mutable in nova-cells; after the file changes and
SIGHUP arrives, ``get_cell_status`` reports the new capabilities, and the
daemon keeps answering.  Both backends reload in place: the running
service re-reads the files and is reset (under threading, in its worker,
which is not restarted).
"""

import os
import signal
import threading

import pytest

from tests.functional.fixtures import CellsRPC
from tests.functional.fixtures import insert_row
from tests.functional.fixtures import poll_until
from tests.functional.fixtures import wait_for_ping
from tests.functional.fixtures import write_cells_conf

pytestmark = pytest.mark.functional


def _own_capabilities(client):
    """The cell's own capabilities but the message size limit every cell
    of ours announces (its default here)."""
    answer = client.call('get_cell_status', version='1.39', timeout=10)
    assert answer['failures'] == [], answer
    caps = dict(answer['cells'][0]['value']['capabilities'])
    assert caps.pop('nova_cells_max_message_size') == [str(8 * 1024 * 1024)]
    return caps


@pytest.mark.parametrize('backend', ['threading', 'eventlet'])
def test_sighup_rereads_capabilities(backend, tmp_path, rabbit_url,
                                     synced_sqlite_url, daemon_factory):
    extra = {'cells': {'capabilities': 'hypervisor=kvm,os=linux'}}
    conf = write_cells_conf(tmp_path, rabbit_url, synced_sqlite_url,
                            name='api', cell_type='api', extra=extra)
    daemon = daemon_factory(conf, backend=backend)
    wait_for_ping(rabbit_url, daemon=daemon)
    with CellsRPC(rabbit_url) as client:
        assert _own_capabilities(client) == {'hypervisor': ['kvm'],
                                             'os': ['linux']}
        extra['cells']['capabilities'] = 'hypervisor=kvm,os=linux,zone=z1'
        write_cells_conf(tmp_path, rabbit_url, synced_sqlite_url,
                         name='api', cell_type='api', extra=extra,
                         host=conf.host)
        os.kill(daemon.pid, signal.SIGHUP)
        caps = poll_until(lambda: _safe_capabilities(client),
                          lambda c: c and 'zone' in c, timeout=20)
        assert caps['zone'] == ['z1']
        assert daemon.running()
        assert client.ping('after-hup') == {'service': 'cells',
                                            'arg': 'after-hup'}


def _worker_pids(daemon):
    """The processes the daemon's launcher forked (threading backend)."""
    path = '/proc/%d/task/%d/children' % (daemon.pid, daemon.pid)
    with open(path) as children:
        return [int(pid) for pid in children.read().split()]


class _Pinger(object):
    """Calls the daemon one after another until stopped: every call must
    be answered (none lost while it reloads)."""

    def __init__(self, url):
        self.url = url
        self.answered = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with CellsRPC(self.url) as client:
            while not self._stop.is_set():
                try:
                    arg = 'p%d' % self.answered
                    assert client.ping(arg, timeout=20)['arg'] == arg
                    self.answered += 1
                except Exception as exc:  # noqa - the test reports it
                    self.errors.append(repr(exc))
                    return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)


@pytest.mark.parametrize('backend', ['threading', 'eventlet'])
def test_sighup_reloads_in_place_and_names_what_needs_a_restart(
        backend, tmp_path, rabbit_url, synced_sqlite_url, daemon_factory):
    """A mutable option and the cell list (read only on SIGHUP here:
    db_check_interval is long) change in the same worker, while calls go
    on answered; an immutable change is named."""
    extra = {'cells': {'capabilities': 'hypervisor=kvm',
                       'db_check_interval': 3600}}
    conf = write_cells_conf(tmp_path, rabbit_url, synced_sqlite_url,
                            name='api', cell_type='api', extra=extra)
    daemon = daemon_factory(conf, backend=backend)
    wait_for_ping(rabbit_url, daemon=daemon)
    workers = _worker_pids(daemon)
    with CellsRPC(rabbit_url) as client:
        assert _status(client)[1] == []
        insert_row(synced_sqlite_url, 'cells', name='newchild',
                   is_parent=False, transport_url=rabbit_url + '-nowhere',
                   weight_offset=0.0, weight_scale=1.0, deleted=0)
        changed = {'cells': {'capabilities': 'hypervisor=kvm,zone=z2',
                             'intercell_workers': 3,
                             'db_check_interval': 3600}}
        write_cells_conf(tmp_path, rabbit_url, synced_sqlite_url,
                         name='api', cell_type='api', extra=changed,
                         host=conf.host)
        with _Pinger(rabbit_url) as pinger:
            poll_until(lambda: pinger.answered, lambda n: n >= 5,
                       timeout=20)
            os.kill(daemon.pid, signal.SIGHUP)
            caps = poll_until(lambda: _status(client)[0],
                              lambda c: c and 'zone' in c, timeout=20)
            before = pinger.answered
            poll_until(lambda: pinger.answered, lambda n: n >= before + 5,
                       timeout=20)
        assert pinger.errors == [] and pinger.answered >= 10, \
            (pinger.errors, daemon.log())
        assert caps['zone'] == ['z2']
        assert _status(client)[1] == ['newchild']
        log = poll_until(daemon.log, lambda t: 'only a restart' in t,
                         timeout=10)
        assert ('[cells] intercell_workers changed in the configuration '
                'files, but only a restart applies it (still running with '
                '8)') in log, log
        # The same worker serves on: nothing was restarted.
        assert _worker_pids(daemon) == workers
        assert log.count('Start step: database') == 1, log
        assert daemon.running()


def _status(client):
    """(own capabilities, children's names) as the cell itself answers
    (a child it cannot reach is among the failures, not the answer)."""
    try:
        answer = client.call('get_cell_status', version='1.39', timeout=10)
    except Exception:  # noqa - reloading
        return None, None
    me = next(c['value'] for c in answer['cells'] if c['cell_name'] == 'api')
    return (dict(me['capabilities']),
            sorted(c['name'] for c in me['children']))


def _safe_capabilities(client):
    try:
        return _own_capabilities(client)
    except Exception:  # noqa - the worker may be restarting
        return None


@pytest.mark.parametrize('backend', ['threading', 'eventlet'])
def test_a_reload_start_up_would_refuse_is_refused_and_the_daemon_serves(
        backend, tmp_path, rabbit_url, synced_sqlite_url, daemon_factory):
    """Issue 23: ``max_hop_count = 0`` and ``reserve_percent = 250`` were
    applied on SIGHUP.  Now the whole re-read is refused (the capabilities
    changed with them are not applied either), logged once, and the
    daemon keeps serving; a good re-read afterwards is applied."""
    extra = {'cells': {'capabilities': 'hypervisor=kvm'}}
    conf = write_cells_conf(tmp_path, rabbit_url, synced_sqlite_url,
                            name='api', cell_type='api', extra=extra)
    daemon = daemon_factory(conf, backend=backend)
    wait_for_ping(rabbit_url, daemon=daemon)
    with CellsRPC(rabbit_url) as client:
        bad = {'cells': {'capabilities': 'hypervisor=kvm,zone=bad',
                         'max_hop_count': 0, 'reserve_percent': 250}}
        write_cells_conf(tmp_path, rabbit_url, synced_sqlite_url,
                         name='api', cell_type='api', extra=bad,
                         host=conf.host)
        os.kill(daemon.pid, signal.SIGHUP)
        poll_until(lambda: daemon.log(),
                   lambda text: 'Refused the reloaded configuration' in text,
                   timeout=20)
        caps = poll_until(lambda: _safe_capabilities(client),
                          lambda c: c is not None, timeout=20)
        assert caps == {'hypervisor': ['kvm']}
        assert daemon.running()
        good = {'cells': {'capabilities': 'hypervisor=kvm,zone=z1'}}
        write_cells_conf(tmp_path, rabbit_url, synced_sqlite_url,
                         name='api', cell_type='api', extra=good,
                         host=conf.host)
        os.kill(daemon.pid, signal.SIGHUP)
        caps = poll_until(lambda: _safe_capabilities(client),
                          lambda c: c and 'zone' in c, timeout=20)
        assert caps['zone'] == ['z1']
        assert 'Traceback' not in daemon.log()
