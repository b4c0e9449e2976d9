"""Run the service, and reload it in place on SIGHUP, on every backend.

Under eventlet oslo.service runs the service in this process and SIGHUP
re-reads the mutable options and calls its ``reset``.  Under the threading
backend oslo.service's launcher (cotyledon) forks a worker and, on SIGHUP,
re-reads the options in the launcher only and *restarts* the worker: 7-8 s
with nothing consuming, and ``reset`` never ran.  Here the threading
backend gets a cotyledon worker of our own whose reload re-reads the
configuration in the worker, where the service runs (through the start-up
validation, :func:`nova_cells.cmd.cells.guard_reloads`), and calls
``reset``: the service goes on consuming throughout.

Either way the service's ``reset`` names each option that needs a restart
in one WARNING line (:func:`warn_immutable_changes`).
"""

import cotyledon
from oslo_config import cfg
from oslo_log import log as logging
from oslo_service import opts as oslo_service_opts
from oslo_service import service as oslo_service

from nova_cells import _backend
from nova_cells import conf as cells_conf
from nova_cells.conf import opts as cells_opts

__all__ = ['launch', 'warn_immutable_changes']

LOG = logging.getLogger(__name__)


# Library options a running daemon keeps until restarted, beside ours.
_LIBRARY_OPTIONS = (('DEFAULT', 'transport_url'),
                    ('DEFAULT', 'control_exchange'),
                    ('database', 'connection'),
                    ('database', 'max_pool_size'))


def _as_read_now(conf):
    """A fresh ConfigOpts reading the files ``conf`` was started with."""
    fresh = cells_conf.register_all(cfg.ConfigOpts())
    args = []
    for path in conf.config_file or []:
        args += ['--config-file', path]
    for path in conf.config_dir or []:
        args += ['--config-dir', path]
    fresh(args, project='nova-cells', default_config_files=[])
    return fresh


def _immutable_opts():
    """``(group, name, secret)`` of the options only a restart applies."""
    for group, opts in cells_opts.list_opts():
        name = getattr(group, 'name', group)
        for opt in opts:
            if not opt.mutable:
                yield name, opt.name, opt.secret
    for group, name in _LIBRARY_OPTIONS:
        yield group, name, name in ('transport_url', 'connection')


def warn_immutable_changes(conf, read_now=None):
    """One WARNING per option whose value in the files differs from the
    running one but that only a restart applies (oslo.config keeps the
    running value and only says "Ignoring change").

    :returns: the ``[(group, name)]`` warned about.
    """
    try:
        fresh = read_now or _as_read_now(conf)
    except Exception as exc:  # noqa - the reload itself says what is wrong
        LOG.debug('Could not re-read the files to compare: %s', exc)
        return []
    changed = []
    for group, name, secret in _immutable_opts():
        running = _value(conf, group, name)
        if running != _value(fresh, group, name):
            LOG.warning('[%s] %s changed in the configuration files, but '
                        'only a restart applies it (still running with %s)',
                        group, name, '***' if secret else repr(running))
            changed.append((group, name))
    return changed


def _value(conf, group, name):
    try:
        return getattr(conf if group == 'DEFAULT' else getattr(conf, group),
                       name)
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError, AttributeError,
            cfg.ConfigFileValueError, ValueError):
        return None


class _Worker(cotyledon.Service):
    """The service in a cotyledon worker, reloaded in place."""

    name = 'nova-cells'

    def __init__(self, worker_id, service, conf):
        super(_Worker, self).__init__(worker_id)
        self.service = service
        self.conf = conf

    def run(self):
        self.service.start()
        self.service.wait()

    def terminate(self):
        self.service.stop()

    def reload(self):
        """SIGHUP: re-read, apply what applies in place, name the rest; a
        failure is logged and the service goes on as it was."""
        try:
            self.conf.mutate_config_files()
            self.service.reset()
        except Exception:  # noqa - a reload must not end the worker
            LOG.exception('Reloading failed; running on as before')


def launch(conf, service):
    """Start ``service``; returns a callable that waits for its end and
    returns the exit status."""
    if _backend.active() == 'eventlet':
        launcher = oslo_service.launch(conf, service,
                                       restart_method='mutate')
        return launcher.wait
    oslo_service_opts.register_service_opts(conf)
    manager = cotyledon.ServiceManager(
        graceful_shutdown_timeout=conf.graceful_shutdown_timeout)
    manager.add(_Worker, workers=1, args=(service, conf))
    return manager.run
