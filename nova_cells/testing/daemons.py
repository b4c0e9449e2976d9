"""Child processes that cannot outlive whoever started them: ``nova-cells``
daemons, and any helper process of a test, bench or demo.

Each runs in a session (process group) of its own, and is stopped by
signalling the whole group: under the threading backend oslo.service
forks the service into a child, which a signal to the launcher alone may
leave behind.  :func:`stop_all` ends with SIGKILL, so it always returns
with every group gone.  A caller that may itself be SIGKILLed can also
ask the kernel to kill the child then (:func:`die_with_parent`).
"""

import ctypes
import os
import signal
import subprocess
import sys
import time

__all__ = ['STOP_TIMEOUT', 'subprocess_env', 'nova_cells_argv',
           'die_with_parent', 'Process', 'Daemon', 'stop_all']

# Seconds the processes get to exit on SIGTERM before their groups are
# killed.
STOP_TIMEOUT = 4
# Seconds to wait for a SIGKILLed process to be reaped.
REAP_TIMEOUT = 10
LOG_TAIL = 20
_PR_SET_PDEATHSIG = 1


def subprocess_env(**extra):
    """The environment of a child: ours, plus ``extra``.

    ``PYTHONWARNINGS=ignore`` keeps library deprecation warnings (eventlet
    prints one on import) out of the logs and the stderr a test inspects;
    unbuffered, so that a log is complete when it is read; and without
    systemd's variables, so that a child does not notify (or feed the
    watchdog of) the unit its parent may run under.
    """
    env = dict(os.environ, PYTHONWARNINGS='ignore', PYTHONUNBUFFERED='1')
    for name in ('NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID'):
        env.pop(name, None)
    env.update(extra)
    return env


def nova_cells_argv():
    """The installed console script next to our interpreter, else the
    entry point through this interpreter."""
    script = os.path.join(os.path.dirname(sys.executable), 'nova-cells')
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, '-c',
            'import sys; from nova_cells.cmd.cells import main; '
            'sys.exit(main())']


def die_with_parent():
    """A ``preexec_fn`` for a parent that may be SIGKILLed, when no
    handler of its runs: the kernel then SIGKILLs the child (prctl
    ``PR_SET_PDEATHSIG``; the service the child forked sees its parent's
    pipe close and exits too).  It also unblocks SIGINT and SIGTERM: a
    parent that holds them back while it starts a child (so that it
    cannot lose track of it) must not pass on a mask that would leave the
    daemon deaf to SIGTERM.

    prctl is resolved here, before the fork: the child only calls it.
    Where there is no prctl (not Linux), the group signals still hold.
    """
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        prctl = None
    parent = os.getpid()
    held = {signal.SIGINT, signal.SIGTERM}

    def preexec():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:
                # The parent died before prctl: nobody would stop us.
                os._exit(1)
    return preexec


def _tail(path, lines):
    try:
        with open(path, errors='replace') as stream:
            return ''.join(stream.readlines()[-lines:])
    except OSError:
        return ''


class Process(object):
    """One child in a session of its own, its output appended to files.

    :param stdout_path: where stdout goes (nowhere when None).
    :param stderr_path: where stderr goes; None: with stdout.
    :param env: the environment (a callable is called at each start);
        None: :func:`subprocess_env`.
    :param preexec: a callable making the ``preexec_fn`` at each start,
        e.g. :func:`die_with_parent`.
    """

    def __init__(self, argv, stdout_path=None, stderr_path=None, cwd=None,
                 env=None, preexec=None):
        self.argv = list(argv)
        self.stdout_path = stdout_path
        self.stderr_path = stderr_path
        self.cwd = cwd
        self.env = env
        self.preexec = preexec
        self.proc = None
        self.started_at = None

    def _env(self):
        if self.env is None:
            return subprocess_env()
        return self.env() if callable(self.env) else self.env

    def start(self):
        """Start (again, after a stop) and return ``self``."""
        out = err = None
        try:
            out = (open(self.stdout_path, 'ab') if self.stdout_path
                   else subprocess.DEVNULL)
            err = (open(self.stderr_path, 'ab') if self.stderr_path
                   else out if self.stdout_path else subprocess.DEVNULL)
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                cwd=None if self.cwd is None else str(self.cwd),
                start_new_session=True, env=self._env(),
                preexec_fn=self.preexec() if self.preexec else None)
        finally:
            for stream in {out, err}:
                if stream not in (None, subprocess.DEVNULL):
                    stream.close()
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait(self, timeout):
        """Wait for the exit; return the status, or None on timeout."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self):
        """SIGTERM the process itself (a launcher passes it on to its
        workers: what an operator's ``kill`` does)."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)

    def signal_group(self, signum):
        """Signal the whole group: the forked service too."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def kill(self):
        """SIGKILL the whole group and reap the process."""
        if self.proc is None:
            return
        self.signal_group(signal.SIGKILL)
        self.wait(REAP_TIMEOUT)

    def log_tail(self, lines=LOG_TAIL):
        """The last lines of stdout's file."""
        return _tail(self.stdout_path, lines) if self.stdout_path else ''


class Daemon(Process):
    """``nova-cells --config-file <conf_path>``, run in ``directory``.

    :param backend: ``NOVA_CELLS_BACKEND`` of the daemon.
    """

    def __init__(self, conf_path, directory, stdout_path, stderr_path=None,
                 backend='threading', preexec=None):
        self.conf_path = conf_path
        self.directory = directory
        self.backend = backend
        super(Daemon, self).__init__(
            nova_cells_argv() + ['--config-file', str(conf_path)],
            stdout_path=stdout_path, stderr_path=stderr_path, cwd=directory,
            env=lambda: subprocess_env(NOVA_CELLS_BACKEND=self.backend),
            preexec=preexec)


def stop_all(processes, timeout=STOP_TIMEOUT):
    """SIGTERM every group, wait up to ``timeout`` s in all, then SIGKILL
    every group (stragglers of those that exited included) and reap."""
    started = [p for p in processes if p.proc is not None]
    for process in started:
        if process.running():
            process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(p.running() for p in started) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    for process in started:
        process.signal_group(signal.SIGKILL)
    for process in started:
        process.wait(REAP_TIMEOUT)
