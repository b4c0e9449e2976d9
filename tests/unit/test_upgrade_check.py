"""The checks of ``nova-cells-status upgrade check`` on a SQLite cell, with
the neighbours' brokers and daemons answered by the test."""

import json

from oslo_upgradecheck import upgradecheck
import pytest

from nova_cells.cmd import status
from nova_cells import conf as cells_conf
from nova_cells.db import api as db_api
from nova_cells.db import migration

Code = upgradecheck.Code


def _conf(tmp_path, extra=''):
    path = tmp_path / 'cells.conf'
    path.write_text('[cells]\nname = api\ncell_type = api\n'
                    '[database]\nconnection = sqlite:///%s\n%s'
                    % (tmp_path / 'cell.db', extra))
    return cells_conf.new_config(['--config-file', str(path)])


def _synced(conf, neighbours=()):
    db = db_api.Database.from_conf(conf)
    try:
        migration.db_sync(db)
        for name, is_parent, keys in neighbours:
            values = {'name': name, 'is_parent': is_parent,
                      'transport_url': 'rabbit://u:p@%s:5672/' % name,
                      'weight_offset': 0.0, 'weight_scale': 1.0}
            if keys is not None:
                values['signing_keys'] = json.dumps(keys)
            db_api.cell_create(db, values)
    finally:
        db.dispose()
    return conf


def _checks(conf, answers=None, brokers=None):
    answers = answers or {}
    brokers = brokers or {}

    def ask(_conf, cell):
        answer = answers[cell.name]
        if isinstance(answer, Exception):
            raise answer
        return answer
    return status.Checks(
        conf, ask_neighbour=ask,
        broker_problem=lambda _conf, url: brokers.get(url.split('@')[1]
                                                      .split(':')[0]))


def test_an_empty_database_says_run_db_sync(tmp_path):
    result = _checks(_conf(tmp_path))._check_schema()
    assert result.code == Code.FAILURE
    assert 'empty database: run `nova-cells-manage db sync`' in result.details


def test_a_synced_database_passes(tmp_path):
    result = _checks(_synced(_conf(tmp_path)))._check_schema()
    assert (result.code, result.details) == (Code.SUCCESS, 'Schema 0008')


@pytest.mark.parametrize('theirs, code, words', [
    ([{'name': 'api', 'is_parent': True}], Code.SUCCESS, 'Every neighbour'),
    ([{'name': 'other', 'is_parent': True}], Code.FAILURE,
     'c1 (our child) does not list api'),
    ([{'name': 'api', 'is_parent': False}], Code.FAILURE,
     'c1 (our child) lists api as its child too'),
    (TimeoutError('no answer'), Code.WARNING, 'No answer from the daemon'),
])
def test_link_symmetry(tmp_path, theirs, code, words):
    conf = _synced(_conf(tmp_path), [('c1', False, None)])
    result = _checks(conf, answers={'c1': theirs})._check_link_symmetry()
    assert result.code == code
    assert words in result.details


def test_an_unreachable_broker_is_a_warning_and_not_asked(tmp_path):
    conf = _synced(_conf(tmp_path), [('c1', False, None)])
    checks = _checks(conf, answers={}, brokers={'c1': 'refused'})
    brokers = checks._check_brokers()
    assert brokers.code == Code.WARNING and 'c1' in brokers.details
    assert 'u:p' not in brokers.details        # the password is masked
    links = checks._check_link_symmetry()
    assert links.code == Code.WARNING
    assert 'its broker is unreachable' in links.details


@pytest.mark.parametrize('mode, keys, code', [
    ('off', None, Code.SUCCESS),
    ('sign', None, Code.WARNING),
    ('require', None, Code.FAILURE),
    ('require', ['k' * 32], Code.SUCCESS),
])
def test_signing_keys(tmp_path, mode, keys, code):
    conf = _synced(_conf(tmp_path), [('c1', False, keys)])
    conf.set_override('signing', mode, 'cells')
    assert _checks(conf)._check_signing_keys().code == code


def test_ignored_options_set_in_a_file_are_warned(tmp_path):
    path = tmp_path / 'cells.conf'
    path.write_text('[cells]\nname = api\ntopic = cells\n'
                    '[database]\nconnection = sqlite://\n')
    conf = cells_conf.new_config(['--config-file', str(path)])
    result = _checks(conf)._check_changed_options()
    assert result.code == Code.WARNING
    assert '[cells] topic is set but ignored' in result.details


def test_no_changed_option_set_is_a_success_with_a_note(tmp_path):
    result = _checks(_conf(tmp_path))._check_changed_options()
    assert result.code == Code.SUCCESS
    assert 'intercell_send_retries = 3' in result.details
