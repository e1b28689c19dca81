"""Requests the server makes to addresses its users chose (webhooks), without SSRF.

A URL's host is resolved once; every address it resolves to must be public (not private,
loopback, link-local, shared, multicast or reserved), and the connection goes to that
checked address, not to a second lookup an attacker's DNS could answer differently
(DNS rebinding). TLS still verifies the certificate against the URL's host name. Redirects
are not followed; proxies from the environment are not used.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_RESPONSE_BYTES = 64 * 1024


class UnsafeDestination(ValueError):
    """The URL may not be called: wrong scheme, no host, or a non-public address."""


class DeliveryFailed(Exception):
    """The destination could not be reached or did not answer in time."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    target: str  # path and query, as sent in the request line
    address: IPAddress


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeDestination(f"{host} does not resolve ({error}).") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def destination(url: str, *, allow_private: bool) -> Destination:
    """Check `url` and resolve its host once. Raises UnsafeDestination with a sentence."""
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeDestination("Use an https:// URL.")
    if not parts.hostname:
        raise UnsafeDestination("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeDestination("Put no user name or password in the URL.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeDestination("The URL's port is not valid.") from None
    addresses = resolve(parts.hostname, port)
    if not addresses:
        raise UnsafeDestination(f"{parts.hostname} does not resolve.")
    if not allow_private:
        for address in addresses:
            if not is_public(address):
                raise UnsafeDestination(
                    f"{parts.hostname} resolves to {address}, a private, loopback, link-local "
                    "or reserved address; webhooks go to public addresses only."
                )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port, target, addresses[0])


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, to: Destination, timeout: float) -> None:
        super().__init__(to.host, to.port, timeout=timeout)
        self.address = to.address

    def connect(self) -> None:
        self.sock = socket.create_connection((str(self.address), self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, to: Destination, timeout: float) -> None:
        super().__init__(to.host, to.port, timeout=timeout, context=ssl.create_default_context())
        self.address = to.address

    def connect(self) -> None:
        sock = socket.create_connection((str(self.address), self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


def post(
    url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout: float
) -> int:
    """POST `body`; the response's status code. Raises UnsafeDestination or DeliveryFailed."""
    to = destination(url, allow_private=allow_private)
    kind = _PinnedHTTPSConnection if to.scheme == "https" else _PinnedHTTPConnection
    connection = kind(to, timeout)
    try:
        connection.request("POST", to.target, body=body, headers=headers)
        response = connection.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        return response.status
    except (OSError, http.client.HTTPException) as error:
        raise DeliveryFailed(f"{type(error).__name__}: {error}"[:300]) from None
    finally:
        connection.close()
