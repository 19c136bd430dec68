"""Operator webhook URLs, the pure parts: which addresses may be reached
(``domain.addresses``), what the endpoint rule and the sender's parser refuse."""

from __future__ import annotations

import ipaddress

import pytest

from balance_manager.domain import webhooks as rules
from balance_manager.domain.addresses import AddressPolicy, parse_networks
from balance_manager.senders.webhook import UnusableURL, parse_url

REFUSED = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "0.0.0.0": "unspecified",  # noqa: S104  (an address to refuse, not to bind)
    "::": "unspecified",
    "169.254.169.254": "link-local",  # cloud metadata
    "fe80::1": "link-local",
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "fd00::1": "private",
    "100.64.0.1": "not globally routable",  # shared address space (CGNAT)
    "192.0.2.1": "private",  # documentation
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    # IPv6 forms carrying an IPv4 address are judged by it
    "::ffff:127.0.0.1": "loopback",
    "::ffff:169.254.169.254": "link-local",
    "::ffff:10.0.0.1": "private",
    "64:ff9b::7f00:1": "loopback",  # NAT64
    "2002:7f00:1::": "loopback",  # 6to4
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8", "2002:808:808::"]


@pytest.mark.parametrize(("address", "kind"), sorted(REFUSED.items()))
def test_addresses_that_are_not_public_are_refused(address: str, kind: str) -> None:
    refusal = AddressPolicy().refusal(ipaddress.ip_address(address))
    assert refusal is not None and refusal.endswith(f" is {kind}")


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().refusal(ipaddress.ip_address(address)) is None


def test_allowed_networks_let_internal_receivers_through_and_nothing_else() -> None:
    policy = AddressPolicy(parse_networks("127.0.0.0/8, 10.1.0.0/16,::1"))
    for allowed in ("127.0.0.1", "127.9.9.9", "::ffff:127.0.0.1", "10.1.200.3", "::1"):
        assert policy.refusal(ipaddress.ip_address(allowed)) is None, allowed
    for refused in ("10.2.0.1", "169.254.169.254", "192.168.0.1", "::2"):
        assert policy.refusal(ipaddress.ip_address(refused)) is not None, refused


def test_allowed_networks_are_parsed_strictly() -> None:
    assert parse_networks("") == ()
    assert parse_networks(" 10.1.2.3/16 ,") == (ipaddress.ip_network("10.1.0.0/16"),)
    for bad in ("localhost", "10.0.0.0/33", "127.0.0.0/8;10.0.0.0/8"):
        with pytest.raises(ValueError, match="is not an IP address or network"):
            parse_networks(bad)


# Malformed (issue 18, items 3 and 4): each was accepted (or a 500) and then failed for ever.
UNUSABLE = [
    "http://[::1/x",  # unclosed IPv6 literal: urlsplit's ValueError was a 500
    "http://[zz]/x",
    "http://example.com/a\r\nX-Injected: 1",
    "http://example.com/a\tb",
    "http://example.com/\x07",
    "http://example.com:99999/",
    "http://example.com:abc/",
    "http://example.com:0/",
    "http://example.com:+80/",
    "http://xn--zz.example.com/",  # an invalid A-label
    "http://ex%41mple.com/",
    "http://[fe80::1%25eth0]/",
    "http://a.example\\@b.example/",  # read as credentials by one parser
    "ftp://example.com/",
    "http:///path",
]


@pytest.mark.parametrize("url", UNUSABLE)
def test_the_endpoint_rule_or_the_senders_parser_refuses_a_malformed_url(url: str) -> None:
    with pytest.raises((rules.InvalidEndpoint, UnusableURL)):
        parse_url(rules.check_url(url))


@pytest.mark.parametrize("url", ["http://[::1/x", "http://[zz]/x"])
def test_a_malformed_ipv6_literal_is_an_invalid_endpoint_naming_url(url: str) -> None:
    with pytest.raises(rules.InvalidEndpoint) as exc:
        rules.check_url(url)
    assert exc.value.field == "url"


def test_the_senders_parser_keeps_what_it_can_use() -> None:
    assert str(parse_url("https://hooks.example.com/in?x=1")) == "https://hooks.example.com/in?x=1"
    assert parse_url("https://bücher.example:8443/").raw_host == b"xn--bcher-kva.example"
    assert parse_url("http://[::1]:8080/").host == "::1"
    assert parse_url("HTTP://Example.COM./").host == "example.com."
    # Names that stand for an address are parsed as names: the address check resolves them.
    assert parse_url("http://2130706433:8080/").host == "2130706433"
