"""Neighbour broker URLs: parse, mask, build, first_host_info."""

import pytest

from nova_cells import exception
from nova_cells import transport_url


def _hosts(parsed):
    return [(h.hostname, h.port, h.username, h.password)
            for h in parsed.hosts]


@pytest.mark.parametrize('url, transport, hosts, vhost', [
    pytest.param('rabbit://u:p@h:5672/vh', 'rabbit', [('h', 5672, 'u', 'p')],
                 'vh', id='single-host'),
    pytest.param('rabbit://u1:p1@h1:5672,u2:p2@h2:5673/vh', 'rabbit',
                 [('h1', 5672, 'u1', 'p1'), ('h2', 5673, 'u2', 'p2')], 'vh',
                 id='two-hosts'),
    pytest.param('rabbit://h', 'rabbit', [('h', None, None, None)], None,
                 id='bare-host-no-port-no-vhost'),
    pytest.param('rabbit://u:p@[::1]:5672,u:p@[fe80::1]:5673/v', 'rabbit',
                 [('::1', 5672, 'u', 'p'), ('fe80::1', 5673, 'u', 'p')], 'v',
                 id='ipv6-hosts'),
    pytest.param('rabbit://u:p%40x@h/', 'rabbit', [('h', None, 'u', 'p@x')],
                 '', id='quoted-password'),
    pytest.param('fake://', 'fake', [], None, id='hostless-fake-driver'),
])
def test_parse_ok(url, transport, hosts, vhost):
    parsed = transport_url.parse(url)
    assert (parsed.transport, _hosts(parsed), parsed.virtual_host) == (
        transport, hosts, vhost)


@pytest.mark.parametrize('url, reason', [
    pytest.param('localhost', 'No scheme specified', id='no-scheme'),
    pytest.param('rabbit://u:p@h:abc/', "invalid literal for int()",
                 id='non-integer-port'),
    pytest.param('rabbit:///vh', 'every broker host needs a hostname',
                 id='no-host'),
    pytest.param('rabbit://u:p@/', 'every broker host needs a hostname',
                 id='credentials-but-no-host'),
    pytest.param('rabbit://h1,:5672/', 'every broker host needs a hostname',
                 id='second-host-empty'),
])
def test_parse_invalid(url, reason):
    with pytest.raises(exception.InvalidTransportURL) as err:
        transport_url.parse(url)
    assert reason in err.value.reason
    assert err.value.code == 400


def test_parse_error_message_masks_the_password():
    with pytest.raises(exception.InvalidTransportURL) as err:
        transport_url.parse('rabbit://guest:hunter2@h:notaport/')
    assert 'hunter2' not in str(err.value)
    assert 'guest:***@h:notaport' in str(err.value)


@pytest.mark.parametrize('url, masked', [
    pytest.param('rabbit://u:p@h:5672/vh', 'rabbit://u:***@h:5672/vh',
                 id='single-host'),
    pytest.param('rabbit://u1:s1@h1:5672,u2:s2@h2:5673/vh',
                 'rabbit://u1:***@h1:5672,u2:***@h2:5673/vh',
                 id='multi-host-every-password'),
    pytest.param('rabbit://u:p@[::1]:5672,u:q@[fe80::1]:5673/v',
                 'rabbit://u:***@[::1]:5672,u:***@[fe80::1]:5673/v',
                 id='multi-host-ipv6'),
    pytest.param('rabbit://u:p@ss@h/', 'rabbit://u:***@h/',
                 id='unquoted-at-in-password'),
    pytest.param('rabbit://u:a:b@h/', 'rabbit://u:***@h/',
                 id='colon-in-password'),
    pytest.param('rabbit://u:@h/', 'rabbit://u:***@h/',
                 id='empty-password'),
    pytest.param('rabbit://u:p@h/vh?ssl=1', 'rabbit://u:***@h/vh?ssl=1',
                 id='query-kept'),
])
def test_mask_hides_passwords(url, masked):
    assert transport_url.mask(url) == masked


@pytest.mark.parametrize('url', [
    pytest.param('rabbit://u@h:5672/vh', id='user-no-password'),
    pytest.param('rabbit://h1:5672,h2:5673/vh', id='multi-host-no-creds'),
    pytest.param('rabbit://[::1]:5672/', id='ipv6-no-creds'),
    pytest.param('rabbit://h/', id='bare-host'),
    pytest.param('fake://', id='hostless-fake-driver'),
    pytest.param('rabbit:///vh', id='empty-netloc-with-vhost'),
    pytest.param('', id='empty-string'),
    pytest.param(None, id='none'),
])
def test_mask_leaves_password_less_urls_alone(url):
    assert transport_url.mask(url) == url


def test_mask_of_unparseable_url_reveals_nothing():
    assert transport_url.mask('rabbit://u:secret@[bad') == '<unparseable URL>'


@pytest.mark.parametrize('kwargs, expected_url, expected_hosts, vhost', [
    pytest.param(dict(hosts=[('h', 5672)]), 'rabbit://h:5672/',
                 [('h', 5672, None, None)], '', id='host-only'),
    pytest.param(dict(hosts=[('h1', 5672), ('h2', None)], username='u',
                      password='p', virtual_host='vh'),
                 'rabbit://u:p@h1:5672,u:p@h2/vh',
                 [('h1', 5672, 'u', 'p'), ('h2', None, 'u', 'p')], 'vh',
                 id='two-hosts-same-credentials'),
    pytest.param(dict(hosts=[('::1', 5672), ('fe80::2', 5673)],
                      username='u', password='p'),
                 'rabbit://u:p@[::1]:5672,u:p@[fe80::2]:5673/',
                 [('::1', 5672, 'u', 'p'), ('fe80::2', 5673, 'u', 'p')], '',
                 id='ipv6-bracketed'),
    pytest.param(dict(hosts=[('h', 5671)], username='us er',
                      password='p@ss:/,w%', virtual_host='/v h'),
                 'rabbit://us%20er:p%40ss%3A%2F%2Cw%25@h:5671/%2Fv%20h',
                 [('h', 5671, 'us er', 'p@ss:/,w%')], '/v h',
                 id='quoting-of-credentials-and-vhost'),
    pytest.param(dict(hosts=[('h', None)], username='u'),
                 'rabbit://u@h/', [('h', None, 'u', None)], '',
                 id='user-without-password'),
    pytest.param(dict(hosts=[('h', 5672)], transport='kombu'),
                 'kombu://h:5672/', [('h', 5672, None, None)], '',
                 id='other-transport'),
])
def test_build_round_trips_through_parse(kwargs, expected_url,
                                         expected_hosts, vhost):
    url = transport_url.build(**kwargs)
    assert url == expected_url
    parsed = transport_url.parse(url)
    assert (_hosts(parsed), parsed.virtual_host) == (expected_hosts, vhost)


def test_build_without_hosts_raises():
    with pytest.raises(exception.InvalidTransportURL) as err:
        transport_url.build([])
    assert err.value.reason == 'no broker host'


@pytest.mark.parametrize('url, expected', [
    pytest.param('rabbit://u1:p1@h1:5672,u2:p2@h2:5673/vh',
                 {'username': 'u1', 'rpc_host': 'h1', 'rpc_port': 5672,
                  'virtual_host': 'vh'}, id='first-of-two'),
    pytest.param('rabbit://[::1]:5672/', {'username': None,
                                          'rpc_host': '::1',
                                          'rpc_port': 5672,
                                          'virtual_host': ''},
                 id='ipv6-no-user'),
    pytest.param('fake://', {'username': None, 'rpc_host': None,
                             'rpc_port': None, 'virtual_host': None},
                 id='hostless'),
])
def test_first_host_info(url, expected):
    info = transport_url.first_host_info(url)
    assert info == expected
    assert 'password' not in info


def test_first_host_info_of_invalid_url_raises():
    with pytest.raises(exception.InvalidTransportURL):
        transport_url.first_host_info('rabbit:///')
