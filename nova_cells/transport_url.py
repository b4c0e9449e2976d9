"""Neighbour broker URLs: parse, validate, build and mask.

A neighbour's ``transport_url`` (``rabbit://user:pass@host:5672/vhost``,
several hosts comma-separated) is the only thing nova-cells knows of how to
reach it.  Passwords in it must never reach a log line or CLI output:
:func:`mask` is what every printer uses.
"""

import re
from urllib import parse as urlparse

from oslo_config import cfg
import oslo_messaging

from nova_cells import exception

__all__ = ['parse', 'mask', 'first_host_info', 'build']

_HOSTLESS_TRANSPORTS = ('fake',)
_CREDS = re.compile(r'([^:/@,]+):[^@]*@')


def parse(url):
    """Return an ``oslo_messaging.TransportURL`` for ``url``.

    :raises InvalidTransportURL: when it cannot be parsed or names no host.
    """
    try:
        parsed = oslo_messaging.TransportURL.parse(cfg.ConfigOpts(), url)
    except (oslo_messaging.InvalidTransportURL, ValueError, TypeError) as e:
        raise exception.InvalidTransportURL(url=mask(url), reason=str(e))
    if parsed.transport not in _HOSTLESS_TRANSPORTS:
        if not parsed.hosts or not all(h.hostname for h in parsed.hosts):
            raise exception.InvalidTransportURL(
                url=mask(url), reason='every broker host needs a hostname')
    for host in parsed.hosts:
        if host.port is not None and not 0 < host.port < 65536:
            raise exception.InvalidTransportURL(
                url=mask(url), reason='port %d out of range' % host.port)
    return parsed


def _host_entries(netloc):
    """Split ``netloc`` into host entries; a segment before the '@' of the
    next one is taken as part of its password (which may hold a ',')."""
    entries, pending = [], []
    for segment in netloc.split(','):
        pending.append(segment)
        if '@' in segment:
            entries.append(','.join(pending))
            pending = []
    return entries + pending


def _mask_host(entry):
    creds, sep, where = entry.rpartition('@')
    if not sep:
        return entry
    user, colon, _password = creds.partition(':')
    return user + (':***' if colon else '') + '@' + where


def mask(url):
    """Return ``url`` with every password replaced by ``***``."""
    if not url:
        return url
    try:
        parts = urlparse.urlsplit(url)
    except ValueError:
        return '<unparseable URL>'
    if '@' not in parts.netloc:
        if '@' in url:
            # Not a URL urlsplit understands: hide anything like creds.
            return _CREDS.sub(lambda m: m.group(1) + ':***@', url)
        return url
    netloc = ','.join(_mask_host(h) for h in _host_entries(parts.netloc))
    return url.replace(parts.netloc, netloc, 1)


def first_host_info(url):
    """Return ``username``, ``rpc_host``, ``rpc_port``, ``virtual_host``
    of the first broker host (what nova's cell info and list showed)."""
    parsed = parse(url)
    host = parsed.hosts[0] if parsed.hosts else None
    return {'username': host.username if host else None,
            'rpc_host': host.hostname if host else None,
            'rpc_port': host.port if host else None,
            'virtual_host': parsed.virtual_host}


def _host_netloc(hostname, port, username, password):
    where = '[%s]' % hostname if ':' in hostname else hostname
    if port is not None:
        where = '%s:%d' % (where, port)
    if username is None:
        return where
    creds = urlparse.quote(username, safe='')
    if password is not None:
        creds += ':' + urlparse.quote(password, safe='')
    return creds + '@' + where


def build(hosts, username=None, password=None, virtual_host=None,
          transport='rabbit'):
    """Build a transport URL from ``[(hostname, port), ...]``.

    Unlike ``nova-manage cell create``, the local ``transport_url`` is *not*
    used as a seed (reference §10.33: it leaked the local broker's hosts
    into the neighbour's URL).
    """
    if not hosts:
        raise exception.InvalidTransportURL(url='', reason='no broker host')
    netloc = ','.join(_host_netloc(h, p, username, password)
                      for h, p in hosts)
    path = urlparse.quote(virtual_host or '', safe='')
    url = '%s://%s/%s' % (transport, netloc, path)
    parse(url)
    return url
