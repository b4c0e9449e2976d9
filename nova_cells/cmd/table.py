"""The boxed tables of ``nova-cells-manage`` (nova-manage's look).

prettytable would do the same; twenty lines do not justify a dependency.
"""

__all__ = ['print_table']


def print_table(columns, rows):
    """Print ``rows`` (sequences) under ``columns``; None prints empty."""
    cells = [[str('' if v is None else v) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells])
              for i, c in enumerate(columns)]
    line = '+' + '+'.join('-' * (w + 2) for w in widths) + '+'
    print(line)
    print('| ' + ' | '.join(c.ljust(w) for c, w in zip(columns, widths)) +
          ' |')
    print(line)
    for r in cells:
        print('| ' + ' | '.join(v.ljust(w) for v, w in zip(r, widths)) +
              ' |')
    print(line)
