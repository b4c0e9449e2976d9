"""SIGHUP re-reads the mutable options into a running cell's parts.

The weigher multipliers are mutable: before the reload rebuilt the
plug-ins, a new multiplier was read but never used.
"""

from oslo_config import cfg
import pytest

from nova_cells.cmd import cells as cmd_cells
from nova_cells.filters import cell_state
from nova_cells import inprocess


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


def test_a_bad_pin_on_reload_keeps_the_current_plugins(tmp_path, caplog):
    tree = inprocess.CellTree({'solo': {}}, str(tmp_path)).build()
    try:
        parts = tree.cells['solo']
        before = list(parts.scheduler.filters)
        parts.conf.set_override('project_cells', {'p1': ''}, 'cells')
        parts.conf.set_override('split_builds_by_capacity', True, 'cells')
        parts.reload_settings()
        assert parts.scheduler.filters == before
        assert "Keeping the current filters and weighers: [cells] " \
            "project_cells = {'p1': ''}" in caplog.text
        # the scheduler's own settings still follow the file
        assert parts.scheduler.settings.split_builds_by_capacity is True
    finally:
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
