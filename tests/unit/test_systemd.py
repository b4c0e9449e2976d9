"""sd_notify against a real datagram socket standing in for systemd."""

import socket

import pytest

from nova_cells.service import systemd


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    path = str(tmp_path / 'notify')
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    monkeypatch.setenv('NOTIFY_SOCKET', path)
    yield sock
    sock.close()


@pytest.mark.parametrize('send, expected', [
    (systemd.ready, b'READY=1'),
    (systemd.watchdog_ping, b'WATCHDOG=1'),
    (systemd.stopping, b'STOPPING=1'),
], ids=['ready', 'watchdog', 'stopping'])
def test_messages_reach_the_socket(notify_socket, send, expected):
    assert send() is True
    assert notify_socket.recv(64) == expected


def test_without_systemd_nothing_is_sent(monkeypatch):
    monkeypatch.delenv('NOTIFY_SOCKET', raising=False)
    assert systemd.ready() is False


@pytest.mark.parametrize('usec, expected', [
    ('60000000', 30.0), ('0', None), ('', None), ('junk', None),
], ids=['60s', 'zero', 'empty', 'junk'])
def test_watchdog_interval_is_half_of_watchdogsec(monkeypatch, usec,
                                                  expected):
    monkeypatch.setenv('WATCHDOG_USEC', usec)
    assert systemd.watchdog_interval() == expected
