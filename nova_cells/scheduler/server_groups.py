"""Server groups at cell level: which policy a build asks for, and where
the group's members already are.

nova cells v1 knew no server groups above the host scheduler: a group's
anti-affinity held within a cell, never across cells.  Here a build may
carry a group (``filter_properties['instance_group']``, the shape of a
RequestSpec's group, or nova's legacy ``group_policies`` and
``group_members`` beside the ``group`` hint) whose policy applies to
cells:

* ``cell-affinity``, ``cell-anti-affinity`` and their ``soft-`` variants
  always do;
* nova's host policies (``affinity``, ``anti-affinity``, ``soft-...``) do
  when ``[cells] server_group_cell_level`` is True.

Only the top cell knows where every instance is (its ``cell_name``), so the
top resolves the members to cell paths once and the build carries them
down in ``filter_properties['group_member_cells']`` (a key nova ignores).
"""

from nova_cells import scheduling

__all__ = ['MEMBER_CELLS_KEY', 'group_spec', 'with_member_cells',
           'policy_of']

MEMBER_CELLS_KEY = 'group_member_cells'

_CELL_POLICIES = {
    'cell-affinity': ('affinity', False),
    'cell-anti-affinity': ('anti-affinity', False),
    'soft-cell-affinity': ('affinity', True),
    'soft-cell-anti-affinity': ('anti-affinity', True),
}
_HOST_POLICIES = {
    'affinity': ('affinity', False),
    'anti-affinity': ('anti-affinity', False),
    'soft-affinity': ('affinity', True),
    'soft-anti-affinity': ('anti-affinity', True),
}


def _raw_group(filter_properties):
    """``(uuid, [policies], [member uuids])`` from either shape, or None."""
    group = filter_properties.get('instance_group')
    if isinstance(group, dict):
        policies = group.get('policies') or [group.get('policy')]
        return (group.get('uuid'), [p for p in policies if p],
                list(group.get('members') or []))
    policies = filter_properties.get('group_policies')
    if policies:
        hints = filter_properties.get('scheduler_hints') or {}
        return (hints.get('group'), list(policies),
                list(filter_properties.get('group_members') or []))
    return None


def policy_of(policies, cell_level):
    """``(policy, soft)`` that applies to cells, or None.

    :param cell_level: ``[cells] server_group_cell_level``.
    """
    for name in policies:
        if name in _CELL_POLICIES:
            return _CELL_POLICIES[name]
    if cell_level:
        for name in policies:
            if name in _HOST_POLICIES:
                return _HOST_POLICIES[name]
    return None


def group_spec(filter_properties, cell_level):
    """The :class:`~nova_cells.scheduling.GroupSpec` of a build, or None.

    Members are the cell paths carried in ``group_member_cells``; the
    instances of this very build are not members yet (they are placed by
    this request's own ``assigned`` counts).
    """
    raw = _raw_group(filter_properties or {})
    if raw is None:
        return None
    uuid, policies, _members = raw
    policy = policy_of(policies, cell_level)
    if policy is None:
        return None
    paths = filter_properties.get(MEMBER_CELLS_KEY) or []
    return scheduling.GroupSpec(uuid, policy[0], policy[1], paths)


def with_member_cells(build_inst_kwargs, lookup_cells):
    """The top cell: ``build_inst_kwargs`` with the group's members
    resolved to cell paths (unchanged when there is no group or they are
    resolved already).

    :param lookup_cells: ``uuids -> {uuid: cell path}`` (the top's
        instances table); members not placed yet are left out.
    """
    filter_properties = build_inst_kwargs.get('filter_properties') or {}
    if MEMBER_CELLS_KEY in filter_properties:
        return build_inst_kwargs
    raw = _raw_group(filter_properties)
    if raw is None:
        return build_inst_kwargs
    building = {getattr(i, 'uuid', None)
                for i in build_inst_kwargs.get('instances') or []}
    members = [m for m in raw[2] if m not in building]
    cells = lookup_cells(members) if members else {}
    paths = [cells[m] for m in members if cells.get(m)]
    filter_properties = dict(filter_properties)
    filter_properties[MEMBER_CELLS_KEY] = paths
    return dict(build_inst_kwargs, filter_properties=filter_properties)
