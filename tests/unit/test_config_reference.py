"""The committed configuration reference must be what the generator writes.

``doc/configuration.rst`` is oslo-config-generator's ``--format rst`` output
for the same namespaces as the sample configuration.  When this fails, run
``tox -e genconfig`` (or the rst command in tox.ini) and commit the file.

oslo.config's rst writer lives in its Sphinx extension: Sphinx is in the
``test`` extra for that reason.
"""

import os

from oslo_config import generator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
GENERATOR_CONF = os.path.join(ROOT, 'etc', 'nova-cells',
                              'nova-cells-config-generator.conf')
REFERENCE = os.path.join(ROOT, 'doc', 'configuration.rst')


def _generate(tmp_path):
    out = tmp_path / 'configuration.rst'
    generator.main(['--config-file', GENERATOR_CONF, '--format', 'rst',
                    '--output-file', str(out)])
    return out.read_text()


def test_configuration_reference_is_current(tmp_path):
    with open(REFERENCE) as f:
        committed = f.read()
    assert _generate(tmp_path) == committed, (
        'doc/configuration.rst is stale: run tox -e genconfig')


def test_reference_documents_every_cells_option(tmp_path):
    from nova_cells.conf import cells

    text = _generate(tmp_path)
    lines = text.splitlines()
    assert '.. oslo.config:group:: cells' in lines
    for opt in cells.ALL_OPTS:
        assert '.. oslo.config:option:: %s' % opt.name in lines, opt.name
    for group in ('DEFAULT', 'database', 'oslo_messaging_rabbit',
                  'upgrade_levels'):
        assert '.. oslo.config:group:: %s' % group in lines, group
