"""Which URLs an inbound attachment may be fetched from (the server-side request forgery rules).

A URL passes when its scheme is https, its host matches `MEDIA_FETCH_HOSTS` (an exact `host`,
`.suffix` for subdomains, or an exact `host:port`), and every address the host resolves to is
public. Two exceptions exist only for an exact `host:port` entry (how tests and the demo name
the local fake Graph): plain http, and private or loopback addresses. The checked address is
the one connected to, so a DNS answer cannot change between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from app.media.exceptions import FetchFailed, FetchRefused

DEFAULT_PORTS = {"https": 443, "http": 80}


@dataclass(frozen=True)
class Target:
    """A URL that passed the rules, and the address to connect to."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as sent
    address: str

    @property
    def host_header(self) -> str:
        return self.host if self.port == DEFAULT_PORTS[self.scheme] else f"{self.host}:{self.port}"


def parse_hosts(value: str) -> list[str]:
    """`MEDIA_FETCH_HOSTS` as lower-case entries (blank ones dropped)."""
    return [part.strip().lower() for part in (value or "").split(",") if part.strip()]


def _entry(entry: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address -> (host, port or None)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, int(port) if port.isdigit() else -1  # -1: a malformed port matches nothing
    return entry, None


def _exact(host: str, port: int, entries: list[str]) -> bool:
    """Is this exact host:port listed (the entry form that lifts the http and address rules)?"""
    return (host, port) in {_entry(e) for e in entries}


def _host_allowed(host: str, port: int, default_port: int, entries: list[str]) -> bool:
    for entry in entries:
        if entry.startswith("."):
            if host.endswith(entry) and len(host) > len(entry) and port == default_port:
                return True
            continue
        entry_host, entry_port = _entry(entry)
        if entry_host == host and (entry_port == port or (entry_port is None and port == default_port)):
            return True
    return False


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """Every address of the host (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"could not resolve {host}", retry=True) from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, hosts_setting: str) -> Target:
    """The URL's target when the rules allow it; FetchRefused (with the reason) otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchRefused("not a valid URL") from exc
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        raise FetchRefused("only https URLs are fetched")
    if parts.username is not None or parts.password is not None:
        raise FetchRefused("URLs with credentials are not fetched")
    port = port or DEFAULT_PORTS[scheme]
    entries = parse_hosts(hosts_setting)
    exact = _exact(host, port, entries)
    if scheme == "http" and not exact:
        raise FetchRefused("only https URLs are fetched (http only for an exact host:port entry)")
    if not _host_allowed(host, port, DEFAULT_PORTS[scheme], entries):
        raise FetchRefused(f"host {host} is not in MEDIA_FETCH_HOSTS")
    addresses = resolve(host, port)
    if not exact and not all(_public(a) for a in addresses):
        raise FetchRefused(f"host {host} resolves to a private, loopback or link-local address")
    if not addresses:
        raise FetchFailed(f"could not resolve {host}", retry=True)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port, path, addresses[0])
