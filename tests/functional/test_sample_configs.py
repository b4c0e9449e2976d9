"""The three sample configurations (etc/nova-cells/api-cell.conf,
middle-cell.conf, leaf-cell.conf) run as a tree, with only what is
site-specific replaced (broker, database, host, state path), and an
operator's ``boot --count 3 --wait`` ends with three active instances.

The leaf's sample hands builds to its nova-conductor (nova's behaviour):
a test-side nova-conductor and nova-compute stand-in takes the cast, as
they would put each instance on a host, and tells the leaf's nova-cells
(``instance_update_at_top``, nova-compute's cells RPC).
"""

import configparser
import pathlib

import oslo_messaging
import pytest

from nova_cells import context as cells_context
from nova_cells.objects import instance as instance_obj
from tests.functional import fixtures
from tests.functional import tree_support

pytestmark = pytest.mark.functional

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / 'etc' / 'nova-cells'
CELLS = (('api', 'api-cell.conf', None),
         ('middle', 'middle-cell.conf', 'api'),
         ('leaf', 'leaf-cell.conf', 'middle'))


def _write_from_sample(sample, directory, url, connection, host):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SAMPLES / sample)
    parser['DEFAULT']['transport_url'] = url
    parser['DEFAULT']['host'] = host
    parser['DEFAULT']['state_path'] = str(directory)
    parser['database']['connection'] = connection
    path = directory / 'cells.conf'
    with open(path, 'w') as out:
        parser.write(out)
    return fixtures.CellConf(path=path, host=host,
                             name=parser['cells']['name'],
                             transport_url=url, connection=connection)


class ConductorAndCompute(object):
    """nova-conductor's compute-task endpoint as far as a cells v1 leaf
    meets it: each instance goes on a host, and nova-compute's save of
    the active instance reaches the leaf's nova-cells."""

    target = oslo_messaging.Target(namespace='compute_task', version='1.19')

    def __init__(self, leaf_url, host):
        self.leaf_url = leaf_url
        self.host = host

    def build_instances(self, ctxt, instances, **_kwargs):
        with tree_support.cells_api(self.leaf_url) as (api, _admin):
            for instance in instances:
                # The cast's primitive (this endpoint has no serializer).
                uuid = instance['nova_object.data']['uuid'] \
                    if isinstance(instance, dict) else instance.uuid
                api.instance_update_at_top(
                    cells_context.get_admin_context(),
                    instance_obj.Instance(
                        uuid=uuid, vm_state='active', task_state=None,
                        host=self.host, node=self.host, power_state=1))


def test_boot_three_on_the_sample_configs(tmp_path, stack):
    cells = {}
    for name, sample, parent in CELLS:
        directory = tmp_path / name
        directory.mkdir()
        url = stack.enter_context(fixtures.rabbit_vhost())
        connection = stack.enter_context(
            fixtures.throwaway_database('sqlite', directory))
        cells[name] = _write_from_sample(sample, directory, url, connection,
                                         fixtures.unique_name('sample-'))
        fixtures.sync_schema(connection)
    links = {'api': [('middle', 'child')],
             'middle': [('api', 'parent'), ('leaf', 'child')],
             'leaf': [('middle', 'parent')]}
    for name, neighbours in links.items():
        for other, side in neighbours:
            fixtures.run_manage(cells[name], 'cell', 'create', '--name',
                                other, '--cell_type', side,
                                '--transport-url',
                                cells[other].transport_url, check=True)
    for name in ('api', 'middle', 'leaf'):
        fixtures.run_manage(cells[name], 'flavor', 'create', '--name',
                            'm1.small', '--ram', '2048', '--vcpus', '1',
                            '--disk', '20', check=True)
    tree_support.seed_compute_hosts(cells['leaf'].connection,
                                    [('leaf-cmp1', 65536, 32, 800)])
    stack.enter_context(tree_support.nova_rpc_server(
        cells['leaf'].transport_url,
        oslo_messaging.Target(topic='conductor', server='conductor1',
                              namespace='compute_task', version='1.19'),
        ConductorAndCompute(cells['leaf'].transport_url, 'leaf-cmp1')))
    daemons = []
    stack.callback(lambda: [d.kill() for d in daemons])
    for name in ('api', 'middle', 'leaf'):
        daemon = fixtures.Daemon(cells[name], tmp_path).start()
        daemons.append(daemon)
        fixtures.wait_for_ping(cells[name].transport_url, daemon=daemon,
                               deadline=daemon.started_at + 30)
    result = fixtures.run_manage(cells['api'], 'boot', '--flavor',
                                 'm1.small', '--count', '3', '--wait', '45')
    logs = '\n'.join(d.log()[-4000:] for d in daemons)
    assert result.returncode == 0, (result.stdout, result.stderr, logs)
    assert result.stdout.rstrip().endswith('3 active'), (result.stdout,
                                                         logs)
    assert result.stdout.count('api!middle!leaf') == 3, result.stdout
