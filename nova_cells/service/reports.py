"""Guru Meditation reports (oslo.reports), as every OpenStack service has.

SIGUSR2 (or a touch of ``[oslo_reports] file_event_handler``) dumps, to
stderr or a file in ``[oslo_reports] log_dir``: the package, every thread's
stack (a threaded daemon has no other thread dump), the processes, the
configuration (secrets masked by oslo.config), and a ``nova-cells`` section
of our own: the neighbour links' outbox queues, the neighbours' last
reports and the calls waiting for answers
(:func:`nova_cells.service.metrics.cell_figures`).

Under the threading backend oslo.service runs the service in a forked
worker: the launcher and the worker each answer SIGUSR2 with their own
report (``systemctl kill -s USR2 nova-cells`` signals both; the worker's
has the ``nova-cells`` section).
"""

from oslo_reports import guru_meditation_report as gmr
from oslo_reports.models import with_default_views
from oslo_reports import opts as gmr_opts

from nova_cells.service import metrics
from nova_cells import version

__all__ = ['setup', 'CellSection', 'SECTION_TITLE']

SECTION_TITLE = 'nova-cells'


class _Version(object):
    """What oslo.reports' package section asks of a version object."""

    @staticmethod
    def vendor_string():
        return 'OpenStack'

    @staticmethod
    def product_string():
        return 'nova-cells'

    @staticmethod
    def version_string_with_package():
        return version.version_string()


def setup(conf):
    """Answer SIGUSR2 (or the watched file) with a report, in this
    process; ``conf`` gains the ``[oslo_reports]`` options."""
    gmr_opts.set_defaults(conf)
    gmr.TextGuruMeditation.setup_autorun(_Version(), service_name='nova-cells',
                                         conf=conf)


class CellSection(object):
    """The ``nova-cells`` section: the figures of the cell the service
    runs now (none before it has started)."""

    def __init__(self, service):
        self.service = service

    def __call__(self):
        cell = self.service.cell
        data = ({'state': 'not started'} if cell is None
                else metrics.cell_figures(cell))
        return with_default_views.ModelWithDefaultViews(data)

    def register(self):
        """Make this the section of every later report of this process
        (in place of an earlier service's)."""
        report = gmr.TextGuruMeditation
        report.persistent_sections = [
            (title, generator) for title, generator
            in getattr(report, 'persistent_sections', [])
            if title != SECTION_TITLE]
        report.register_section(SECTION_TITLE, self)
