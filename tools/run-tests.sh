#!/usr/bin/env bash
# Install nova-cells and its test tools into a virtualenv, make sure the
# services the functional tests need are running, then run every test.
#   tools/run-tests.sh              unit + functional
#   tools/run-tests.sh tests/unit   any pytest arguments
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip >/dev/null
"$VENV/bin/pip" install -q -c upper-constraints.txt -e '.[test]'
tools/ensure-services.sh
export PYTHONWARNINGS=${PYTHONWARNINGS:-ignore::DeprecationWarning}
exec "$VENV/bin/pytest" -q -p no:cacheprovider "${@:-tests}"
