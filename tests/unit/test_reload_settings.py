"""SIGHUP re-reads the mutable options into a running cell's parts.

The weigher multipliers are mutable: before the reload rebuilt the
plug-ins, a new multiplier was read but never used.
"""

from oslo_config import cfg
import pytest

from nova_cells.cmd import cells as cmd_cells
from nova_cells.filters import cell_state
from nova_cells.testing import inprocess


def _multipliers(parts):
    return {w.name: w.multiplier for w in parts.scheduler.weighers}


def test_reload_applies_new_weigher_multipliers(tmp_path):
    tree = inprocess.CellTree({'solo': {}}, str(tmp_path)).build()
    try:
        parts = tree.cells['solo']
        before = _multipliers(parts)
        assert before['RamByInstanceTypeWeigher'] == 10.0
        conf = parts.conf
        conf.set_override('ram_weight_multiplier', -2.5, 'cells')
        conf.set_override('mute_weight_multiplier', -7.0, 'cells')
        parts.reload_settings()
        after = _multipliers(parts)
        assert after['RamByInstanceTypeWeigher'] == -2.5
        assert after['MuteChildWeigher'] == -7.0
        assert after['WeightOffsetWeigher'] == before['WeightOffsetWeigher']
        # The always-on state filter survives the reload, once.
        states = [f for f in parts.scheduler.filters
                  if isinstance(f, cell_state.CellStateFilter)]
        assert len(states) == 1 and parts.scheduler.filters[0] is states[0]
    finally:
        tree.close()


def test_a_bad_pin_on_reload_keeps_everything_running(tmp_path, caplog):
    """A reload that fails validation is refused as a whole: neither the
    plug-ins nor the other settings of that reload are applied."""
    tree = inprocess.CellTree({'solo': {}}, str(tmp_path)).build()
    try:
        parts = tree.cells['solo']
        before = list(parts.scheduler.filters)
        parts.conf.set_override('project_cells', {'p1': ''}, 'cells')
        parts.conf.set_override('split_builds_by_capacity', True, 'cells')
        assert parts.reload_settings() is False
        assert parts.scheduler.filters == before
        assert "Refused the reloaded configuration, keeping the running " \
            "settings: [cells] project_cells = {'p1': ''}" in caplog.text
        assert parts.scheduler.settings.split_builds_by_capacity is False
    finally:
        tree.close()


@pytest.mark.parametrize('group, name, value', [
    ('cells', 'max_hop_count', 0),
    ('cells', 'reserve_percent', 250.0),
    ('cells', 'ram_weight_multiplier', float('nan')),
    ('cells', 'offset_weight_multiplier', float('inf')),
], ids=['max_hop_count-0', 'reserve_percent-250', 'ram-multiplier-nan',
        'offset-multiplier-inf'])
def test_a_reload_start_up_would_refuse_is_refused_and_settings_stay(
        tmp_path, caplog, group, name, value):
    """Issue 23: these were applied on SIGHUP, and every later build went
    to ERROR; now the running settings stay, with one ERROR line."""
    tree = inprocess.CellTree({'solo': {}}, str(tmp_path)).build()
    try:
        parts = tree.cells['solo']
        hops = parts.runner.settings.max_hop_count
        reserve = parts.state_manager.settings.reserve_percent
        multipliers = _multipliers(parts)
        parts.conf.set_override(name, value, group)
        parts.conf.set_override('mute_weight_multiplier', -3.0, 'cells')
        assert parts.reload_settings() is False
        errors = [r for r in caplog.records if r.levelname == 'ERROR']
        assert len(errors) == 1 and name in errors[0].getMessage()
        assert parts.runner.settings.max_hop_count == hops
        assert parts.state_manager.settings.reserve_percent == reserve
        assert _multipliers(parts) == multipliers
    finally:
        parts.conf.clear_override(name, group)
        parts.conf.clear_override('mute_weight_multiplier', 'cells')
        tree.close()


@pytest.fixture
def global_conf():
    """The entry point parses the global CONF: reset it afterwards."""
    yield cfg.CONF
    cfg.CONF.reset()
    cfg.CONF.clear()


def test_the_daemon_refuses_a_bad_pin_before_starting(tmp_path, capsys,
                                                      global_conf):
    conf_file = tmp_path / 'cells.conf'
    conf_file.write_text('[cells]\nname = api\n'
                         'fallback_cell_groups = api!c1;api!!c2\n'
                         '[database]\nconnection = sqlite://\n')
    with pytest.raises(SystemExit) as caught:
        cmd_cells.main(['--config-file', str(conf_file)])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('nova-cells: invalid configuration: [cells] '
                          'fallback_cell_groups')
    assert 'empty cell name' in err


def test_a_reread_start_up_would_refuse_is_undone_before_any_worker(
        tmp_path, caplog):
    """The threading backend starts a new worker from the re-read
    configuration: the guard undoes a failing re-read in the launcher,
    so no worker ever sees ``max_hop_count = 0``."""
    from nova_cells import conf as nc_conf
    path = tmp_path / 'cells.conf'
    path.write_text('[cells]\nname = api\nmax_hop_count = 7\n'
                    'capabilities = a=1\n')
    conf = nc_conf.new_config(['--config-file', str(path)])
    try:
        cmd_cells.guard_reloads(conf)
        path.write_text('[cells]\nname = api\nmax_hop_count = 0\n'
                        'capabilities = a=2\n')
        assert conf.mutate_config_files() == {}
        assert conf.cells.max_hop_count == 7
        assert conf.cells.capabilities == ['a=1']
        assert 'Refused the reloaded configuration' in caplog.text
        path.write_text('[cells]\nname = api\nmax_hop_count = 8\n'
                        'capabilities = a=3\n')
        assert conf.mutate_config_files()
        assert conf.cells.max_hop_count == 8
        assert conf.cells.capabilities == ['a=3']
    finally:
        conf.reset()
