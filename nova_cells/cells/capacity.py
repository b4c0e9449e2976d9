"""This cell's own free capacity, in per-flavor "units" (reference §3.5).

A pure function over rows, so that the maths can be checked by hand and
benchmarked without a database.  The result has nova's exact shape, since
parents (ours or the original's) read it::

    {'ram_free':  {'total_mb': N, 'units_by_mb': {'<mb>': n, ...}},
     'disk_free': {'total_mb': N, 'units_by_mb': {'<mb>': n, ...}},
     'vcpu_free': {'total': N, 'units_by_vcpus': {'<vcpus>': n, ...}}}

``total_mb`` is not reduced by the reserve, as in nova.  ``vcpu_free`` is
ours (nova reported RAM and disk only): free vcpus are ``vcpus x
cpu_allocation_ratio - vcpus_used`` per host (a ratio left empty counts as
1.0, as the builtin host scheduler claims); it is left out when no host
reports vcpus.  An original nova-cells parent sums it through like the
others (its ``_add_to_dict`` adds any nested numbers).
"""

import collections

__all__ = ['compute_capacities', 'flavor_slot_sizes', 'assume_placed']

_MB_PER_GB = 1024


def flavor_slot_sizes(flavors):
    """Return (sorted RAM slot sizes, sorted disk slot sizes) in MB."""
    ram = {f['memory_mb'] for f in flavors}
    disk = {((f.get('root_gb') or 0) + (f.get('ephemeral_gb') or 0))
            * _MB_PER_GB for f in flavors}
    return sorted(ram), sorted(disk)


def flavor_vcpu_sizes(flavors):
    """Sorted vcpu slot sizes of ``flavors``."""
    return sorted({f['vcpus'] for f in flavors if f.get('vcpus')})


def _eligible_hosts(compute_nodes, services_by_host, is_up):
    """Sum free/total RAM and disk per host over enabled, up services.

    Several nodes on one host (ironic-like n:1 drivers) are summed, as nova
    did after its fix for those drivers.
    """
    hosts = collections.defaultdict(lambda: dict(free_ram_mb=0, free_disk_mb=0,
                                                 total_ram_mb=0,
                                                 total_disk_mb=0,
                                                 free_vcpus=0, total_vcpus=0))
    for node in compute_nodes:
        service = services_by_host.get(node['host'])
        if not service or service.get('disabled') or not is_up(service):
            continue
        host = hosts[node['host']]
        host['free_ram_mb'] += max(0, node.get('free_ram_mb') or 0)
        host['free_disk_mb'] += max(0, node.get('free_disk_gb') or 0) * \
            _MB_PER_GB
        host['total_ram_mb'] += max(0, node.get('memory_mb') or 0)
        host['total_disk_mb'] += max(0, node.get('local_gb') or 0) * \
            _MB_PER_GB
        host['total_vcpus'] += max(0, _vcpus_total(node))
        host['free_vcpus'] += max(0, vcpus_free(node))
    return hosts


def _vcpus_total(node):
    return (node.get('vcpus') or 0) * (node.get('cpu_allocation_ratio') or
                                       1.0)


def vcpus_free(node):
    """Free vcpus of a compute node dict: ``vcpus x ratio - used``, a
    ratio NULL or 0 counting as 1.0 (the builtin hand-off claims by the
    same rule)."""
    return _vcpus_total(node) - (node.get('vcpus_used') or 0)


def _units(free, total, reserve, slot):
    if not slot:
        return 0
    return int(max(0, free - total * reserve) / slot)


def _units_by_slot(hosts, free_key, total_key, slots, reserve):
    return {str(slot): sum(_units(h[free_key], h[total_key], reserve, slot)
                           for h in hosts.values())
            for slot in slots}


def compute_capacities(compute_nodes, services_by_host, flavors,
                       reserve_percent, is_up):
    """Return this cell's capacities from its rows.

    :param compute_nodes: compute node dicts (``host``, ``free_ram_mb``,
        ``free_disk_gb``, ``memory_mb``, ``local_gb``).
    :param services_by_host: host -> nova-compute service dict.
    :param flavors: flavor dicts (``memory_mb``, ``root_gb``,
        ``ephemeral_gb``).
    :param reserve_percent: percent of each host's totals held back.
    :param is_up: callable(service dict) -> bool (the servicegroup check).
    :returns: nova's capacities dict, or ``{}`` when no host is eligible.
    """
    hosts = _eligible_hosts(compute_nodes, services_by_host, is_up)
    if not hosts:
        return {}
    reserve = reserve_percent / 100.0
    ram_slots, disk_slots = flavor_slot_sizes(flavors)
    vcpu_slots = flavor_vcpu_sizes(flavors)
    capacities = {
        'ram_free': {
            'total_mb': sum(h['free_ram_mb'] for h in hosts.values()),
            'units_by_mb': _units_by_slot(hosts, 'free_ram_mb',
                                          'total_ram_mb', ram_slots,
                                          reserve),
        },
        'disk_free': {
            'total_mb': sum(h['free_disk_mb'] for h in hosts.values()),
            'units_by_mb': _units_by_slot(hosts, 'free_disk_mb',
                                          'total_disk_mb', disk_slots,
                                          reserve),
        },
    }
    if any(h['total_vcpus'] for h in hosts.values()):
        capacities['vcpu_free'] = {
            'total': int(sum(h['free_vcpus'] for h in hosts.values())),
            'units_by_vcpus': _units_by_slot(hosts, 'free_vcpus',
                                             'total_vcpus', vcpu_slots,
                                             reserve),
        }
    return capacities


# (section, its total, its units, the need it is reduced by)
_ASSUMED = (('ram_free', 'total_mb', 'units_by_mb', 'memory_mb'),
            ('disk_free', 'total_mb', 'units_by_mb', 'disk_mb'),
            ('vcpu_free', 'total', 'units_by_vcpus', 'vcpus'))


def _fewer_units(units, need, count):
    """``units`` ({slot: n}) less what ``count`` placements of ``need``
    take at most: one placement on a host takes at most ``ceil(need /
    slot)`` of its units of ``slot``.  A slot or a count that is not a
    number (an odd neighbour's report) is kept as it is."""
    fewer = {}
    for slot, number in units.items():
        try:
            size = int(float(slot))
        except (TypeError, ValueError):
            size = 0
        if size <= 0 or not isinstance(number, int):
            fewer[slot] = number
            continue
        fewer[slot] = max(0, number - count * -(-need // size))
    return fewer


def assume_placed(capacities, count=1, memory_mb=0, disk_mb=0, vcpus=0):
    """``capacities`` (a child's last report) less ``count`` instances
    of the given size sent there since: a new dict, at most as large as
    the report in every figure (never below 0).

    A cell sends builds faster than its children report (a burst from
    nova-api, a busy tree); weighed on the last report alone, every
    build of the burst goes to the same child until its report catches
    up, and the last ones find no room there (nova's behaviour).  The
    next report replaces this estimate.
    """
    if not capacities or count <= 0:
        return capacities
    needs = {'memory_mb': memory_mb, 'disk_mb': disk_mb, 'vcpus': vcpus}
    assumed = dict(capacities)
    for section, total_key, units_key, need_key in _ASSUMED:
        part, need = capacities.get(section), needs[need_key]
        if not (isinstance(part, dict) and isinstance(need, (int, float))
                and need > 0):
            continue
        part = dict(part)
        total = part.get(total_key)
        if isinstance(total, (int, float)):
            part[total_key] = max(0, total - need * count)
        units = part.get(units_key)
        if isinstance(units, dict):
            part[units_key] = _fewer_units(units, need, count)
        assumed[section] = part
    return assumed
