"""``cells.conf`` files for throw-away daemons.

A test or a demo waits for what a daemon does on its timers (heartbeats,
the cell list, capacity pushes): :func:`daemon_sections` sets the ones
every throw-away daemon shares short, so that the wait is a second, not a
minute.  The caller adds its own options and writes them with :func:`ini`.
"""

__all__ = ['ini', 'merged', 'daemon_sections']


def ini(sections):
    """``{section: {option: value}}`` as ini text, in the order given.

    ``None`` leaves an option out (the daemon's default holds); booleans
    are written as oslo.config reads them.
    """
    lines = []
    for section, options in sections.items():
        lines.append('[%s]' % section)
        for key, value in options.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = 'true' if value else 'false'
            lines.append('%s = %s' % (key, value))
        lines.append('')
    return '\n'.join(lines)


def merged(sections, *more):
    """``sections`` with the options of each of ``more`` added or
    replaced, section by section (a new option goes last)."""
    result = {section: dict(options) for section, options in sections.items()}
    for extra in more:
        for section, options in (extra or {}).items():
            result.setdefault(section, {}).update(options)
    return result


def daemon_sections(name, cell_type, transport_url, connection, state_path,
                    host, max_retries=1):
    """The sections of a throw-away daemon's ``cells.conf``.

    Fast on purpose: a heartbeat every second and no periodic fuzzy delay
    (a service is seen up at once), the ``cells`` table re-read on every
    access (``db_check_interval = 0``: a neighbour added by a test is
    seen), and few attempts to reach the database, a second apart (a
    daemon whose database is missing fails fast).
    """
    return {
        'DEFAULT': {'transport_url': transport_url,
                    'host': host,
                    'state_path': state_path,
                    'report_interval': 1,
                    'periodic_fuzzy_delay': 0},
        'cells': {'name': name,
                  'cell_type': cell_type,
                  'db_check_interval': 0},
        'database': {'connection': connection,
                     'max_retries': max_retries,
                     'retry_interval': 1},
    }
