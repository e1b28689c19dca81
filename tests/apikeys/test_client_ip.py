from __future__ import annotations

import ipaddress

from a2v2.lib.client_ip import parse_networks, resolve_client_ip

PROXIES = parse_networks(["10.0.0.0/8", "fd00::/8"])


def ip(value: str):
    return ipaddress.ip_address(value)


def test_remote_addr_is_used_when_no_proxy_is_trusted() -> None:
    assert resolve_client_ip("203.0.113.9", "198.51.100.1", ()) == ip("203.0.113.9")


def test_forwarded_header_from_an_untrusted_peer_is_ignored() -> None:
    assert resolve_client_ip("203.0.113.9", "198.51.100.1", PROXIES) == ip("203.0.113.9")


def test_forwarded_for_is_read_right_to_left_skipping_trusted_hops() -> None:
    # The client forged the left-most entry; the proxies appended the real hops.
    header = "1.2.3.4, 198.51.100.7, 10.1.1.1"
    assert resolve_client_ip("10.0.0.2", header, PROXIES) == ip("198.51.100.7")


def test_ipv4_mapped_ipv6_is_normalised() -> None:
    assert resolve_client_ip("::ffff:203.0.113.9", None, ()) == ip("203.0.113.9")
    assert resolve_client_ip("::ffff:10.0.0.2", "198.51.100.7", PROXIES) == ip("198.51.100.7")


def test_garbage_in_the_header_stops_at_the_last_trusted_hop() -> None:
    assert resolve_client_ip("10.0.0.2", "198.51.100.7, not-an-ip", PROXIES) == ip("10.0.0.2")


def test_only_trusted_hops_means_the_left_most_trusted_one() -> None:
    assert resolve_client_ip("10.0.0.2", "10.9.9.9", PROXIES) == ip("10.9.9.9")
