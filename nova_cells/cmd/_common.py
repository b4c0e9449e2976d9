"""What every entry point does first: parse, validate, set up logging."""

import io
import os
import sys
import threading

from oslo_config import cfg
from oslo_log import log as logging

from nova_cells import conf as cells_conf
from nova_cells.conf import validation

__all__ = ['load_config', 'die', 'one_line', 'first_line', 'bounded',
           'NoAnswer']


def first_line(exc):
    """The first line of an error (a driver's error when wrapped): what an
    operator needs, without the SQL and the traceback."""
    text = str(getattr(exc, 'orig', None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class NoAnswer(Exception):
    """Nothing came back within the wait a command promised."""


# Seconds allowed beyond a call's own timeout (connecting, decoding).
_GRACE = 1.0


def bounded(call, timeout):
    """Return ``call()``, or raise :class:`NoAnswer` after ``timeout``
    seconds (plus a short grace).

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
    thread.join(timeout + _GRACE)
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
        conf(argv, project='nova-cells', prog=prog)
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
        logging.setup(conf, 'nova-cells')
    validation.warn_unknown_options(conf)
    return conf
