"""ImagePropertiesFilter: the image's hypervisor version requirement.

Image property ``hypervisor_version_requires`` (e.g. ``'>6.0, <=6.3'``)
against each cell's capability ``prominent_hypervisor_version``.  A cell
without that capability passes, as in nova.  Differences: the requirement
is parsed once per request with ``packaging`` (nova used ``distutils``,
gone in Python 3.12), and a cell passes when *any* of its versions
satisfies it (nova took an arbitrary element of the set, §10.23).
"""

import functools

from packaging import specifiers
from packaging import version as pkg_version

from nova_cells import scheduling

__all__ = ['ImagePropertiesFilter']

PROPERTY = 'hypervisor_version_requires'
CAPABILITY = 'prominent_hypervisor_version'


@functools.lru_cache(maxsize=1024)
def _parse_version(text):
    """Cached: a tree has few distinct hypervisor versions, and parsing one
    costs more than the rest of a cell's filtering."""
    try:
        return pkg_version.Version(str(text))
    except pkg_version.InvalidVersion:
        return None


class ImagePropertiesFilter(scheduling.BaseCellFilter):
    name = 'ImagePropertiesFilter'

    def _requirement(self, request):
        """(SpecifierSet or None, error or None), parsed once per request."""
        cached = getattr(request, '_image_version_requirement', None)
        if cached is None:
            text = request.image_properties.get(PROPERTY)
            cached = (None, None)
            if text:
                try:
                    cached = (specifiers.SpecifierSet(
                        str(text).replace(' ', '')), None)
                except specifiers.InvalidSpecifier:
                    cached = (None, 'invalid %s %r' % (PROPERTY, text))
            request._image_version_requirement = cached
        return cached

    def is_applicable(self, request):
        requirement, error = self._requirement(request)
        return requirement is not None or error is not None

    def filter_cell(self, candidate, request):
        requirement, error = self._requirement(request)
        if error:
            return scheduling.Verdict(scheduling.ERROR, [error])
        versions = candidate.state.capabilities.get(CAPABILITY)
        if requirement is None or not versions:
            return scheduling.Verdict.ok()
        return self._verdict_for(requirement, versions)

    @staticmethod
    def _verdict_for(requirement, versions):
        parsed = [v for v in (_parse_version(x) for x in versions) if v]
        if any(requirement.contains(v, prereleases=True) for v in parsed):
            return scheduling.Verdict.ok()
        return scheduling.Verdict.reject(
            'hypervisor version %s does not satisfy %s'
            % (', '.join(sorted(versions)), requirement))

    def filter_cells(self, candidates, request):
        """One verdict per distinct version set: thousands of cells share
        a handful of hypervisor versions."""
        requirement, error = self._requirement(request)
        if error or requirement is None:
            return scheduling.BaseCellFilter.filter_cells(
                self, candidates, request)
        memo, passed, rejected = {}, [], {}
        for candidate in candidates:
            versions = candidate.state.capabilities.get(CAPABILITY)
            if not versions:
                passed.append(candidate)
                continue
            key = frozenset(versions)
            verdict = memo.get(key)
            if verdict is None:
                verdict = memo[key] = self._verdict_for(requirement,
                                                        versions)
            if verdict.passed:
                passed.append(candidate)
            else:
                rejected[candidate.path] = verdict
        return passed, rejected
