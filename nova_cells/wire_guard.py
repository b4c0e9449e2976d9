"""The one guard in front of every parse of a received intercell message.

Whoever can publish on a cell's broker can send anything: 30 MB bodies,
JSON nested 100,000 deep.  Every inbound path (the runner, the signature
check's look at the sender, the kombu driver's peek at the order key)
reads a message through :func:`loads`, which checks the size and the
nesting on the text *before* parsing it: nothing downstream can hit a
``RecursionError`` or spend memory on a body the receiver refuses
(issue 23: ``signing.sender_of`` once parsed first).

Pure functions, no configuration: the size limit is passed in.
"""

import itertools
import json
import re

from nova_cells import exception

__all__ = ['MAX_NESTING', 'SIZE_CAPABILITY', 'size_capability',
           'announced_limit', 'wire_size', 'nesting_of', 'check', 'loads']

#: The capability a cell of ours announces to its parents: the smallest
#: ``[cells] max_message_size`` of its subtree (capabilities are unioned
#: up the tree, so a parent sees every limit below a child, and a message
#: sent down must fit the smallest).  A sender refuses a message over it
#: before sending, so that a durable one stays in its outbox, reported,
#: instead of being taken by the broker and dropped by the receiver.
SIZE_CAPABILITY = 'nova_cells_max_message_size'

#: Deepest nesting of lists and objects accepted in a received message;
#: nova's messages (object primitives included) stay far below it.
MAX_NESTING = 100

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKET = re.compile(r'[^\[\]{}]')
_STEP = {'{': 1, '[': 1, '}': -1, ']': -1}


def size_capability(max_message_size):
    """This cell's entry of :data:`SIZE_CAPABILITY`, as ``[cells]
    capabilities`` spells one."""
    return '%s=%d' % (SIZE_CAPABILITY, max_message_size)


def announced_limit(capabilities):
    """The smallest limit a neighbour announced in its capabilities
    (``{name: set of strings}``), or None (an original nova-cells, or
    nothing readable)."""
    limits = []
    for value in (capabilities or {}).get(SIZE_CAPABILITY, ()):
        try:
            limit = int(value)
        except (TypeError, ValueError):
            continue
        if limit > 0:
            limits.append(limit)
    return min(limits) if limits else None


def wire_size(text, limit):
    """Size in bytes of a received message (UTF-8 for text), or None when
    it is neither text nor bytes.  Text longer than ``limit`` characters is
    not encoded to be measured: its length is already over the limit."""
    if isinstance(text, (bytes, bytearray)):
        return len(text)
    if not isinstance(text, str):
        return None
    if len(text) > limit or text.isascii():
        return len(text)
    return len(text.encode('utf-8', 'surrogatepass'))


def _as_text(text):
    if isinstance(text, (bytes, bytearray)):
        # Only the ASCII brackets and quotes matter here.
        return bytes(text).decode('latin-1')
    return text


def nesting_of(text):
    """How deep lists and objects nest in JSON ``text``, read without
    parsing it: strings removed, then the running count of brackets
    (C-speed regular expressions and ``accumulate``; no recursion)."""
    text = _as_text(text)
    brackets = _NOT_BRACKET.sub('', _STRING.sub('', text))
    if not brackets:
        return 0
    return max(itertools.accumulate(_STEP[c] for c in brackets))


def _within(text, limit):
    """True when the text cannot nest deeper than ``limit``: two counts
    spare nearly every message the full scan (brackets inside strings
    only make this bound looser)."""
    text = _as_text(text)
    return text.count('{') + text.count('[') <= limit or \
        nesting_of(text) <= limit


def check(text, max_size=None):
    """Raise unless ``text`` is text or bytes, at most ``max_size`` bytes
    and nested at most :data:`MAX_NESTING` deep.

    :raises MessageTooLarge: over ``max_size``.
    :raises MalformedMessage: not text, or nested too deeply.
    """
    limit = max_size if max_size is not None else float('inf')
    size = wire_size(text, limit)
    if size is None:
        raise exception.MalformedMessage(uuid='?', reason='not JSON text')
    if size > limit:
        raise exception.MessageTooLarge(size=size, limit=max_size)
    if not _within(text, MAX_NESTING):
        raise exception.MalformedMessage(
            uuid='?', reason='nested deeper than %d levels' % MAX_NESTING)


def loads(text, max_size=None):
    """:func:`check`, then parse.

    :raises MessageTooLarge: over ``max_size``.
    :raises MalformedMessage: not JSON, or nested too deeply.
    """
    check(text, max_size)
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise exception.MalformedMessage(uuid='?', reason='not JSON: %s'
                                         % exc)
    except RecursionError:
        # Cannot happen after the check; kept so no input ever escapes
        # as anything but a malformed message.
        raise exception.MalformedMessage(uuid='?', reason='not JSON: '
                                         'nested too deeply')
