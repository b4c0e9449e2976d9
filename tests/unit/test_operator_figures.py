"""What a running cell shows operators: its counters (Prometheus), the
figures read at each scrape, and the Guru Meditation section."""

import collections
import json
import signal
import threading
import time
import uuid

from prometheus_client import parser as prom_parser
import pytest

from nova_cells.db import api as db_api
from nova_cells.messaging import delivery
from nova_cells.messaging import metrics as cell_metrics
from nova_cells.service import metrics
from nova_cells.service import reports
from tests.unit import sched_support as ss

LAYOUT = {'api': {'child1': {'gc1': {}}, 'child2': {'gc2': {}}}}
HOSTS = {'gc1': [(65536, 32, 800)], 'gc2': [(65536, 32, 800)]}


def _samples(counters):
    """``{(name, frozenset(labels.items())): value}`` of a scrape."""
    text = counters.exposition().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in prom_parser.text_string_to_metric_families(text)
            for s in family.samples}


def _value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


@pytest.fixture
def harness(tmp_path):
    with ss.building_tree(tmp_path, HOSTS, layout=LAYOUT) as running:
        yield running


def test_cells_count_the_messages_they_receive_and_time_their_builds(
        harness):
    uuids = harness.build(4)
    rows = harness.wait(uuids, timeout=30)
    assert {r['vm_state'] for r in rows} == {'active'}, rows
    top = _samples(harness.top.runner.services.metrics)
    # The top picks a child for each build (nova-api's cast is its own).
    assert _value(top, 'nova_cells_build_scheduling_seconds_count',
                  outcome='ok') == 4
    children = [_samples(harness.cell(n).runner.services.metrics)
                for n in ('child1', 'child2')]
    assert sum(_value(s, 'nova_cells_messages_received_total',
                      message_type='targeted', method='build_instances')
               for s in children) == 4
    assert _value(top, 'nova_cells_messages_received_total',
                  message_type='broadcast',
                  method='instance_update_at_top') >= 4


def _targeted_json(target, method_name):
    return json.dumps({
        'message_type': 'targeted', 'ctxt': ss.ADMIN.to_dict(),
        'method_name': method_name, 'method_kwargs': {},
        'direction': 'down', 'need_response': False, 'fanout': False,
        'uuid': str(uuid.uuid4()), 'routing_path': 'api', 'hop_count': 1,
        'max_hop_count': 10, 'target_cell': target})


def test_a_method_unknown_here_is_counted_as_unknown(harness):
    runner = harness.cell('child1').runner
    runner.process_json(_targeted_json(
        'api!child1', 'no_such_method_%d' % time.monotonic_ns()))
    samples = _samples(runner.services.metrics)
    assert _value(samples, 'nova_cells_messages_received_total',
                  message_type='targeted', method='unknown') == 1
    assert not any('no_such_method' in dict(labels).get('method', '')
                   for _name, labels in samples)


def test_filter_rejections_are_counted_by_filter_and_explain_is_not(
        harness):
    db_api.cell_update(harness.top.db, 'child2', {'state': 'disabled'})
    harness.top.state_manager.sync(force=True)
    uuids = harness.build(2)
    harness.wait(uuids, timeout=30)
    counters = harness.top.runner.services.metrics
    rejected = _value(_samples(counters), 'nova_cells_filter_rejections_total',
                      filter='CellStateFilter')
    assert rejected == 2
    scheduler = harness.top.scheduler
    request = scheduler.make_request(
        ss.ADMIN, 'api', ss.build_kwargs(
            harness.instances_for(1, ss.flavor()), ss.flavor()))
    scheduler.select(request, record_all=True)
    assert _value(_samples(counters), 'nova_cells_filter_rejections_total',
                  filter='CellStateFilter') == rejected


def test_cell_figures_show_neighbours_links_and_waiting_calls(harness):
    top = harness.top
    figures = metrics.cell_figures(top)
    assert figures['cell'] == 'api'
    assert {(n['name'], n['role'], n['mute'])
            for n in figures['neighbours']} == {
        ('child1', 'child', False), ('child2', 'child', False)}
    assert all(n['last_seen_seconds'] is not None and
               n['last_seen_seconds'] >= 0 for n in figures['neighbours'])
    assert figures['waiting_responses'] == 0
    top.runner.slots.open('a-call')
    try:
        assert metrics.cell_figures(top)['waiting_responses'] == 1
    finally:
        top.runner.slots.close('a-call')


def test_the_collector_turns_the_figures_into_gauges(harness):
    counters = cell_metrics.Counters()
    counters.add_collector(metrics.CellCollector(harness.top))
    samples = _samples(counters)
    for child in ('child1', 'child2'):
        assert _value(samples, 'nova_cells_neighbour_mute', cell=child,
                      role='child') == 0
        assert (('nova_cells_neighbour_last_seen_seconds',
                 frozenset({'cell': child, 'role': 'child'}.items()))
                in samples)
    assert _value(samples, 'nova_cells_waiting_responses') == 0


class _Link(object):
    def __init__(self, queue, failures):
        self.queue = queue
        self.failures = failures

    def oldest_age(self, now):
        return now - self.queue[0].queued_at if self.queue else 0.0


def test_outbox_links_sum_lanes_and_keep_the_oldest_wait():
    outbox = delivery.Outbox.__new__(delivery.Outbox)
    outbox._lock = threading.Lock()
    now = time.monotonic()

    def item(age):
        entry = delivery._Item(1, 'u', 'targeted', '{}', None)
        entry.queued_at = now - age
        return entry
    outbox._links = {
        ('down', 'child1', 0): _Link([item(30.0), item(1.0)], 0),
        ('down', 'child1', 3): _Link([item(90.0)], 4),
        ('up', 'api', 0): _Link([], 0),
    }
    links = outbox.links()
    assert links[('down', 'child1')]['messages'] == 3
    assert links[('down', 'child1')]['oldest_seconds'] >= 90.0
    assert links[('down', 'child1')]['failing'] == 4
    assert links[('up', 'api')] == {'messages': 0, 'oldest_seconds': 0.0,
                                    'failing': 0}


def test_a_pushed_item_is_stamped_when_it_joins_the_queue():
    link = delivery._Link.__new__(delivery._Link)
    link.queue = collections.deque()
    link.cond = threading.Condition()
    entry = delivery._Item(1, 'u', 'targeted', '{}', None)
    before = time.monotonic()
    link.push(entry)
    assert entry.queued_at >= before
    assert 0 <= link.oldest_age(time.monotonic()) < 5


class _Service(object):
    def __init__(self, cell):
        self.cell = cell


def test_the_guru_meditation_report_has_a_nova_cells_section(harness):
    from oslo_reports import guru_meditation_report as gmr
    reports.CellSection(_Service(harness.top)).register()
    text = gmr.TextGuruMeditation(reports._Version()).run()
    assert 'nova-cells' in text
    assert 'child1' in text and 'waiting_responses' in text
    # Registered again (a new service in this process): one section, the
    # new service's.
    reports.CellSection(_Service(None)).register()
    sections = [t for t, _g in gmr.TextGuruMeditation.persistent_sections
                if t == reports.SECTION_TITLE]
    assert len(sections) == 1
    text = gmr.TextGuruMeditation(reports._Version()).run()
    assert 'not started' in text


def test_setup_answers_sigusr2(tmp_path):
    from nova_cells import conf as cells_conf
    conf = cells_conf.new_config()
    before = signal.getsignal(signal.SIGUSR2)
    try:
        reports.setup(conf)
        assert signal.getsignal(signal.SIGUSR2) is not before
        assert conf.oslo_reports.log_dir is None
    finally:
        signal.signal(signal.SIGUSR2, before)
