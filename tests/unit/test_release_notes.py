"""The release notes (releasenotes/notes/*.yaml) are notes reno can build.

``tox -e releasenotes`` runs reno itself (``reno lint`` and the Sphinx
build, which need the git history); this checks each note without reno:
its name (``SLUG-<16 hex digits>.yaml``, what ``reno new`` writes), that
it is YAML holding only reno's sections, each a list of strings (the
prelude one string), and that every entry is reStructuredText docutils
reads without a warning, as the ``-W`` build will.
"""

import os
import re

import docutils.core
import docutils.utils
import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
NOTES = os.path.join(ROOT, 'releasenotes', 'notes')
SOURCE = os.path.join(ROOT, 'releasenotes', 'source')
# reno's default sections.
SECTIONS = {'prelude', 'features', 'issues', 'upgrade', 'deprecations',
            'critical', 'security', 'fixes', 'other'}
NAME = re.compile(r'^[a-z0-9][a-z0-9-]*-([0-9a-f]{16})\.yaml$')


def _notes():
    return sorted(name for name in os.listdir(NOTES)
                  if not name.startswith('.'))


def test_there_are_notes_and_a_build():
    assert _notes()
    for name in ('conf.py', 'index.rst', 'unreleased.rst'):
        assert os.path.isfile(os.path.join(SOURCE, name)), name
    with open(os.path.join(SOURCE, 'unreleased.rst')) as f:
        assert '.. release-notes::' in f.read()


def test_note_ids_are_unique():
    ids = [NAME.match(name).group(1) for name in _notes()
           if NAME.match(name)]
    assert len(ids) == len(set(ids))


def _rst_problems(text):
    """docutils' warnings and errors for ``text``, as strings."""
    problems = []
    docutils.core.publish_doctree(
        text, settings_overrides={
            'report_level': docutils.utils.Reporter.WARNING_LEVEL,
            'halt_level': docutils.utils.Reporter.SEVERE_LEVEL + 1,
            'warning_stream': _Collect(problems)})
    return problems


class _Collect(object):
    def __init__(self, into):
        self.into = into

    def write(self, text):
        if text.strip():
            self.into.append(text.strip())

    def flush(self):
        pass


@pytest.mark.parametrize('name', _notes())
def test_note_is_what_reno_reads(name):
    assert NAME.match(name), (
        '%s: name it as "reno new SLUG" does (SLUG-<16 hex>.yaml)' % name)
    with open(os.path.join(NOTES, name)) as f:
        note = yaml.safe_load(f)
    assert isinstance(note, dict) and note, name
    assert set(note) <= SECTIONS, set(note) - SECTIONS
    for section, value in note.items():
        entries = [value] if section == 'prelude' else value
        assert isinstance(entries, list) and entries, (name, section)
        for entry in entries:
            assert isinstance(entry, str) and entry.strip(), (name, section)
            assert _rst_problems(entry) == [], (name, section, entry)


def test_a_broken_entry_is_caught():
    assert _rst_problems('``not closed') != []
