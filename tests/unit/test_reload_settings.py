"""SIGHUP re-reads the mutable options into a running cell's parts.

The weigher multipliers are mutable: before the reload rebuilt the
plug-ins, a new multiplier was read but never used.
"""

from nova_cells import inprocess
from nova_cells.filters import cell_state


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
