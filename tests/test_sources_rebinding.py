"""DNS rebinding: a name that is public when checked and private when connected is refused.

The resolver is faked (socket.getaddrinfo, which both the name check and the connection use
through the event loop): the first lookup of a name answers a public address, every later one
answers 127.0.0.1, where the local feed server listens. The connection's resolver must judge
the addresses it would connect to and refuse before any connection is opened.
"""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from feedserver import FeedServer

from bot.errors import FetchError
from bot.sources import transport as transport_module
from bot.sources.fetch import (
    Fetched,
    Fetcher,
    FetchFailed,
    FetchRequest,
    FetchResult,
    FetchSettings,
)
from bot.sources.safety import check_connect_allowed

pytest_plugins = ["feedserver"]

PUBLIC = "93.184.215.14"


class RebindingResolver:
    """getaddrinfo for *.test names: a public address on the first lookup, then 127.0.0.1."""

    def __init__(self, real: Any) -> None:
        self.lookups: Counter[str] = Counter()
        self._real = real

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        """Answer a fake record for *.test names; anything else goes to the real resolver."""
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not name.endswith(".test"):
            return list(self._real(host, port, *args, **kwargs))
        self.lookups[name] += 1
        ip = PUBLIC if self.lookups[name] == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (ip, int(port)))]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> RebindingResolver:
    """Install the rebinding resolver for this test."""
    fake = RebindingResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def body_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the URL of every response whose body the fetcher starts to read."""
    reads: list[str] = []
    real = httpx.Response.aiter_raw

    def aiter_raw(self: httpx.Response, chunk_size: int | None = None) -> AsyncIterator[bytes]:
        reads.append(str(self.url))
        return real(self, chunk_size)

    monkeypatch.setattr(httpx.Response, "aiter_raw", aiter_raw)
    return reads


def fetch(url: str, **overrides: Any) -> FetchResult:
    """Fetch `url` once with private addresses refused and no proxy from the environment."""
    values: dict[str, Any] = {
        "allow_private": False,
        "trust_env": False,
        "per_host_spacing": 0.0,
        "retries": 0,
    }
    values.update(overrides)

    async def scenario() -> FetchResult:
        async with Fetcher(FetchSettings(**values)) as fetcher:
            return await fetcher.fetch(FetchRequest("rebind", url))

    return asyncio.run(scenario())


def test_name_that_rebinds_to_loopback_is_refused_unread(
    feed_server: FeedServer, resolver: RebindingResolver, body_reads: list[str]
) -> None:
    """Checked as public, resolved to 127.0.0.1 for the connection: refused, and the server
    at 127.0.0.1 never sees a request."""
    url = feed_server.url("/feeds/bbc_world.xml", host="rebind.test")
    result = fetch(url)
    assert isinstance(result, FetchFailed) and not result.transient
    assert result.error.startswith(
        "blocked: rebind.test resolved to 127.0.0.1 when connecting, a loopback"
    )
    assert resolver.lookups["rebind.test"] >= 2  # the check and the connection both looked
    assert body_reads == []
    assert feed_server.requests == []


def test_redirect_to_a_name_that_rebinds_is_refused_unread(
    feed_server: FeedServer,
    resolver: RebindingResolver,
    body_reads: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A redirect hop to a rebinding name is refused at that hop, never connected to."""
    real_check = transport_module.check_connect_allowed

    def check(host: str, address: str) -> None:
        # The first hop stands for a genuinely public server: only its check is waived.
        if host != "origin.test":
            real_check(host, address)

    monkeypatch.setattr(transport_module, "check_connect_allowed", check)
    target = feed_server.url("/feeds/bbc_world.xml", host="rebind.test")
    url = feed_server.url(f"/redirect?to={target}", host="origin.test")
    result = fetch(url)
    assert isinstance(result, FetchFailed) and not result.transient
    assert "rebind.test resolved to 127.0.0.1 when connecting" in result.error
    assert [r.path for r in feed_server.requests] == ["/redirect"]
    assert [read.split("/")[2].split(":")[0] for read in body_reads] == ["origin.test"]


def test_allowing_private_addresses_skips_the_peer_check(
    feed_server: FeedServer, resolver: RebindingResolver
) -> None:
    """With private addresses allowed (tests, intranet feeds) the rebinding name is fetched."""
    resolver.lookups["rebind.test"] = 1  # no name check runs: go straight to 127.0.0.1
    result = fetch(feed_server.url("/feeds/bbc_world.xml", host="rebind.test"), allow_private=True)
    assert isinstance(result, Fetched) and result.status == 200


@pytest.mark.parametrize(
    ("address", "error"),
    [
        ("127.0.0.1", "blocked: h resolved to 127.0.0.1 when connecting, a loopback address"),
        ("::ffff:10.0.0.1", "blocked: h resolved to ::ffff:a00:1 when connecting, a private"),
        ("fe80::1%eth0", "blocked: h resolved to fe80::1 when connecting, a link-local address"),
        ("not-an-ip", "blocked: h resolved to 'not-an-ip', not an IP address"),
    ],
)
def test_connect_check_refuses_non_public_addresses(address: str, error: str) -> None:
    """The connection's check names the host and the address it would have reached."""
    with pytest.raises(FetchError, match=r"^blocked") as caught:
        check_connect_allowed("h", address)
    assert str(caught.value).startswith(error)


def test_connect_check_passes_public_addresses() -> None:
    """A public IPv4 or IPv6 address passes."""
    check_connect_allowed("h", PUBLIC)
    check_connect_allowed("h", "2606:2800:220:1::1")
