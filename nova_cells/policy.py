"""oslo.policy rules of the cell scheduler (nova's names and defaults).

A hint such as ``target_cell`` only counts when the caller passes the
filter's rule; the check is non-fatal (a denied hint is ignored, as nova).
"""

from oslo_log import log as logging
from oslo_policy import policy as oslo_policy

__all__ = ['RULES', 'CellPolicy', 'list_rules']

LOG = logging.getLogger(__name__)

RULES = [
    oslo_policy.RuleDefault(
        'cells_scheduler_filter:TargetCellFilter', 'is_admin:True',
        description='Allow the target_cell scheduler hint (cells v1).'),
    oslo_policy.RuleDefault(
        'cells_scheduler_filter:DifferentCellFilter', 'is_admin:True',
        description='Allow the different_cell scheduler hint (cells v1).'),
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


def list_rules():
    """For oslo.policy's sample generator."""
    return RULES
