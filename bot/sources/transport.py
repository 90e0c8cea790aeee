"""The network under httpx: aiohttp's connection pool, guarded against private addresses.

httpx stays the client API (requests, streaming, timeouts, redirects we follow ourselves);
`httpx-aiohttp` hands each request to an aiohttp session. httpx's own pool (httpcore) costs
several milliseconds of CPU per request at our pool sizes (its connection assignment is
quadratic in the pool's size); aiohttp's costs well under one (bench/bench_poll.py).

The private-address guard sits in the resolver: every address the connector may connect to
comes from `GuardedResolver.resolve`, so each is judged before any connection is opened.
This is where DNS rebinding is caught (a name public when the URL was checked and private a
moment later): the connection never reaches the rebound address. IP literals skip the
resolver, but cannot rebind; the URL check refuses private ones before the request.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from httpx_aiohttp import AiohttpTransport

from bot.sources.safety import check_connect_allowed

__all__ = ["GuardedResolver", "aiohttp_transport", "describe_aiohttp_error"]


class GuardedResolver(AbstractResolver):
    """The system resolver (through the event loop), refusing any non-public address."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Resolve `host`; raise FetchError ("blocked: …") if any address is not public."""
        results = await self._inner.resolve(host, port, family)
        for result in results:
            check_connect_allowed(host, result["host"])
        return results

    async def close(self) -> None:
        """Close the inner resolver."""
        await self._inner.close()


def aiohttp_transport(*, max_connections: int, allow_private: bool) -> httpx.AsyncBaseTransport:
    """An httpx transport on one aiohttp session, made when the first request goes (inside
    the event loop, as aiohttp wants). Proxies from the environment are httpx's business:
    httpx routes proxied URLs to its own proxy transports, so they never reach this one."""

    def session() -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=max_connections,
            resolver=None if allow_private else GuardedResolver(),
            ssl=httpx.create_ssl_context(),
        )
        return aiohttp.ClientSession(connector=connector, trust_env=False)

    return AiohttpTransport(client=session)


def describe_aiohttp_error(exc: BaseException) -> str | None:
    """What went wrong, where the httpx error httpx-aiohttp mapped says less or too much
    (it maps a lost connection or a read timeout to a connect timeout): None if not ours."""
    cause: Any = exc.__cause__
    if isinstance(cause, aiohttp.ConnectionTimeoutError):
        return "connect"
    if isinstance(cause, aiohttp.SocketTimeoutError | aiohttp.ServerTimeoutError):
        return "read"
    if isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "lost"
    if isinstance(cause, aiohttp.ClientConnectorError):
        return "connecting"  # refused, DNS, TLS: the OS error is further down the chain
    return None
