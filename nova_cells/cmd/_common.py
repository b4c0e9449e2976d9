"""What every entry point does first: parse, validate, set up logging."""

import contextlib
import io
import logging as stdlib_logging
import os
import sys
import threading

from oslo_config import cfg
from oslo_log import log as logging

from nova_cells import conf as cells_conf
from nova_cells.conf import validation
from nova_cells import version

__all__ = ['load_config', 'die', 'one_line', 'first_line', 'bounded',
           'NoAnswer', 'BrokerRefused', 'command_logging']


def first_line(exc):
    """The first line of an error (a driver's error when wrapped): what an
    operator needs, without the SQL and the traceback."""
    text = str(getattr(exc, 'orig', None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class NoAnswer(Exception):
    """Nothing came back within the wait a command promised."""


class BrokerRefused(Exception):
    """The broker refused the command's connection: its message says
    which broker and why."""


def bounded(call, timeout):
    """Return ``call()``, or raise :class:`NoAnswer` after ``timeout``
    seconds.

    oslo.messaging's call timeout starts once connected: with the broker
    down, it reconnects for ever and ``tree --timeout 5`` waited over 90 s.
    The call runs in a daemon thread, so a command that gives up can exit
    (its broker connection goes with the process).
    """
    outcome = {}

    def _run():
        try:
            outcome['value'] = call()
        except BaseException as exc:  # noqa - handed to the caller
            outcome['error'] = exc

    thread = threading.Thread(target=_run, name='bounded-call', daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise NoAnswer('no answer within %d s' % timeout)
    if 'error' in outcome:
        raise outcome['error']
    return outcome['value']


def one_line(text):
    """``text`` as one line: every character that would end or break a
    line (newlines, and the Unicode breaks ``str.splitlines`` knows, such
    as NEL from a bad value quoted in an error) or is not printable is
    escaped, as ``repr`` escapes it."""
    return ''.join(ch if ch.isprintable() else repr(ch)[1:-1]
                   for ch in str(text))


def die(message, status=2, now=False):
    """Print one line (one per ``\\n``) to stderr and exit with
    ``status``.

    :param now: exit at once, without waiting for other threads (a
        broker connection still retrying would hold the exit).
    """
    # One line per problem: whatever else would break a line is escaped.
    sys.stderr.write('%s\n' % '\n'.join(
        one_line(line) for line in str(message).split('\n')))
    if now:
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(status)
    sys.exit(status)


def _parse_quietly(conf, argv, prog):
    """``conf(argv)`` with argparse's usage errors cut to their last line
    (``prog: error: argument --woffset: invalid float value: 'x'``): one
    line, as every other refusal; ``--help`` is printed as it is."""
    captured, saved = io.StringIO(), sys.stderr
    sys.stderr = captured
    try:
        conf(argv, project='nova-cells', prog=prog,
             version=version.version_string())
    except SystemExit as exc:
        sys.stderr = saved
        lines = [line for line in captured.getvalue().splitlines()
                 if line.strip()]
        if exc.code == 2 and lines:
            lines = lines[-1:]
        if lines:
            sys.stderr.write('\n'.join(lines) + '\n')
        raise
    finally:
        sys.stderr = saved
    sys.stderr.write(captured.getvalue())


def load_config(argv, prog, cli_opts=(), setup_logging=True):
    """Return the global ``CONF`` parsed from ``argv`` and validated.

    Exits with status 2 and one line per problem when the configuration is
    invalid (unknown cell_type, negative interval, bad cell name, ...).
    """
    conf = cfg.CONF
    cells_conf.register_all(conf)
    for opt in cli_opts:
        conf.register_cli_opt(opt)
    try:
        _parse_quietly(conf, argv, prog)
    except (cfg.Error, ValueError) as exc:
        die('%s: %s' % (prog, first_line(exc)))
    except OSError as exc:
        # --config-file naming a directory or an unreadable file.
        die('%s: cannot read the configuration: %s' % (prog, exc))
    problems = validation.find_problems(conf)
    if problems:
        die('\n'.join('%s: invalid configuration: %s' % (prog, p)
                      for p in problems))
    if setup_logging:
        logging.setup(conf, 'nova-cells', version=version.version_string())
        validation.warn_unknown_options(conf)
    return conf


# Where oslo.log would write besides stderr, and the flags that set it: a
# command takes these from its own command line only, never from the
# cell's configuration file (the daemon's log file, journal or syslog are
# the daemon's).  (oslo.config's get_location says "config file" for a
# command line value that overrides one there: the flags are looked for.)
_LOG_DESTINATIONS = {
    'log_file': (None, ('--log-file', '--logfile')),
    'log_dir': (None, ('--log-dir', '--logdir')),
    'log_config_append': (None, ('--log-config-append', '--log-config',
                                 '--log_config')),
    'use_journal': (False, ('--use-journal',)),
    'use_syslog': (False, ('--use-syslog',)),
}


def _on_command_line(argv, flags):
    return any(arg == flag or arg.startswith(flag + '=')
               for arg in argv for flag in flags)


@contextlib.contextmanager
def command_logging(conf, prog, argv):
    """Logging for a command (``nova-cells-manage``): oslo.log to stderr,
    WARNING and above, everything from DEBUG with ``--debug``; a log file
    only when given on the command line.  The unknown options of the
    configuration are warned about once it is set up.

    Everything it changes in the process (the root logger's handlers and
    level, the levels of ``default_log_levels``, ``sys.excepthook``) is
    put back when the block ends: a caller in-process keeps its own.
    """
    root = stdlib_logging.getLogger()
    named = [pair.partition('=')[0] for pair in conf.default_log_levels]
    saved = (list(root.handlers), root.level, sys.excepthook,
             {name: stdlib_logging.getLogger(name).level for name in named})
    overridden = []
    for name, (off, flags) in _LOG_DESTINATIONS.items():
        if name in conf and not _on_command_line(argv, flags):
            conf.set_override(name, off)
            overridden.append(name)
    conf.set_override('use_stderr', True)
    overridden.append('use_stderr')
    try:
        logging.setup(conf, prog, version=version.version_string())
        if not conf.debug and not conf.log_config_append:
            for handler in root.handlers:
                handler.setLevel(stdlib_logging.WARNING)
        validation.warn_unknown_options(conf)
        yield
    finally:
        handlers, level, hook, levels = saved
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
        sys.excepthook = hook
        for name, logger_level in levels.items():
            stdlib_logging.getLogger(name).setLevel(logger_level)
        for name in overridden:
            conf.clear_override(name)
