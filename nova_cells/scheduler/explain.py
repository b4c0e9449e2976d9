"""Rendering a build's dry run (``explain_build``) for people.

Every level of the tree: the candidates, each filter's verdict with its
reasons, each weigher's raw and normalised score, the total, and the pick.
"""

__all__ = ['render_text', 'request_kwargs']


def _scores(candidate):
    return ', '.join('%s %.3g->%.3f' % (name, s['raw'], s['normalized'])
                     for name, s in sorted(candidate['scores'].items()))


def _verdicts(candidate):
    failed = [v for v in candidate['verdicts'] if v['code'] != 'pass']
    if not failed:
        return 'passed %d filters' % len(candidate['verdicts'])
    verdict = failed[-1]
    return '%s by %s: %s' % (verdict['code'], verdict['plugin'],
                             '; '.join(verdict['reasons']))


def _level(result, depth):
    pad = '  ' * depth
    selection = result.get('selection') or {}
    lines = ['%sAt %s: %s' % (pad, result['cell'],
                              selection.get('summary', ''))]
    if selection.get('pinned'):
        pin = selection['pinned']
        lines.append('%s  pinned to %s by %s (%s)' % (
            pad, pin['path'], pin['plugin'], pin['reason']))
    for candidate in selection.get('candidates', []):
        weight = candidate['weight']
        lines.append('%s  %-28s %-44s %s%s' % (
            pad, candidate['path'] + (' (me)' if candidate['is_me'] else ''),
            _verdicts(candidate),
            '' if weight is None else 'weight %.3f ' % weight,
            _scores(candidate)))
    lines.append('%s  => %s' % (pad, result.get('action')))
    return lines


def render_text(result):
    """The whole dry run, one indented block per level (a split build's
    parts each below their own line)."""
    return '\n'.join(_render(result, 0))


def _render(result, depth):
    lines = []
    while result:
        if 'error' in result:
            lines.append('%sAt %s: error: %s' % ('  ' * depth,
                                                 result['cell'],
                                                 result['error']))
            break
        lines.extend(_level(result, depth))
        for part in result.get('parts') or ():
            lines.append('%s  part %s: %d instance(s)%s' % (
                '  ' * depth, part['cell'], part['count'],
                '' if part.get('next') else ', built there'))
            lines.extend(_render(part.get('next'), depth + 2))
        result, depth = result.get('next'), depth + 1
    return lines


def request_kwargs(instance, flavor, image_properties=None, hints=None):
    """A build_instances payload for one instance (what nova-api sends)."""
    return {'instances': [instance],
            'image': {'properties': dict(image_properties or {})},
            'filter_properties': {'instance_type': flavor,
                                  'scheduler_hints': dict(hints or {})},
            'admin_password': None, 'injected_files': [],
            'requested_networks': None, 'security_groups': ['default'],
            'block_device_mapping': None}
