"""Service liveness (nova's DB servicegroup driver) and the heartbeat."""

import datetime

import pytest

from nova_cells.db import api as db_api
from nova_cells.cells import servicegroup

NOW = datetime.datetime(2019, 4, 4, 12, 0, 0)
DOWN_TIME = 60


def _ago(seconds):
    return NOW - datetime.timedelta(seconds=seconds)


@pytest.mark.parametrize('service, up', [
    pytest.param({'last_seen_up': _ago(5)}, True, id='fresh'),
    pytest.param({'last_seen_up': _ago(60)}, True,
                 id='exactly-service_down_time-is-up'),
    pytest.param({'last_seen_up': _ago(61)}, False, id='stale'),
    pytest.param({'last_seen_up': _ago(5), 'forced_down': True}, False,
                 id='forced-down-despite-fresh-heartbeat'),
    pytest.param({'last_seen_up': None, 'updated_at': None,
                  'created_at': None}, False, id='no-heartbeat-at-all'),
    pytest.param({}, False, id='empty-row'),
    pytest.param({'last_seen_up': None, 'created_at': _ago(5)}, True,
                 id='never-reported-but-just-created'),
    pytest.param({'last_seen_up': None, 'created_at': _ago(3600)}, False,
                 id='never-reported-created-long-ago'),
    pytest.param({'last_seen_up': NOW + datetime.timedelta(seconds=30)},
                 True, id='clock-skew-future-within-down-time'),
    pytest.param({'last_seen_up': NOW + datetime.timedelta(seconds=120)},
                 False, id='clock-skew-future-beyond-down-time'),
])
def test_is_up(service, up):
    assert servicegroup.is_up(service, DOWN_TIME, NOW) is up


def test_last_heartbeat_prefers_last_seen_up():
    service = {'last_seen_up': _ago(1), 'updated_at': _ago(2),
               'created_at': _ago(3)}
    assert servicegroup.last_heartbeat(service) == _ago(1)


def test_heartbeat_join_creates_row_once_and_reports(db):
    beat = servicegroup.DBHeartbeat(db, 'host1', 'nova-cells', 'cells')
    row = beat.join()
    assert (row['host'], row['binary'], row['topic']) == (
        'host1', 'nova-cells', 'cells')
    again = servicegroup.DBHeartbeat(db, 'host1', 'nova-cells', 'cells')
    assert again.join()['id'] == row['id']
    current = db_api.service_get_by_host_and_binary(db, 'host1',
                                                    'nova-cells')
    assert current['report_count'] == 2          # one report per join
    assert servicegroup.is_up(current, DOWN_TIME)


def test_heartbeat_report_never_raises(db):
    beat = servicegroup.DBHeartbeat(db, 'host1', 'nova-cells', 'cells')
    beat.join()
    db_api.service_report(db, beat.service_id)
    beat.service_id = 9999                        # row gone
    assert beat.report() is False
    assert beat.report() is False
