from __future__ import annotations

import ipaddress

import pytest

from a2v2.lib.client_ip import in_networks, parse_ip, parse_networks, resolve_client_ip

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


# --- IPv6, brackets, malformed hops and proxy lists ------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.9", "203.0.113.9"),
        (" 203.0.113.9 ", "203.0.113.9"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("[::ffff:203.0.113.9]", "203.0.113.9"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
    ],
)
def test_an_address_is_parsed_bracketed_or_not_and_mapped_ipv6_folded(
    value: str, expected: str
) -> None:
    assert parse_ip(value) == ip(expected)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "unknown",
        "203.0.113",
        "203.0.113.9:443",
        "[2001:db8::1]:443",
        "2001:db8::g",
        "X203.0.113.9X",  # only brackets are taken off, nothing else
        "[[2001:db8::1]]x",
    ],
)
def test_anything_else_is_not_an_address(value: str) -> None:
    assert parse_ip(value) is None


def test_an_ipv6_client_behind_an_ipv6_proxy() -> None:
    assert resolve_client_ip("fd00::2", "2001:db8::7", PROXIES) == ip("2001:db8::7")
    assert resolve_client_ip("fd00::2", "[2001:db8::7], fd00::3", PROXIES) == ip("2001:db8::7")
    assert resolve_client_ip("[fd00::2]", "2001:db8::7", PROXIES) == ip("2001:db8::7")


def test_an_ipv4_client_behind_an_ipv6_proxy_and_back() -> None:
    assert resolve_client_ip("fd00::2", "198.51.100.7, 10.0.0.3", PROXIES) == ip("198.51.100.7")
    assert resolve_client_ip("10.0.0.2", "2001:db8::7", PROXIES) == ip("2001:db8::7")


def test_an_address_family_never_matches_the_other_familys_networks() -> None:
    everything_v6 = parse_networks(["::/0"])
    everything_v4 = parse_networks(["0.0.0.0/0"])
    assert not in_networks(ip("203.0.113.9"), everything_v6)
    assert not in_networks(ip("2001:db8::1"), everything_v4)
    assert in_networks(ip("203.0.113.9"), everything_v4)
    assert in_networks(ip("2001:db8::1"), everything_v6)
    # So an IPv4 peer is not a trusted proxy because "::/0" is trusted: its header is ignored.
    assert resolve_client_ip("203.0.113.9", "198.51.100.7", everything_v6) == ip("203.0.113.9")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # A garbled hop behind trusted ones: the last address a trusted proxy vouched for.
        ("198.51.100.7, garbage, 10.1.1.1", "10.1.1.1"),
        ("198.51.100.7, , 10.1.1.1", "10.1.1.1"),
        ("198.51.100.7,10.1.1.1:8080", "10.0.0.2"),
        ("", "10.0.0.2"),
        (",", "10.0.0.2"),
        # An untrusted hop ends the walk, whatever stands to its left.
        ("garbage, 198.51.100.7, 10.1.1.1", "198.51.100.7"),
        ("10.5.5.5, 198.51.100.7", "198.51.100.7"),
        (" 198.51.100.7 ,10.1.1.1 ", "198.51.100.7"),
        ("::ffff:198.51.100.7, ::ffff:10.1.1.1", "198.51.100.7"),
    ],
)
def test_the_forwarded_walk_on_malformed_and_mixed_headers(header: str, expected: str) -> None:
    assert resolve_client_ip("10.0.0.2", header, PROXIES) == ip(expected)


def test_no_header_behind_a_trusted_proxy_is_the_proxy() -> None:
    assert resolve_client_ip("10.0.0.2", None, PROXIES) == ip("10.0.0.2")


def test_an_unparseable_peer_is_no_address_even_with_a_header() -> None:
    assert resolve_client_ip("", "198.51.100.7", PROXIES) is None
    assert resolve_client_ip("not-an-ip", "198.51.100.7", PROXIES) is None


def test_proxy_lists_take_ranges_and_single_addresses_and_name_a_bad_entry() -> None:
    assert parse_networks([" 10.1.2.3/8 ", "2001:db8::1"]) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::1/128"),
    )
    with pytest.raises(ValueError, match=r"^'10.0.0.0/33' is not an IP address or CIDR range$"):
        parse_networks(["10.0.0.0/8", "10.0.0.0/33"])
