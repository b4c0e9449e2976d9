"""SIGHUP names each option that only a restart applies
(nova_cells.service.launcher.warn_immutable_changes)."""

import logging

from nova_cells import conf as cells_conf
from nova_cells.service import launcher


def _conf(path, text):
    path.write_text(text)
    return cells_conf.new_config(['--config-file', str(path)])


def test_an_immutable_change_is_named_with_the_running_value(
        tmp_path, caplog):
    path = tmp_path / 'cells.conf'
    running = _conf(path, '[cells]\nname = api\nintercell_workers = 8\n'
                    'capabilities = a=b\n'
                    '[database]\nconnection = sqlite:///x.db\n')
    path.write_text('[cells]\nname = api\nintercell_workers = 3\n'
                    'capabilities = a=c\n'
                    '[database]\nconnection = sqlite:///y.db\n')
    with caplog.at_level(logging.WARNING):
        changed = launcher.warn_immutable_changes(running)
    assert sorted(changed) == [('cells', 'intercell_workers'),
                               ('database', 'connection')]
    text = caplog.text
    assert ('[cells] intercell_workers changed in the configuration files, '
            'but only a restart applies it (still running with 8)') in text
    # A secret-bearing URL is not shown; a mutable option is not named.
    assert 'x.db' not in text and 'capabilities' not in text


def test_nothing_changed_names_nothing(tmp_path, caplog):
    running = _conf(tmp_path / 'cells.conf', '[cells]\nname = api\n')
    with caplog.at_level(logging.WARNING):
        assert launcher.warn_immutable_changes(running) == []
    assert 'only a restart' not in caplog.text


def test_an_unreadable_file_names_nothing(tmp_path):
    path = tmp_path / 'cells.conf'
    running = _conf(path, '[cells]\nname = api\n')
    path.write_text('[cells\nbroken')
    assert launcher.warn_immutable_changes(running) == []
