"""Throw-away RabbitMQ virtual hosts.

A vhost per test, or per cell of a demo, because nothing left in one (a
fanout queue, a reply queue of an earlier run) can then answer or swallow
the messages of another, and deleting the vhost deletes all of it at once.

``rabbitmqctl`` costs about half a CPU second a call, so calls run a few at
a time (:class:`Vhosts`), or are started in the background
(:func:`start_ctl`, :func:`finish_ctl`) for a caller that overlaps them
with its own work.  Where ``rabbitmqctl`` does not work (the broker on
another machine), :class:`Vhosts` uses the management HTTP API.
"""

import base64
import json
import shutil
import subprocess
from urllib import error as urlerror
from urllib import parse as urlparse
from urllib import request as urlrequest

from nova_cells import transport_url as transport_urls

__all__ = ['VhostError', 'with_vhost', 'ADD_SCRIPT', 'DELETE_SCRIPT',
           'start_ctl', 'finish_ctl', 'Vhosts']

# rabbitmqctl calls running at once: each costs half a CPU second.
RABBITMQCTL_PARALLEL = 6
MANAGEMENT_PORT = 15672

# sh scripts for start_ctl: $1 is the vhost, $2 the user given full rights.
ADD_SCRIPT = ('rabbitmqctl add_vhost "$1" && rabbitmqctl set_permissions '
              '-p "$1" "$2" ".*" ".*" ".*"')
DELETE_SCRIPT = 'rabbitmqctl delete_vhost "$1"'


class VhostError(Exception):
    """Vhosts could not be made; ``str()`` says what to do about it."""


def with_vhost(broker_url, vhost):
    """``broker_url`` with its virtual host replaced."""
    parts = urlparse.urlsplit(broker_url)
    return urlparse.urlunsplit((parts.scheme, parts.netloc,
                                '/' + urlparse.quote(vhost, safe=''), '', ''))


def start_ctl(script, vhost, user='guest'):
    """Start ``sh -c script`` for ``vhost`` (one of the scripts above) and
    return the Popen, its output in a pipe; :func:`finish_ctl` reaps it.

    :raises OSError: when ``sh`` cannot be run.
    """
    return subprocess.Popen(
        ['sh', '-c', script, 'sh', vhost, user], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_ctl(proc, what, timeout=None):
    """Wait for a :func:`start_ctl` process (killed after ``timeout`` s);
    ``None`` if it succeeded, else ``'<what>: <its output>'``."""
    try:
        out, _err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _err = proc.communicate()
    if proc.returncode != 0:
        return '%s: %s' % (what, (out or '').strip())
    return None


class Vhosts(object):
    """Make and delete vhosts with ``rabbitmqctl`` (when it is on PATH and
    works), else with the management HTTP API; else say what to make by
    hand.

    :param broker_url: ``rabbit://user:pass@host:port/``: the user gets
        full rights on every vhost made.
    :raises ValueError: for a URL that is not a RabbitMQ broker's.
    """

    def __init__(self, broker_url):
        parsed = transport_urls.parse(broker_url)
        if parsed.transport not in ('rabbit', 'amqp'):
            raise ValueError('must be rabbit://, not %s://'
                             % parsed.transport)
        host = parsed.hosts[0]
        self.user = host.username or 'guest'
        self.password = host.password or 'guest'
        self.hostname = host.hostname
        self.made = []
        self.tool = None

    def _choose(self):
        if shutil.which('rabbitmqctl') and self._ctl_works():
            return 'rabbitmqctl'
        if self._http('GET', '/api/overview', quiet=True) is not None:
            return 'http'
        return None

    def _ctl_works(self):
        try:
            result = subprocess.run(['rabbitmqctl', 'list_vhosts'],
                                    capture_output=True, timeout=60,
                                    stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return result.returncode == 0

    def create(self, names):
        """Make every vhost with full rights for the URL's user.

        :raises VhostError: when there is no way to make them, or one
            could not be made.
        """
        self.tool = self._choose()
        if self.tool is None:
            raise VhostError(
                'cannot create RabbitMQ vhosts: no working rabbitmqctl and '
                'no management API on %s:%d; create these vhosts with full '
                'rights for %s, then re-run with --run-id: %s'
                % (self.hostname, MANAGEMENT_PORT, self.user,
                   ' '.join(names)))
        # Recorded before they exist: a vhost half made when a signal
        # arrives is deleted all the same.
        self.made.extend(names)
        if self.tool == 'rabbitmqctl':
            self._ctl_each(names, ADD_SCRIPT)
        else:
            for name in names:
                self._http('PUT', '/api/vhosts/%s' % _q(name), {})
                self._http('PUT', '/api/permissions/%s/%s'
                           % (_q(name), _q(self.user)),
                           {'configure': '.*', 'write': '.*', 'read': '.*'})

    def delete_all(self):
        """Delete every vhost made (with what is left in them); return
        the failures, one line each."""
        names, self.made = self.made, []
        if not names or self.tool is None:
            return []
        if self.tool == 'rabbitmqctl':
            return self._ctl_each(names, DELETE_SCRIPT, check=False)
        failed = []
        for name in names:
            if self._http('DELETE', '/api/vhosts/%s' % _q(name),
                          quiet=True) is None:
                failed.append(name)
        return failed

    def _ctl_each(self, names, script, check=True):
        """Run ``script`` for every name, a few at a time; raise (or
        return) the failures."""
        failed, pending, todo = [], [], list(names)
        while todo or pending:
            while todo and len(pending) < RABBITMQCTL_PARALLEL:
                name = todo.pop(0)
                pending.append((name, start_ctl(script, name, self.user)))
            name, proc = pending.pop(0)
            error = finish_ctl(proc, name)
            if error:
                failed.append(error)
        if failed and check:
            raise VhostError('rabbitmqctl failed: %s' % '; '.join(failed))
        return failed

    def _http(self, method, path, body=None, quiet=False):
        url = 'http://%s:%d%s' % (self.hostname, MANAGEMENT_PORT, path)
        data = None if body is None else json.dumps(body).encode()
        req = urlrequest.Request(url, data=data, method=method)
        req.add_header('content-type', 'application/json')
        req.add_header('authorization', 'Basic %s' % base64.b64encode(
            ('%s:%s' % (self.user, self.password)).encode()).decode())
        try:
            with urlrequest.urlopen(req, timeout=5) as answer:
                return answer.read()
        except (urlerror.URLError, OSError) as exc:
            if quiet:
                return None
            raise VhostError('RabbitMQ management API %s %s: %s'
                             % (method, path, exc))


def _q(name):
    return urlparse.quote(name, safe='')
