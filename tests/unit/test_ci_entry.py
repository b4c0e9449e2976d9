"""CI runs ``.ci/run``; it must run the README's test command itself, so
that what the README promises is what CI proves."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _readme_test_command():
    with open(os.path.join(ROOT, 'README.rst')) as f:
        text = f.read()
    section = text.split('Install and run every test', 1)[1]
    # The first literal block of that paragraph: "::", a blank line, then
    # the indented command.
    match = re.search(r'::\n\n    (\S[^\n]*)\n', section)
    assert match, 'README.rst: no test command after "Install and run ' \
        'every test"'
    return match.group(1).strip()


def test_ci_entry_runs_the_readme_test_command():
    command = _readme_test_command()
    with open(os.path.join(ROOT, '.ci', 'run')) as f:
        lines = [line.strip() for line in f]
    # It installs, then runs every test, as README.rst promises.
    assert 'pip install' in command and 'pytest' in command, command
    assert command.rstrip().endswith(' tests'), command
    assert lines[-1] == command, lines
    assert os.access(os.path.join(ROOT, '.ci', 'run'), os.X_OK)
