"""Hand-off drivers: what a cell does once it picked itself for a build.

``[cells] local_scheduler_driver`` chooses one:

* ``conductor`` (default, as nova): cast compute-task ``build_instances``
  to the cell's own nova-conductor, which schedules hosts as in a cloud
  without cells;
* ``builtin``: place the instances on this cell's ``compute_nodes`` here,
  claiming resources atomically, and report each change to the top (for
  the demo, tests and cells without a nova-conductor).

The instance rows already exist in the cell's database when a driver is
called (the scheduler created them and told the top).
"""

import abc

__all__ = ['BaseHandoff']


class BaseHandoff(abc.ABC):

    #: True when the driver itself tells the top the outcome of every
    #: instance (placed or failed) right away: the scheduler then skips
    #: nova's "created in cell X" update, which the outcome repeats.
    reports_every_outcome = False

    @abc.abstractmethod
    def build_instances(self, ctxt, build_inst_kwargs):
        """Take over the build of ``build_inst_kwargs['instances']``.

        Must not raise for a per-instance failure (that instance goes to
        ERROR with a fault); may raise when nothing could be handed off,
        which the scheduler reports for every instance.
        """
