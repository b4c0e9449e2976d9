"""Start-up checks that turn a bad ``cells.conf`` into one clear line.

nova accepted nonsense silently (a cell name with ``!`` broke routing later,
a negative interval made a child permanently mute).  Each rule below names
the option and the value so that the operator can fix it at once; the
daemon and ``nova-cells-manage`` refuse to start while any rule fails.
"""

import glob
import math
import os

from oslo_config import cfg
from oslo_log import log as logging
import oslo_messaging
from sqlalchemy.engine import url as sa_url
from sqlalchemy import exc as sa_exc

from nova_cells.conf import api_database
from nova_cells.conf import cells as cells_conf
from nova_cells.conf import service as service_conf
from nova_cells.conf import upgrade_levels
from nova_cells import routing
from nova_cells import transport_url

__all__ = ['FORBIDDEN_NAME_CHARS', 'ConfigProblem', 'find_problems',
           'check_cell_name', 'database_url_problem', 'unknown_options',
           'warn_unknown_options', 'OUR_SECTIONS']

LOG = logging.getLogger(__name__)

# The rule is the routing's (one place for the daemon, the CLI and the
# scheduler's pin options).
FORBIDDEN_NAME_CHARS = routing.FORBIDDEN_NAME_CHARS
check_cell_name = routing.check_cell_name

# (group, option, lowest accepted value).  Options whose 0-or-negative value
# has a documented meaning (db_check_interval, bandwidth_update_interval,
# instance_updated_at_threshold) are deliberately absent.
_LOWER_BOUNDS = (
    (None, 'report_interval', 1),
    (None, 'service_down_time', 1),
    ('cells', 'mute_child_interval', 0),
    ('cells', 'call_timeout', 0),
    ('cells', 'scheduler_retry_delay', 0),
    ('cells', 'scheduler_retries', 0),
    ('cells', 'max_hop_count', 1),
    ('cells', 'parent_update_interval', 1),
    ('cells', 'instance_update_num_instances', 0),
    ('cells', 'instance_update_sync_database_limit', 1),
)


class ConfigProblem(object):
    """One invalid option: where it is, what it holds and why that is wrong."""

    def __init__(self, group, name, value, reason):
        self.group = group or 'DEFAULT'
        self.name = name
        self.value = value
        self.reason = reason

    def __str__(self):
        return '[%s] %s = %r: %s' % (self.group, self.name, self.value,
                                     self.reason)

    __repr__ = __str__


# Our sections: every option in them is registered at start-up, so a name
# that matches none is a typo (``singing = require``) or a stale option.
OUR_SECTIONS = {'cells': cells_conf.ALL_OPTS,
                'upgrade_levels': upgrade_levels.ALL_OPTS,
                'api_database': api_database.ALL_OPTS}


def _registered_groups(conf):
    """``None`` (DEFAULT) and every registered option group's name."""
    groups = [None]
    for key in conf:
        if isinstance(conf[key], cfg.ConfigOpts.GroupAttr):
            groups.append(key)
    return groups


def _value_problems(conf):
    """Options whose value oslo.config cannot even parse (bad type/choice,
    out of min/max), in every registered group: ours and the libraries'
    (``[database]``, ``[oslo_messaging_rabbit]``)."""
    problems = []
    for group in _registered_groups(conf):
        section = conf[group] if group else conf
        for name in list(section):
            try:
                value = getattr(section, name)
            except (cfg.Error, ValueError) as exc:
                # cfg.Error: a ``$name`` substitution naming no option.
                raw = _raw_value(conf, group, name)
                problems.append(ConfigProblem(group, name, raw,
                                              _short(exc)))
                continue
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(ConfigProblem(group, name, value,
                                              'must be a finite number'))
    return problems


def _empty_problems(conf):
    """A number left empty (``max_hop_count =``) reads as None, which
    every comparison after start-up failed on: refused, in our sections
    and DEFAULT, for options whose default is not None."""
    groups = [(None, service_conf.ALL_OPTS)] + list(OUR_SECTIONS.items())
    problems = []
    for group, opts in groups:
        section = conf[group] if group else conf
        for opt in opts:
            if opt.default is not None and \
                    isinstance(opt.default, (int, float)) and \
                    getattr(section, opt.dest) is None:
                problems.append(ConfigProblem(group, opt.dest, '',
                                              'must not be empty'))
    return problems


def _raw_value(conf, group, name):
    try:
        values, _loc = conf._namespace._get_file_value(
            [(group or 'DEFAULT', name)])
        return values[-1] if values else None
    except Exception:  # noqa - only used to decorate the message
        return None


def _short(exc):
    text = str(exc)
    return text.split(' is not valid: ', 1)[-1].strip()


def _bound_problems(conf):
    problems = []
    for group, name, lowest in _LOWER_BOUNDS:
        section = conf[group] if group else conf
        value = getattr(section, name)
        if value < lowest:
            problems.append(ConfigProblem(group, name, value,
                                          'must be %d or more' % lowest))
    return problems


def _cells_problems(conf):
    problems = []
    reason = check_cell_name(conf.cells.name)
    if reason:
        problems.append(ConfigProblem('cells', 'name', conf.cells.name,
                                      reason))
    if not 0.0 <= conf.cells.reserve_percent <= 100.0:
        problems.append(ConfigProblem('cells', 'reserve_percent',
                                      conf.cells.reserve_percent,
                                      'must be between 0 and 100'))
    for entry in conf.cells.capabilities:
        if '=' not in entry:
            problems.append(ConfigProblem('cells', 'capabilities', entry,
                                          'each entry must be key=value'))
    if not conf.cells.rpc_driver_queue_base:
        problems.append(ConfigProblem('cells', 'rpc_driver_queue_base', '',
                                      'must not be empty'))
    return problems


# The drivers the package's extras install (setup.cfg), by module name.
_DRIVER_EXTRAS = {'psycopg2': 'postgresql', 'pymysql': 'mysql'}


def database_url_problem(url):
    """Why SQLAlchemy could not make an engine of ``url``, or None.

    Not a URL, a dialect SQLAlchemy does not know, a driver that is not
    installed (``mysql://`` wants MySQLdb; nova's deployments say
    ``mysql+pymysql://``; psycopg2 and PyMySQL are the package's
    ``postgresql`` and ``mysql`` extras): no waiting fixes these, so they
    are refused at start-up.  Nothing is connected to: a server that is
    down is a runtime matter.
    """
    try:
        sa_url.make_url(url).get_dialect().import_dbapi()
    except ImportError as exc:
        extra = _DRIVER_EXTRAS.get((exc.name or '').split('.')[0])
        if extra:
            return "%s (install nova-cells[%s])" % (_short(exc), extra)
        return _short(exc)
    except (sa_exc.ArgumentError, ValueError) as exc:
        return _short(exc)
    return None


def _database_problems(conf):
    """The cell's own database: its driver must be installed too (the
    default, a SQLite file, always is)."""
    connection = conf.database.connection
    if not connection:
        return []
    reason = database_url_problem(connection)
    if reason is None:
        return []
    return [ConfigProblem('database', 'connection',
                          transport_url.mask(connection), reason)]


def _api_database_problems(conf):
    connection = conf.api_database.connection
    if not connection:
        return []
    reason = database_url_problem(connection)
    if reason is None:
        return []
    # The option is secret: the value shown is the masked URL.
    return [ConfigProblem('api_database', 'connection',
                          transport_url.mask(connection), reason)]


def _files_of(conf):
    """The configuration files ``conf`` was read from, in order."""
    files = list(conf.config_file or [])
    for directory in conf.config_dir and [conf.config_dir] or []:
        files += sorted(glob.glob(os.path.join(directory, '*.conf')))
    return [f for f in files if os.path.isfile(f)]


def _known_names(opts):
    """Every name an option of ``opts`` answers to (deprecated ones too)."""
    names = set()
    for opt in opts:
        names.update((opt.name, opt.dest))
        names.update(d.name for d in opt.deprecated_opts if d.name)
    return names


def unknown_options(conf):
    """``[(section, option, file)]`` for every option set in one of
    :data:`OUR_SECTIONS` that no option of that section is called."""
    found = []
    for path in _files_of(conf):
        sections = {}
        try:
            cfg.ConfigParser(path, sections).parse()
        except (cfg.ParseError, OSError, UnicodeError):
            continue        # oslo.config itself reported it at parse time
        for section, opts in OUR_SECTIONS.items():
            known = _known_names(opts)
            found += [(section, name, path)
                      for name in sections.get(section, {})
                      if name not in known]
    return found


def warn_unknown_options(conf, log=None):
    """One WARNING line per unknown option of our sections (nothing is
    refused: an option of a newer release must not stop an older one)."""
    for section, name, path in unknown_options(conf):
        (log or LOG).warning('Unknown option %s in section [%s] of %s: '
                             'ignored (a typo?)', name, section, path)


def _transport_problems(conf):
    """``[DEFAULT] transport_url`` parses as oslo.messaging parses it (a
    port that is not a number was a traceback in ``tree`` and in a forked
    worker; ``rabbit://`` alone means the local broker, as there);
    whether the broker takes our login is the daemon's start-up check."""
    url = conf.transport_url
    if not url:
        return []
    try:
        parsed = oslo_messaging.TransportURL.parse(cfg.ConfigOpts(), url)
        bad_ports = [h.port for h in parsed.hosts
                     if h.port is not None and not 0 < h.port < 65536]
        if bad_ports:
            raise ValueError('port %d out of range' % bad_ports[0])
    except Exception as exc:  # noqa - any parse failure is the answer
        return [ConfigProblem(None, 'transport_url', transport_url.mask(url),
                              _short(exc).splitlines()[0])]
    return []


def find_problems(conf):
    """Return every :class:`ConfigProblem` of ``conf`` (empty when valid).

    Unparseable values are reported first; the range rules run only when
    every value parsed, since they need the typed values.
    """
    problems = _value_problems(conf)
    if problems:
        return problems
    problems = _empty_problems(conf)
    if problems:
        return problems
    return (_bound_problems(conf) + _cells_problems(conf) +
            _database_problems(conf) + _api_database_problems(conf) +
            _transport_problems(conf))
