"""oslo.messaging's message envelope, written and read without it.

What a neighbour receives must be byte for byte what oslo.messaging's
rabbit driver sends for ``client.cast(ctxt, 'process_message',
message=<json>)`` at version 1.0 (``tests/reference/wire_samples.json``,
``full_envelopes``): the body ``{"oslo.version": "2.0", "oslo.message":
"<json>"}`` whose inner JSON holds ``method``, ``args``, ``version``, a
fresh ``_unique_id`` and the context as ``_context_*`` keys, in that
order; JSON content, UTF-8, persistent.  And a daemon on this transport
must understand what an original cell or an oslo.messaging sender of ours
puts on its queues, calls included (their reply goes back the way
oslo.messaging's RPC server sends one).
"""

import json
import uuid

from nova_cells import exception

__all__ = ['METHOD', 'VERSION', 'PROPERTIES', 'wrap', 'unwrap',
           'encode_cast', 'encode_reply', 'Decoded', 'decode', 'BadEnvelope']

METHOD = 'process_message'
VERSION = '1.0'
_ENVELOPE_VERSION = '2.0'
# The AMQP properties oslo.messaging's publishes carry (kombu's JSON
# serializer, persistent delivery; headers empty).
PROPERTIES = {'content_type': 'application/json',
              'content_encoding': 'utf-8',
              'delivery_mode': 2,
              'priority': 0}


class BadEnvelope(exception.NovaCellsException):
    msg_fmt = 'not an intercell process_message envelope: %(reason)s'


def wrap(inner, dumps=json.dumps):
    """``inner`` (a dict) in oslo's 2.0 envelope, with a fresh
    ``_unique_id`` unless it has one; bytes.

    :param dumps: what encodes ``inner``: oslo's ``jsonutils.dumps`` for
        a method's result (dates and objects become primitives, as oslo's
        ``serialize_msg`` makes them).
    """
    inner.setdefault('_unique_id', uuid.uuid4().hex)
    return json.dumps({'oslo.version': _ENVELOPE_VERSION,
                       'oslo.message': dumps(inner)}).encode('utf-8')


def encode_cast(text, context, signature=None):
    """The body of a ``process_message`` cast of ``text`` (the cells
    message JSON), as bytes.

    :param context: the ``to_dict()`` of the context sent on
        (``message.outgoing_context()``).
    :param signature: the link's signature of ``text``, or None (an
        unsigned link: nova's exact wire).
    """
    args = {'message': text}
    if signature is not None:
        args['signature'] = signature
    inner = {'method': METHOD, 'args': args, 'version': VERSION,
             '_unique_id': uuid.uuid4().hex}
    for key, value in context.items():
        inner['_context_%s' % key] = value
    return wrap(inner)


def encode_reply(msg_id, failure=None):
    """The body of the answer to a call, as oslo.messaging's RPC server
    sends it (``result`` None: ``process_message`` returns nothing).

    :param failure: an exception to report (the caller raises it, as a
        RemoteError when it does not know the class).
    """
    if failure is not None:
        failure = json.dumps({
            'class': failure.__class__.__name__,
            'module': failure.__class__.__module__,
            'message': str(failure), 'tb': [],
            'args': [str(failure)], 'kwargs': {}})
    return wrap({'result': None, 'failure': failure, 'ending': True,
                 '_msg_id': msg_id})


class Decoded(object):
    """What a received ``process_message`` carries.

    :ivar message: the cells message JSON (text).
    :ivar signature: the ``signature`` argument (signed links), or None.
    :ivar msg_id: set when the sender called and waits for a reply...
    :ivar reply_q: ...on this queue of the sender's broker (ours).
    """

    __slots__ = ('message', 'signature', 'msg_id', 'reply_q')

    def __init__(self, message, signature=None, msg_id=None, reply_q=None):
        self.message = message
        self.signature = signature
        self.msg_id = msg_id
        self.reply_q = reply_q


def unwrap(body):
    """The inner message of a body (a dict).

    :raises BadEnvelope: not an envelope oslo reads; ValueError: not
        JSON.
    """
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode('utf-8')
    outer = json.loads(body)
    if not isinstance(outer, dict):
        raise BadEnvelope(reason='not a JSON object')
    if 'oslo.message' not in outer:
        return outer            # oslo reads a bare message too (1.0)
    if str(outer.get('oslo.version', '')).split('.')[0] != '2':
        raise BadEnvelope(reason='envelope version %r'
                          % outer.get('oslo.version'))
    inner = json.loads(outer['oslo.message'])
    if not isinstance(inner, dict):
        raise BadEnvelope(reason='inner message is not a JSON object')
    return inner


def _compatible(version):
    """oslo's check against our target, version 1.0: major 1, minor 0."""
    parts = str(version).split('.')
    return len(parts) >= 2 and parts[0] == '1' and parts[1] == '0'


def decode(body):
    """Read a received body.

    :raises BadEnvelope: not JSON, not oslo's envelope, another method,
        an incompatible version, or arguments of the wrong type.
    """
    try:
        inner = unwrap(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadEnvelope(reason='not JSON (%s)' % exc)
    if inner.get('method') != METHOD:
        raise BadEnvelope(reason='method %r' % inner.get('method'))
    if not _compatible(inner.get('version', VERSION)):
        raise BadEnvelope(reason='version %r' % inner.get('version'))
    args = inner.get('args')
    if not isinstance(args, dict) or not isinstance(args.get('message'),
                                                    str):
        raise BadEnvelope(reason='no message argument')
    extra = set(args) - {'message', 'signature'}
    if extra:
        raise BadEnvelope(reason='unexpected arguments %s'
                          % ', '.join(sorted(extra)))
    signature = args.get('signature')
    if signature is not None and not isinstance(signature, str):
        raise BadEnvelope(reason='signature is not a string')
    return Decoded(args['message'], signature, inner.get('_msg_id'),
                   inner.get('_reply_q'))
