"""``nova-cells-demo``: a whole cell tree in one process, nothing installed."""

import argparse
import sys
import tempfile

from nova_cells import demo


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog='nova-cells-demo',
        description='Run a tree of cells in one process (fake:// + SQLite).')
    parser.add_argument('--format', choices=('text', 'json'),
                        default='text')
    parser.add_argument('--hosts-per-leaf', type=int, default=3)
    return parser.parse_args(argv)


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix='nova-cells-demo-') as base:
        run = demo.Demo(base, hosts_per_leaf=args.hosts_per_leaf).setup()
        try:
            if not run.propagate():
                sys.stderr.write('capacities did not reach the top\n')
                return 1
            top = run.tree.cells[run.top_name]
            status = run.status()
            render = demo.render_json if args.format == 'json' \
                else demo.render_text
            print(render(status, top.state_manager.get_our_capacities()))
        finally:
            run.close()
    return 0
