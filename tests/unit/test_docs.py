"""The documentation builds with Sphinx, warnings as errors.

What ``tox -e docs`` runs (a few seconds): ``sphinx-build -W`` on
``doc/``.  A page left out of every toctree, a broken cross-reference, a
malformed block or a title missing is a warning, so a failure here names
the page and the line.  Sphinx is in the ``test`` extra (the configuration
reference needs its oslo.config extension too).
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DOC = os.path.join(ROOT, 'doc')


def test_sphinx_builds_the_docs_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q',
         '-b', 'html', '-d', str(tmp_path / 'doctrees'), DOC,
         str(tmp_path / 'html')],
        capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / 'html' / 'index.html').is_file()


def _toctree_entries(path):
    """The entries of the toctree directives of one page."""
    entries = []
    with open(path) as f:
        lines = f.read().splitlines()
    in_toctree = False
    for line in lines:
        if line.startswith('.. toctree::'):
            in_toctree = True
            continue
        if in_toctree:
            stripped = line.strip()
            if line and not line.startswith(' '):
                in_toctree = False
            elif stripped and not stripped.startswith(':'):
                entries.append(stripped)
    return entries


def test_every_page_is_in_a_toctree_from_the_index():
    """Every .rst under doc/ is reached from doc/index.rst through the
    toctrees (Sphinx warns of a page outside every toctree, but not of
    one reached only through a :doc: link)."""
    pages = set()
    for dirpath, dirnames, filenames in os.walk(DOC):
        dirnames[:] = [d for d in dirnames
                       if d not in ('build', '_build')]
        for name in filenames:
            if name.endswith('.rst'):
                rel = os.path.relpath(os.path.join(dirpath, name), DOC)
                pages.add(rel[:-len('.rst')])
    reached = {'index'}
    todo = ['index']
    while todo:
        page = todo.pop()
        base = os.path.dirname(page)
        for entry in _toctree_entries(os.path.join(DOC, page + '.rst')):
            target = os.path.normpath(os.path.join(base, entry))
            assert target in pages, '%s: toctree entry %r: no such page' % (
                page, entry)
            if target not in reached:
                reached.add(target)
                todo.append(target)
    assert pages - reached == set()
