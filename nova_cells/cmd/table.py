"""The boxed tables of ``nova-cells-manage`` (nova-manage's look), drawn
by prettytable, as nova-manage and the OpenStack clients draw theirs."""

import prettytable

__all__ = ['print_table', 'format_table']


def format_table(columns, rows):
    """``rows`` (sequences) under ``columns``, left-aligned, as text; None
    is shown empty."""
    table = prettytable.PrettyTable(list(columns))
    table.align = 'l'
    for row in rows:
        table.add_row(['' if value is None else value for value in row])
    return table.get_string()


def print_table(columns, rows):
    """Print :func:`format_table`."""
    print(format_table(columns, rows))
