"""Shared test set-up: native threads unless a test starts eventlet itself.

Importing :mod:`nova_cells` installs the threading default hook; nothing in
the test process monkey-patches.  Daemons under test run as subprocesses
and choose their own backend through ``NOVA_CELLS_BACKEND``.
"""

import nova_cells  # noqa: F401 - selects the default backend hook first

import pytest  # noqa: I100 - after the backend hook


# -- figures a test measured, shown at the end of the run ---------------------

_MEASURED = []


@pytest.fixture
def measured(request):
    """``measured(line)``: a figure to print in the run's summary (shown
    even when output is captured, as in CI)."""
    def add(line):
        _MEASURED.append('%s: %s' % (request.node.nodeid, line))
    return add


def pytest_terminal_summary(terminalreporter):
    if _MEASURED:
        terminalreporter.section('measured')
        for line in _MEASURED:
            terminalreporter.write_line(line)
