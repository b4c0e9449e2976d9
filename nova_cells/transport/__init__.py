"""The kombu intercell transport (beyond nova; ``[cells]
intercell_transport = kombu``).

oslo.messaging's RPC server acknowledges a message before it runs it, and
its casts return once the bytes are written: a daemon killed with
messages in hand loses them, and a sender cannot know whether its broker
kept a message.  RabbitMQ itself offers both guarantees: a consumer that
acknowledges only once the message is processed (the broker delivers it
again if the consumer dies first), and publisher confirms.  This package
uses them on the very same exchanges, queues, routing keys and envelope as
oslo.messaging's rabbit driver, so that original cells, and cells of ours
on oslo.messaging, stay neighbours of ours.

Modules, lowest first: :mod:`.envelope` (oslo's message envelope),
:mod:`.declarations` (exchanges and queues as oslo declares them),
:mod:`.connections` (broker URLs and connections), :mod:`.lanes`
(ordered processing), :mod:`.consumer`, :mod:`.publisher`,
:mod:`.marker` (telling our cells from original ones) and
:mod:`.driver` (the :class:`~nova_cells.transport.rpc_driver.BaseCellsDriver`).
Delivery semantics (inbox, outbox) are not here: the transport only
reports what the broker said.
"""
