"""HMAC signatures on intercell links (nova_cells.transport.signing), the
transport's use of them (rpc_driver) and the keys in the cell state (state)."""

import hashlib
import hmac
import json
import logging

from oslo_messaging.rpc import dispatcher as rpc_dispatcher
import pytest

from nova_cells import context
from nova_cells.db import api as db_api
from nova_cells.transport import rpc_driver
from nova_cells.transport import signing
from nova_cells.cells import state
from tests.unit import tree_support

OLD, NEW, OTHER = 'old-key-0123', 'new-key-4567', 'not-the-key'


def _json(routing_path='api', uuid='u-1', **extra):
    message = {'message_type': 'targeted', 'uuid': uuid,
               'routing_path': routing_path, 'method_name': 'm'}
    message.update(extra)
    return json.dumps(message)


def _neighbour(name='api', keys=None, raw=None):
    cell = state.CellState(name)
    row = {'transport_url': 'rabbit://x', 'is_parent': True}
    if keys is not None:
        row['signing_keys'] = json.dumps(keys)
    if raw is not None:
        row['signing_keys'] = raw
    cell.update_db_info(row)
    return cell


def _finder(*cells):
    by_name = {c.name: c for c in cells}
    return by_name.get


# -- sign / verify ------------------------------------------------------------

def test_signature_is_hex_hmac_sha256_of_the_exact_text():
    text = _json()
    expected = hmac.new(OLD.encode(), text.encode(),
                        hashlib.sha256).hexdigest()
    assert signing.sign(OLD, text) == expected


def test_round_trip():
    text = _json()
    assert signing.verify([OLD], text, signing.sign(OLD, text))


def test_wrong_key_or_changed_text_is_refused():
    text = _json()
    assert not signing.verify([OLD], text, signing.sign(OTHER, text))
    assert not signing.verify([OLD], _json(uuid='u-2'),
                              signing.sign(OLD, text))
    assert not signing.verify([OLD], text, None)
    assert not signing.verify([OLD], text, 42)
    assert not signing.verify([], text, signing.sign(OLD, text))


@pytest.mark.parametrize('signed_with', [OLD, NEW])
def test_either_of_two_keys_verifies(signed_with):
    text = _json()
    assert signing.verify([OLD, NEW], text, signing.sign(signed_with, text))
    assert signing.verify([NEW, OLD], text, signing.sign(signed_with, text))


# -- keys ---------------------------------------------------------------------

@pytest.mark.parametrize('value, expected', [
    (None, []), ('', []), ('null', []), ('[]', []), ([], []),
    ('["a"]', ['a']), (['a', 'b'], ['a', 'b']), ('["a", "b"]', ['a', 'b']),
])
def test_parse_keys(value, expected):
    assert signing.parse_keys(value) == expected


@pytest.mark.parametrize('value, reason', [
    ('{not json', 'not valid JSON'),
    ('"secret"', 'list'),
    ('["a", "b", "c"]', '1 to 2'),
    (['a', ''], 'non-empty'),
    (['a', 7], 'non-empty'),
    (['dup-key', 'dup-key'], 'twice'),
])
def test_bad_keys_are_refused_without_echoing_them(value, reason):
    with pytest.raises(ValueError) as info:
        signing.parse_keys(value)
    assert reason in str(info.value)
    assert 'dup-key' not in str(info.value) and 'secret' not in str(
        info.value)


def test_sender_is_the_last_cell_of_the_routing_path():
    assert signing.sender_of(_json('api!child')) == 'child'
    assert signing.sender_of(_json('api')) == 'api'
    assert signing.sender_of('not json') is None
    assert signing.sender_of('[1]') is None
    assert signing.sender_of(_json(routing_path=['api'])) is None


# -- the modes ----------------------------------------------------------------

def test_unknown_mode_is_refused():
    with pytest.raises(ValueError):
        signing.LinkSigning('maybe')


def test_off_signs_nothing_and_ignores_signatures():
    link = signing.LinkSigning('off')
    keyed = _neighbour(keys=[OLD])
    assert link.signature_for(keyed, _json()) is None
    find = _finder(keyed)
    assert link.check(_json(), None, find)
    assert link.check(_json(), 'bad', find)
    assert link.check(_json('stranger'), 'bad', find)


@pytest.mark.parametrize('mode', ['sign', 'require'])
def test_first_key_signs_only_to_neighbours_with_keys(mode):
    link = signing.LinkSigning(mode)
    text = _json()
    assert link.signature_for(_neighbour(keys=[NEW, OLD]), text) == \
        signing.sign(NEW, text)
    assert link.signature_for(_neighbour(), text) is None
    assert link.signature_for(_neighbour(raw='{broken'), text) is None


@pytest.mark.parametrize('mode', ['sign', 'require'])
def test_good_signature_with_either_key_is_accepted(mode):
    link = signing.LinkSigning(mode)
    find = _finder(_neighbour(keys=[OLD, NEW]))
    text = _json()
    for key in (OLD, NEW):
        assert link.check(text, signing.sign(key, text), find)


@pytest.mark.parametrize('mode', ['sign', 'require'])
def test_bad_signature_is_rejected_in_both_modes(mode):
    link = signing.LinkSigning(mode)
    find = _finder(_neighbour(keys=[OLD]))
    text = _json()
    verdict = link.check(text, signing.sign(OTHER, text), find)
    assert not verdict
    assert (verdict.reason, verdict.sender) == ('bad signature', 'api')
    # Signed with the right key, then altered on the way.
    assert not link.check(_json(uuid='u-9'), signing.sign(OLD, text), find)


def test_sign_mode_accepts_unsigned():
    link = signing.LinkSigning('sign')
    assert link.check(_json(), None, _finder(_neighbour(keys=[OLD])))
    assert link.check(_json('stranger'), None, _finder())


def test_require_rejects_unsigned_from_a_neighbour_with_keys():
    link = signing.LinkSigning('require')
    verdict = link.check(_json(), None, _finder(_neighbour(keys=[OLD])))
    assert not verdict and 'unsigned' in verdict.reason
    assert OLD not in repr(verdict) and OLD not in verdict.reason


def test_require_accepts_unsigned_from_a_neighbour_without_keys():
    link = signing.LinkSigning('require')
    assert link.check(_json(), None, _finder(_neighbour()))


@pytest.mark.parametrize('text', [_json('stranger'), 'not json'])
def test_require_rejects_what_no_neighbour_sent(text):
    verdict = signing.LinkSigning('require').check(text, None, _finder())
    assert not verdict


def test_signed_but_no_key_here_counts_as_unsigned():
    # The sender may start signing before the receiver has the keys.
    for mode in ('sign', 'require'):
        link = signing.LinkSigning(mode)
        assert link.check(_json(), 'f' * 64, _finder(_neighbour()))


@pytest.mark.parametrize('mode', ['sign', 'require'])
def test_a_neighbour_with_unreadable_keys_is_refused(mode):
    link = signing.LinkSigning(mode)
    text = _json()
    verdict = link.check(text, signing.sign(OLD, text),
                         _finder(_neighbour(raw='["a","b","c"]')))
    assert not verdict and 'invalid' in verdict.reason


# -- the cell state -----------------------------------------------------------

def test_db_info_holds_the_parsed_list(db):
    mgr = state.CellStateManager(
        'me', [], state.DBCellSource(db), db, state.StateSettings())
    mgr.cell_create({'name': 'p', 'transport_url': 'rabbit://u:p@h/v',
                     'is_parent': True,
                     'signing_keys': json.dumps([OLD, NEW])})
    mgr.cell_create({'name': 'c', 'transport_url': 'rabbit://u:p@h/w',
                     'is_parent': False})
    assert mgr.get_parent_cell('p').db_info['signing_keys'] == [OLD, NEW]
    assert mgr.get_child_cell('c').db_info['signing_keys'] == []
    # Never over RPC.
    assert 'signing_keys' not in mgr.cell_get('p')


def _file(tmp_path, keys):
    entry = {'transport_url': 'rabbit://u:p@h/v', 'is_parent': True}
    if keys is not None:
        entry['signing_keys'] = keys
    path = tmp_path / 'cells.json'
    path.write_text(json.dumps({'p': entry}))
    return state.FileCellSource(str(path))


def test_file_source_takes_a_list_of_keys(tmp_path):
    cells = _file(tmp_path, [OLD, NEW]).load()
    cell = state.CellState('p')
    cell.update_db_info(cells['p'])
    assert cell.db_info['signing_keys'] == [OLD, NEW]


@pytest.mark.parametrize('keys', [[], [OLD, NEW, OTHER], [''], OLD,
                                  [OLD, 3]])
def test_file_source_refuses_bad_keys_with_a_clear_error(tmp_path, keys):
    with pytest.raises(ValueError) as info:
        _file(tmp_path, keys).load()
    assert str(info.value).startswith('p: signing_keys')
    assert OLD not in str(info.value)


# -- the transport ------------------------------------------------------------

class _Runner(object):
    def __init__(self, *neighbours):
        self.seen = []
        self.state_manager = self
        self._cells = {c.name: c for c in neighbours}

    def get_parent_cell(self, name):
        return self._cells.get(name)

    def get_child_cell(self, name):
        return None

    def refuse_oversized(self, message):
        pass

    def process_json(self, message, held=False, parsed=None):
        self.seen.append(message)


def test_dispatcher_default_is_nova_behaviour():
    runner = _Runner()
    dispatcher = rpc_driver.InterCellRPCDispatcher(runner)
    dispatcher.process_message(None, _json())
    dispatcher.process_message(None, _json(), signature='junk')
    assert len(runner.seen) == 2


def test_dispatcher_drops_and_logs_a_refused_message(caplog):
    runner = _Runner(_neighbour(keys=[OLD]))
    dispatcher = rpc_driver.InterCellRPCDispatcher(
        runner, signing.LinkSigning('require'))
    good = _json(uuid='good-uuid')
    dispatcher.process_message(None, good, signature=signing.sign(OLD, good))
    with caplog.at_level(
            logging.WARNING, logger='nova_cells.transport.rpc_driver'):
        # An expected exception for oslo.messaging: no traceback logged, a
        # call (durable forwarding) gets an error, not a confirmation.
        with pytest.raises(rpc_dispatcher.ExpectedException) as info:
            dispatcher.process_message(None, _json(uuid='forged-uuid'))
        assert isinstance(info.value.exc_info[1], signing.MessageRefused)
        with pytest.raises(rpc_dispatcher.ExpectedException):
            dispatcher.process_message(None, _json(uuid='wrong-uuid'),
                                       signature=signing.sign(OTHER, good))
    assert runner.seen == [good]
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert 'forged-uuid' in lines[0] and 'api' in lines[0] and \
        'unsigned' in lines[0]
    assert 'wrong-uuid' in lines[1] and 'bad signature' in lines[1]
    assert not any(OLD in line or OTHER in line for line in lines)


class _Message(object):
    def __init__(self, text):
        self.text = text

    def to_json(self):
        return self.text


@pytest.mark.parametrize('mode, keys, signed', [
    ('off', [OLD], False), ('sign', None, False), ('sign', [NEW, OLD], True),
    ('require', [NEW, OLD], True)])
def test_cast_arguments(make_conf, mode, keys, signed):
    driver = rpc_driver.CellsRPCDriver(make_conf(''),
                                       signing=signing.LinkSigning(mode))
    text = _json()
    args = driver._process_message_args(_neighbour(keys=keys),
                                        _Message(text))
    if signed:
        assert args == {'message': text,
                        'signature': signing.sign(NEW, text)}
    else:
        assert args == {'message': text}, 'nova\'s exact wire'


# -- in process, over fake:// -------------------------------------------------

def _set_keys(tree, cell, neighbour, keys):
    db_api.cell_update(tree.cells[cell].db, neighbour,
                       {'signing_keys': json.dumps(keys)})
    tree.cells[cell].state_manager.sync(force=True)


def test_signed_tree_with_rotation(tmp_path):
    recorder = tree_support.Recorder()
    ctxt = context.get_admin_context()
    with tree_support.running_tree(tmp_path, layout={'api': {'c1': {}}},
                                   recorder=recorder,
                                   overrides={'signing': 'require'}) as tree:
        api = tree.cells['api']
        _set_keys(tree, 'api', 'c1', [OLD])
        _set_keys(tree, 'c1', 'api', [OLD])
        steps = [('old', None, None),
                 ('both-at-receiver', ('c1', 'api', [OLD, NEW]), None),
                 ('sender-new', ('api', 'c1', [NEW, OLD]), None),
                 ('receiver-drops-old', ('c1', 'api', [NEW]), None)]
        for tag, change, _ in steps:
            if change:
                _set_keys(tree, *change)
            api.runner.targeted(ctxt, 'api!c1', 'record', {'tag': tag})
            assert tree_support.wait_until(
                lambda: recorder.cells(tag=tag) == ['c1']), tag
            # And a call, answered by c1 (signed the other way).
            response = api.runner.targeted(ctxt, 'api!c1', 'whoami', {},
                                           need_response=True)
            assert not response.failure, (tag, response.value)
        # The receiver no longer knows the sender's key: dropped.
        _set_keys(tree, 'api', 'c1', [OTHER])
        api.runner.targeted(ctxt, 'api!c1', 'record', {'tag': 'forged'})
        tree_support.wait_until(lambda: recorder.cells(tag='forged'),
                                timeout=0.5)
        assert recorder.cells(tag='forged') == []


# -- issue 23: nesting is checked before the sender is read -----------------

def _deep(levels):
    return ('{"routing_path": "api", "uuid": "deep", "x": ' + '[' * levels +
            ']' * levels + '}')


@pytest.mark.parametrize('levels', [101, 5000, 200000],
                         ids=['just-over', 'deep', 'stack-breaking'])
def test_sender_and_uuid_of_a_deep_message_are_unknown_not_a_crash(levels):
    text = _deep(levels)
    assert signing.sender_of(text) is None
    assert signing.uuid_of(text) == '?'


def test_a_deep_signed_message_is_refused_and_the_dispatcher_serves_on():
    runner = _Runner(_neighbour(keys=[OLD]))
    dispatcher = rpc_driver.InterCellRPCDispatcher(
        runner, signing.LinkSigning('require'))
    text = _deep(200000)
    with pytest.raises(rpc_dispatcher.ExpectedException) as info:
        dispatcher.process_message(None, text,
                                   signature=signing.sign(OLD, text))
    assert isinstance(info.value.exc_info[1], signing.MessageRefused)
    assert runner.seen == []
    good = _json(uuid='after')
    dispatcher.process_message(None, good, signature=signing.sign(OLD, good))
    assert runner.seen == [good]
