"""No broker or database password reaches a log line or CLI output.

Runs the daemon's start-up code paths, ``nova-cells-manage`` commands and
oslo.messaging's own connection-failure logging with a transport URL and a
database URL holding a recognisable password, and looks for it in every
captured log record (DEBUG and up, all loggers) and in stdout/stderr.

That the context cast to another cell carries no auth token is
``tests/unit/test_context.py::test_for_other_cell_drops_secrets_without_
mutating_original`` (not repeated here).
"""

import logging

from oslo_config import cfg
import oslo_messaging
import pytest

from nova_cells.cmd import cells as cmd_cells
from nova_cells.cmd import manage
from nova_cells import conf as cells_conf
from nova_cells import context as cells_context
from nova_cells.db import api as db_api
from nova_cells.transport import rpc
from nova_cells import transport_url

PASSWORD = 'Pw0rd-S3CRET-x9'
NEIGHBOUR_PASSWORD = 'N3ighb0ur-S3CRET-q7'
SECRETS = (PASSWORD, NEIGHBOUR_PASSWORD)
# Port 1 on the loopback: refused at once, no broker or server needed.
LOCAL_URL = 'rabbit://nc-user:%s@127.0.0.1:1/nc' % PASSWORD
NEIGHBOUR_URL = ('rabbit://child:%s@child-mq.example.org:5672,'
                 'child:%s@child-mq2.example.org:5672/child'
                 % (NEIGHBOUR_PASSWORD, NEIGHBOUR_PASSWORD))
UNREACHABLE_DB = 'mysql+pymysql://nova:%s@127.0.0.1:1/nova_cells' % PASSWORD


@pytest.fixture
def global_conf():
    """The global CONF as the entry points use it, reset afterwards."""
    yield cfg.CONF
    cfg.CONF.reset()
    cfg.CONF.clear()


def _write_conf(tmp_path, connection, url=LOCAL_URL, api_connection=None):
    path = tmp_path / 'cells.conf'
    text = ('[DEFAULT]\ntransport_url = %s\nstate_path = %s\n'
            'debug = true\n'
            '[cells]\nname = cell1\ncell_type = api\n'
            '[database]\nconnection = %s\nmax_retries = 1\n'
            'retry_interval = 0\n' % (url, tmp_path, connection))
    if api_connection:
        text += '[api_database]\nconnection = %s\n' % api_connection
    path.write_text(text)
    return str(path)


def _assert_clean(caplog, capsys, expect_masked=False):
    out, err = capsys.readouterr()
    text = '\n'.join([out, err] + [r.getMessage() for r in caplog.records])
    text += '\n'.join(caplog.text.splitlines())
    for secret in SECRETS:
        assert secret not in text, text
    if expect_masked:
        assert ':***@' in text, text
    return out, err


def _manage(conf_path, *args):
    try:
        manage.main(['--config-file', conf_path] + list(args))
    except SystemExit as exc:
        return exc.code
    return 0


@pytest.fixture
def synced_sqlite(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'cells.sqlite')
    return url


def test_manage_commands_never_print_passwords(
        tmp_path, synced_sqlite, global_conf, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    path = _write_conf(tmp_path, synced_sqlite)
    assert _manage(path, 'db', 'sync') == 0
    global_conf.reset()
    assert _manage(path, 'cell', 'create', '--name', 'child1',
                   '--cell_type', 'child',
                   '--transport-url', NEIGHBOUR_URL) == 0
    global_conf.reset()
    assert _manage(path, 'cell', 'create', '--name', 'child2',
                   '--cell_type', 'child', '--broker_hosts',
                   'mq.example.org:5672', '--username', 'u', '--password',
                   NEIGHBOUR_PASSWORD, '--virtual_host', 'v') == 0
    global_conf.reset()
    assert _manage(path, 'cell', 'update', '--cell_name', 'child2',
                   '--password', NEIGHBOUR_PASSWORD + 'x') == 0
    for args in (('cell', 'list'), ('cell', 'list', '--format', 'json'),
                 ('cell', 'show', '--cell_name', 'child1'),
                 ('cell', 'show', '--cell_name', 'child1', '--format',
                  'json'),
                 ('db', 'version')):
        global_conf.reset()
        assert _manage(path, *args) == 0, args
    # (``tree`` is left out: it waits for the daemon over the broker,
    # reconnecting until its timeout.)
    _assert_clean(caplog, capsys)
    # the stored URL itself is intact (it is what the daemon connects with)
    db = db_api.Database(synced_sqlite)
    try:
        assert db_api.cell_get(db, 'child1')['transport_url'] == \
            NEIGHBOUR_URL
    finally:
        db.dispose()


def test_manage_show_masks_the_neighbour_url(
        tmp_path, synced_sqlite, global_conf, caplog, capsys):
    path = _write_conf(tmp_path, synced_sqlite)
    assert _manage(path, 'db', 'sync') == 0
    global_conf.reset()
    assert _manage(path, 'cell', 'create', '--name', 'child1',
                   '--cell_type', 'child',
                   '--transport-url', NEIGHBOUR_URL) == 0
    capsys.readouterr()
    global_conf.reset()
    assert _manage(path, 'cell', 'show', '--cell_name', 'child1') == 0
    out, _err = _assert_clean(caplog, capsys, expect_masked=True)
    assert 'child-mq2.example.org' in out


# An unreachable database, and a URL SQLAlchemy cannot parse (whose error
# must not echo it either).
BAD_CONNECTIONS = [
    UNREACHABLE_DB,
    'mysql+pymysql//nova:%s@db.example.org/nova_cells' % PASSWORD,
]


@pytest.mark.parametrize('connection', BAD_CONNECTIONS)
def test_manage_database_errors_mask_the_url(
        tmp_path, global_conf, caplog, capsys, connection):
    caplog.set_level(logging.DEBUG)
    path = _write_conf(tmp_path, connection)
    status = _manage(path, 'db', 'version')
    assert status != 0
    _assert_clean(caplog, capsys)


@pytest.mark.parametrize('connection', BAD_CONNECTIONS)
def test_daemon_preflight_masks_the_database_url(
        tmp_path, global_conf, caplog, capsys, connection):
    caplog.set_level(logging.DEBUG)
    path = _write_conf(tmp_path, connection)
    with pytest.raises(SystemExit) as caught:
        cmd_cells.main(['--config-file', path])
    assert caught.value.code != 0
    _assert_clean(caplog, capsys)


# nova's API database, unreachable, and two values refused at start-up:
# a driver that is not installed, and a URL SQLAlchemy cannot parse.
UNREACHABLE_API_DB = UNREACHABLE_DB.replace('nova_cells', 'nova_api')
REFUSED_API_CONNECTIONS = [
    'mysql://nova:%s@db.example.org/nova_api' % PASSWORD,
    'mysql+pymysql//nova:%s@db.example.org/nova_api' % PASSWORD,
]


def test_manage_explain_masks_an_unreachable_api_database(
        tmp_path, synced_sqlite, global_conf, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    path = _write_conf(tmp_path, synced_sqlite,
                       api_connection=UNREACHABLE_API_DB)
    assert _manage(path, 'explain', '--flavor', 'm1.small') == 2
    _out, err = _assert_clean(caplog, capsys)
    assert 'Cannot read the flavors from the API database' in err


@pytest.mark.parametrize('api_connection', REFUSED_API_CONNECTIONS)
def test_a_refused_api_database_connection_is_masked(
        tmp_path, synced_sqlite, global_conf, caplog, capsys,
        api_connection):
    caplog.set_level(logging.DEBUG)
    path = _write_conf(tmp_path, synced_sqlite,
                       api_connection=api_connection)
    # (The daemon runs the same check: tests/functional/test_api_flavors.)
    assert _manage(path, 'cell', 'list') == 2
    _out, err = _assert_clean(caplog, capsys)
    assert err.startswith('nova-cells-manage: invalid configuration: '
                          '[api_database] connection = ')


def test_daemon_option_dump_masks_urls(tmp_path, synced_sqlite, caplog,
                                       capsys):
    """The DEBUG dump of every option at start-up (service.start)."""
    caplog.set_level(logging.DEBUG)
    conf = cells_conf.new_config(
        ['--config-file', _write_conf(tmp_path, UNREACHABLE_DB,
                                      api_connection=UNREACHABLE_API_DB)])
    conf.log_opt_values(logging.getLogger('nova_cells.service.daemon'),
                        logging.DEBUG)
    assert 'transport_url' in caplog.text
    assert 'api_database.connection' in caplog.text
    _assert_clean(caplog, capsys)


def test_oslo_messaging_connection_errors_mask_the_password(caplog, capsys):
    """oslo.messaging's own lines when the broker cannot be reached."""
    caplog.set_level(logging.DEBUG)
    conf = cells_conf.new_config()
    transport = rpc.get_transport(conf, LOCAL_URL)
    try:
        client = rpc.get_client(
            transport, oslo_messaging.Target(topic='cells'), retry=1)
        # MessageDeliveryFailure, or kombu's OperationalError as it is
        with pytest.raises(Exception) as caught:
            client.cast(cells_context.get_admin_context(), 'ping',
                        arg='x')
        assert PASSWORD not in str(caught.value)
    finally:
        transport.cleanup()
    assert 'oslo.messaging' in caplog.text or 'AMQP' in caplog.text, \
        caplog.text
    _assert_clean(caplog, capsys)


def test_mask_covers_what_oslo_messaging_would_print():
    """str(TransportURL) holds the password; mask() is what we print."""
    parsed = transport_url.parse(NEIGHBOUR_URL)
    assert NEIGHBOUR_PASSWORD in str(parsed)
    masked = transport_url.mask(str(parsed))
    assert NEIGHBOUR_PASSWORD not in masked
    assert masked.count(':***@') == 2
