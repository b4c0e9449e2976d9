#!/usr/bin/env python3
"""Benchmark: the CPU one cell spends on one intercell message, by kind of
hop (issue 7; what the 2-hop round trips of ``route.py`` are made of).

A tree ``api -> child -> gc`` in this process (``fake://``, as the
round-trip row); the driver's send is replaced by a recorder that builds
the outgoing JSON, so each row is the cell's own work on one received
message, single-threaded, with no transport and no thread hand-off:

* targeted, passing through: ``child`` receives ``api -> gc`` and forwards;
* response, passing through: ``child`` receives ``gc``'s answer for api;
* targeted, at its target: ``gc`` runs a no-op method and answers;
* sending it on: the driver's ``send_message_to_cell`` of the received
  message, an oslo.messaging ``cast`` on ``fake://`` (its envelope
  context, and the transport's own work, which a bare relay pays too).

The baseline is the same rows run by an older commit (``--baseline REV``,
a temporary git worktree, :class:`_common.BaselineTree`), in the same
invocation, the trees taking turns.

    python tools/bench/hop.py [--messages 5000] [--rounds 3]
        [--baseline e383b7a]
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402


def _targeted(route, routing_path, hop_count):
    return json.dumps({
        'message_type': 'targeted', 'ctxt': route._ctxt().to_dict(),
        'method_name': route.NOOP, 'method_kwargs': {}, 'direction': 'down',
        'need_response': True, 'fanout': False, 'uuid': str(uuid.uuid4()),
        'routing_path': routing_path, 'hop_count': hop_count,
        'max_hop_count': 10, 'target_cell': route.TARGET})


def measure(messages):
    """``[(row, CPU us per message)]`` for the nova_cells on sys.path."""
    import route
    from nova_cells import _backend
    _backend.select('threading')
    inprocess = _common.project_module('nova_cells.testing.inprocess')

    base_dir = tempfile.mkdtemp(prefix='bench-hop-')
    tree = inprocess.CellTree(route.LAYOUT, base_dir,
                              overrides={'call_timeout': 60},
                              handler_tables=route._noop_tables)
    try:
        tree.build().start()
        child, gc = tree.cells['child'], tree.cells['gc']
        sent = []
        cast = child.driver.send_message_to_cell
        for cell in (child, gc):
            cell.driver.send_message_to_cell = (
                lambda _cell, message: sent.append(message.to_json()))
        down = _targeted(route, 'api', 1)
        at_gc = _targeted(route, 'api!child', 2)
        gc.runner.process_json(at_gc)
        answer = sent[-1]
        gc_state = child.runner.neighbour('down', 'gc')
        received = child.runner.message_from_json(down)
        return [
            ('targeted, passing through', _common.cpu_us_per_call(
                lambda: child.runner.process_json(down), messages)),
            ('response, passing through', _common.cpu_us_per_call(
                lambda: child.runner.process_json(answer), messages)),
            ('targeted, at its target', _common.cpu_us_per_call(
                lambda: gc.runner.process_json(at_gc), messages)),
            ('sending it on (fake:// cast)', _common.cpu_us_per_call(
                lambda: cast(gc_state, received), messages)),
        ]
    finally:
        tree.close()
        shutil.rmtree(base_dir, ignore_errors=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--messages', type=int, default=5000)
    _common.add_beside_arguments(parser, rounds=3)
    args = parser.parse_args(argv)
    messages, rounds = args.messages, args.rounds
    if args.quick:
        messages, rounds = 50, 1
    if args.json:
        print(json.dumps(measure(messages)))
        return 0
    print('hop: %s' % _common.load_note())
    ours, theirs = _common.measure_beside(
        args.baseline, rounds, lambda: measure(messages), __file__,
        ['--messages', str(messages)])
    _common.print_beside('hop', ours, theirs, args.baseline or '',
                         digits=1)
    print('%d messages a row, single thread, best of %d rounds'
          % (messages, rounds))
    return 0


if __name__ == '__main__':
    sys.exit(main())
