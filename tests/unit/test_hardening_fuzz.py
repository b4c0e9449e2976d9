"""Issue 23, fuzzed: ``nova-cells-manage cell create/update`` and the
configuration loader driven with generated names, URLs and numbers.

Whatever comes in: never a traceback, a refusal is one line with status
2, and what is accepted is usable by every later reader: the stored row
passes the one rule of :mod:`nova_cells.cells.cell_values`, ``cell show`` and
``cell list`` print it, the state manager reads it and a build's pick
weighs it; an accepted configuration builds the settings and plug-ins a
daemon runs with.
"""

import io
import math
import random
import sys

from oslo_config import cfg
import hypothesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
import pytest

from nova_cells.service import assembly
from nova_cells.cells import cell_values
from nova_cells.cmd import _common
from nova_cells.db import api as db_api
from nova_cells.messaging import runner as messaging
from nova_cells.scheduler import selection
from nova_cells.cells import state
from tests.unit import helpers
from nova_cells.weights import weight_offset
from tests.unit import sched_support as ss

FUZZ = hypothesis.settings(
    max_examples=60, deadline=None, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture,
                           HealthCheck.too_slow])

# Text as argv can carry it (no NUL), with the characters that once got
# through: newlines, bidi overrides, zero-width spaces, separators.
_ARGV_CHARS = st.characters(blacklist_characters='\x00',
                            blacklist_categories=('Cs',))
_NASTY = st.sampled_from(['\n', '\r', '\u202e', '\u200b', '!', '.', '@',
                          '\t', ' ', '\x1b[31m', '\u2028', '%', '$'])
NAMES = st.one_of(
    st.text(_ARGV_CHARS, max_size=20),
    st.builds(lambda a, b, c: a + b + c, st.text(_ARGV_CHARS, max_size=8),
              _NASTY, st.text(_ARGV_CHARS, max_size=8)),
    st.text('abc-_', min_size=250, max_size=300),
    st.sampled_from(['child-1', 'c2', 'Zürich', 'x' * 10000]))
URLS = st.one_of(
    st.builds(lambda scheme, user, pw, host, port, vhost:
              '%s://%s:%s@%s:%s/%s' % (scheme, user, pw, host, port, vhost),
              st.sampled_from(['rabbit', 'amqp', 'http', 'kafka', 'fake',
                               'file', '']),
              st.text('abc:@/%?#', max_size=6),
              st.text(_ARGV_CHARS, max_size=8),
              st.sampled_from(['mq', 'mq.example.org', '[::1]', '', 'h h']),
              st.one_of(st.integers(-5, 70000).map(str),
                        st.sampled_from(['', 'x', '5672'])),
              st.text(_ARGV_CHARS, max_size=8)),
    st.text(_ARGV_CHARS, max_size=30),
    st.just('rabbit://u:p@h/' + 'v' * 300))
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(['nan', 'inf', '-inf', 'NaN', '1e308', '-1e400', '0',
                     '999999999999999', '1e19', 'x', '', '1_000']),
    st.integers(-10 ** 20, 10 ** 20).map(str))


@pytest.fixture(scope='module')
def cli(tmp_path_factory):
    """A cells.conf on a synced SQLite file, and its database."""
    base = tmp_path_factory.mktemp('fuzzcli')
    path = base / 'cells.conf'
    path.write_text('[DEFAULT]\ntransport_url = fake://\n'
                    '[cells]\nname = api\ncell_type = api\n'
                    '[database]\nconnection = sqlite:///%s\n'
                    % (base / 'cells.sqlite'))
    assert _run(str(path), 'db', 'sync')[0] == 0
    db = db_api.Database('sqlite:///%s' % (base / 'cells.sqlite'))
    yield str(path), db
    db.dispose()


def _run(conf_path, *args):
    """``(status, stdout, stderr)`` of one in-process command."""
    return helpers.run_main(['--config-file', conf_path] + list(args))


def _assert_refused_in_one_line(status, err):
    assert 'Traceback' not in err
    assert status == 2, err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith('nova-cells-manage'), err


def _assert_usable(conf_path, row):
    """What every later reader does with a stored row works."""
    values = {k: row[k] for k in cell_values.WRITABLE_COLUMNS}
    assert cell_values.check_values(values, creating=True) == []
    for view in (('cell', 'show', '--cell_name=' + row['name']),
                 ('cell', 'show', '--format=json',
                  '--cell_name=' + row['name']),
                 ('cell', 'list')):
        status, out, err = _run(conf_path, *view)
        assert status == 0 and err == '', err
    cell = state.CellState(row['name'])
    cell.update_db_info(row)
    other = state.CellState('other')
    other.update_db_info({'transport_url': 'fake://', 'is_parent': False,
                          'weight_offset': 1.0})
    result = selection.select(
        [ss.candidate(cell), ss.candidate(other)], ss.request(), [],
        [weight_offset.WeightOffsetWeigher(1.0)], rng=random.Random(1))
    assert result.picked is not None
    assert all(math.isfinite(w) for _c, w in result.ordered)


@FUZZ
@hypothesis.given(name=NAMES, url=URLS, woffset=NUMBERS, wscale=NUMBERS)
def test_cell_create_refuses_in_one_line_or_stores_a_usable_row(
        cli, name, url, woffset, wscale):
    conf_path, db = cli
    status, _out, err = _run(conf_path, 'cell', 'create', '--name=' + name,
                             '--transport-url=' + url, '--woffset=' + woffset,
                             '--wscale=' + wscale)
    if status != 0:
        _assert_refused_in_one_line(status, err)
        hypothesis.event('refused')
        return
    hypothesis.event('accepted')
    try:
        _assert_usable(conf_path, db_api.cell_get(db, name))
    finally:
        db_api.cell_delete(db, name)


@FUZZ
@hypothesis.given(name=st.one_of(st.none(), NAMES),
                  url=st.one_of(st.none(), URLS),
                  woffset=st.one_of(st.none(), NUMBERS),
                  wscale=st.one_of(st.none(), NUMBERS),
                  password=st.one_of(st.none(), st.text(_ARGV_CHARS,
                                                        max_size=10)))
def test_cell_update_refuses_in_one_line_or_keeps_a_usable_row(
        cli, name, url, woffset, wscale, password):
    conf_path, db = cli
    db_api.cell_create(db, {'name': 'base', 'is_parent': False,
                            'transport_url': 'rabbit://u:p@mq:5672/v'})
    args = ['cell', 'update', '--cell_name=base']
    for flag, value in (('--name', name), ('--transport-url', url),
                        ('--woffset', woffset), ('--wscale', wscale),
                        ('--password', password)):
        if value is not None:
            args.append('%s=%s' % (flag, value))
    try:
        status, _out, err = _run(conf_path, *args)
        if status != 0:
            _assert_refused_in_one_line(status, err)
            assert db_api.cell_get(db, 'base')['transport_url'] == \
                'rabbit://u:p@mq:5672/v'
            return
        current = name or 'base'
        _assert_usable(conf_path, db_api.cell_get(db, current))
    finally:
        for row in db_api.cell_get_all(db):
            db_api.cell_delete(db, row['name'])


# -- the configuration loader ------------------------------------------------

_LINE_CHARS = st.characters(blacklist_characters='\x00\n\r',
                            blacklist_categories=('Cs',))
CONF_VALUES = {
    'name': st.one_of(st.text(_LINE_CHARS, max_size=12), NAMES.filter(
        lambda n: '\n' not in n and '\r' not in n and '\x00' not in n)),
    'max_hop_count': NUMBERS,
    'reserve_percent': NUMBERS,
    'ram_weight_multiplier': NUMBERS,
    'offset_weight_multiplier': NUMBERS,
    'call_timeout': NUMBERS,
    'db_check_interval': NUMBERS,
    'signing': st.sampled_from(['off', 'sign', 'require', 'on', '']),
    'singing': st.just('require'),
}


@FUZZ
@hypothesis.given(values=st.fixed_dictionaries(
    {}, optional={k: v for k, v in CONF_VALUES.items()}))
def test_the_config_loader_refuses_in_one_line_or_gives_usable_settings(
        tmp_path_factory, values):
    base = tmp_path_factory.mktemp('fuzzconf')
    path = base / 'cells.conf'
    lines = ['[DEFAULT]', 'transport_url = fake://', '[cells]']
    lines += ['%s = %s' % (k, v.replace('\n', ' ').replace('\r', ' '))
              for k, v in values.items()]
    lines += ['[database]', 'connection = sqlite://']
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    err, saved = io.StringIO(), sys.stderr
    sys.stderr = err
    try:
        try:
            conf = _common.load_config(['--config-file', str(path)],
                                       'nova-cells', setup_logging=False)
            status = 0
        except SystemExit as exc:
            status = exc.code
        finally:
            sys.stderr = saved
        text = err.getvalue()
        assert 'Traceback' not in text
        if status != 0:
            assert status == 2
            assert all(line.startswith('nova-cells: ')
                       for line in text.splitlines()), text
            return
        problems, lists = assembly.settings_problems(conf)
        assert problems == [] and lists is not None
        settings = messaging.RunnerSettings.from_conf(conf)
        assert settings.max_hop_count >= 1
        assert 0 <= state.StateSettings.from_conf(conf).reserve_percent \
            <= 100
        assert math.isfinite(conf.cells.ram_weight_multiplier)
    finally:
        cfg.CONF.reset()
        cfg.CONF.clear()
