"""Shared test set-up: native threads unless a test starts eventlet itself.

Importing :mod:`nova_cells` installs the threading default hook; nothing in
the test process monkey-patches.  Daemons under test run as subprocesses
and choose their own backend through ``NOVA_CELLS_BACKEND``.
"""

import logging
import signal

import nova_cells  # noqa: F401 - selects the default backend hook first

import pytest  # noqa: I100 - after the backend hook


# -- figures a test measured, shown at the end of the run ---------------------

_MEASURED = 'measured'


@pytest.fixture
def measured(request):
    """``measured(line)``: a figure to print in the run's summary (shown
    even when output is captured, as in CI).  Kept in the test's report
    (``user_properties``), so that it reaches the summary from a
    pytest-xdist worker too."""
    def add(line):
        request.node.user_properties.append((_MEASURED, line))
    return add


def pytest_terminal_summary(terminalreporter):
    lines = ['%s: %s' % (report.nodeid, value)
             for reports in terminalreporter.stats.values()
             for report in reports
             if getattr(report, 'when', None) == 'call'
             for name, value in getattr(report, 'user_properties', ())
             if name == _MEASURED]
    if lines:
        terminalreporter.section('measured')
        for line in lines:
            terminalreporter.write_line(line)


# -- logging left behind ------------------------------------------------------

@pytest.fixture(autouse=True)
def _no_log_handlers_left_behind():
    """A command's ``main()`` run in a test sets up oslo.log, whose handler
    writes to the ``sys.stderr`` of that moment: pytest's capture of that
    test, closed afterwards.  Left on the root logger, it turned a later
    test's log line into "--- Logging error ---" and a traceback on
    stderr (which tests asserting one clean line then saw).  Handlers a
    test added are removed after it."""
    root = logging.getLogger()
    before = set(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in before and \
                not type(handler).__module__.startswith('_pytest'):
            root.removeHandler(handler)


# -- signal dispositions left behind ----------------------------------------

@pytest.fixture(autouse=True)
def _sigpipe_kept():
    """``nova-cells-manage``'s ``main()`` sets SIGPIPE to its default (a
    CLI piped into ``head`` ends quietly).  Run in a test, it left the
    worker process to be killed, without a word, by the next write to a
    closed socket, in whatever test came next (an xdist worker vanished
    during a fuzz test now and then).  Restored after every test."""
    before = signal.getsignal(signal.SIGPIPE)
    yield
    if signal.getsignal(signal.SIGPIPE) != before:
        signal.signal(signal.SIGPIPE, before)


# -- reports that can cross to the xdist controller -----------------------

def _utf8_safe(text):
    """``text`` with what UTF-8 cannot encode (a lone surrogate a fuzz
    test put in a cell name, then in a log line) escaped."""
    if isinstance(text, str):
        return text.encode('utf-8', 'backslashreplace').decode('utf-8')
    return text


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """The captured output travels with every report, passed or not; an
    xdist worker sends it to the controller as UTF-8, and a lone surrogate
    there ended the worker (and the run) with an INTERNALERROR.  Escaped
    here, the line still shows what the test logged."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(title, _utf8_safe(text))
                       for title, text in report.sections]
    if isinstance(report.longrepr, str):
        report.longrepr = _utf8_safe(report.longrepr)
