"""What the wheel installs beside the package (setup.cfg
``[options.data_files]``), checked against the tree.

* every pattern listed names at least one file (a file renamed or removed
  under etc/ or doc/ would otherwise vanish from the wheel silently);
* every file under etc/ is listed: the samples, the systemd units and the
  demo's topologies are all installed;
* every page of doc/ is installed, and the ``Documentation=`` of each
  systemd unit names a file the package installs (under the prefix of
  doc/deployment.rst's virtualenv) or a web address.

tests/functional/test_install.py checks the same files are where an
install puts them.
"""

import configparser
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
SYSTEMD = os.path.join(ROOT, 'etc', 'systemd')
# Where doc/deployment.rst installs the package (python3 -m venv PREFIX).
PREFIX = '/opt/nova-cells'


def _data_files():
    """{installed path relative to the prefix: source path}."""
    parser = configparser.RawConfigParser()
    parser.read(os.path.join(ROOT, 'setup.cfg'))
    installed = {}
    for target, value in parser.items('options.data_files'):
        patterns = [p.strip() for p in value.splitlines() if p.strip()]
        assert patterns, target
        for pattern in patterns:
            matches = sorted(glob.glob(os.path.join(ROOT, pattern)))
            assert matches, 'setup.cfg data_files %s: %s matches no file' % (
                target, pattern)
            for path in matches:
                assert os.path.isfile(path), path
                rel = os.path.relpath(path, ROOT)
                dest = os.path.join(target, os.path.basename(rel))
                assert dest not in installed, 'installed twice: %s' % dest
                installed[dest] = rel
    return installed


def _tree(top):
    found = set()
    for dirpath, dirnames, filenames in os.walk(os.path.join(ROOT, top)):
        dirnames[:] = [d for d in dirnames if d not in ('build', '_build')]
        for name in filenames:
            found.add(os.path.relpath(os.path.join(dirpath, name), ROOT))
    return found


def test_every_listed_file_exists():
    assert _data_files()


def test_every_file_under_etc_is_installed():
    sources = set(_data_files().values())
    assert _tree('etc') - sources == set()


def test_every_doc_page_is_installed():
    sources = set(_data_files().values())
    pages = {p for p in _tree('doc') if p.endswith('.rst')}
    assert pages - sources == set()
    assert 'README.rst' in sources


def test_samples_install_where_openstack_services_put_theirs():
    installed = _data_files()
    assert installed['etc/nova-cells/nova-cells.conf.sample'] == \
        'etc/nova-cells/nova-cells.conf.sample'
    assert installed['share/nova-cells/systemd/nova-cells@.service'] == \
        'etc/systemd/nova-cells@.service'


def test_deployment_guide_installs_into_the_units_prefix():
    with open(os.path.join(ROOT, 'doc', 'deployment.rst')) as f:
        assert 'python3 -m venv %s\n' % PREFIX in f.read()


@pytest.mark.parametrize('unit', sorted(os.listdir(SYSTEMD)))
def test_unit_documentation_is_installed(unit):
    installed = _data_files()
    with open(os.path.join(SYSTEMD, unit)) as f:
        lines = [line.strip() for line in f
                 if line.startswith('Documentation=')]
    assert lines, '%s has no Documentation=' % unit
    for line in lines:
        for uri in line.split('=', 1)[1].split():
            if re.match(r'https?://', uri):
                continue
            assert uri.startswith('file://%s/' % PREFIX), uri
            rel = uri[len('file://%s/' % PREFIX):]
            assert rel in installed, '%s: %s is not installed' % (unit, uri)
