"""A whole tree of cells in one process, on ``fake://`` and SQLite files.

The demo and the unit tests use it: every cell gets its own configuration,
database and message runner, exactly as separate daemons would, and they
talk through oslo.messaging's in-memory ``fake://`` driver with the
original's wire JSON.  Nothing is stubbed; only the broker is in memory.

A layout is a nested mapping ``{'api': {'child1': {'gc1': {}}, ...}}``;
the single top-level key is the API cell.
"""

import os
import threading
import uuid

from oslo_messaging._drivers import impl_fake

import oslo_messaging

from nova_cells.service import assembly
from nova_cells.service import baserpc
from nova_cells import conf as cells_conf
from nova_cells.db import api as db_api
from nova_cells.db import migration
from nova_cells.transport import rpc
from nova_cells import rpcapi
from nova_cells import TOPIC
from nova_cells import transport_url

__all__ = ['CellTree', 'walk_layout']


def walk_layout(layout, parent=None, path=()):
    """Yield ``(name, parent_name, path)`` depth-first."""
    for name, children in layout.items():
        here = path + (name,)
        yield name, parent, here
        for item in walk_layout(children or {}, name, here):
            yield item


def _keep_fake_exchanges():
    """Stop one fake:// transport's cleanup from wiping every exchange.

    oslo.messaging's fake driver keeps exchanges in one table for the whole
    process and clears all of it when any transport is cleaned up; with a
    tree of cells in one process, stopping one cell would drop messages of
    all the others.  Each CellTree deletes its own exchanges on close.
    """
    impl_fake.FakeExchangeManager.cleanup = classmethod(lambda cls: None)


class CellTree(object):
    """Build, start and stop an in-process tree of cells.

    :param layout: nested mapping of cell names (see module doc).
    :param base_dir: where the SQLite files go.
    :param overrides: ``{option: value}`` for ``[cells]`` in every cell.
    :param handler_tables: factory returning intercell method tables (tests
        add methods of their own).
    """

    def __init__(self, layout, base_dir, overrides=None,
                 handler_tables=None, serializer=None):
        self.layout = layout
        self.base_dir = base_dir
        self.overrides = dict(overrides or {})
        self.handler_tables = handler_tables
        self.serializer = serializer
        self.run_id = uuid.uuid4().hex[:8]
        self.cells = {}
        self.paths = {}
        self._running = []
        self._rpc_servers = {}
        self._transports = {}

    def url_of(self, name):
        return 'fake:///%s-%s' % (self.run_id, name)

    def exchange_for_url(self, url):
        """fake:// exchanges are process-global: one per cell and run."""
        return 'nova.%s' % transport_url.parse(url).virtual_host

    def _conf(self, name, is_api):
        conf = cells_conf.new_config()
        conf.set_override('transport_url', self.url_of(name))
        conf.set_override('host', 'host-%s' % name)
        conf.set_override('name', name, 'cells')
        conf.set_override('cell_type', 'api' if is_api else 'compute',
                          'cells')
        conf.set_override('connection', 'sqlite:///%s' % os.path.join(
            self.base_dir, '%s.sqlite' % name), 'database')
        for option, value in self.overrides.items():
            conf.set_override(option, value, 'cells')
        return conf

    def _link(self, db, name, url, is_parent):
        db_api.cell_create(db, {'name': name, 'transport_url': url,
                                'is_parent': is_parent,
                                'weight_offset': 0.0, 'weight_scale': 1.0})

    def build(self):
        """Create every cell's database, neighbour rows and parts."""
        _keep_fake_exchanges()
        for name, parent, path in walk_layout(self.layout):
            conf = self._conf(name, parent is None)
            db = db_api.Database.from_conf(conf)
            migration.db_sync(db)
            self.paths[name] = '!'.join(path)
            self.cells[name] = assembly.build_cell(
                conf, db, exchange_for_url=self.exchange_for_url,
                handler_tables=self.handler_tables and self.handler_tables(),
                serializer=self.serializer)
            if parent is not None:
                self._link(db, parent, self.url_of(parent), True)
                self._link(self.cells[parent].db, name, self.url_of(name),
                           False)
        return self

    def start(self, names=None):
        """Start the intercell servers of the given cells (default: all)."""
        for name in names or list(self.cells):
            cell = self.cells[name]
            cell.state_manager.sync(force=True)
            cell.driver.start_servers(cell.runner)
            cell.start_outbox()
            self._running.append(name)
        return self

    def _transport(self, name):
        if name not in self._transports:
            self._transports[name] = rpc.get_transport(self.cells[name].conf)
        return self._transports[name]

    def start_cells_rpc(self, name):
        """Serve topic ``cells`` for one cell, as its daemon would."""
        cell = self.cells[name]
        target = oslo_messaging.Target(
            topic=TOPIC, server=cell.conf.host,
            exchange=self.exchange_for_url(self.url_of(name)))
        server = rpc.get_server(
            self._transport(name), target,
            cell.endpoints + [baserpc.BaseRPCAPI('cells')],
            serializer=rpc.RequestContextSerializer(cell.runner.serializer))
        server.start()
        self._rpc_servers[name] = server
        return server

    def cells_api(self, name):
        """A CellsAPI client for one cell (what nova-api would hold)."""
        cell = self.cells[name]
        return rpcapi.CellsAPI(
            cell.conf, self._transport(name),
            serializer=cell.runner.serializer,
            exchange=self.exchange_for_url(self.url_of(name)))

    def stop(self, names=None):
        """Stop the given cells (default: all), in parallel."""
        names = [n for n in (names or list(self._running))
                 if n in self._running]
        threads = [threading.Thread(target=self.cells[n].driver.stop_servers)
                   for n in names]
        for name in names:
            self.cells[name].stop_outbox()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for name in names:
            self._running.remove(name)

    def close(self):
        for server in self._rpc_servers.values():
            server.stop()
        for server in self._rpc_servers.values():
            server.wait()
        self._rpc_servers = {}
        self.stop()
        for cell in self.cells.values():
            cell.close()
            cell.db.dispose()
        manager = impl_fake.FakeExchangeManager
        prefix = 'nova.%s-' % self.run_id
        with manager._exchanges_lock:
            for name in [n for n in manager._exchanges
                         if n and n.startswith(prefix)]:
                del manager._exchanges[name]

    def __enter__(self):
        return self.build().start()

    def __exit__(self, *exc):
        self.close()
