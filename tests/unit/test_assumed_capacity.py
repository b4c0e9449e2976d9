"""A build sent to a child is counted against the child's last reported
capacities until its next report (``capacity.assume_placed``): a burst
of builds is spread by what is left, instead of all going to the child
that reported the most room and overfilling it."""

from nova_cells.cells import capacity
from nova_cells.cells import state as cell_state


def _report():
    return {'ram_free': {'total_mb': 16384,
                         'units_by_mb': {'2048': 8, '4096': 4, '8192': 2}},
            'disk_free': {'total_mb': 204800,
                          'units_by_mb': {'20480': 10}},
            'vcpu_free': {'total': 16, 'units_by_vcpus': {'1': 16,
                                                          '4': 4}}}


def test_a_placement_takes_at_most_its_share_of_every_slot():
    report = _report()
    assumed = capacity.assume_placed(report, 2, memory_mb=4096,
                                     disk_mb=20480, vcpus=2)
    assert assumed['ram_free'] == {'total_mb': 8192, 'units_by_mb': {
        '2048': 4, '4096': 2, '8192': 0}}
    assert assumed['disk_free'] == {'total_mb': 163840,
                                    'units_by_mb': {'20480': 8}}
    assert assumed['vcpu_free'] == {'total': 12, 'units_by_vcpus': {
        '1': 12, '4': 2}}
    # The report itself is left as it was (it is shared with the
    # capacities this cell reports up).
    assert report == _report()


def test_nothing_goes_below_zero_and_odd_reports_are_kept():
    odd = {'ram_free': {'total_mb': 1024, 'units_by_mb': {
        '512': 2, 'big': 3, '1024': 'x'}}, 'other': {'a': 1}}
    assumed = capacity.assume_placed(odd, 5, memory_mb=2048)
    assert assumed == {'ram_free': {'total_mb': 0, 'units_by_mb': {
        '512': 0, 'big': 3, '1024': 'x'}}, 'other': {'a': 1}}
    assert capacity.assume_placed({}, 3, memory_mb=512) == {}
    # A size that is not a number (an odd flavor) takes nothing.
    assert capacity.assume_placed(_report(), 1, memory_mb='x',
                                  vcpus=None) == _report()


def test_the_next_report_replaces_the_estimate():
    child = cell_state.CellState('child1')
    child.update_capacities(_report())
    child.assume_build(1, memory_mb=8192)
    assert child.ram_units_by_mb == {'2048': 4, '4096': 2, '8192': 1}
    assert child.capacities['ram_free']['total_mb'] == 8192
    child.update_capacities(_report())
    assert child.ram_units_by_mb == {'2048': 8, '4096': 4, '8192': 2}
