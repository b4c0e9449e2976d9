"""oslo.policy rules of nova-cells (nova's names and defaults).

A hint such as ``target_cell`` only counts when the caller passes the
filter's rule; the check is non-fatal (a denied hint is ignored, as nova).

Cell administration over the ``cells`` topic (``cell_create``,
``cell_update``, ``cell_delete``, ``cell_get``) is checked with the rules
nova-api's os-cells extension enforced before calling it, admin only by
default: nova-cells no longer trusts that whoever reached its topic went
through nova-api (issue 23).
"""

from oslo_log import log as logging
from oslo_policy import policy as oslo_policy

from nova_cells import exception

__all__ = ['RULES', 'CELL_ADMIN_RULES', 'CellPolicy', 'list_rules']

LOG = logging.getLogger(__name__)

RULES = [
    oslo_policy.RuleDefault(
        'cells_scheduler_filter:TargetCellFilter', 'is_admin:True',
        description='Allow the target_cell scheduler hint (cells v1).'),
    oslo_policy.RuleDefault(
        'cells_scheduler_filter:DifferentCellFilter', 'is_admin:True',
        description='Allow the different_cell scheduler hint (cells v1).'),
]

# nova Stein's os-cells rules (all ``rule:admin_api``, i.e. is_admin:True).
CELL_ADMIN_RULES = {
    'cell_create': 'os_compute_api:os-cells:create',
    'cell_update': 'os_compute_api:os-cells:update',
    'cell_delete': 'os_compute_api:os-cells:delete',
    'cell_get': 'os_compute_api:os-cells',
}
RULES += [
    oslo_policy.RuleDefault(
        CELL_ADMIN_RULES['cell_create'], 'is_admin:True',
        description='Register a neighbour cell over the cells RPC topic.'),
    oslo_policy.RuleDefault(
        CELL_ADMIN_RULES['cell_update'], 'is_admin:True',
        description='Change a neighbour cell over the cells RPC topic.'),
    oslo_policy.RuleDefault(
        CELL_ADMIN_RULES['cell_delete'], 'is_admin:True',
        description='Remove a neighbour cell over the cells RPC topic.'),
    oslo_policy.RuleDefault(
        CELL_ADMIN_RULES['cell_get'], 'is_admin:True',
        description='Show a neighbour cell over the cells RPC topic.'),
]


class CellPolicy(object):
    """An enforcer with nova's cell scheduler defaults registered."""

    def __init__(self, conf):
        self._enforcer = oslo_policy.Enforcer(conf)
        self._enforcer.register_defaults(RULES)

    def authorizer(self, ctxt):
        """Return ``rule -> bool`` for ``ctxt`` (what CellRequest wants)."""
        creds = ctxt.to_policy_values()

        def authorize(rule):
            try:
                return self._enforcer.enforce(rule, {}, creds)
            except Exception as exc:  # noqa - a broken policy file denies
                LOG.error('Policy check %s failed: %s', rule, exc)
                return False
        return authorize

    def authorize(self, ctxt, rule):
        """Raise :class:`PolicyNotAuthorized` unless ``ctxt`` passes
        ``rule`` (a broken policy file, or a context that is not one,
        denies: this guards writes)."""
        if not hasattr(ctxt, 'to_policy_values') or \
                not self.authorizer(ctxt)(rule):
            raise exception.PolicyNotAuthorized(action=rule)


def list_rules():
    """For oslo.policy's sample generator."""
    return RULES
