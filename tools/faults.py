#!/usr/bin/env python3
"""Run the fault scenarios of issue 8 at any count (the tests run 1,000).

Real daemons on the local RabbitMQ (a vhost per cell) with the api cell on
the local PostgreSQL, as ``tests/functional/test_faults.py``::

    python tools/faults.py [--count 5000] [--rate 60] [--scenario NAME]...
                           [--no-durable]

Scenarios: kill-child, restart-broker, api-db-outage, kill-api,
stop-child, drain-gc (default: all).
Prints the counts of each run; exits 1 if any run lost or doubled a build.
"""

import argparse
import contextlib
import os
import pathlib
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import nova_cells  # noqa: E402,F401 - threading backend before oslo imports
from tests.functional import fault_scenarios  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--count', type=int, default=1000)
    parser.add_argument('--rate', type=float, default=60.0,
                        help='builds cast per second')
    parser.add_argument('--scenario', action='append',
                        choices=sorted(fault_scenarios.SCENARIOS))
    parser.add_argument('--no-durable', dest='durable', action='store_false',
                        help='[cells] durable_forwarding = false: nova\'s '
                             'cast-and-forget, to compare')
    parser.add_argument('--transport', default=None,
                        choices=['oslo.messaging', 'kombu'],
                        help='[cells] intercell_transport (default: the '
                             'option\'s default)')
    parser.add_argument('--keep', action='store_true',
                        help='keep the logs directory')
    args = parser.parse_args(argv)
    if args.count < 1 or args.rate <= 0:
        parser.error('--count and --rate must be positive')
    failed = False
    for scenario in args.scenario or sorted(fault_scenarios.SCENARIOS):
        base = tempfile.mkdtemp(prefix='nc-faults-%s-' % scenario)
        with contextlib.ExitStack() as stack:
            tree = fault_scenarios.build_tree(base, stack,
                                              durable=args.durable,
                                              scenario=scenario,
                                              transport=args.transport)
            outcome = fault_scenarios.run_scenario(
                tree, scenario, args.count, rate=args.rate,
                settle_timeout=max(240, 3 * args.count / args.rate)
                if args.durable else 60)
        print('\n'.join(outcome.lines(scenario)), flush=True)
        print('  result: %s (logs in %s)' % (
            'OK' if outcome.ok else 'FAILED', base), flush=True)
        failed |= not outcome.ok
        if outcome.ok and not args.keep:
            _remove(base)
    return 1 if failed else 0


def _remove(directory):
    for root, dirs, files in os.walk(directory, topdown=False):
        for name in files:
            os.unlink(os.path.join(root, name))
        for name in dirs:
            os.rmdir(os.path.join(root, name))
    os.rmdir(directory)


if __name__ == '__main__':
    sys.exit(main())
