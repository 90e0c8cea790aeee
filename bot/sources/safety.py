"""Refuse feed URLs that point into our own network (server-side request forgery guard).

An admin can add any feed URL from Discord; without this check "http://169.254.169.254/" or
"http://localhost:6379/" would make the bot probe its own host and network for them.

    check_url_allowed(url, allow_private=False)        resolve with socket.getaddrinfo
    await check_url_allowed_async(url, ...)            resolve with the event loop's resolver
    check_connect_allowed(host, ip)                    an address a connection is about to use
    address_problem(ip)                                pure: why an address is off limits, or None

Every address a host resolves to must be public: one private record is enough to refuse,
because the connection may use any of them. The name check resolves separately from the
connection, so a DNS server that answers "public" to the check and "127.0.0.1" a moment later
(rebinding) would get past it alone: the connection's own resolver (bot/sources/transport.py)
therefore judges every address it may connect to (`check_connect_allowed`) before connecting.
Through a proxy (HTTP(S)_PROXY, when trust_env) httpx sends the request to the proxy, which
resolves the name: only the name check applies there, and guarding further is the proxy's job.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from bot.errors import FetchError

__all__ = [
    "address_problem",
    "check_connect_allowed",
    "check_url_allowed",
    "check_url_allowed_async",
]

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def address_problem(ip: _Address) -> str | None:
    """Return what kind of non-public address `ip` is ("a loopback address"), or None if public."""
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 spellings of IPv4 addresses reach the IPv4 host: judge the address inside.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(embedded)
    # Most specific first: 127.0.0.1 is also "private" to the ipaddress module.
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved:
        return "a reserved address"
    if not ip.is_global:
        # 100.64.0.0/10 (carrier-grade NAT) and similar: not private, not reachable either.
        return "a non-public address"
    return None


def check_url_allowed(url: str, *, allow_private: bool) -> None:
    """Raise FetchError unless `url` is http(s) and its host resolves only to public addresses."""
    parts, host, literal = _split(url)
    if allow_private:
        return
    if literal is not None:
        _judge(host, [literal], literal=True)
        return
    try:
        infos = socket.getaddrinfo(host, _port(parts), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(host, exc) from exc
    _judge(host, [str(info[4][0]) for info in infos], literal=False)


async def check_url_allowed_async(url: str, *, allow_private: bool) -> None:
    """Like `check_url_allowed`, resolving through the running loop so the loop is not blocked."""
    parts, host, literal = _split(url)
    if allow_private:
        return
    if literal is not None:
        _judge(host, [literal], literal=True)
        return
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, _port(parts), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise _unresolvable(host, exc) from exc
    _judge(host, [str(info[4][0]) for info in infos], literal=False)


def check_connect_allowed(host: str, raw: str) -> None:
    """Raise FetchError unless `raw`, an address `host` resolved to for a connection about to
    be opened, is public (the resolver's side of the rebinding guard)."""
    try:
        ip = ipaddress.ip_address(raw.split("%", 1)[0])
    except ValueError:
        raise FetchError(f"blocked: {host} resolved to {raw!r}, not an IP address") from None
    problem = address_problem(ip)
    if problem is not None:
        raise FetchError(
            f"blocked: {host} resolved to {ip} when connecting, {problem} (private addresses"
            " are not allowed; the name resolved differently when checked)"
        )


def _split(url: str) -> tuple[SplitResult, str, _Address | None]:
    try:
        parts = urlsplit(url.strip())
        hostname = parts.hostname
    except ValueError as exc:
        raise FetchError(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _ALLOWED_SCHEMES:
        shown = f"'{scheme}'" if scheme else "none"
        raise FetchError(f"unsupported URL scheme {shown} in {url!r} (only http and https)")
    if not hostname:
        raise FetchError(f"URL {url!r} has no host")
    return parts, hostname, _literal(hostname)


def _literal(host: str) -> _Address | None:
    try:
        return ipaddress.ip_address(host)  # also takes "fe80::1%eth0" (scoped IPv6)
    except ValueError:
        return None


def _port(parts: SplitResult) -> int:
    try:
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"invalid port in URL: {exc}") from None
    return port if port is not None else _DEFAULT_PORTS[parts.scheme.lower()]


def _judge(host: str, addresses: list[str] | list[_Address], *, literal: bool) -> None:
    for raw in addresses:
        # getaddrinfo writes scoped IPv6 as "fe80::1%eth0"; the scope does not change the class.
        ip = ipaddress.ip_address(raw.split("%", 1)[0]) if isinstance(raw, str) else raw
        problem = address_problem(ip)
        if problem is not None:
            where = f"{host} is" if literal else f"{host} resolves to {ip},"
            raise FetchError(f"blocked: {where} {problem} (private addresses are not allowed)")


def _unresolvable(host: str, exc: BaseException) -> FetchError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return FetchError(f"cannot resolve host {host}: {reason}")
