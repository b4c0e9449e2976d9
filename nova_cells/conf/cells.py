"""The ``[cells]`` options, under nova's names, types and defaults.

Every option of nova Stein's ``nova/conf/cells.py`` is here with the same
default, so an operator's ``cells.conf`` works unchanged.  Options nova had
removed before Stein (``topic``, ``manager``, ``driver``) are still accepted
as deprecated no-ops so that old files do not fail to load.

Options marked ``mutable`` are re-read on SIGHUP; nova had none (reference
§1.7).  Values whose meaning would be nonsense (a negative interval, a cell
name containing a path separator) are refused at start-up by
:mod:`nova_cells.conf.validation`, not here, so that the message can name the
option and the value in one line.
"""

from oslo_config import cfg

__all__ = ['cells_group', 'ALL_OPTS', 'register_opts', 'fresh_group']

cells_group = cfg.OptGroup(
    'cells',
    title='Cells Options',
    help="""
Cells options allow you to use cells v1 functionality in an OpenStack
deployment: a tree of cells, each with its own database and message broker,
with a nova-cells daemon per cell routing requests between them.
""")

_mutable = {'mutable': True}

cells_opts = [
    cfg.BoolOpt('enable',
                default=False,
                help="""
Enable cell v1 functionality.

Note that cells v1 features are considered deprecated in nova. nova-cells
itself runs whatever this value is; nova-api and the compute services use
it to decide whether to talk to nova-cells.
"""),
    cfg.StrOpt('name',
               default='nova',
               help="""
Name of the current cell.

This value must be unique for each cell. The name is the first element of
every routing path that starts here.

Possible values:

* A string without the characters ``!``, ``.`` or ``@``.

Related options:

* ``cell_type``
"""),
    cfg.ListOpt('capabilities',
                default=['hypervisor=xenserver;kvm', 'os=linux;windows'],
                help="""
Cell capabilities.

List of arbitrary ``key=value`` pairs defining the capabilities of the current
cell, sent to the parent cells. A value may hold several items separated by
``;``.

Possible values:

* key=value pairs list, for example
  ``hypervisor=xenserver;kvm,os=linux;windows``

Re-read on SIGHUP (new in nova-cells) and pushed to the parents at the next
update.
""", **_mutable),
    cfg.IntOpt('call_timeout',
               default=60,
               min=0,
               help="""
Call timeout.

Seconds to wait for a response from another cell when a call (not a cast)
crosses cells.

Possible values:

* An integer, in seconds (0 or more).
""", **_mutable),
    cfg.FloatOpt('reserve_percent',
                 default=10.0,
                 help="""
Reserve percentage.

Percentage of each host's total RAM and disk held back when this cell computes
its free capacity units (reported to parents and used by the RAM weigher).

Possible values:

* A float between 0 and 100.
""", **_mutable),
    cfg.StrOpt('cell_type',
               default='compute',
               choices=[('api', 'The top cell, where nova-api runs'),
                        ('compute', 'A cell below the top')],
               help="""
Type of cell.

When cells feature is enabled the hosts in the OpenStack Compute cloud are
partitioned into groups. Cells are configured as a tree. The top-level cell's
cell_type must be set to ``api``. All other cells are defined as a
``compute`` cell by default.

Related options:

* ``name``
"""),
    cfg.IntOpt('mute_child_interval',
               default=300,
               help="""
Mute child interval.

Number of seconds without a capability or capacity update after which a
child cell is treated as mute. A mute child is weighed down by the
MuteChildWeigher and its capabilities are no longer aggregated.

Possible values:

* An integer, in seconds (0 or more).

Related options:

* ``mute_weight_multiplier``
""", **_mutable),
    cfg.IntOpt('bandwidth_update_interval',
               default=600,
               help="""
Bandwidth update interval.

Seconds between bandwidth usage cache updates pushed up to the API cell by
nova-compute. A value of 0 or less disables the updates.
"""),
    cfg.IntOpt('instance_update_sync_database_limit',
               default=100,
               help="""
Instance update sync database limit.

Number of instances to pull from the database at one time when listing
instances to heal or to sync.
""", **_mutable),
    cfg.FloatOpt('mute_weight_multiplier',
                 default=-10000.0,
                 help="""
Mute weight multiplier.

Multiplier used to weigh mute children. Mute children cells are recommended
to get a negative multiplier so that they are picked last.
""", **_mutable),
    cfg.FloatOpt('ram_weight_multiplier',
                 default=10.0,
                 help="""
Ram weight multiplier.

Multiplier used for weighing free RAM units of the requested flavor. Negative
numbers mean to stack rather than spread.
""", **_mutable),
    cfg.FloatOpt('offset_weight_multiplier',
                 default=1.0,
                 help="""
Offset weight multiplier.

Multiplier used to weigh a cell's ``weight_offset``. Set a cell's
``weight_offset`` to 999999999999999 to make it the default choice.
""", **_mutable),
    cfg.IntOpt('instance_updated_at_threshold',
               default=3600,
               help="""
Instance updated at threshold.

Number of seconds after an instance was updated or deleted to continue to
update cells. A value of 0 or less means no limit.

Related options:

* ``instance_update_num_instances``
""", **_mutable),
    cfg.IntOpt('instance_update_num_instances',
               default=1,
               help="""
Instance update num instances.

Number of instances to heal at the top in each periodic run.

Related options:

* ``instance_updated_at_threshold``
""", **_mutable),
    cfg.IntOpt('max_hop_count',
               default=10,
               help="""
Maximum hop count.

When processing a targeted message, if the local cell is not the target, a
route is defined between neighbouring cells. The message is processed across
the whole routing path. This option defines the maximum hop counts until
reaching the target.

Possible values:

* A positive integer.
""", **_mutable),
    cfg.StrOpt('scheduler',
               default='nova.cells.scheduler.CellsScheduler',
               help="""
Cells scheduler.

The class of the driver used by the cells scheduler, by dotted path or by
the name of a ``nova_cells.scheduler_drivers`` entry point. nova's own value
is accepted as an alias of the built-in scheduler.
"""),
    cfg.StrOpt('rpc_driver_queue_base',
               default='cells.intercell',
               help="""
RPC driver queue base.

When sending a message to another cell by JSON-ifying the message and making
an RPC cast to ``process_message``, a base queue is used. This option defines
the base queue name to be used when communicating between cells. Various
topics by message type will be appended to this.

Possible values:

* The base queue name to be used when communicating between cells.
"""),
    cfg.ListOpt('scheduler_filter_classes',
                default=['nova.cells.filters.all_filters'],
                help="""
Scheduler filter classes.

Filter classes the cells scheduler should use, by plug-in name or by dotted
path. nova's ``nova.cells.filters.all_filters`` selects every built-in
filter in a fixed order.
""", **_mutable),
    cfg.ListOpt('scheduler_weight_classes',
                default=['nova.cells.weights.all_weighers'],
                help="""
Scheduler weight classes.

Weigher classes the cells scheduler should use, by plug-in name or by dotted
path. nova's ``nova.cells.weights.all_weighers`` selects every built-in
weigher.
""", **_mutable),
    cfg.IntOpt('scheduler_retries',
               default=10,
               help="""
Scheduler retries.

How many retries when no cells are available. Total attempts are this value
plus one.

Related options:

* ``scheduler_retry_delay``
""", **_mutable),
    cfg.IntOpt('scheduler_retry_delay',
               default=2,
               help="""
Scheduler retry delay.

Seconds to wait between retries when no cell can be found to place a new
instance on (at least 1).

Related options:

* ``scheduler_retries``
""", **_mutable),
    cfg.IntOpt('db_check_interval',
               default=60,
               help="""
DB check interval.

Cell state manager updates cell status for all cells from the DB only after
this particular interval time is passed. Otherwise cached status are used.
If this value is 0 or negative all cell status are updated from the DB
whenever a state is needed.
""", **_mutable),
    cfg.StrOpt('local_scheduler_driver',
               default='conductor',
               choices=[('conductor', "cast build_instances to the cell's "
                                      "own nova-conductor (nova's way)"),
                        ('builtin', "place instances on this cell's "
                                    "compute_nodes in nova-cells itself")],
               help="""
Local scheduler driver (new in nova-cells).

What a cell does once the cell scheduler picked it for a build: hand the
build to the cell's own nova-conductor (as nova cells v1 always did), or
place the instances on the cell's compute nodes itself (claiming resources
atomically) and report them active to the top.
"""),
    cfg.IntOpt('parent_update_interval',
               default=60,
               help="""
Parent update interval (new in nova-cells; nova used a fixed 60 s).

Seconds between two pushes of this cell's capabilities and capacities to
its parents by the periodic task ``_update_our_parents``. Children also
push at start-up and whenever one of their own children reports.

Related options:

* ``mute_child_interval``: keep it several times larger.
"""),
    cfg.IntOpt('intercell_send_retries',
               default=3,
               min=-1,
               help="""
Intercell send retries (new in nova-cells).

How many times a message to a neighbour cell is retried while that cell's
broker cannot be reached, before the send fails (oslo.messaging's
``retry``; the waits follow ``[oslo_messaging_rabbit]
rabbit_retry_interval`` and ``rabbit_retry_backoff``). A failed build send
then falls through to the next cell; a failed report is logged and sent
again by the next periodic push. ``-1`` retries forever, as nova did, which
let one unreachable child hold a build (or the daemon's start-up) forever.
"""),
    cfg.StrOpt('intercell_transport',
               default='auto',
               choices=[('auto', '``kombu`` when ``transport_url`` is a '
                                 'RabbitMQ URL and the daemon runs on '
                                 'native threads, else ``oslo.messaging`` '
                                 '(``fake://``, or under eventlet)'),
                        ('oslo.messaging', 'oslo.messaging RPC servers and '
                                           'casts, as nova did'),
                        ('kombu', 'kombu consumers that acknowledge a '
                                  'message once processed, and publisher '
                                  'confirms')],
               help="""
How intercell messages travel (new in nova-cells).

Both put the same messages on the same exchanges and queues, in the same
envelope, so cells on either (and nova's own cells) can be neighbours.
With ``oslo.messaging`` a received message is acknowledged before it is
processed, and a cast returns once written to the socket. With ``kombu``
a received message is acknowledged only once processed (a daemon killed
with messages in hand loses none: the broker delivers them again), a
send returns only once the neighbour's broker confirmed it, and this
cell marks its broker so that neighbours of ours can tell it from an
original nova-cells (see ``original_neighbours``). The ``cells`` topic
(nova-api's casts and calls) is then served the same way: a build
nova-api cast is acknowledged once journalled, and a copy the broker
delivers again after a kill is recognised. The ``kombu``
transport needs a ``rabbit://`` ``transport_url`` and native threads
(``NOVA_CELLS_BACKEND=threading``, the default); ``auto`` (the default)
picks it then, and ``oslo.messaging`` otherwise (``fake://``, the
demo's; eventlet).

Related options:

* ``[oslo_messaging_rabbit]`` queue options (durability, quorum, TTL,
  ``rabbit_qos_prefetch_count``): both transports declare the same queues
  from them.
* ``intercell_workers``
"""),
    cfg.IntOpt('intercell_workers',
               default=8,
               min=1,
               help="""
Threads processing received intercell messages with the ``kombu``
transport (new in nova-cells).

Messages about one instance are processed one after the other, in the
order received; messages about different instances by up to this many
threads at once. The broker hands the daemon at most
``[oslo_messaging_rabbit] rabbit_qos_prefetch_count`` unacknowledged
messages (when 0, eight per thread).
"""),
    cfg.ListOpt('original_neighbours',
                default=[],
                help="""
Neighbour cells to treat as original nova-cells (new in nova-cells).

With the ``kombu`` transport a cell tells a neighbour of ours from an
original nova-cells by a marker exchange that our daemons declare on
their broker (``nova-cells.kombu-transport``). A neighbour named here is
taken for an original whatever its broker shows, for example a cell whose
broker is shared with a daemon of ours. With the ``oslo.messaging``
transport, which cannot tell, every neighbour is taken for one of ours
but those named here.

A durable message (a build, an instance update) goes to an original
neighbour once, as the original sends it (a cast; it does not
deduplicate): never sent again once its broker may have taken it.

Possible values:

* Names of neighbour cells (as in the ``cells`` table), comma-separated.
"""),
    cfg.IntOpt('max_message_size',
               default=8 * 1024 * 1024,
               min=1024,
               help="""
Largest intercell message accepted, in bytes (new in nova-cells).

A received message larger than this is rejected with a log line before it
is decoded, so that a hostile or broken neighbour cannot make the daemon
parse (and hold) an arbitrarily large document. nova had no limit.
"""),
    cfg.StrOpt('signing',
               default='off',
               choices=[('off', 'messages are neither signed nor checked'),
                        ('sign', 'sign messages to neighbours that have '
                                 'keys; check signed messages, accept '
                                 'unsigned ones (for a rolling change)'),
                        ('require', 'sign as above; reject unsigned or '
                                    'badly signed messages from neighbours '
                                    'that have keys')],
               help="""
HMAC signing of intercell messages (new in nova-cells).

Each neighbour's entry (the ``cells`` row or the cells JSON file) may hold
signing keys; the first signs what is sent to that neighbour, any of them
verifies what comes from it, so a key can be rotated by adding the new one
on both sides, then removing the old.
"""),
    cfg.BoolOpt('durable_forwarding',
                default=True,
                help="""
Record builds and updates sent to neighbours until they are taken (new in
nova-cells).

When true, a build forwarded to a child and an instance update sent to a
parent are written to this cell's database (``cell_outbox``) before they
are sent, and removed once the neighbour confirms it has recorded them;
what is not confirmed is sent again (after a restart too). Receivers drop
a message uuid they have already applied. nova cast and forgot: a daemon
restarted at the wrong moment lost the build.
"""),
    cfg.IntOpt('outbox_resend_interval',
               default=10,
               min=1,
               help="""
Seconds before an unconfirmed message in ``cell_outbox`` is sent again (new
in nova-cells). Also the time a send waits for the neighbour's
confirmation.
"""),
    cfg.IntOpt('scheduling_timeout',
               default=600,
               min=0,
               help="""
Seconds an instance may stay in ``scheduling`` at the top cell before it is
set to ERROR with a fault (new in nova-cells; 0 disables).

An instance nova-api created whose build no cell has reported after this
time, and which no message of this cell still carries (its build is not in
this cell's outbox), was lost on the way (say, by an original nova-cells
that could not route it). nova left such instances in ``building`` for
good; here they end visibly, and each sweep logs how many.

Related options:

* ``durable_forwarding``
"""),
    cfg.PortOpt('metrics_port',
                default=0,
                help="""
TCP port serving this daemon's metrics in the Prometheus text format at
``/metrics`` (new in nova-cells; 0, the default, serves none).

The figures: intercell messages received by type and method, seconds
builds spent in this cell's scheduler, rejections by filter, and, read at
each scrape, every neighbour link's outbox queue (messages, the oldest
one's wait, unconfirmed sends in a row) and every neighbour's last report
and whether it is mute. ``nova-cells-manage metrics`` prints them.

Related options:

* ``metrics_host``
"""),
    cfg.HostAddressOpt('metrics_host',
                       default='127.0.0.1',
                       help="""
Address the metrics port listens on (new in nova-cells). The default
serves only this host; set ``0.0.0.0`` (or an address of a management
network) for a Prometheus server elsewhere.
"""),
    cfg.StrOpt('cells_config',
               help="""
Optional cells configuration.

Configuration file from which to read cells configuration. If given,
overrides reading cells from the database. The file is re-read whenever it
changes on disk, and on SIGHUP.

Cells store all inter-cell communication data, including user names and
passwords, in the database. Because the cells data is not updated very
frequently, use this option to specify a JSON file to store cells data. With
this configuration, the database is no longer consulted when reloading the
cells data.

Example:

{
    "parent": {
        "name": "parent",
        "api_url": "http://api.example.com:8774",
        "transport_url": "rabbit://rabbit.example.com",
        "weight_offset": 0.0,
        "weight_scale": 1.0,
        "is_parent": true
    }
}
"""),
    cfg.IntOpt('heal_interval',
               default=60,
               min=1,
               help="""
Heal interval (new in nova-cells; nova used the fixed default spacing of
60 s).

Seconds between two runs of the periodic task ``_heal_instances``, which
sends ``instance_update_num_instances`` of this cell's instances to the top
cell on each run, so that updates lost on the way are repaired.

Related options:

* ``instance_update_num_instances``
* ``instance_updated_at_threshold``
"""),
]

# NOTE(nova-cells): beyond nova: scheduling features no cells v1 release had
# (doc/scheduling/).  Every default leaves the original behaviour unchanged.
scheduling_opts = [
    cfg.DictOpt('project_cells',
                default={},
                help="""
Project to cells pinning (new in nova-cells).

``project_id:path;path`` pairs: builds of a listed project go only to the
listed cells and the cells below them (``ProjectCellsFilter``). Paths are
full routing paths from the top (``api!child1!gc1``), so one value can be
copied to every cell of the tree; each cell applies it to its own children.

Example: ``project_cells = 3f2a...:api!c1;api!c2!gc3``

Related options:

* ``reserved_cells``
""", **_mutable),
    cfg.ListOpt('reserved_cells',
                default=[],
                help="""
Cells reserved for their pinned projects (new in nova-cells).

Full paths of cells that take builds only from the projects whose
``project_cells`` entry names them (or a cell above them). Other projects
are refused there, with the reason in ``explain`` and in the fault.
""", **_mutable),
    cfg.DictOpt('flavor_cells',
                default={},
                help="""
Flavor to cells pinning (new in nova-cells).

``flavor-name:path;path`` pairs: builds of a listed flavor go only to the
listed cells and the cells below them (``FlavorCellsFilter``).
""", **_mutable),
    cfg.DictOpt('image_property_cells',
                default={},
                help="""
Image property to cells pinning (new in nova-cells).

``property=value:path;path`` pairs: builds of an image whose property has
that value go only to the listed cells and the cells below them
(``ImagePropertyCellsFilter``). Example:
``image_property_cells = os_distro=windows:api!win``.
""", **_mutable),
    cfg.StrOpt('spread_capability',
               default='az',
               help="""
Capability spread by the zone spread weigher (new in nova-cells).

The cell capability (``az`` or ``datacentre``, declared in each cell's
``capabilities``) whose values ``AvailabilityZoneSpreadWeigher`` balances
the instances of one split request across.
""", **_mutable),
    cfg.FloatOpt('az_spread_weight_multiplier',
                 default=20.0,
                 help="""
Zone spread weight multiplier (new in nova-cells).

Multiplier of ``AvailabilityZoneSpreadWeigher``: positive values send each
instance of a split request to the zone holding fewest of its instances so
far. Above ``ram_weight_multiplier`` so that balance wins over free RAM.
""", **_mutable),
    cfg.ListOpt('fallback_cell_groups',
                default=[],
                help="""
Ordered fallback groups of cells (new in nova-cells).

Each item is a group of full cell paths joined by ``;``. A build goes to
the first group that has a cell with free units of its flavor; the next
group is used only when no cell of the earlier groups has room
(``FallbackGroupFilter``). Cells in no group come after the last group.
Example: ``fallback_cell_groups = api!c1;api!c2,api!c3,api!c4``.
""", **_mutable),
    cfg.BoolOpt('server_group_cell_level',
                default=False,
                help="""
Apply server group policies at cell level (new in nova-cells).

Policies ``cell-affinity``, ``cell-anti-affinity``, ``soft-cell-affinity``
and ``soft-cell-anti-affinity`` always apply to cells. When this option is
True, nova's host policies (``affinity``, ``anti-affinity`` and their soft
variants) apply to cells as well.
""", **_mutable),
    cfg.FloatOpt('soft_affinity_weight_multiplier',
                 default=20.0,
                 help="""
Soft cell affinity weight multiplier (new in nova-cells).

Weight of the number of server group members already in a cell, for the
``soft-cell-affinity`` policy (``ServerGroupCellWeigher``). Must not be
negative.
""", **_mutable),
    cfg.FloatOpt('soft_anti_affinity_weight_multiplier',
                 default=20.0,
                 help="""
Soft cell anti-affinity weight multiplier (new in nova-cells).

Weight against the number of server group members already in a cell, for
the ``soft-cell-anti-affinity`` policy (``ServerGroupCellWeigher``). Must
not be negative.
""", **_mutable),
    cfg.BoolOpt('split_builds_by_capacity',
                default=False,
                help="""
Split multi-instance builds across cells (new in nova-cells).

When True, a build of several instances is planned one instance at a time
among the cells with free units of its flavor left (what this request
already took there is subtracted), then each cell's part is forwarded as
its own build. The build is refused whole when the cells' free units do not
add up to the instances asked for. False (nova's behaviour): the whole
request goes to one cell.
""", **_mutable),
    cfg.FloatOpt('vcpu_weight_multiplier',
                 default=0.0,
                 help="""
Vcpu weight multiplier (new in nova-cells).

Multiplier of ``VcpuByInstanceTypeWeigher``: free slots of the flavor's
vcpus. 0.0 (the default) keeps nova's RAM-only weighing; negative numbers
stack.
""", **_mutable),
    cfg.FloatOpt('disk_weight_multiplier',
                 default=0.0,
                 help="""
Disk weight multiplier (new in nova-cells).

Multiplier of ``DiskByInstanceTypeWeigher``: free slots of the flavor's
root plus ephemeral disk. 0.0 (the default) keeps nova's RAM-only weighing;
negative numbers stack.
""", **_mutable),
]


# NOTE(nova-cells): removed from nova before Stein; accepted so that old
# configuration files still load, and ignored.
removed_opts = [
    cfg.StrOpt('topic', default='cells',
               deprecated_for_removal=True,
               deprecated_reason='Removed from nova in Pike; the topic is '
                                 'always "cells".',
               help='Ignored. The cells RPC topic is always "cells".'),
    cfg.StrOpt('manager', default='nova.cells.manager.CellsManager',
               deprecated_for_removal=True,
               deprecated_reason='Removed from nova in Newton.',
               help='Ignored. The manager class is fixed.'),
    cfg.StrOpt('driver', default='nova.cells.rpc_driver.CellsRPCDriver',
               deprecated_for_removal=True,
               deprecated_reason='Removed from nova in Ocata; the RPC driver '
                                 'is the only intercell driver.',
               help='Ignored. The intercell driver is the RPC driver.'),
]

ALL_OPTS = cells_opts + scheduling_opts + removed_opts


def fresh_group(group):
    """A copy of ``group`` for one ConfigOpts.

    NOTE(nova-cells): oslo.config keeps overrides inside the OptGroup
    object, so sharing one between ConfigOpts (one per cell when a tree
    runs in one process) leaks overrides between cells.
    """
    return cfg.OptGroup(group.name, title=group.title, help=group.help)


def register_opts(conf):
    group = fresh_group(cells_group)
    conf.register_group(group)
    conf.register_opts(ALL_OPTS, group=group)
