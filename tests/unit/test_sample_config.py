"""The committed sample configuration must be what the generator writes.

When it fails: run ``tox -e genconfig`` (or the generator command in
tox.ini) and commit ``etc/nova-cells/nova-cells.conf.sample``.
"""

import os

from oslo_config import generator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
GENERATOR_CONF = os.path.join(ROOT, 'etc', 'nova-cells',
                              'nova-cells-config-generator.conf')
SAMPLE = os.path.join(ROOT, 'etc', 'nova-cells', 'nova-cells.conf.sample')


def _generate(tmp_path):
    out = tmp_path / 'generated.conf'
    generator.main(['--config-file', GENERATOR_CONF,
                    '--output-file', str(out)])
    return out.read_text()


def test_sample_config_is_current(tmp_path):
    with open(SAMPLE) as f:
        committed = f.read()
    assert _generate(tmp_path) == committed, (
        'etc/nova-cells/nova-cells.conf.sample is stale: run tox -e genconfig')


def test_sample_documents_faithful_defaults(tmp_path):
    text = _generate(tmp_path)
    for line in ('#name = nova', '#cell_type = compute',
                 '#rpc_driver_queue_base = cells.intercell',
                 '#control_exchange = nova', '#max_hop_count = 10',
                 '#connection = sqlite:///$state_path/nova_cells.sqlite'):
        assert line in text.splitlines(), line
