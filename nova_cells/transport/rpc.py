"""oslo.messaging plumbing for the ``cells`` topic: transport, server, client.

Intercell transports (one per neighbour URL) are
:mod:`nova_cells.transport.rpc_driver`'s
business; this module serves the local broker only.
"""

import oslo_messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher

from nova_cells import context as cells_context

__all__ = ['RequestContextSerializer', 'EnvelopeContextSerializer',
           'get_transport', 'get_server',
           'get_client']


class RequestContextSerializer(oslo_messaging.Serializer):
    """Carry our :class:`RequestContext` as nova's ``_context_*`` keys."""

    def __init__(self, base=None):
        self._base = base or oslo_messaging.NoOpSerializer()

    def serialize_entity(self, ctxt, entity):
        return self._base.serialize_entity(ctxt, entity)

    def deserialize_entity(self, ctxt, entity):
        return self._base.deserialize_entity(ctxt, entity)

    def serialize_context(self, ctxt):
        return ctxt.to_dict()

    def deserialize_context(self, ctxt):
        return cells_context.RequestContext.from_dict(ctxt)


class EnvelopeContextSerializer(RequestContextSerializer):
    """For the intercell servers: the envelope's context is left a dict.

    ``process_message`` reads the context inside the message (nova's
    design: it travels with the message through every hop) and ignores
    the envelope's copy, so rebuilding that one (oslo.context's
    ``from_dict`` and a timestamp parse) for every message received was
    work thrown away (tools/bench/route.py, round trips).
    """

    def deserialize_context(self, ctxt):
        return ctxt


def get_transport(conf, url=None):
    """Return an RPC transport for ``url`` (default: ``transport_url``).

    :raises oslo_messaging.InvalidTransportURL: for a malformed URL.
    """
    return oslo_messaging.get_rpc_transport(conf, url=url)


def get_server(transport, target, endpoints, serializer=None):
    """Return an RPC server exposing only ``@expose``d endpoint methods.

    The executor follows the concurrency backend (oslo.messaging picks
    eventlet when it is monkey-patched, native threads otherwise).
    """
    return oslo_messaging.get_rpc_server(
        transport, target, endpoints,
        serializer=serializer or RequestContextSerializer(),
        access_policy=rpc_dispatcher.ExplicitRPCAccessPolicy)


def get_client(transport, target, version_cap=None, serializer=None,
               retry=None):
    """An RPC client; ``retry`` bounds reconnection attempts of its sends
    (None: forever, oslo.messaging's default)."""
    return oslo_messaging.get_rpc_client(
        transport, target, version_cap=version_cap,
        serializer=serializer or RequestContextSerializer(), retry=retry)
