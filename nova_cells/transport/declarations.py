"""Exchanges and queues, declared exactly as oslo.messaging's rabbit driver
declares them for the same ``[oslo_messaging_rabbit]`` options.

RabbitMQ refuses a second declaration of a queue or exchange whose
arguments differ (``PRECONDITION_FAILED``), and a daemon of ours on this
transport shares its queues with oslo.messaging senders and with original
nova-cells daemons.  So every name, flag and argument here follows
``impl_rabbit.Connection.declare_topic_consumer`` /
``declare_fanout_consumer`` / ``topic_send`` / ``fanout_send`` and
``_get_queue_arguments`` (oslo.messaging 18.x; 9.x, nova Stein's, gives
the same for the options it has).  ``tests/functional/test_kombu_wire.py``
declares through oslo.messaging and compares.
"""

import uuid

import kombu

__all__ = ['QueueOptions', 'Declarations']


class QueueOptions(object):
    """The ``[oslo_messaging_rabbit]`` values that shape declarations."""

    def __init__(self, durable_queues=False, auto_delete=False,
                 ha_queues=False, quorum=False, quorum_delivery_limit=0,
                 quorum_max_memory_length=0, quorum_max_memory_bytes=0,
                 transient_quorum=False, transient_ttl=1800,
                 stream_fanout=False, prefetch=0):
        if quorum and ha_queues:
            raise ValueError('rabbit_quorum_queue and rabbit_ha_queues are '
                             'both enabled: a queue is quorum or mirrored, '
                             'not both')
        if stream_fanout and not transient_quorum:
            raise ValueError('rabbit_stream_fanout needs '
                             'rabbit_transient_quorum_queue')
        self.durable_queues = durable_queues
        self.auto_delete = auto_delete
        self.ha_queues = ha_queues
        self.quorum = quorum
        self.quorum_limits = (quorum_delivery_limit, quorum_max_memory_length,
                              quorum_max_memory_bytes)
        self.transient_quorum = transient_quorum
        self.transient_ttl = transient_ttl
        self.stream_fanout = stream_fanout
        self.prefetch = prefetch

    @classmethod
    def from_conf(cls, conf):
        rabbit = conf.oslo_messaging_rabbit
        return cls(durable_queues=rabbit.amqp_durable_queues,
                   auto_delete=rabbit.amqp_auto_delete,
                   ha_queues=rabbit.rabbit_ha_queues,
                   quorum=rabbit.rabbit_quorum_queue,
                   quorum_delivery_limit=rabbit.rabbit_quorum_delivery_limit,
                   quorum_max_memory_length=(
                       rabbit.rabbit_quorum_max_memory_length),
                   quorum_max_memory_bytes=(
                       rabbit.rabbit_quorum_max_memory_bytes),
                   transient_quorum=rabbit.rabbit_transient_quorum_queue,
                   transient_ttl=rabbit.rabbit_transient_queues_ttl,
                   stream_fanout=rabbit.rabbit_stream_fanout,
                   prefetch=rabbit.rabbit_qos_prefetch_count)

    @property
    def durable(self):
        """oslo's ``Connection.durable``: quorum queues are durable."""
        return self.durable_queues or self.quorum

    def queue_arguments(self, quorum, ttl=0, stream=False):
        """oslo's ``_get_queue_arguments``."""
        args = {}
        if self.ha_queues:
            args['x-ha-policy'] = 'all'
        if quorum:
            args['x-queue-type'] = 'quorum'
            limit, length, size = self.quorum_limits
            if limit:
                args['x-delivery-limit'] = limit
            if length:
                args['x-max-in-memory-length'] = length
            if size:
                args['x-max-in-memory-bytes'] = size
        if ttl > 0:
            args['x-expires'] = ttl * 1000
        if stream:
            args = {'x-queue-type': 'stream'}
            if ttl > 0:
                args['x-max-age'] = '%ds' % ttl
        return args


class Declarations(object):
    """The kombu entities of one cell's intercell topics.

    :param options: :class:`QueueOptions`.
    :param exchange: the control exchange (``nova``).
    """

    def __init__(self, options, exchange='nova'):
        self.options = options
        self.exchange_name = exchange

    def topic_exchange(self):
        """``topic_send`` / ``declare_topic_consumer``'s exchange."""
        return kombu.Exchange(self.exchange_name, type='topic',
                              durable=self.options.durable,
                              auto_delete=self.options.auto_delete)

    def fanout_exchange(self, topic):
        """``fanout_send`` / ``declare_fanout_consumer``'s exchange."""
        return kombu.Exchange('%s_fanout' % topic, type='fanout',
                              durable=(self.options.transient_quorum or
                                       self.options.stream_fanout),
                              auto_delete=True)

    def topic_queue(self, name):
        """A shared topic queue (``<topic>``) or a server queue
        (``<topic>.<host>``), bound with its own name as routing key."""
        options = self.options
        return kombu.Queue(name, exchange=self.topic_exchange(),
                           routing_key=name, durable=options.durable,
                           auto_delete=options.auto_delete,
                           queue_arguments=options.queue_arguments(
                               options.quorum))

    def fanout_queue_name(self, topic):
        """A fresh name, ``<topic>_fanout_<hex>`` (one queue per consumer),
        or ``<topic>_fanout`` for a stream shared by all."""
        if self.options.stream_fanout:
            return '%s_fanout' % topic
        return '%s_fanout_%s' % (topic, uuid.uuid4().hex)

    def fanout_queue(self, topic, name):
        options = self.options
        return kombu.Queue(name, exchange=self.fanout_exchange(topic),
                           routing_key=topic,
                           durable=(options.transient_quorum or
                                    options.stream_fanout),
                           auto_delete=False,
                           queue_arguments=options.queue_arguments(
                               options.transient_quorum,
                               ttl=options.transient_ttl,
                               stream=options.stream_fanout))

    def consumer_arguments(self):
        """oslo's: where to start reading a stream (its newest message)."""
        if self.options.stream_fanout:
            return {'x-stream-offset': 'last'}
        return None

    def keeps_messages(self):
        """True when a topic queue outlives its consumer and the broker
        (durable or quorum): a sender then declares the neighbour's
        shared topic queue, so that a message sent before the
        neighbour's daemon ever started is kept."""
        return self.options.durable
