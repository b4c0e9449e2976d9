"""Optional HMAC-SHA256 signatures on intercell links (beyond nova).

nova trusted anything that reached a cell's intercell queues: whoever could
publish on a cell's broker could build, delete or rewrite instances.  Here
each neighbour entry (the ``cells`` row, or the cells JSON file) may carry
up to two signing keys, and ``[cells] signing`` says what to do with them:

* ``off``: nothing is signed or checked (nova's behaviour and wire);
* ``sign``: what is sent to a neighbour with keys is signed with its first
  key; a signed message is checked against every key of the neighbour it
  claims to come from and dropped when none matches; an unsigned one is
  accepted (both sides can switch on one after the other);
* ``require``: as ``sign``, and a message claiming to come from a
  neighbour with keys must carry a good signature; one claiming to come
  from a cell that is not a neighbour is dropped.

Why two keys: the first signs, any verifies, so a key is rotated without a
flag day (add the new key second on the receiver, then first on the
sender, then drop the old one).

The signature covers the exact JSON string on the wire (the ``message``
argument of ``process_message``), so nothing has to be re-serialised the
same way on both sides; it travels as an extra ``signature`` argument,
only on signed links, so unsigned links keep nova's exact wire.

Everything here is pure (no I/O, no configuration): the transport asks
:class:`LinkSigning` for a signature when sending and for a verdict when
receiving.
"""

import hashlib
import hmac
import json

from nova_cells import exception
from nova_cells import wire_guard

__all__ = ['MessageRefused', 'MODES', 'OFF', 'SIGN', 'REQUIRE', 'MAX_KEYS',
           'sign', 'verify', 'check_keys', 'parse_keys', 'sender_of',
           'uuid_of', 'Verdict', 'LinkSigning']

OFF, SIGN, REQUIRE = 'off', 'sign', 'require'
MODES = (OFF, SIGN, REQUIRE)
# The current key and the next (or previous) one: rotation never needs
# more, and fewer keys means fewer to leak.
MAX_KEYS = 2


class MessageRefused(exception.NovaCellsException):
    """Raised by the intercell endpoint for a message refused by the
    link's signing rules: a cast is dropped, a call (durable forwarding)
    gets the error, so the sender keeps the message and sends it again
    once the keys agree instead of counting it as delivered."""

    msg_fmt = ('Intercell message %(uuid)s claiming to come from '
               '%(sender)s was refused: %(reason)s')


def _bytes(text):
    return text.encode('utf-8') if isinstance(text, str) else text


def sign(key, text):
    """The hex HMAC-SHA256 of ``text`` (the wire JSON) under ``key``."""
    return hmac.new(_bytes(key), _bytes(text), hashlib.sha256).hexdigest()


def verify(keys, text, signature):
    """True when ``signature`` is ``text``'s HMAC under any of ``keys``.

    Every key is tried (no early exit) and compared in constant time, so
    the time taken says nothing about which key or how much matched.
    """
    if not isinstance(signature, str) or not keys:
        return False
    good = False
    for key in keys:
        good |= hmac.compare_digest(sign(key, text), signature)
    return good


def check_keys(keys):
    """Why ``keys`` is not a valid key list, or None when it is.

    Valid: None (no keys) or a list of 1 to :data:`MAX_KEYS` distinct
    non-empty strings.  The reason never contains a key.
    """
    if keys is None:
        return None
    if not isinstance(keys, list):
        return 'signing_keys must be a list of strings'
    if not 1 <= len(keys) <= MAX_KEYS:
        return ('signing_keys must hold 1 to %d keys (the current one, and '
                'the next or previous during a rotation), not %d'
                % (MAX_KEYS, len(keys)))
    if not all(isinstance(k, str) and k.strip() for k in keys):
        return 'signing_keys must be non-empty strings'
    if len(set(keys)) != len(keys):
        return 'signing_keys holds the same key twice'
    return None


def parse_keys(value):
    """Keys from a ``cells`` row (JSON text), a JSON file entry (a list) or
    None; an empty list or text means no keys.

    :returns: a list (empty when the link is not signed).
    :raises ValueError: naming what is wrong (never the keys themselves).
    """
    if value is None or value == '' or value == []:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError('signing_keys is not valid JSON')
        if value is None or value == []:
            return []
    reason = check_keys(value)
    if reason:
        raise ValueError(reason)
    return list(value)


def _guarded(json_message):
    """The parsed message through the inbound guard (size is checked
    before this by the receiver; nesting here, before the parse), or
    None when it is not a JSON object that passes."""
    try:
        data = wire_guard.loads(json_message)
    except exception.MalformedMessage:
        return None
    return data if isinstance(data, dict) else None


def _unreadable(json_message):
    """Why no sender could be read: the guard's reason (too deep, not
    JSON), or that the message names none."""
    try:
        wire_guard.loads(json_message)
    except exception.MalformedMessage as exc:
        return exc.kwargs.get('reason') or str(exc)
    return 'names no sender'


def sender_of(json_message):
    """The neighbour that sent ``json_message``: the last cell of its
    routing path (each cell appends itself before passing a message on).
    None when the message does not say (the runner rejects it anyway)."""
    path = (_guarded(json_message) or {}).get('routing_path')
    if not isinstance(path, str) or not path:
        return None
    return path.split('!')[-1] or None


def uuid_of(json_message):
    """The message's uuid for a log line, or ``'?'``."""
    uuid = (_guarded(json_message) or {}).get('uuid')
    return uuid if isinstance(uuid, str) else '?'


class Verdict(object):
    """Whether a received message may be processed, and why not."""

    def __init__(self, accepted, reason=None, sender=None):
        self.accepted = accepted
        self.reason = reason
        self.sender = sender

    def __bool__(self):
        return self.accepted

    def __repr__(self):
        return '<Verdict %s %s>' % (self.accepted, self.reason)


ACCEPTED = Verdict(True)


class LinkSigning(object):
    """Signing and checking for one cell, in one ``[cells] signing`` mode.

    A neighbour is a :class:`nova_cells.cells.state.CellState`; its keys are
    ``db_info['signing_keys']`` (a list, parsed when the row was read);
    ``db_info['signing_keys_error']`` marks an entry whose keys could not
    be read: nothing is signed to it, and with checking on nothing from it
    is accepted (an operator meant to protect that link).
    """

    def __init__(self, mode=OFF):
        if mode not in MODES:
            raise ValueError('signing mode %r is not one of %s'
                             % (mode, ', '.join(MODES)))
        self.mode = mode

    @staticmethod
    def keys_of(cell_state):
        if cell_state is None:
            return []
        return cell_state.db_info.get('signing_keys') or []

    def signature_for(self, cell_state, json_message):
        """The signature to send with ``json_message`` to ``cell_state``,
        or None when the link is not signed."""
        if self.mode == OFF:
            return None
        keys = self.keys_of(cell_state)
        return sign(keys[0], json_message) if keys else None

    def check(self, json_message, signature, find_neighbour):
        """Decide on one received message.

        :param find_neighbour: ``name -> CellState or None``.
        :returns: a :class:`Verdict`; its reason never holds a key.
        """
        if self.mode == OFF:
            return ACCEPTED
        if signature is None and self.mode == SIGN:
            return ACCEPTED
        sender = sender_of(json_message)
        neighbour = find_neighbour(sender) if sender else None
        if neighbour is None:
            return Verdict(False, 'not from a neighbour of this cell'
                           if sender else _unreadable(json_message), sender)
        if neighbour.db_info.get('signing_keys_error'):
            return Verdict(False, 'the keys of this neighbour are invalid '
                           '(%s)' % neighbour.db_info['signing_keys_error'],
                           sender)
        keys = self.keys_of(neighbour)
        if signature is None:
            if keys:
                return Verdict(False, 'unsigned, and this link requires a '
                               'signature', sender)
            return ACCEPTED
        if not keys:
            # No key here for that link: the signature proves nothing, and
            # the message is as good as an unsigned one from a neighbour
            # without keys (accepted), so the sender may start signing
            # before the receiver has its keys.
            return ACCEPTED
        if not verify(keys, json_message, signature):
            return Verdict(False, 'bad signature', sender)
        return ACCEPTED
