"""A fresh virtualenv: ``pip install .`` then the console scripts work.

Builds a throw-away virtualenv whose ``sys.path`` also reaches this
environment's libraries (a .pth file), so that only the project itself is
installed there, from the source tree, with plain ``pip install`` (not
editable): what the README's first command does, minus the downloads.
"""

import os
import subprocess
import sys
import sysconfig

import pytest

pytestmark = pytest.mark.functional

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.fixture(scope='module')
def fresh_venv(tmp_path_factory):
    venv = tmp_path_factory.mktemp('venv')
    subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
    python = venv / 'bin' / 'python'
    site = subprocess.run(
        [str(python), '-c', 'import sysconfig; '
         'print(sysconfig.get_paths()["purelib"])'],
        check=True, capture_output=True, text=True).stdout.strip()
    # Our dependencies come from this environment (no network needed);
    # the project itself is installed from the source tree.
    with open(os.path.join(site, 'test-deps.pth'), 'w') as f:
        f.write(sysconfig.get_paths()['purelib'] + '\n')
    subprocess.run([str(python), '-m', 'pip', 'install', '-q', '--no-deps',
                    ROOT], check=True, capture_output=True, text=True)
    return venv / 'bin'


@pytest.mark.parametrize('script, expected', [
    ('nova-cells', '--config-file'),
    ('nova-cells-manage', 'cell'),
    ('nova-cells-demo', '--instances'),
], ids=['nova-cells', 'nova-cells-manage', 'nova-cells-demo'])
def test_console_scripts_answer_help(fresh_venv, script, expected):
    result = subprocess.run([str(fresh_venv / script), '--help'],
                            capture_output=True, text=True, timeout=60,
                            cwd='/')
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert 'usage' in result.stdout.lower()


@pytest.mark.parametrize('path, source', [
    ('etc/nova-cells/nova-cells.conf.sample',
     'etc/nova-cells/nova-cells.conf.sample'),
    ('etc/nova-cells/api-cell.conf', 'etc/nova-cells/api-cell.conf'),
    ('share/nova-cells/systemd/nova-cells.service',
     'etc/systemd/nova-cells.service'),
    ('share/nova-cells/systemd/nova-cells@.service',
     'etc/systemd/nova-cells@.service'),
    ('share/nova-cells/demo/large.json', 'etc/demo/large.json'),
    ('share/doc/nova-cells/deployment.rst', 'doc/deployment.rst'),
    ('share/doc/nova-cells/scheduling/index.rst',
     'doc/scheduling/index.rst'),
], ids=lambda value: value)
def test_install_ships_samples_units_and_docs(fresh_venv, path, source):
    """setup.cfg's data_files land under the prefix (the virtualenv), each
    as in the tree (tests/unit/test_packaging.py checks the list)."""
    installed = fresh_venv.parent / path
    assert installed.is_file(), path
    with open(os.path.join(ROOT, source)) as f:
        assert installed.read_text() == f.read()


@pytest.mark.parametrize('script', ['nova-cells', 'nova-cells-manage',
                                    'nova-cells-demo', 'nova-cells-status'])
def test_console_scripts_print_the_installed_version(fresh_venv, script):
    result = subprocess.run([str(fresh_venv / script), '--version'],
                            capture_output=True, text=True, timeout=60,
                            cwd='/')
    assert result.returncode == 0, result.stderr
    with open(os.path.join(ROOT, 'setup.cfg')) as f:
        declared = [line.split('=', 1)[1].strip() for line in f
                    if line.startswith('version =')]
    assert result.stdout.strip() == declared[0]


def _readme_first_command():
    with open(os.path.join(ROOT, 'README.rst')) as f:
        for line in f:
            if 'nova-cells-demo' in line and 'pip install' in line:
                return line.strip()
    raise AssertionError('README.rst has no demo command')


def test_readme_first_command_runs_the_demo_on_its_default(fresh_venv):
    """What the README's first command ends with, run from the freshly
    installed (not editable) package, outside the source tree: the demo on
    its embedded default places every instance."""
    command = _readme_first_command()
    assert command.endswith('&& .venv/bin/nova-cells-demo'), command
    result = subprocess.run([str(fresh_venv / 'nova-cells-demo')],
                            capture_output=True, text=True, timeout=300,
                            cwd='/')
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    # The whole report on failure: the faults of instances in ERROR are
    # at its end.
    assert lines[0] == '100 instances requested: 100 active', \
        result.stdout[-4000:]
