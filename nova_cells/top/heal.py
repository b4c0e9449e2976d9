"""Healing the top's copy of this cell's instances (reference §8.2, §8.3).

Messages that carry instance changes up are casts: one lost on the way
leaves the top's row stale for good.  Every cell below the top therefore
re-sends a few of its instances to the top on each run of the
``_heal_instances`` periodic task, and ``sync_instances`` re-sends a whole
selection at once.  Each instance goes up as it is in this cell's database:
an update with no fields marked changed (which the top applies in full, so
stale values are repaired, §10.27), or a destroy when it is deleted here.

Differences from nova, on purpose (§10.29):

* an instance never updated counts from its ``created_at`` for the
  ``changes-since`` window (nova compared ``updated_at`` only, so a row
  created and never touched was never healed within the window);
* pages are read by ``id`` (stable while rows change), shuffled per page;
* the number healed per run counts instances sent, not attempts.
"""

import datetime
import random

from oslo_log import log as logging
from oslo_utils import timeutils
import sqlalchemy as sa

from nova_cells.db import instances as db_instances
from nova_cells.db import models
from nova_cells import exception
from nova_cells.top import instances
from nova_cells.top import topsync

__all__ = ['HealSettings', 'Healer', 'get_instances_to_sync',
           'sync_instance']

LOG = logging.getLogger(__name__)


class HealSettings(object):
    """The options heal and sync obey (values, not ``CONF``).

    :param num_instances: ``[cells] instance_update_num_instances``.
    :param updated_at_threshold: ``[cells] instance_updated_at_threshold``
        (seconds; 0 or less: no window).
    :param page_limit: ``[cells] instance_update_sync_database_limit``.
    """

    def __init__(self, num_instances=1, updated_at_threshold=3600,
                 page_limit=100):
        self.num_instances = num_instances
        self.updated_at_threshold = updated_at_threshold
        self.page_limit = page_limit

    @classmethod
    def from_conf(cls, conf):
        cells = conf.cells
        return cls(num_instances=cells.instance_update_num_instances,
                   updated_at_threshold=cells.instance_updated_at_threshold,
                   page_limit=cells.instance_update_sync_database_limit)


def _page_query(updated_since, project_id, deleted, marker, limit):
    table = models.Instance
    query = sa.select(table)
    if not deleted:
        query = query.where(table.deleted == 0)
    if project_id is not None:
        query = query.where(table.project_id == project_id)
    if updated_since is not None:
        since = timeutils.normalize_time(updated_since)
        query = query.where(sa.or_(
            sa.func.coalesce(table.updated_at, table.created_at) >= since,
            table.deleted_at >= since))
    if marker is not None:
        query = query.where(table.id > marker)
    return query.order_by(table.id).limit(max(1, limit))


def get_instances_to_sync(db, updated_since=None, project_id=None,
                          deleted=True, shuffle=False, uuids_only=False,
                          limit=100, shuffler=random.shuffle):
    """Yield this cell's instances (uuids, or Instance objects), a page at a
    time (reference §8.3).

    :param updated_since: a datetime: only rows updated, created or deleted
        since then (nova's ``changes-since``).
    :param project_id: only this project's instances.
    :param deleted: include deleted rows.
    :param shuffle: shuffle each page (not the whole list, as nova).
    :param limit: rows per database query.
    """
    marker = None
    while True:
        with db.reader() as session:
            rows = [row.as_dict() for row in session.execute(_page_query(
                updated_since, project_id, deleted, marker,
                limit)).scalars()]
        if not rows:
            return
        marker = rows[-1]['id']
        if shuffle:
            shuffler(rows)
        for row in rows:
            yield row['uuid'] if uuids_only else instances.from_db_row(row)
        if len(rows) < limit:
            return


def sync_instance(runner, ctxt, instance):
    """Send one instance to the top as it is here: destroy if deleted,
    else a full update (no fields marked changed)."""
    if instance.deleted:
        topsync.instance_destroy_at_top(runner, ctxt, instance)
    else:
        topsync.instance_update_at_top(runner, ctxt, instance)


def _load(db, instance_uuid):
    try:
        return instances.from_db_row(db_instances.instance_get(
            db, instance_uuid, read_deleted='yes'))
    except exception.InstanceNotFound:
        return None


class Healer(object):
    """The state of ``_heal_instances`` across its runs.

    Keeps one iterator over this cell's recently changed instances and
    sends the next ``num_instances`` of them up on each run; when the list
    runs out, a fresh one is read (at most once per run), so successive
    runs walk through every instance.

    :param runner: the cell's MessageRunner (its ``services.db`` is the
        cell database).
    :param settings: :class:`HealSettings`.
    :param clock: returns "now" (tests pass a fixed one).
    """

    def __init__(self, runner, settings=None, clock=timeutils.utcnow,
                 shuffler=random.shuffle):
        self.runner = runner
        self.settings = settings or HealSettings()
        self.clock = clock
        self.shuffler = shuffler
        self._uuids = iter(())

    @property
    def db(self):
        return self.runner.services.db

    def _fresh_list(self):
        since = None
        if self.settings.updated_at_threshold > 0:
            since = self.clock() - datetime.timedelta(
                seconds=self.settings.updated_at_threshold)
        return get_instances_to_sync(
            self.db, updated_since=since, shuffle=True, uuids_only=True,
            limit=self.settings.page_limit, shuffler=self.shuffler)

    def _next_uuid(self, renewed):
        """The next uuid, or None; ``renewed`` is a one-item list telling
        whether this run already read a fresh list."""
        for instance_uuid in self._uuids:
            return instance_uuid
        if renewed[0]:
            return None
        renewed[0] = True
        self._uuids = self._fresh_list()
        for instance_uuid in self._uuids:
            return instance_uuid
        return None

    def heal(self, ctxt):
        """One run: send up to ``num_instances`` instances to the top.

        A cell with no parents (the top) has nobody to heal.
        :returns: the uuids sent.
        """
        if topsync.is_top(self.runner):
            return []
        sent, renewed = [], [False]
        while len(sent) < self.settings.num_instances:
            instance_uuid = self._next_uuid(renewed)
            if instance_uuid is None:
                break
            instance = _load(self.db, instance_uuid)
            if instance is None:
                continue
            LOG.debug('Healing instance %s at the top', instance_uuid)
            sync_instance(self.runner, ctxt, instance)
            sent.append(instance_uuid)
        return sent

    def sync(self, ctxt, project_id=None, updated_since=None,
             deleted=False):
        """``sync_instances`` in this cell: send every selected instance.

        :returns: how many were sent.
        """
        count = 0
        for instance in get_instances_to_sync(
                self.db, updated_since=updated_since, project_id=project_id,
                deleted=deleted, limit=self.settings.page_limit):
            sync_instance(self.runner, ctxt, instance)
            count += 1
        LOG.info('sync_instances: sent %d instance(s) to the top', count)
        return count
