"""sd_notify for ``Type=notify`` units: readiness, watchdog, stopping.

oslo.service's own helper sends READY once and hides the rest; the daemon
also needs ``WATCHDOG=1`` pings and ``STOPPING=1``.  The protocol is one
datagram on the socket named by ``$NOTIFY_SOCKET``
(``python-systemd``'s ``daemon.notify`` or ``sdnotify`` could replace this
module).  With the threading backend the service runs in a forked child,
so the unit needs ``NotifyAccess=all``.
"""

import os
import socket

__all__ = ['notify', 'ready', 'stopping', 'watchdog_ping',
           'watchdog_interval']


def _socket_address():
    address = os.environ.get('NOTIFY_SOCKET')
    if not address:
        return None
    if address.startswith('@'):
        address = '\0' + address[1:]
    return address


def notify(message):
    """Send ``message`` to systemd; return False when not under systemd."""
    address = _socket_address()
    if not address:
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.connect(address)
        sock.sendall(message.encode('utf-8'))
    return True


def ready():
    return notify('READY=1')


def stopping():
    return notify('STOPPING=1')


def watchdog_ping():
    return notify('WATCHDOG=1')


def watchdog_interval():
    """Seconds between pings (half of ``WatchdogSec``), or None if off."""
    usec = os.environ.get('WATCHDOG_USEC')
    if not usec or not usec.isdigit() or int(usec) <= 0:
        return None
    return int(usec) / 2e6
