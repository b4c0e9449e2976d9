"""Cell administration over the ``cells`` RPC topic, checked.

nova-api's os-cells extension calls ``cell_create``, ``cell_update``,
``cell_delete`` and ``cell_get`` on topic ``cells``.  nova trusted that
only nova-api could reach the topic; on a shared vhost anyone could, and
with it remove a neighbour's signing keys, add a key-less parent whose
unsigned messages were then accepted, or point a child at another broker
(issue 23).  Here every call is:

* checked by oslo.policy (nova's os-cells rules, admin by default);
* with ``[cells] signing`` on, refused when it would add a neighbour or
  change what a link is (name, side, broker URL, keys) or remove one:
  only the local operator does that (``nova-cells-manage`` or
  ``cells_config``), never a message that came over a broker;
* validated by :mod:`nova_cells.cells.cell_values` (the CLI's and the file's
  rules);
* answered without a password or a key (:func:`cell_values.masked_row`).
"""

from oslo_log import log as logging

from nova_cells.cells import cell_values
from nova_cells import exception
from nova_cells import policy as cells_policy
from nova_cells.transport import signing

__all__ = ['CellAdmin']

LOG = logging.getLogger(__name__)

_LOCAL_ONLY = ('only the local operator (nova-cells-manage or cells_config) '
               'changes %s while [cells] signing = %s')


class CellAdmin(object):
    """The checked cell admin calls of :class:`CellsManager`.

    :param state_manager: the :class:`nova_cells.cells.state.CellStateManager`.
    :param policy: a :class:`nova_cells.policy.CellPolicy`.
    :param signing_mode: ``[cells] signing`` (off, sign or require).
    """

    def __init__(self, state_manager, policy, signing_mode=signing.OFF):
        self.state_manager = state_manager
        self.policy = policy
        self.signing_mode = signing_mode

    def _authorize(self, ctxt, method):
        try:
            self.policy.authorize(ctxt, cells_policy.CELL_ADMIN_RULES[method])
        except exception.PolicyNotAuthorized:
            LOG.warning('Refused %s over RPC: not allowed by policy for '
                        'user %s', method, getattr(ctxt, 'user_id', '?'))
            raise

    def _refuse_link_change(self, method, cell_name, what):
        """With signing on, a link is the local operator's alone."""
        if self.signing_mode == signing.OFF:
            return
        reason = _LOCAL_ONLY % (what, self.signing_mode)
        LOG.error('Refused %s of cell %s over RPC: %s', method,
                  cell_name, reason)
        raise exception.CellLinkChangeRefused(
            method=method, cell_name=cell_name, reason=reason)

    def create(self, ctxt, values):
        """Add a neighbour: with signing on, a new link (perhaps a
        key-less parent whose unsigned messages would be accepted) is the
        local operator's to add."""
        self._authorize(ctxt, 'cell_create')
        name = values.get('name', '?') if isinstance(values, dict) else '?'
        self._refuse_link_change('cell_create', name, 'the neighbour list')
        cell_values.validate(values, creating=True)
        return cell_values.masked_row(self.state_manager.cell_create(values))

    def update(self, ctxt, cell_name, values):
        """Change a neighbour: weights, ``api_url`` and state always (for
        an admin); name, side, URL and keys only with signing off (a new
        URL would send the next build, and its password, elsewhere)."""
        self._authorize(ctxt, 'cell_update')
        link = sorted(set(values) & set(cell_values.LINK_COLUMNS)) \
            if isinstance(values, dict) else []
        if link:
            self._refuse_link_change('cell_update', cell_name,
                                     ', '.join(link))
        cell_values.validate(values)
        return cell_values.masked_row(
            self.state_manager.cell_update(cell_name, values))

    def delete(self, ctxt, cell_name):
        """Remove a neighbour: with signing on, its keys go with it, so
        only the local operator does that."""
        self._authorize(ctxt, 'cell_delete')
        self._refuse_link_change('cell_delete', cell_name,
                                 'the neighbour list')
        return self.state_manager.cell_delete(cell_name)

    def get(self, ctxt, cell_name):
        """The neighbour's row, without its password or keys."""
        self._authorize(ctxt, 'cell_get')
        return cell_values.masked_row(self.state_manager.cell_get(cell_name))
