"""Fixtures shared by the unit tests: a migrated SQLite database per test,
and one made from nova's own cell schema."""

import pytest

from nova_cells import conf as nc_conf
from nova_cells.db import api as db_api
from nova_cells.db import migration
from tests import nova_stein


@pytest.fixture
def db(tmp_path):
    """A fresh cell database (schema at head) in a SQLite file."""
    database = db_api.Database('sqlite:///' + str(tmp_path / 'cell.sqlite'))
    migration.db_sync(database)
    yield database
    database.dispose()


@pytest.fixture
def make_conf(tmp_path):
    """Build ``new_config()`` from config-file text written to tmp_path.

    Values come from a file, not ``set_override``: overrides of grouped
    options live on the shared module-level ``OptGroup`` and would leak into
    every other configuration (see test_conf_validation).  Every conf built
    here is reset at teardown all the same.
    """
    confs = []

    def _make(text=''):
        path = tmp_path / ('nova-cells-%d.conf' % len(confs))
        path.write_text(text)
        conf = nc_conf.new_config(['--config-file', str(path)])
        confs.append(conf)
        return conf

    yield _make
    for conf in confs:
        conf.reset()


@pytest.fixture
def nova_db(tmp_path):
    """A SQLite cell database made from nova 19.3.2's own schema."""
    url = 'sqlite:///%s' % (tmp_path / 'nova.sqlite')
    nova_stein.create_database(url)
    database = db_api.Database(url)
    yield database
    database.dispose()
