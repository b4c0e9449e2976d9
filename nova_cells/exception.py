"""The project's exceptions: one root, nova's names where nova had them.

Each exception formats ``msg_fmt`` with its keyword arguments, as nova's
``NovaException`` did, and keeps them as attributes so that callers (and
the failure JSON sent between cells) carry the facts, not just a string.
``code`` follows nova (an HTTP-like status).  ``recoverable`` tells callers
whether retrying later can help.
"""

__all__ = [
    'NovaCellsException', 'NovaException', 'CellNotFound', 'CellExists',
    'CellsUpdateUnsupported', 'InvalidCellName', 'InvalidTransportURL',
    'InvalidCellValues', 'PolicyNotAuthorized', 'CellLinkChangeRefused',
    'ServiceNotFound', 'CellTimeout', 'CellMaxHopCountReached',
    'CellRoutingInconsistency', 'NoCellsAvailable', 'ConfigNotValid',
    'InstanceNotFound', 'InstanceExists', 'UnexpectedVMStateError',
    'UnexpectedTaskStateError', 'NoValidHost', 'MalformedMessage',
    'UnknownMethod', 'SecurityGroupNotFoundForProject', 'MessageTooLarge',
    'FlavorsUnavailable', 'FlavorExists',
]


class NovaCellsException(Exception):
    """Root of every exception nova-cells raises on purpose."""

    msg_fmt = 'An unknown exception occurred.'
    code = 500
    recoverable = False

    def __init__(self, message=None, **kwargs):
        self.kwargs = dict(kwargs)
        self.kwargs.setdefault('code', self.code)
        for key, value in kwargs.items():
            setattr(self, key, value)
        if not message:
            try:
                message = self.msg_fmt % kwargs
            except (KeyError, TypeError, ValueError):
                message = self.msg_fmt
        self.message = message
        super(NovaCellsException, self).__init__(message)

    def format_message(self):
        return self.args[0]


# NOTE(nova-cells): nova's root name, for code written against nova.
NovaException = NovaCellsException


class NotFound(NovaCellsException):
    msg_fmt = 'Resource could not be found.'
    code = 404


class CellNotFound(NotFound):
    msg_fmt = "Cell %(cell_name)s doesn't exist."


class CellExists(NovaCellsException):
    msg_fmt = 'Cell with name %(name)s already exists.'
    code = 409


class CellsUpdateUnsupported(NovaCellsException):
    msg_fmt = 'Cannot update cells configuration file.'
    code = 403


class InvalidCellName(NovaCellsException):
    msg_fmt = 'Invalid cell name %(name)r: %(reason)s'
    code = 400


class InvalidCellValues(NovaCellsException):
    """A neighbour entry's values refused (unknown column, bad name, URL,
    weight, ...): nothing was written."""

    msg_fmt = 'Invalid cell values: %(reason)s'
    code = 400


class PolicyNotAuthorized(NovaCellsException):
    msg_fmt = 'Policy does not allow %(action)s to be performed.'
    code = 403


class CellLinkChangeRefused(NovaCellsException):
    """A cell admin call over RPC that would change how a link is reached
    or trusted, while intercell signing is on."""

    msg_fmt = ('Refused %(method)s of cell %(cell_name)s over RPC: '
               '%(reason)s')
    code = 403


class InvalidTransportURL(NovaCellsException):
    msg_fmt = 'Invalid transport URL %(url)s: %(reason)s'
    code = 400


class ServiceNotFound(NotFound):
    msg_fmt = 'Service %(service_id)s could not be found.'


class CellTimeout(NovaCellsException):
    msg_fmt = ('Timeout waiting for response from cell %(cell_name)s.')
    recoverable = True

    def __init__(self, message=None, cell_name='?', **kwargs):
        super(CellTimeout, self).__init__(message, cell_name=cell_name,
                                          **kwargs)


class CellMaxHopCountReached(NovaCellsException):
    msg_fmt = 'Cell message has reached maximum hop count: %(hop_count)s'


class CellRoutingInconsistency(NovaCellsException):
    msg_fmt = 'Inconsistency in cell routing: %(reason)s'


class NoCellsAvailable(NovaCellsException):
    msg_fmt = 'No cells available matching scheduling criteria.'
    recoverable = True

    def __init__(self, message=None, reason=None, **kwargs):
        if reason and not message:
            message = '%s %s' % (self.msg_fmt, reason)
        super(NoCellsAvailable, self).__init__(message, reason=reason,
                                               **kwargs)


class ConfigNotValid(NovaCellsException):
    msg_fmt = 'Invalid configuration: %(problems)s'


class InstanceNotFound(NotFound):
    msg_fmt = 'Instance %(instance_id)s could not be found.'


class SecurityGroupNotFoundForProject(NotFound):
    msg_fmt = ('Security group %(security_group_id)s not found for project '
               '%(project_id)s.')


class InstanceExists(NovaCellsException):
    msg_fmt = 'Instance %(name)s already exists.'
    code = 409


class UnexpectedVMStateError(NovaCellsException):
    msg_fmt = ('Unexpected vm_state of instance %(instance_uuid)s: expected '
               '%(expected)s, got %(actual)s')
    code = 409


class UnexpectedTaskStateError(NovaCellsException):
    msg_fmt = ('Unexpected task state of instance %(instance_uuid)s: '
               'expected %(expected)s, got %(actual)s')
    code = 409


class NoValidHost(NovaCellsException):
    msg_fmt = 'No valid host was found. %(reason)s'


class MalformedMessage(NovaCellsException):
    msg_fmt = 'Malformed intercell message %(uuid)s: %(reason)s'


class MessageTooLarge(MalformedMessage):
    """Over the receiver's ``max_message_size``: refused unparsed, and
    raised to the sender (a durable message is kept, not confirmed)."""

    msg_fmt = ('Malformed intercell message ?: message of %(size)d bytes '
               'exceeds max_message_size %(limit)d')


class UnknownMethod(NovaCellsException):
    msg_fmt = "Unknown %(message_type)s method '%(method)s'"
    expected = True


class FlavorExists(NovaCellsException):
    msg_fmt = ('A flavor named %(name)s or with flavorid %(flavorid)s '
               'already exists.')
    code = 409


class FlavorsUnavailable(NovaCellsException):
    """The flavors could not be read (nova's API database down, or not
    nova's API database); a later read may succeed."""

    msg_fmt = 'Cannot read the flavors from %(where)s: %(reason)s'
    recoverable = True


# -- queries (services, compute nodes, actions, keypairs) -------------------

class HostNotFound(NotFound):
    msg_fmt = 'Host %(host)s could not be found.'
    expected = True


class ComputeHostNotFound(HostNotFound):
    msg_fmt = 'Compute host %(host)s could not be found.'


class HostBinaryNotFound(NotFound):
    msg_fmt = 'Could not find binary %(binary)s on host %(host)s.'
    expected = True


class InstanceUnknownCell(NotFound):
    msg_fmt = 'Cell is not known for instance %(instance_uuid)s'
    expected = True


class KeypairNotFound(NotFound):
    msg_fmt = 'Keypair %(name)s not found for user %(user_id)s'
    code = 404
    expected = True


class InstanceActionNotFound(NovaCellsException):
    msg_fmt = 'Action for request_id %(request_id)s on instance ' \
              '%(instance_uuid)s not found'
    expected = True


__all__ += ['HostNotFound', 'ComputeHostNotFound', 'HostBinaryNotFound',
            'InstanceUnknownCell', 'KeypairNotFound',
            'InstanceActionNotFound']


# -- lifecycle (instance actions, run_compute_api_method) ------------------

class CellServiceAPIMethodNotFound(NotFound):
    msg_fmt = 'No such method %(method_name)s in the compute API'
    expected = True


class InstanceInvalidState(NovaCellsException):
    msg_fmt = ('Instance %(instance_uuid)s in %(attr)s %(state)s. Cannot '
               '%(method)s while the instance is in this state.')
    code = 409
    expected = True


class InstanceNotReady(NovaCellsException):
    msg_fmt = 'Instance %(instance_id)s is not ready'
    code = 409
    expected = True


__all__ += ['CellServiceAPIMethodNotFound', 'InstanceInvalidState',
            'InstanceNotReady']


class MessageNotTaken(NovaCellsException):
    """A durable message this cell cannot apply now (its database is
    unusable, a copy of it is being applied): the sender keeps it and
    sends it again, and a transport that holds the delivery retries it."""
    msg_fmt = ('Message %(uuid)s was not applied here (%(reason)s); '
               'send it again later.')
