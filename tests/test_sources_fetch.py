"""Tests for bot.sources.fetch against the local feed server (and httpx.MockTransport).

No pytest-asyncio here: each test drives its coroutine with asyncio.run. Waits the fetcher
asks for (spacing, backoff, Retry-After) go to a fake sleep that records them and returns
at once; the only real waiting is a few tenths of a second of server-side delay in the
timeout and concurrency tests.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import math
import socket
import ssl
import tracemalloc
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, TypeVar

import httpx
import pytest
from fakes import FakeMonotonic
from feedserver import DATA_DIR, MIB, FeedServer, Reply

from bot import __version__
from bot.errors import FetchError
from bot.sources.feeds import parse_feed
from bot.sources.fetch import (
    DEFAULT_USER_AGENT,
    Fetched,
    Fetcher,
    FetchFailed,
    FetchRequest,
    FetchSettings,
    NotModified,
    parse_max_age,
    parse_retry_after,
    redact_url,
)

pytest_plugins = ["feedserver"]

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


def settings(**overrides: Any) -> FetchSettings:
    """Settings for local tests: private addresses allowed, no proxies, no backoff, no spacing."""
    values: dict[str, Any] = {
        "allow_private": True,
        "trust_env": False,
        "per_host_spacing": 0.0,
        "backoff_multiplier": 0.0,
        "backoff_max": 0.0,
    }
    values.update(overrides)
    return FetchSettings(**values)


async def fetch_one(
    request: FetchRequest, clock: FakeMonotonic | None = None, **overrides: Any
) -> Fetched | NotModified | FetchFailed:
    """Fetch one request with a fresh Fetcher."""
    clock = clock or FakeMonotonic()
    async with Fetcher(settings(**overrides), clock=clock, sleep=clock.sleep) as fetcher:
        return await fetcher.fetch(request)


def req(server: FeedServer, path: str, **kwargs: Any) -> FetchRequest:
    """A FetchRequest for `path` on the test server."""
    return FetchRequest("test", server.url(path), **kwargs)


# --- settings ---------------------------------------------------------------------------------


def test_settings_defaults_match_the_design() -> None:
    """Defaults: 10/20/60 s timeouts, 10 MB cap, 32 global, 2 per host, 1 s spacing, 3 retries."""
    s = FetchSettings()
    assert (s.connect_timeout, s.read_timeout, s.total_timeout) == (10.0, 20.0, 60.0)
    assert s.max_bytes == 10 * 1024 * 1024
    assert (s.max_concurrency, s.per_host_concurrency, s.per_host_spacing) == (32, 2, 1.0)
    assert s.retries == 3
    assert s.allow_private is False
    assert s.user_agent == DEFAULT_USER_AGENT
    # No placeholder contact: the operator adds a real one (SIGNALWATCH_CONTACT).
    assert f"signalwatch/{__version__}" == DEFAULT_USER_AGENT


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("connect_timeout", 0),
        ("read_timeout", -1.0),
        ("total_timeout", math.nan),
        ("total_timeout", math.inf),
        ("max_bytes", 0),
        ("max_bytes", 1.5),
        ("max_concurrency", 0),
        ("per_host_concurrency", -2),
        ("per_host_spacing", -0.1),
        ("retries", -1),
        ("retries", True),
        ("retries", "3"),
        ("backoff_multiplier", -1),
        ("max_retry_after", math.inf),
        ("max_inflation_ratio", 0.5),
        ("max_redirects", -1),
        ("user_agent", ""),
        ("user_agent", "bot\r\nX-Injected: 1"),
    ],
)
def test_settings_reject_nonsense(field: str, value: object) -> None:
    """Each nonsense value raises ValueError naming the setting."""
    with pytest.raises(ValueError, match=field):
        FetchSettings(**{field: value})  # type: ignore[arg-type]


# --- header parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "age", "expected"),
    [
        ("max-age=300", None, 300.0),
        ("public, max-age=60, must-revalidate", None, 60.0),
        ("MAX-AGE=120", None, 120.0),
        ('max-age="90"', None, 90.0),
        ("max-age=300", "100", 200.0),
        ("max-age=300", "900", 0.0),
        ("max-age=300", "junk", 300.0),
        ("s-maxage=600", None, None),
        ("no-cache", None, None),
        ("max-age=soon", None, None),
        (None, None, None),
        ("", None, None),
    ],
)
def test_parse_max_age(cache_control: str | None, age: str | None, expected: float | None) -> None:
    """max-age is read case-insensitively, less the Age header; anything else is None."""
    assert parse_max_age(cache_control, age) == expected


def test_parse_retry_after() -> None:
    """Retry-After is delay seconds or an HTTP date relative to `now`; garbage is None."""
    now = datetime(2025, 6, 25, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("Wed, 25 Jun 2025 12:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Wed, 25 Jun 2025 11:00:00 GMT", now=now) == 0.0  # already past
    assert parse_retry_after("-5", now=now) is None
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None


# --- success, validators, caching -------------------------------------------------------------


def test_fetch_200_returns_body_and_validators(feed_server: FeedServer) -> None:
    """A 200 gives the exact body, ETag, Last-Modified, content type and final URL."""
    result = run(fetch_one(req(feed_server, "/feeds/bbc_world.xml")))
    assert isinstance(result, Fetched)
    assert result.status == 200
    assert result.body == (DATA_DIR / "bbc_world.xml").read_bytes()
    assert result.etag and result.etag.startswith('"')
    assert result.last_modified == "Wed, 25 Jun 2025 12:00:00 GMT"
    assert result.content_type == "application/rss+xml; charset=utf-8"
    assert result.final_url == feed_server.url("/feeds/bbc_world.xml")
    assert result.max_age is None
    assert result.elapsed >= 0
    feed = parse_feed("bbc", result.body, url=result.final_url, content_type=result.content_type)
    assert len(feed.entries) == 12


def test_request_headers_identify_the_bot(feed_server: FeedServer) -> None:
    """Requests carry our User-Agent, feed Accept types, gzip/deflate only, no validators."""
    run(fetch_one(req(feed_server, "/feeds/bbc_world.xml")))
    (seen,) = feed_server.requests
    assert seen.headers["user-agent"] == DEFAULT_USER_AGENT
    assert "application/rss+xml" in seen.headers["accept"]
    assert seen.headers["accept-encoding"] == "gzip, deflate"
    assert "if-none-match" not in seen.headers and "if-modified-since" not in seen.headers


def test_etag_gives_304_not_modified(feed_server: FeedServer) -> None:
    """The second fetch sends If-None-Match with the ETag and gets NotModified."""

    async def scenario() -> tuple[Fetched | NotModified | FetchFailed, ...]:
        clock = FakeMonotonic()
        async with Fetcher(settings(), clock=clock, sleep=clock.sleep) as fetcher:
            first = await fetcher.fetch(req(feed_server, "/feeds/guardian_world.xml"))
            assert isinstance(first, Fetched)
            second = await fetcher.fetch(
                req(feed_server, "/feeds/guardian_world.xml", etag=first.etag)
            )
            return first, second

    first, second = run(scenario())
    assert second == NotModified(status=304, max_age=None)
    conditional = feed_server.requests[1]
    assert isinstance(first, Fetched)
    assert conditional.headers["if-none-match"] == first.etag


def test_last_modified_gives_304_not_modified(feed_server: FeedServer) -> None:
    """If-Modified-Since alone (no ETag stored) also gets a 304."""
    request = req(
        feed_server, "/feeds/dw_all.rdf.xml", last_modified="Wed, 25 Jun 2025 12:00:00 GMT"
    )
    assert isinstance(run(fetch_one(request)), NotModified)
    assert feed_server.requests[0].headers["if-modified-since"] == "Wed, 25 Jun 2025 12:00:00 GMT"


def test_changed_feed_returns_new_body_despite_old_etag(feed_server: FeedServer) -> None:
    """When the feed changes, the old ETag no longer matches and the new body comes back."""
    live = feed_server.live("/live.xml")
    live.add_items(2)

    async def scenario() -> list[Fetched | NotModified | FetchFailed]:
        clock = FakeMonotonic()
        async with Fetcher(settings(), clock=clock, sleep=clock.sleep) as fetcher:
            first = await fetcher.fetch(req(feed_server, "/live.xml"))
            assert isinstance(first, Fetched)
            same = await fetcher.fetch(req(feed_server, "/live.xml", etag=first.etag))
            live.add_items(1)
            changed = await fetcher.fetch(req(feed_server, "/live.xml", etag=first.etag))
            return [first, same, changed]

    first, same, changed = run(scenario())
    assert isinstance(same, NotModified)
    assert isinstance(changed, Fetched) and isinstance(first, Fetched)
    assert changed.etag != first.etag
    assert len(parse_feed("live", changed.body, url="https://x/").entries) == 3


def test_cache_control_max_age_is_parsed(feed_server: FeedServer) -> None:
    """Cache-Control: max-age reaches Fetched.max_age and NotModified.max_age."""
    feed_server.put("/cached.xml", (DATA_DIR / "bbc_world.xml").read_bytes(), max_age=300)
    fetched = run(fetch_one(req(feed_server, "/cached.xml")))
    assert isinstance(fetched, Fetched) and fetched.max_age == 300.0
    again = run(fetch_one(req(feed_server, "/cached.xml", etag=fetched.etag)))
    assert again == NotModified(status=304, max_age=300.0)


def test_gzip_and_deflate_bodies_are_decoded(feed_server: FeedServer) -> None:
    """gzip, zlib-wrapped deflate and raw deflate bodies all decode to the original bytes."""
    original = (DATA_DIR / "japantimes.xml").read_bytes()
    for path in (
        "/gzip/japantimes.xml",
        "/deflate/japantimes.xml",
        "/deflate/japantimes.xml?raw=1",
    ):
        result = run(fetch_one(req(feed_server, path)))
        assert isinstance(result, Fetched), path
        assert result.body == original, path


def test_redirects_are_followed(feed_server: FeedServer) -> None:
    """Redirect hops are followed and final_url says where the feed now lives."""
    result = run(fetch_one(req(feed_server, "/redirect?to=/feeds/bbc_world.xml&hops=3")))
    assert isinstance(result, Fetched)
    assert result.final_url == feed_server.url("/feeds/bbc_world.xml")


def test_too_many_redirects_is_final(feed_server: FeedServer) -> None:
    """A redirect loop longer than max_redirects fails without retries."""
    result = run(
        fetch_one(req(feed_server, "/redirect?to=/feeds/bbc_world.xml&hops=9"), max_redirects=3)
    )
    assert result == FetchFailed("too many redirects (more than 3)", None, None, False)
    assert len(feed_server.requests) == 4


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:99999/", "https://xn--/", "ftp://127.0.0.1/feed", "http://[::1/"],
)
def test_unusable_redirect_targets_fail_cleanly(feed_server: FeedServer, location: str) -> None:
    """A Location httpx would choke on (bad port, bad IDNA, other scheme) is a final failure."""
    feed_server.script("/moved.xml", Reply(302, headers={"Location": location}))
    result = run(fetch_one(req(feed_server, "/moved.xml")))
    assert isinstance(result, FetchFailed) and not result.transient
    assert result.error.startswith("bad redirect")
    assert len(feed_server.requests) == 1


# --- HTTP errors, Retry-After and retries -----------------------------------------------------


def test_404_is_final_and_not_retried(feed_server: FeedServer) -> None:
    """A 404 fails at once: one request, readable error, not transient."""
    result = run(fetch_one(req(feed_server, "/status/404")))
    assert result == FetchFailed("HTTP 404 Not Found", 404, None, False)
    assert len(feed_server.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 410, 451])
def test_other_4xx_are_final(feed_server: FeedServer, status: int) -> None:
    """Client errors other than 429 are never retried."""
    result = run(fetch_one(req(feed_server, f"/status/{status}")))
    assert isinstance(result, FetchFailed) and not result.transient and result.status == status
    assert len(feed_server.requests) == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, "HTTP 500 Internal Server Error"),
        (502, "HTTP 502 Bad Gateway"),
        (503, "HTTP 503 Service Unavailable"),
    ],
)
def test_5xx_is_retried_then_fails(feed_server: FeedServer, status: int, error: str) -> None:
    """A persistent 5xx is tried 1 + retries times, then returned as a transient failure."""
    clock = FakeMonotonic()
    result = run(fetch_one(req(feed_server, f"/status/{status}"), clock, retries=2))
    assert result == FetchFailed(error, status, None, True)
    assert len(feed_server.requests) == 3
    assert len(clock.sleeps) == 2  # one (zero-length) backoff between attempts


def test_5xx_then_success_recovers(feed_server: FeedServer) -> None:
    """Two 503s then the feed: the fetch succeeds on the third attempt."""
    feed_server.script("/flaky.xml", Reply(503), Reply(502))
    feed_server.put("/flaky.xml", (DATA_DIR / "bbc_world.xml").read_bytes())
    result = run(fetch_one(req(feed_server, "/flaky.xml")))
    assert isinstance(result, Fetched)
    assert len(feed_server.requests) == 3


def test_backoff_is_jittered_exponential_and_bounded(feed_server: FeedServer) -> None:
    """Backoff waits grow no faster than multiplier * 2**n and never exceed backoff_max."""
    clock = FakeMonotonic()
    run(
        fetch_one(
            req(feed_server, "/status/500"),
            clock,
            retries=3,
            backoff_multiplier=1.0,
            backoff_max=3.0,
        )
    )
    assert len(clock.sleeps) == 3
    for attempt, wait in enumerate(clock.sleeps, start=1):
        assert 0 <= wait <= min(3.0, 2**attempt)


def test_429_with_short_retry_after_waits_and_retries(feed_server: FeedServer) -> None:
    """429 + Retry-After: 2 → the fetcher asks to sleep 2 s, retries, and gets the feed."""
    feed_server.script("/limited.xml", Reply(429, headers={"Retry-After": "2"}))
    feed_server.put("/limited.xml", (DATA_DIR / "bbc_world.xml").read_bytes())
    clock = FakeMonotonic()
    result = run(fetch_one(req(feed_server, "/limited.xml"), clock))
    assert isinstance(result, Fetched)
    assert clock.waits == [2.0]
    assert len(feed_server.requests) == 2


def test_503_with_http_date_retry_after(feed_server: FeedServer) -> None:
    """Retry-After as an HTTP date is read against the server's Date header."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=12), usegmt=True)
    feed_server.script("/busy.xml", Reply(503, headers={"Retry-After": when}))
    feed_server.put("/busy.xml", (DATA_DIR / "bbc_world.xml").read_bytes())
    clock = FakeMonotonic()
    result = run(fetch_one(req(feed_server, "/busy.xml"), clock))
    assert isinstance(result, Fetched)
    (wait,) = clock.waits
    assert 9 <= wait <= 13


def test_429_with_long_retry_after_is_returned_not_slept(feed_server: FeedServer) -> None:
    """A Retry-After above 30 s is handed back for the scheduler: one request, no sleep."""
    clock = FakeMonotonic()
    result = run(fetch_one(req(feed_server, "/status/429?retry_after=3600"), clock))
    assert result == FetchFailed("HTTP 429 Too Many Requests", 429, 3600.0, True)
    assert len(feed_server.requests) == 1
    assert clock.sleeps == []


def test_429_retry_after_kept_when_retries_run_out(feed_server: FeedServer) -> None:
    """When short 429s never stop, the last failure still carries its Retry-After."""
    clock = FakeMonotonic()
    result = run(fetch_one(req(feed_server, "/status/429?retry_after=5"), clock, retries=2))
    assert result == FetchFailed("HTTP 429 Too Many Requests", 429, 5.0, True)
    assert clock.waits == [5.0, 5.0]
    assert len(feed_server.requests) == 3


# --- timeouts and transport errors ------------------------------------------------------------


def test_read_timeout(feed_server: FeedServer) -> None:
    """A server slower than the read timeout gives 'timed out after 0.2 s (read)'."""
    result = run(fetch_one(req(feed_server, "/slow?delay=2"), read_timeout=0.2, retries=0))
    assert result == FetchFailed("timed out after 0.2 s (read)", None, None, True)


def test_read_timeout_is_retried(feed_server: FeedServer) -> None:
    """A read timeout is transient: the slow route is requested 1 + retries times."""
    run(fetch_one(req(feed_server, "/slow?delay=2"), read_timeout=0.1, retries=1))
    assert len(feed_server.requests_to("/slow")) == 2


def test_total_deadline_stops_a_trickling_body(feed_server: FeedServer) -> None:
    """A body trickling faster than the read timeout is still cut off by the total deadline."""
    result = run(
        fetch_one(
            req(feed_server, "/trickle?chunks=50&interval=0.05"),
            read_timeout=1.0,
            total_timeout=0.3,
            retries=0,
        )
    )
    assert result == FetchFailed("timed out after 0.3 s (total)", None, None, True)


def test_connection_refused_is_transient_and_retried() -> None:
    """Nothing listening: 'connection refused', transient, retried."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clock = FakeMonotonic()
    result = run(fetch_one(FetchRequest("gone", f"http://127.0.0.1:{port}/feed"), clock, retries=2))
    assert result == FetchFailed("connection refused", None, None, True)
    assert len(clock.sleeps) == 2


def mock_fetcher(
    handler: Callable[[httpx.Request], httpx.Response], clock: FakeMonotonic, **overrides: Any
) -> Fetcher:
    """A Fetcher whose network is an httpx.MockTransport calling `handler`."""
    return Fetcher(
        settings(**overrides),
        clock=clock,
        sleep=clock.sleep,
        transport=httpx.MockTransport(handler),
    )


def test_tls_certificate_error_is_readable_and_final() -> None:
    """A certificate failure reads 'TLS error: certificate verify failed: …' and is not retried."""
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        cause = ssl.SSLCertVerificationError(
            1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
        )
        cause.verify_message = "self-signed certificate"
        raise httpx.ConnectError("certificate verify failed") from cause

    async def scenario() -> Fetched | NotModified | FetchFailed:
        async with mock_fetcher(handler, FakeMonotonic()) as fetcher:
            return await fetcher.fetch(FetchRequest("tls", "https://feeds.example.org/rss"))

    result = run(scenario())
    assert result == FetchFailed(
        "TLS error: certificate verify failed: self-signed certificate", None, None, False
    )
    assert len(calls) == 1


def test_remote_protocol_error_is_transient() -> None:
    """A server that hangs up mid-response is a transient 'protocol error'."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    async def scenario() -> Fetched | NotModified | FetchFailed:
        async with mock_fetcher(handler, FakeMonotonic(), retries=0) as fetcher:
            return await fetcher.fetch(FetchRequest("p", "https://feeds.example.org/rss"))

    assert run(scenario()) == FetchFailed(
        "protocol error: Server disconnected without sending a response.", None, None, True
    )


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("ftp://feeds.example.org/rss", "unsupported URL"),
        ("not a url", "invalid URL"),
        ("http://", "invalid URL"),
        ("https://xn--/", "invalid URL"),  # httpx itself raises IDNAError on this one
        ("http://127.0.0.1:99999/", "invalid URL"),
    ],
)
def test_bad_urls_fail_without_raising(url: str, error: str) -> None:
    """Unusable URLs come back as final FetchFailed values, never as exceptions."""
    result = run(fetch_one(FetchRequest("bad", url)))
    assert isinstance(result, FetchFailed) and not result.transient
    assert result.error.startswith(error)


def test_fetch_failed_converts_to_fetch_error() -> None:
    """FetchFailed.to_error gives the FetchError of the exception tree, status included."""
    error = FetchFailed("HTTP 404 Not Found", 404, None, False).to_error()
    assert isinstance(error, FetchError) and error.status == 404
    assert str(error) == "HTTP 404 Not Found"


# --- size cap and decompression bombs ---------------------------------------------------------


def test_oversized_body_stops_early_without_holding_it(feed_server: FeedServer) -> None:
    """A 50 MB body with no Content-Length is cut at the 1 MB cap; memory stays near the cap."""
    size = 50 * MIB
    tracemalloc.start()
    try:
        result = run(fetch_one(req(feed_server, f"/big?size={size}&length=0"), max_bytes=MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == FetchFailed("body larger than 1 MB", 200, None, False)
    assert peak < 8 * MIB  # the whole body would be 50 MB
    assert feed_server.bytes_sent["/big"] < size  # the server was cut off mid-stream


def test_declared_oversized_body_is_refused_before_reading(feed_server: FeedServer) -> None:
    """A Content-Length above the cap is refused from the headers alone."""
    result = run(fetch_one(req(feed_server, f"/big?size={20 * MIB}"), max_bytes=MIB))
    assert result == FetchFailed("body larger than 1 MB", 200, None, False)


def test_default_cap_message_says_10_mb(feed_server: FeedServer) -> None:
    """With default settings the message reads 'body larger than 10 MB'."""
    result = run(fetch_one(req(feed_server, f"/big?size={11 * MIB}&length=0")))
    assert result == FetchFailed("body larger than 10 MB", 200, None, False)


def test_gzip_bomb_is_stopped_by_the_ratio_check(feed_server: FeedServer) -> None:
    """A ~64 KB gzip that inflates to 64 MB stops just past 1 MB decoded: ratio above 100:1."""
    tracemalloc.start()
    try:
        result = run(fetch_one(req(feed_server, "/bomb.xml")))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == FetchFailed(
        "compressed body inflates more than 100:1 (decompression bomb?)", 200, None, False
    )
    assert peak < 6 * MIB


def test_gzip_bomb_is_stopped_by_the_size_cap_when_ratio_allows(feed_server: FeedServer) -> None:
    """With the ratio check relaxed, decoded bytes still count against max_bytes."""
    tracemalloc.start()
    try:
        result = run(
            fetch_one(req(feed_server, "/bomb.xml"), max_inflation_ratio=1e9, max_bytes=2 * MIB)
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result == FetchFailed("body larger than 2 MB", 200, None, False)
    assert peak < 8 * MIB  # httpx's own decoder would have inflated whole 64 KB chunks to 64 MB


def test_unsupported_or_corrupt_content_encoding(feed_server: FeedServer) -> None:
    """An encoding we did not ask for, or a corrupt gzip stream, fails readably and finally."""
    feed_server.script(
        "/odd.xml",
        Reply(200, body=b"xxxx", headers={"Content-Encoding": "br"}),
        Reply(200, body=b"definitely not gzip", headers={"Content-Encoding": "gzip"}),
    )
    first = run(fetch_one(req(feed_server, "/odd.xml")))
    second = run(fetch_one(req(feed_server, "/odd.xml")))
    assert first == FetchFailed("unsupported content encoding: br", 200, None, False)
    assert isinstance(second, FetchFailed) and not second.transient
    assert second.error.startswith("corrupt compressed body:")


# --- politeness and concurrency ---------------------------------------------------------------


def test_per_host_spacing_uses_the_injected_clock(feed_server: FeedServer) -> None:
    """Sequential fetches to one host wait `spacing` after the previous start; other hosts don't."""
    clock = FakeMonotonic()

    async def scenario() -> None:
        async with Fetcher(
            settings(per_host_spacing=1.5), clock=clock, sleep=clock.sleep
        ) as fetcher:
            for _ in range(3):
                await fetcher.fetch(req(feed_server, "/feeds/bbc_world.xml"))
            # A different host name is a different host: no wait for it.
            await fetcher.fetch(
                FetchRequest("other", feed_server.url("/feeds/bbc_world.xml", host="localhost"))
            )

    run(scenario())
    assert clock.waits == [1.5, 1.5]
    assert len(feed_server.requests) == 4


def test_per_host_spacing_credits_time_already_passed(feed_server: FeedServer) -> None:
    """If time has passed since the last start, only the remainder of the spacing is waited."""
    clock = FakeMonotonic()

    async def scenario() -> None:
        async with Fetcher(
            settings(per_host_spacing=1.0), clock=clock, sleep=clock.sleep
        ) as fetcher:
            await fetcher.fetch(req(feed_server, "/feeds/bbc_world.xml"))
            clock.now += 0.75
            await fetcher.fetch(req(feed_server, "/feeds/bbc_world.xml"))
            clock.now += 5
            await fetcher.fetch(req(feed_server, "/feeds/bbc_world.xml"))

    run(scenario())
    assert clock.waits == [pytest.approx(0.25)]


def test_concurrent_requests_to_one_host_queue_at_spacing_intervals(
    feed_server: FeedServer,
) -> None:
    """Four concurrent fetches to one host reserve starts at +0, +1, +2, +3 spacing."""
    clock = FakeMonotonic(advance=False)  # frozen: every wait is measured from the same instant

    async def scenario() -> None:
        async with Fetcher(
            settings(per_host_spacing=1.0, per_host_concurrency=4), clock=clock, sleep=clock.sleep
        ) as fetcher:
            await asyncio.gather(
                *(fetcher.fetch(req(feed_server, "/feeds/bbc_world.xml")) for _ in range(4))
            )

    run(scenario())
    assert sorted(clock.waits) == [1.0, 2.0, 3.0]


def test_global_concurrency_limit(feed_server: FeedServer) -> None:
    """With max_concurrency=3, the server never sees more than 3 requests at once."""

    async def scenario() -> None:
        async with Fetcher(settings(max_concurrency=3, per_host_concurrency=10)) as fetcher:
            await asyncio.gather(
                *(fetcher.fetch(req(feed_server, f"/slow?delay=0.1&n={i}")) for i in range(9))
            )

    run(scenario())
    assert len(feed_server.requests) == 9
    assert feed_server.max_in_flight == 3


def test_per_host_concurrency_limit(feed_server: FeedServer) -> None:
    """With 2 per host, each host name sees at most 2 at once while both run in parallel."""

    async def scenario() -> None:
        async with Fetcher(settings(max_concurrency=10, per_host_concurrency=2)) as fetcher:
            requests = [
                FetchRequest("s", feed_server.url(f"/slow?delay=0.1&n={i}", host=host))
                for i in range(5)
                for host in ("127.0.0.1", "localhost")
            ]
            await asyncio.gather(*(fetcher.fetch(r) for r in requests))

    run(scenario())
    assert feed_server.max_in_flight_for("127.0.0.1") == 2
    assert feed_server.max_in_flight_for("localhost") == 2
    assert feed_server.max_in_flight == 4


# --- private addresses ------------------------------------------------------------------------


def test_private_addresses_are_blocked_by_default(feed_server: FeedServer) -> None:
    """Without allow_private a loopback feed URL is refused before any request is sent."""
    result = run(fetch_one(req(feed_server, "/feeds/bbc_world.xml"), allow_private=False))
    assert isinstance(result, FetchFailed) and not result.transient
    assert result.error.startswith("blocked: 127.0.0.1 is a loopback address")
    assert feed_server.requests == []


def test_redirect_to_a_private_address_is_blocked() -> None:
    """A public feed that redirects to 127.0.0.1 is refused at the redirect hop."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://127.0.0.1:6379/"})

    async def scenario() -> Fetched | NotModified | FetchFailed:
        async with mock_fetcher(handler, FakeMonotonic(), allow_private=False) as fetcher:
            # A literal public address: the check needs no DNS.
            return await fetcher.fetch(FetchRequest("r", "http://93.184.215.14/feed.xml"))

    result = run(scenario())
    assert isinstance(result, FetchFailed) and not result.transient
    assert "127.0.0.1 is a loopback address" in result.error
    assert seen == ["http://93.184.215.14/feed.xml"]


# --- lifecycle --------------------------------------------------------------------------------


def test_aclose_closes_the_shared_client() -> None:
    """`async with` closes the one shared httpx client on exit."""

    async def scenario() -> None:
        async with Fetcher(settings()) as fetcher:
            pass
        # Using a closed client is a programming error, so it raises instead of failing softly.
        with pytest.raises(RuntimeError, match="closed"):
            await fetcher.fetch(FetchRequest("x", "http://127.0.0.1:9/"))

    run(scenario())


def test_many_failures_never_raise(feed_server: FeedServer) -> None:
    """A mixed batch of bad sources all come back as values; fetch() raises for none of them."""
    paths = ["/status/404", "/status/500", "/status/429?retry_after=999", "/bomb.xml", "/nope"]

    async def scenario() -> list[Fetched | NotModified | FetchFailed]:
        clock = FakeMonotonic()
        async with Fetcher(settings(retries=1), clock=clock, sleep=clock.sleep) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(req(feed_server, p)) for p in paths))

    results = run(scenario())
    assert all(isinstance(r, FetchFailed) for r in results)
    assert all("\n" not in r.error for r in results if isinstance(r, FetchFailed))


# --- request headers, error bodies and secrets (news-API adapters need these) ----------------


def test_request_headers_are_sent_and_override_ours(feed_server: FeedServer) -> None:
    """FetchRequest.headers go out with the request; an Accept given there replaces ours."""
    headers = {"X-Api-Key": "secret-123", "Accept": "application/json"}
    result = run(fetch_one(req(feed_server, "/feeds/bbc_world.xml", headers=headers)))
    assert isinstance(result, Fetched)
    (seen,) = feed_server.requests
    assert seen.headers["x-api-key"] == "secret-123"
    assert seen.headers["accept"] == "application/json"


def test_request_repr_hides_header_values_and_url_keys() -> None:
    """repr(FetchRequest) names header keys only and redacts api-key in the URL."""
    request = FetchRequest(
        "guardian",
        "https://content.guardianapis.com/search?q=x&api-key=SECRET&apiKey=SECRET2",
        headers={"X-Api-Key": "SECRET3"},
    )
    text = repr(request)
    assert "SECRET" not in text
    assert "api-key=***" in text and "apiKey=***" in text and "X-Api-Key" in text


def test_redact_url_hides_key_values_only() -> None:
    """redact_url replaces key-like query values and leaves the rest of the URL alone."""
    assert (
        redact_url("https://h/search?q=nato&api-key=abc-123&page=2")
        == "https://h/search?q=nato&api-key=***&page=2"
    )
    assert (
        redact_url("'https://h/v2/everything?apiKey=abc'") == "'https://h/v2/everything?apiKey=***'"
    )
    assert redact_url("https://h/keyboard?monkey=1") == "https://h/keyboard?monkey=1"


def test_error_body_is_kept_for_the_caller(feed_server: FeedServer) -> None:
    """A 4xx keeps its body so an API adapter can read the error code in it."""
    body = b'{"status":"error","code":"apiKeyInvalid","message":"Your API key is invalid."}'
    feed_server.script("/v2/everything", Reply(401, body, {"Content-Type": "application/json"}))
    result = run(fetch_one(req(feed_server, "/v2/everything")))
    assert isinstance(result, FetchFailed) and result.status == 401
    assert result.body == body
    assert "apiKeyInvalid" not in repr(result)  # bodies stay out of log lines


def test_gzipped_error_body_is_decoded(feed_server: FeedServer) -> None:
    """An error body sent gzip-encoded comes back inflated."""
    text = b"Please limit requests to one every 5 seconds."
    feed_server.script(
        "/api/v2/doc/doc",
        Reply(429, gzip.compress(text), {"Content-Encoding": "gzip", "Content-Type": "text/plain"}),
    )
    result = run(fetch_one(req(feed_server, "/api/v2/doc/doc", retry_rate_limited=False)))
    assert isinstance(result, FetchFailed) and result.body == text


def test_error_body_is_capped_at_64_kib(feed_server: FeedServer) -> None:
    """A huge error page is cut at 64 KiB rather than read whole."""
    feed_server.script("/huge-error", Reply(500, b"x" * (300 * 1024)))
    result = run(fetch_one(req(feed_server, "/huge-error"), retries=0))
    assert isinstance(result, FetchFailed) and result.body is not None
    assert len(result.body) == 64 * 1024


def test_429_is_not_retried_when_the_request_says_so(feed_server: FeedServer) -> None:
    """retry_rate_limited=False: a 429 (even with a short Retry-After) comes back at once."""
    clock = FakeMonotonic()
    request = req(feed_server, "/status/429?retry_after=2", retry_rate_limited=False)
    result = run(fetch_one(request, clock, retries=3))
    assert result == FetchFailed("HTTP 429 Too Many Requests", 429, 2.0, True)
    assert len(feed_server.requests) == 1
    assert clock.sleeps == []


def test_api_keys_never_reach_error_texts_or_logs(
    feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Keys in a query string are *** in retry logs, debug logs and error messages."""
    caplog.set_level(logging.DEBUG, logger="signalwatch.fetch")
    clock = FakeMonotonic()
    failed = run(fetch_one(req(feed_server, "/status/503?api-key=SECRETKEY"), clock, retries=1))
    ok = run(fetch_one(req(feed_server, "/feeds/bbc_world.xml?apiKey=SECRETKEY")))
    bad = run(fetch_one(FetchRequest("g", "ftp://h/search?api-key=SECRETKEY")))
    assert isinstance(failed, FetchFailed) and isinstance(ok, Fetched)
    assert isinstance(bad, FetchFailed) and "api-key=***" in bad.error
    assert "retrying" in caplog.text and "fetched" in caplog.text
    assert "SECRETKEY" not in caplog.text
    assert "SECRETKEY" not in failed.error + bad.error
