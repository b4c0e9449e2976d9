"""Layering rules of the package, checked on the source (STYLE items 8, 15).

* the contracts of ``setup.cfg``'s ``[importlinter]`` hold (import-linter:
  the layers from ``cmd`` down to ``db``, no product module importing
  ``testing`` or ``demo``, plug-ins that see only the plug-in API);

* configuration comes in at the edges: only ``cmd/_common.py`` touches the
  global ``cfg.CONF``;
* plug-ins (filters, weighers) import only the plug-in API
  (``nova_cells.scheduling``) from the project;
* the lower layers never import the upper ones: nothing imports ``cmd``;
  ``db``, ``objects``, ``routing``, ``responses`` and ``rpc_driver`` import
  no manager, scheduler, messaging or wiring module;
* no function-level imports of project modules (they hide cycles).
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    __file__))), 'nova_cells')

UPPER = ('nova_cells.manager', 'nova_cells.service', 'nova_cells.scheduler',
         'nova_cells.messaging', 'nova_cells.handlers', 'nova_cells.cmd',
         'nova_cells.testing', 'nova_cells.demo')
# Paths under nova_cells/ (a package or one module).
LOWER = ('db', 'objects', 'routing.py', 'messaging/responses.py',
         'transport/rpc_driver.py', 'cells/capacity.py', 'transport_url.py',
         'exception.py', 'cells/state.py')
PLUGIN_DIRS = ('filters', 'weights')


def _modules():
    for base, _dirs, files in os.walk(ROOT):
        for name in files:
            if name.endswith('.py'):
                path = os.path.join(base, name)
                yield os.path.relpath(path, ROOT), path


def _imports(path):
    """(module name, is at module level) for every import in ``path``."""
    with open(path) as f:
        tree = ast.parse(f.read())
    top = set(id(node) for node in tree.body)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield '%s.%s' % (node.module, alias.name), id(node) in top


MODULES = sorted(_modules())


@pytest.mark.parametrize('rel, path', MODULES, ids=[m[0] for m in MODULES])
def test_global_conf_only_at_the_edge(rel, path):
    if rel == os.path.join('cmd', '_common.py'):
        return
    with open(path) as f:
        source = f.read()
    assert 'cfg.CONF' not in source.replace('``cfg.CONF``', ''), rel


@pytest.mark.parametrize('rel, path', MODULES, ids=[m[0] for m in MODULES])
def test_no_hidden_project_imports_in_functions(rel, path):
    late = [name for name, top in _imports(path)
            if not top and name.startswith('nova_cells')]
    assert late == [], '%s imports %s inside a function' % (rel, late)


@pytest.mark.parametrize('rel, path', [
    m for m in MODULES if m[0].split(os.sep)[0] in PLUGIN_DIRS],
    ids=lambda v: v if isinstance(v, str) and v.endswith('.py') else '')
def test_plugins_use_only_the_plugin_api(rel, path):
    # A family's private helpers (filters/_pins.py: the pin options'
    # parser) are plug-in code too, held to the same rule.
    family = rel.split(os.sep)[0]
    project = {n for n, _top in _imports(path) if n.startswith('nova_cells')
               and not n.startswith('nova_cells.%s._' % family)}
    assert project <= {'nova_cells.scheduling'}, (rel, project)


def _lower(rel):
    return any(rel == low or rel.startswith(low + os.sep) for low in LOWER)


@pytest.mark.parametrize(
    'rel, path', [m for m in MODULES if _lower(m[0])],
    ids=lambda v: v if isinstance(v, str) and v.endswith('.py') else '')
def test_lower_layers_do_not_import_upper_ones(rel, path):
    upward = [n for n, _top in _imports(path)
              if any(n == u or n.startswith(u + '.') for u in UPPER)]
    assert upward == [], (rel, upward)


def test_nothing_imports_the_entry_points():
    for rel, path in MODULES:
        if rel.startswith('cmd'):
            continue
        names = [n for n, _top in _imports(path)
                 if n.startswith('nova_cells.cmd')]
        assert names == [], rel


def test_import_contracts():
    repo = os.path.dirname(ROOT)
    tool = os.path.join(os.path.dirname(sys.executable), 'lint-imports')
    result = subprocess.run([tool, '--config', 'setup.cfg',
                             '--no-cache'], cwd=repo,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'broken' in result.stdout and ' 0 broken' in result.stdout
