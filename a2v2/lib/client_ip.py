"""Which address a request really came from, given the proxies we trust.

Only when the connecting peer is a trusted proxy do we read X-Forwarded-For, and then
right to left, skipping trusted hops (nginx's `real_ip_recursive on`). The left-most entry
is whatever the client chose to send, so it is never trusted by position alone.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


# Parsing an address takes longer than the rest of a request's address check; the same
# few addresses (clients, proxies) come back request after request.
@lru_cache(maxsize=4096)
def parse_ip(value: str) -> IPAddress | None:
    """An address, with IPv4-mapped IPv6 (::ffff:1.2.3.4) folded to IPv4; None if invalid."""
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs or single addresses; raises ValueError naming the first bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{value!r} is not an IP address or CIDR range") from None
    return tuple(networks)


def in_networks(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


def resolve_client_ip(
    remote_addr: str, forwarded_for: str | None, trusted: Sequence[IPNetwork]
) -> IPAddress | None:
    peer = parse_ip(remote_addr or "")
    if peer is None or not trusted or not in_networks(peer, trusted):
        return peer
    for hop in reversed((forwarded_for or "").split(",")):
        address = parse_ip(hop)
        if address is None:
            # A garbled hop: stop at the last address a trusted proxy vouched for.
            return peer
        if not in_networks(address, trusted):
            return address
        peer = address
    return peer
