"""Layering rules of the package, checked on the source (STYLE items 8, 15).

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

import pytest

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    __file__))), 'nova_cells')

UPPER = ('nova_cells.manager', 'nova_cells.service', 'nova_cells.assembly',
         'nova_cells.scheduler', 'nova_cells.messaging',
         'nova_cells.messages', 'nova_cells.handlers', 'nova_cells.cmd',
         'nova_cells.inprocess', 'nova_cells.demo')
LOWER = ('db', 'objects', 'routing.py', 'responses.py', 'rpc_driver.py',
         'capacity.py', 'transport_url.py', 'exception.py', 'state.py')
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


@pytest.mark.parametrize('rel, path', [
    m for m in MODULES if m[0].split(os.sep)[0] in LOWER],
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
