"""What must stay in order: the instance a message is about.

Messages about one instance are applied in the order they were sent, on
both sides of a link: the kombu consumer queues each delivery under its
key (:mod:`.lanes`), and the outbox sends a link's messages in lanes of
their own (:mod:`nova_cells.messaging.delivery`).  Read from the message's
arguments as they travel (objects, their primitives or plain dicts).
"""

import zlib

__all__ = ['LANES', 'order_key', 'lane_of']

# Outbox lanes per link (messages of one instance share one).
LANES = 16


def _uuid_in(value):
    """The instance uuid of an object, its primitive or a dict."""
    if value is None:
        return None
    if isinstance(value, dict):
        data = value.get('nova_object.data', value)
        return data.get('instance_uuid') or data.get('uuid')
    return (getattr(value, 'instance_uuid', None)
            or getattr(value, 'uuid', None))


def order_key(method_kwargs):
    """What must stay in order: the instance a message is about (None
    when it is about none, e.g. a request for several instances)."""
    for name in ('instance', 'instance_fault', 'bdm'):
        if name in method_kwargs:
            return _uuid_in(method_kwargs[name])
    build = method_kwargs.get('build_inst_kwargs')
    if isinstance(build, dict) and build.get('instances'):
        return _uuid_in(build['instances'][0])
    return None


def lane_of(key, lanes=LANES):
    """A stable lane for ``key`` (lane 0 for None)."""
    if not key:
        return 0
    return zlib.crc32(str(key).encode('utf-8')) % lanes
