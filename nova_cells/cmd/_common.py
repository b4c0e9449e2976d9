"""What every entry point does first: parse, validate, set up logging."""

import sys

from oslo_config import cfg
from oslo_log import log as logging

from nova_cells import conf as cells_conf
from nova_cells.conf import validation

__all__ = ['load_config', 'die', 'first_line']


def first_line(exc):
    """The first line of an error (a driver's error when wrapped): what an
    operator needs, without the SQL and the traceback."""
    text = str(getattr(exc, 'orig', None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def die(message, status=2):
    """Print one line to stderr and exit with ``status``."""
    sys.stderr.write('%s\n' % message)
    sys.exit(status)


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
        conf(argv, project='nova-cells', prog=prog)
    except (cfg.Error, ValueError) as exc:
        die('%s: %s' % (prog, exc))
    problems = validation.find_problems(conf)
    if problems:
        die('\n'.join('%s: invalid configuration: %s' % (prog, p)
                      for p in problems))
    if setup_logging:
        logging.setup(conf, 'nova-cells')
    validation.warn_unknown_options(conf)
    return conf
