"""What the daemon's process loads (issue 7: idle RSS).

Under the threading backend neither eventlet (pulled in by futurist and
oslo.utils only to check whether it is in use) nor alembic (the daemon only
compares revisions) is imported: together ~20 MB per process.  Under the
eventlet backend, eventlet is there and monkey-patched.
"""

import os
import subprocess
import sys

import pytest

_PROBE = ('import sys, nova_cells.cmd.cells; '
          'print(sys.modules.get("eventlet") is not None, '
          '"alembic" in sys.modules)')


def _probe(backend):
    env = dict(os.environ, NOVA_CELLS_BACKEND=backend,
               PYTHONWARNINGS='ignore')
    result = subprocess.run([sys.executable, '-c', _PROBE], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize('backend, eventlet_loaded', [
    ('threading', 'False'), ('eventlet', 'True')])
def test_daemon_imports(backend, eventlet_loaded):
    assert _probe(backend) == [eventlet_loaded, 'False']
