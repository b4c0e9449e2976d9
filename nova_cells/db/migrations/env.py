"""Alembic environment: runs on the connection nova-cells hands it.

There is no ``alembic.ini`` to edit: ``nova-cells-manage db sync`` builds the
alembic ``Config`` itself (see :mod:`nova_cells.db.migration`) and passes an
open connection in ``config.attributes['connection']``.
"""

from alembic import context

from nova_cells.db import models

target_metadata = models.BASE.metadata


def run_migrations_online():
    connection = context.config.attributes['connection']
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
