"""``nova-cells``: the daemon of one cell, launched by oslo.service."""

import sys

from oslo_db import exception as db_exc
from oslo_service import service as oslo_service
from sqlalchemy import exc as sa_exc

from nova_cells.cmd import _common
from nova_cells.db import api as db_api
from nova_cells import service
from nova_cells import transport_url


def _first_line(exc):
    text = str(getattr(exc, 'orig', None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_database(conf):
    """Fail fast, in one line naming the option, when the DB is unreachable.

    Done before the launcher forks, so that a bad URL is not retried forever
    by a restarting worker.
    """
    db = db_api.Database.from_conf(conf)
    try:
        db.check_connection()
    except (db_exc.DBError, sa_exc.SQLAlchemyError) as exc:
        reason = _first_line(exc)
        _common.die('nova-cells: cannot connect to the database in '
                    '[database] connection (%s): %s'
                    % (transport_url.mask(conf.database.connection), reason),
                    status=1)
    finally:
        db.dispose()


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    conf = _common.load_config(argv, 'nova-cells')
    _check_database(conf)
    server = service.CellsService(conf)
    launcher = oslo_service.launch(conf, server, restart_method='mutate')
    status = launcher.wait()
    sys.exit(status or 0)
