"""Which network addresses operator webhooks may reach: the rule against server-side request
forgery (SSRF). No I/O: callers resolve names and ask about each address.

A webhook URL is the operator's, but whoever holds an operator key (or a leaked one) could
point it at the service's own ``/metrics``, the database port, a cloud metadata service
(``169.254.169.254``) or anything else on the private network, and read the delivery log's
status codes and errors as a port scanner. So an address is refused when it is not globally
routable — loopback, private (RFC 1918, unique-local), link-local, multicast, unspecified,
reserved, shared (CGNAT), documentation ranges — unless it is in one of the operator's
``WEBHOOK_ALLOWED_NETWORKS`` (development, internal receivers).

IPv6 forms that carry an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the IPv4 address they carry, so
``[::ffff:127.0.0.1]`` is loopback like ``127.0.0.1``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network

_NAT64 = IPv6Network("64:ff9b::/96")  # RFC 6052's well-known prefix


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"127.0.0.0/8, 10.1.0.0/16, ::1"`` → the networks (an address is a network of one).
    Raises ValueError naming the item that is neither."""
    networks: list[IPNetwork] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address or network (e.g. 127.0.0.0/8, 10.1.0.0/16, ::1)"
            ) from None
    return tuple(networks)


def embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), if any."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def _category(address: IPAddress) -> str | None:
    """Why the address is not a public one (the most specific reason), or None."""
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "not globally routable"
    return None


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """``allowed``: networks reachable whatever their kind (``WEBHOOK_ALLOWED_NETWORKS``)."""

    allowed: tuple[IPNetwork, ...] = ()

    def refusal(self, address: IPAddress) -> str | None:
        """None when a webhook may connect to ``address``; else why not, e.g.
        ``"127.0.0.1 is loopback"``."""
        inner = embedded_ipv4(address)
        forms = [address] if inner is None else [address, inner]
        if any(form in network for form in forms for network in self.allowed):
            return None
        category = _category(inner or address)  # the carried IPv4 address is what is reached
        if category is None:
            return None
        shown = str(address) if inner is None else f"{address} ({inner})"
        return f"{shown} is {category}"
