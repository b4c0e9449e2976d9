"""Queue durability and type under oslo.messaging's rabbit options.

A real ``nova-cells`` daemon on a fresh vhost, configured through
``[oslo_messaging_rabbit]`` only (nova-cells passes the section through to
oslo.messaging untouched); ``rabbitmqctl list_queues`` then shows what the
broker really declared for the ``cells`` topic and the three intercell
topics, and a ping proves that messages still flow.

Why it matters: RabbitMQ deprecated *transient non-exclusive* queues
(``transient_nonexcl_queues``); 4.0 warns about them and 4.3 refuses to
declare them by default.  oslo.messaging's defaults declare every queue of
ours that way (none is exclusive), so on such a broker the daemon only
starts with durable or quorum queues, reply and fanout queues included
(``rabbit_transient_quorum_queue``).
"""

import subprocess
from urllib import parse as urlparse

import oslo_messaging
import pytest

from tests.functional import fixtures

INTERCELL = ('cells.intercell.targeted', 'cells.intercell.broadcast',
             'cells.intercell.response')
TOPICS = ('cells',) + INTERCELL


def _vhost(url):
    return urlparse.unquote(urlparse.urlsplit(url).path.lstrip('/'))


def list_queues(url):
    """``{name: {'durable': bool, 'type': str, 'exclusive': bool,
    'arguments': str}}`` of every queue in the vhost of ``url``."""
    out = subprocess.run(
        ['rabbitmqctl', '-q', 'list_queues', '-p', _vhost(url),
         '--no-table-headers', 'name', 'durable', 'type', 'exclusive',
         'arguments'],
        capture_output=True, text=True, timeout=60, check=True).stdout
    queues = {}
    for line in fixtures.non_empty_lines(out):
        name, durable, qtype, exclusive, arguments = (
            line.split('\t') + [''] * 5)[:5]
        queues[name] = {'durable': durable == 'true', 'type': qtype,
                        'exclusive': exclusive == 'true',
                        'arguments': arguments}
    return queues


def _topic_queues(queues, host):
    """The shared and per-server queues of our four topics."""
    names = list(TOPICS) + ['%s.%s' % (t, host) for t in TOPICS]
    missing = [n for n in names if n not in queues]
    assert not missing, 'queues not declared: %s (have %s)' % (
        missing, sorted(queues))
    return {n: queues[n] for n in names}


def _fanout_queues(queues):
    found = {n: q for n, q in queues.items()
             if any(n.startswith(t + '_fanout_') for t in TOPICS)}
    assert {n.rsplit('_fanout_', 1)[0] for n in found} == set(TOPICS), \
        sorted(queues)
    return found


def _reply_queues(queues):
    return {n: q for n, q in queues.items() if n.startswith('reply_')}


def _start(daemon_factory, tmp_path, rabbit_url, db_url, rabbit_opts):
    conf = fixtures.write_cells_conf(
        tmp_path, rabbit_url, db_url,
        extra={'oslo_messaging_rabbit': rabbit_opts})
    daemon = daemon_factory(conf)
    # The test's client reads the same cells.conf: it must agree with the
    # daemon on durability (RabbitMQ refuses to redeclare an exchange with
    # another), see test_sender_disagreeing_on_durability_is_refused.
    answer = fixtures.wait_for_ping(rabbit_url, daemon=daemon, timeout=20,
                                    config_file=conf.path)
    with fixtures.CellsRPC(rabbit_url, conf.path) as client:
        info = client.get_cell_info_for_neighbors()
    assert answer, answer
    # A second call over the same client: the daemon answers a real
    # method (no neighbours configured, hence an empty list).
    assert info == [], info
    queues = fixtures.poll_until(
        lambda: list_queues(rabbit_url),
        lambda qs: all(t in qs for t in TOPICS)
        and len(_reply_queues(qs)) >= 1)
    return conf, daemon, queues


def _shapes(queues):
    return {n: (q['durable'], q['type']) for n, q in queues.items()}


def test_defaults_declare_transient_classic_queues(
        daemon_factory, tmp_path, rabbit_url, synced_sqlite_url):
    conf, daemon, queues = _start(daemon_factory, tmp_path, rabbit_url,
                                  synced_sqlite_url, {})
    everything = dict(_topic_queues(queues, conf.host))
    everything.update(_fanout_queues(queues))
    everything.update(_reply_queues(queues))
    # All transient and non-exclusive: RabbitMQ 4.3's default refuses this.
    assert set(_shapes(everything).values()) == {(False, 'classic')}, \
        _shapes(everything)
    assert not any(q['exclusive'] for q in everything.values())
    assert daemon.stop() == 0


def test_amqp_durable_queues(daemon_factory, tmp_path, rabbit_url,
                             synced_sqlite_url):
    conf, daemon, queues = _start(daemon_factory, tmp_path, rabbit_url,
                                  synced_sqlite_url,
                                  {'amqp_durable_queues': True})
    topic = _topic_queues(queues, conf.host)
    assert set(_shapes(topic).values()) == {(True, 'classic')}, \
        _shapes(topic)
    # Reply and fanout queues do not follow amqp_durable_queues: they stay
    # transient (still deprecated on RabbitMQ 4.x) unless
    # rabbit_transient_quorum_queue is set too.
    transient = dict(_fanout_queues(queues))
    transient.update(_reply_queues(queues))
    assert set(_shapes(transient).values()) == {(False, 'classic')}, \
        _shapes(transient)
    assert daemon.stop() == 0


def test_rabbit_quorum_queue(daemon_factory, tmp_path, rabbit_url,
                             synced_sqlite_url):
    conf, daemon, queues = _start(daemon_factory, tmp_path, rabbit_url,
                                  synced_sqlite_url,
                                  {'rabbit_quorum_queue': True})
    topic = _topic_queues(queues, conf.host)
    assert set(_shapes(topic).values()) == {(True, 'quorum')}, \
        _shapes(topic)
    transient = dict(_fanout_queues(queues))
    transient.update(_reply_queues(queues))
    assert set(_shapes(transient).values()) == {(False, 'classic')}, \
        _shapes(transient)
    assert daemon.stop() == 0


def test_quorum_queues_everywhere(daemon_factory, tmp_path, rabbit_url,
                                  synced_sqlite_url):
    """The setting that declares no transient non-exclusive queue at all,
    i.e. what a RabbitMQ 4.3 broker with its defaults accepts."""
    conf, daemon, queues = _start(
        daemon_factory, tmp_path, rabbit_url, synced_sqlite_url,
        {'rabbit_quorum_queue': True, 'rabbit_transient_quorum_queue': True})
    everything = dict(_topic_queues(queues, conf.host))
    everything.update(_fanout_queues(queues))
    everything.update(_reply_queues(queues))
    assert set(_shapes(everything).values()) == {(True, 'quorum')}, \
        _shapes(everything)
    # Reply and fanout queues expire when unused (rabbit_transient_queues_ttl)
    transient = dict(_fanout_queues(queues))
    transient.update(_reply_queues(queues))
    assert all('x-expires' in q['arguments'] for q in transient.values()), \
        transient
    assert daemon.stop() == 0


def test_sender_disagreeing_on_durability_is_refused(
        daemon_factory, tmp_path, rabbit_url, synced_sqlite_url):
    """Every sender to a broker (nova-api, nova-conductor, and each
    neighbour cell casting into it) must use the same durability: the
    broker refuses to redeclare the ``nova`` exchange otherwise."""
    _conf, daemon, _queues = _start(daemon_factory, tmp_path, rabbit_url,
                                    synced_sqlite_url,
                                    {'amqp_durable_queues': True})
    with fixtures.CellsRPC(rabbit_url) as client:  # nova's defaults
        with pytest.raises(oslo_messaging.MessageDeliveryFailure) as caught:
            client.ping(arg='y', timeout=3)
    assert "inequivalent arg 'durable' for exchange 'nova'" in str(
        caught.value)
    assert daemon.running()
    assert daemon.stop() == 0
