"""``nova-cells-demo``: a whole cell tree in one process, nothing installed."""

import argparse
import logging
import sys
import tempfile

from nova_cells import demo


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog='nova-cells-demo',
        description='Build instances through a tree of cells running in one '
                    'process (fake:// transport, SQLite databases).')
    parser.add_argument('--instances', '-n', type=int, default=100,
                        help='how many instances to build (default 100)')
    parser.add_argument('--format', choices=('text', 'json'),
                        default='text')
    parser.add_argument('--hosts-per-leaf', type=int, default=3)
    parser.add_argument('--seed', type=int, help='random seed (flavors)')
    parser.add_argument('--verbose', '-v', action='store_true',
                        help='log what every cell does (to stderr)')
    return parser.parse_args(argv)


def _progress(label):
    def show(done, total):
        width = 30
        filled = width * done // max(total, 1)
        sys.stderr.write('\r%-9s [%s%s] %d/%d' % (
            label, '#' * filled, '.' * (width - filled), done, total))
        if done >= total:
            sys.stderr.write('\n')
        sys.stderr.flush()
    return show


def main(argv=None):
    args = _parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose
                        else logging.ERROR, stream=sys.stderr,
                        format='%(asctime)s %(levelname)s %(name)s '
                               '%(message)s')
    show = args.format == 'text' and sys.stderr.isatty()
    with tempfile.TemporaryDirectory(prefix='nova-cells-demo-') as base:
        run = demo.Demo(base, hosts_per_leaf=args.hosts_per_leaf,
                        seed=args.seed).setup()
        try:
            if not run.propagate():
                sys.stderr.write('capacities did not reach the top\n')
                return 1
            run.build(args.instances, _progress('requested') if show
                      else None)
            settled = run.wait(progress=_progress('placed') if show
                               else None)
            render = demo.render_json if args.format == 'json' \
                else demo.render_text
            print(render(run.summary(), run.status()))
        finally:
            run.close()
    return 0 if settled else 1
