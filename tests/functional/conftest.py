"""Fixtures of the functional tests (defined in :mod:`.fixtures`).

Also attaches the logs of every daemon a failed test started to its report,
so that a failure in CI shows what the daemon said, and makes sure the
vhosts deleted in the background are gone at the end of the session.
"""

import pytest

from tests.functional import fixtures
from tests.functional.fixtures import daemon_factory  # noqa: F401
from tests.functional.fixtures import database_url  # noqa: F401
from tests.functional.fixtures import one_connection_db  # noqa: F401
from tests.functional.fixtures import db_backend  # noqa: F401
from tests.functional.fixtures import rabbit_url  # noqa: F401
from tests.functional.fixtures import sqlite_url  # noqa: F401
from tests.functional.fixtures import stack  # noqa: F401
from tests.functional.fixtures import synced_database_url  # noqa: F401
from tests.functional.fixtures import synced_sqlite_url  # noqa: F401


@pytest.fixture(scope='session', autouse=True)
def _reap_vhosts():
    yield
    failed = fixtures.reap_vhost_deletions()
    if failed:
        pytest.fail('could not delete RabbitMQ vhosts: %s' % '; '.join(failed),
                    pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when != 'call' or not report.failed:
        return
    for daemon in item.stash.get(fixtures.DAEMONS_KEY, []):
        if daemon.proc is not None:
            report.sections.append(('log of %r' % daemon, daemon.log()))
