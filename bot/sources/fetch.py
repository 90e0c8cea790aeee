"""Fetch feed bodies over HTTP: the only I/O in `bot.sources`.

    fetch(FetchRequest(url, etag, last_modified))
      = retry transient failures (tenacity: jittered exponential backoff; short Retry-After obeyed)
          host semaphore → global semaphore → wait out per-host spacing
          GET + If-None-Match / If-Modified-Since, within connect/read timeouts and a total deadline
          connected       → the peer address must be public too (DNS rebinding), before any
                            byte of the body is read
          3xx + Location  → check the target (sane URL, not private) and GET it, ≤ max_redirects
          304             → NotModified(max_age)
          2xx             → stream the body, inflating it ourselves with a bounded buffer,
                            stop past max_bytes or past a 100:1 inflation ratio → Fetched(body, …)
          429, 5xx        → FetchFailed(transient=True, retry_after)      retried (429: unless
                                                                           retry_rate_limited=False)
          other status    → FetchFailed(transient=False)                   final
                            (4xx/5xx keep ≤ 64 KiB of their body: APIs explain errors there)
          transport error → FetchFailed(readable one line, transient)      retried when transient

`fetch()` never raises for network or HTTP trouble: the scheduler gets a value it can store
and back off on. Bugs (and cancellation) still raise.

Secrets: a request's `headers` (news-API keys) are sent but never logged or repr'd, and
`api-key` / `apiKey` values in a URL's query string are shown as `***` in every log line and
error text the fetcher writes (`redact_url`).

Why we inflate gzip ourselves instead of using httpx's `aiter_bytes`: httpx inflates each
network chunk in one unbounded `zlib.decompress` call, so 64 KB of gzipped zeros becomes 64 MB
in memory before we can count a byte. We read `aiter_raw` and inflate at most 64 KB at a time,
so the size cap and the ratio check act before memory does. We only advertise gzip and deflate.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import socket
import ssl
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Self, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, stop_after_attempt
from tenacity.wait import wait_random_exponential

from bot.errors import FetchError
from bot.sources.fetch_values import (
    DEFAULT_USER_AGENT,
    Fetched,
    FetchFailed,
    FetchRequest,
    FetchResult,
    FetchSettings,
    NotModified,
    parse_max_age,
    parse_retry_after,
    redact_url,
)
from bot.sources.safety import check_url_allowed_async
from bot.sources.transport import aiohttp_transport, describe_aiohttp_error

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchFailed",
    "FetchRequest",
    "FetchResult",
    "FetchSettings",
    "Fetched",
    "Fetcher",
    "NotModified",
    "parse_max_age",
    "parse_retry_after",
    "redact_url",
]

log = logging.getLogger("signalwatch.fetch")

_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9,"
    " application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
_MIB = 1024 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_E = TypeVar("_E", bound=BaseException)
_INFLATE_STEP = 64 * 1024  # most bytes one inflate call may produce
ERROR_BODY_LIMIT = 64 * 1024  # most bytes of a 4xx/5xx body kept for the caller to read


@dataclass(slots=True)
class _Host:
    """Per-host politeness state: how many requests may run, and when the next may start."""

    semaphore: asyncio.Semaphore
    next_start: float = -math.inf


class _Refused(Exception):
    """Internal: stop reading a body and report this failure."""

    def __init__(self, failure: FetchFailed) -> None:
        super().__init__(failure.error)
        self.failure = failure


_DRAIN_LIMIT = 64 * 1024


async def _error_body(response: httpx.Response) -> bytes | None:
    """Return at most ERROR_BODY_LIMIT decoded bytes of an error response's body, or None.

    APIs explain their errors in the body (NewsAPI's JSON `code`, GDELT's plain-text 429), so
    the caller gets its start; past the limit we stop reading, and the connection is closed
    rather than reused. A body we cannot decode is no explanation: None.
    """
    chunks: list[bytes] = []
    size = 0
    try:
        inflater = _Inflater.for_response(response)
        async for raw in response.aiter_raw():
            for piece in inflater.feed(raw) if inflater is not None else (raw,):
                chunks.append(piece[: ERROR_BODY_LIMIT - size])
                size += len(chunks[-1])
                if size >= ERROR_BODY_LIMIT:
                    return b"".join(chunks)
        if inflater is not None:
            chunks.append(inflater.finish()[: ERROR_BODY_LIMIT - size])
    except (_Refused, httpx.HTTPError, httpx.StreamError):
        return None
    return b"".join(chunks)


async def _drain(response: httpx.Response) -> None:
    """Read a small body to its end so the connection goes back to the pool for reuse.

    A response left unread is closed instead, and the next request to that host pays a new
    connection (and TLS handshake). A body past the limit is not worth reading: it is closed.
    """
    read = 0
    try:
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read > _DRAIN_LIMIT:
                break
    except (httpx.HTTPError, httpx.StreamError):
        pass  # gone or already read: either way the status we have still stands


class Fetcher:
    """Fetch feeds through one shared httpx client, politely, with retries and limits.

    `clock` and `sleep` drive per-host spacing, retry waits and `elapsed`; tests pass fakes so
    nothing really waits. `transport` replaces the network (httpx.MockTransport in tests).
    Politeness is keyed by the host of the feed URL: redirect hops run inside that host's slot,
    and `total_timeout` caps each attempt (retries get their own), not the whole call.
    """

    def __init__(
        self,
        settings: FetchSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings = settings if settings is not None else FetchSettings()
        self._clock = clock
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": settings.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
            timeout=httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.connect_timeout,
            ),
            limits=httpx.Limits(
                max_connections=settings.max_concurrency,
                max_keepalive_connections=settings.max_concurrency,
            ),
            # We follow redirects ourselves: each hop's target is checked (URL sanity, private
            # addresses) before httpx builds a request for it, which it cannot do safely itself.
            follow_redirects=False,
            trust_env=settings.trust_env,
            # aiohttp's pool underneath, its resolver refusing private addresses (see
            # bot/sources/transport.py); tests may inject a transport of their own.
            transport=transport
            if transport is not None
            else aiohttp_transport(
                max_connections=settings.max_concurrency, allow_private=settings.allow_private
            ),
        )
        self._global = asyncio.Semaphore(settings.max_concurrency)
        self._hosts: dict[str, _Host] = {}
        # Without an injected transport, the resolver judges every address a connection may
        # use (DNS rebinding); a MockTransport has no socket to judge: the name check only.
        self._backoff = wait_random_exponential(
            multiplier=settings.backoff_multiplier, max=settings.backoff_max
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the shared HTTP client and its connections."""
        await self._client.aclose()

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """Fetch one feed; network and HTTP trouble come back as FetchFailed, never raised."""
        try:
            url = _checked_url(request.url)
        except _Refused as refused:
            return replace(refused.failure, error=redact_url(refused.failure.error))
        # The first attempt goes straight: the retry machinery (tenacity) costs as much CPU as
        # a 304 itself, and is built only when that attempt asks for a retry. It then replays
        # the first result as its attempt 1, so waits, logs and the attempt count are as if
        # it had run from the start.
        result: FetchResult = await self._attempt(request, url)
        if self.settings.retries > 0 and self._should_retry(request, result):
            replay: list[FetchResult] = [result]

            async def attempt() -> FetchResult:
                return replay.pop() if replay else await self._attempt(request, url)

            retrying = AsyncRetrying(
                stop=stop_after_attempt(self.settings.retries + 1),
                wait=self._wait,
                retry=retry_if_result(lambda result: self._should_retry(request, result)),
                retry_error_callback=_last_result,
                before_sleep=lambda state: _log_retry(request, state),
                sleep=self._sleep,
            )
            result = await retrying(attempt)
        if isinstance(result, FetchFailed):
            # Error texts quote URLs (bad redirects, invalid URLs): never with a key in them.
            result = replace(result, error=redact_url(result.error))
        return result

    # --- retry policy -------------------------------------------------------------------------

    def _should_retry(self, request: FetchRequest, result: FetchResult) -> bool:
        if not isinstance(result, FetchFailed) or not result.transient:
            return False
        if result.status == HTTPStatus.TOO_MANY_REQUESTS and not request.retry_rate_limited:
            return False
        # A long Retry-After is the server asking for minutes or hours: we would hold a task
        # (and the caller) that long. Hand it back so the scheduler backs the source off.
        return result.retry_after is None or result.retry_after <= self.settings.max_retry_after

    def _wait(self, state: RetryCallState) -> float:
        backoff = float(self._backoff(state))
        result = state.outcome.result() if state.outcome is not None else None
        if isinstance(result, FetchFailed) and result.retry_after is not None:
            return max(backoff, result.retry_after)
        return backoff

    # --- one attempt --------------------------------------------------------------------------

    async def _attempt(self, request: FetchRequest, url: httpx.URL) -> FetchResult:
        host = self._hosts.get(url.host)
        if host is None:
            host = self._hosts[url.host] = _Host(
                asyncio.Semaphore(self.settings.per_host_concurrency)
            )
        # Host slot before global slot: a busy host queues on its own semaphore instead of
        # holding global slots that requests to other hosts could use.
        async with host.semaphore, self._global:
            await self._keep_spacing(host)
            # Last, right before the request leaves: a caller's pacing slot (a news API's)
            # is taken after any wait for the host, so the host's queue cannot delay it.
            if request.before_attempt is not None:
                await request.before_attempt()
            started = self._clock()
            total = self.settings.total_timeout
            try:
                async with asyncio.timeout(total) as deadline:
                    return await self._get(request, url, started)
            except TimeoutError:
                if not deadline.expired():
                    raise
                return FetchFailed(f"timed out after {total:g} s (total)", None, None, True)
            except _Refused as refused:
                return refused.failure
            except FetchError as exc:  # the private-address check, on any hop
                # A lost connection may work next time; a private address will not, and
                # a failed DNS lookup is left to the scheduler's backoff (see below).
                cause = exc.__cause__
                transient = isinstance(cause, OSError) and not isinstance(cause, socket.gaierror)
                return FetchFailed(str(exc), None, None, transient)
            except httpx.RequestError as exc:  # transport errors
                error, transient = self._describe(exc)
                return FetchFailed(error, None, None, transient)
            except UnicodeError as exc:
                # Even with follow_redirects off, httpx builds the next request from a
                # Location header and raises IDNAError for a malformed host name there.
                return _final(f"bad redirect: invalid host name ({_one_line(str(exc))})")

    async def _keep_spacing(self, host: _Host) -> None:
        # Reserve a start time before sleeping, so concurrent requests to one host queue up
        # at `spacing` intervals instead of all waking at the same moment.
        spacing = self.settings.per_host_spacing
        now = self._clock()
        start = max(now, host.next_start)
        host.next_start = start + spacing
        if start > now:
            await self._sleep(start - now)

    async def _get(self, request: FetchRequest, url: httpx.URL, started: float) -> FetchResult:
        headers = dict(request.headers or {})
        if request.etag:
            headers["If-None-Match"] = request.etag
        if request.last_modified:
            headers["If-Modified-Since"] = request.last_modified
        for _hop in range(self.settings.max_redirects + 1):
            if not self.settings.allow_private:
                await check_url_allowed_async(str(url), allow_private=False)
            async with self._client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                location = response.headers.get("location")
                if status in _REDIRECTS and location is not None:
                    await _drain(response)
                    url = _redirect_target(response, location)
                    continue
                max_age = parse_max_age(
                    response.headers.get("cache-control"), response.headers.get("age")
                )
                if status == HTTPStatus.NOT_MODIFIED:
                    await _drain(response)
                    return NotModified(status, max_age)
                if not 200 <= status < 300:
                    failure = self._http_failure(response)
                    return replace(failure, body=await _error_body(response))
                body = await self._read_body(response)
                log.debug("fetched %s: %d bytes", redact_url(str(url)), len(body))
                return Fetched(
                    status=status,
                    body=body,
                    etag=response.headers.get("etag"),
                    last_modified=response.headers.get("last-modified"),
                    content_type=response.headers.get("content-type"),
                    final_url=str(response.url),
                    max_age=max_age,
                    elapsed=self._clock() - started,
                )
        limit = self.settings.max_redirects
        return FetchFailed(f"too many redirects (more than {limit})", None, None, False)

    def _http_failure(self, response: httpx.Response) -> FetchFailed:
        status = response.status_code
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = response.reason_phrase or "Unknown Status"
        retry_after = None
        if status in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
            retry_after = parse_retry_after(
                response.headers.get("retry-after"), now=_server_now(response)
            )
        transient = status >= 500 or status == HTTPStatus.TOO_MANY_REQUESTS
        return FetchFailed(f"HTTP {status} {phrase}", status, retry_after, transient)

    async def _read_body(self, response: httpx.Response) -> bytes:
        settings = self.settings
        limit = settings.max_bytes
        too_large = FetchFailed(
            f"body larger than {_size(limit)}", response.status_code, None, False
        )
        inflater = _Inflater.for_response(response)
        declared = response.headers.get("content-length", "")
        # Without content coding the declared length is the body length: refuse before reading.
        if inflater is None and declared.isdigit() and int(declared) > limit:
            raise _Refused(too_large)
        chunks: list[bytes] = []
        size = 0
        async for raw in response.aiter_raw():
            for piece in inflater.feed(raw) if inflater is not None else (raw,):
                size += len(piece)
                if size > limit:
                    raise _Refused(too_large)
                if inflater is not None and self._is_bomb(size, inflater.consumed):
                    ratio = f"{settings.max_inflation_ratio:g}:1"
                    raise _Refused(
                        FetchFailed(
                            f"compressed body inflates more than {ratio} (decompression bomb?)",
                            response.status_code,
                            None,
                            False,
                        )
                    )
                chunks.append(piece)
        if inflater is not None:
            tail = inflater.finish()
            size += len(tail)
            if size > limit:
                raise _Refused(too_large)
            chunks.append(tail)
        return b"".join(chunks)

    def _is_bomb(self, decoded: int, compressed: int) -> bool:
        settings = self.settings
        return (
            decoded > settings.inflation_check_after
            and decoded > settings.max_inflation_ratio * max(compressed, 1)
        )

    # --- errors -------------------------------------------------------------------------------

    def _describe(self, exc: httpx.RequestError) -> tuple[str, bool]:
        """Return a readable one-line reason for a transport error, and whether it is transient."""
        s = self.settings
        message = _one_line(str(exc)) or type(exc).__name__
        match describe_aiohttp_error(exc):
            case "connect":
                return f"timed out after {s.connect_timeout:g} s (connect)", True
            case "read":
                return f"timed out after {s.read_timeout:g} s (read)", True
            case "lost":
                return f"connection lost: {message}", True
            case "connecting":
                return _describe_connect_error(exc, message)
        match exc:
            case httpx.ConnectTimeout():
                return f"timed out after {s.connect_timeout:g} s (connect)", True
            case httpx.ReadTimeout():
                return f"timed out after {s.read_timeout:g} s (read)", True
            case httpx.WriteTimeout():
                return f"timed out after {s.read_timeout:g} s (write)", True
            case httpx.PoolTimeout():
                return f"timed out after {s.connect_timeout:g} s (waiting for a connection)", True
            case httpx.UnsupportedProtocol():
                return f"unsupported URL: {message}", False
            case httpx.RemoteProtocolError() if "location header" in message.lower():
                return f"bad redirect: {message}", False
            case httpx.RemoteProtocolError():
                return f"protocol error: {message}", True
            case httpx.LocalProtocolError():
                return f"invalid request: {message}", False
            case httpx.ConnectError():
                return _describe_connect_error(exc, message)
            case httpx.ReadError() | httpx.WriteError():
                return f"connection lost: {message}", True
            case _:
                return f"network error: {message}", True


def _checked_url(text: str) -> httpx.URL:
    """Return `text` as an httpx URL, or raise _Refused if httpx could not safely request it."""
    # httpx raises outside its own exception tree for some bad URLs (IDNAError for a
    # malformed name while building the request, OverflowError for port 99999 while
    # connecting), so anything it would choke on is refused here, before it sees it.
    try:
        url = httpx.URL(text)
        host, port, scheme = url.host, url.port, url.scheme
    except (httpx.InvalidURL, ValueError) as exc:
        raise _Refused(_final(f"invalid URL: {_one_line(str(exc))}")) from None
    if not scheme:
        raise _Refused(_final(f"invalid URL: {text!r} is not an absolute http(s) URL"))
    if scheme not in ("http", "https"):
        raise _Refused(_final(f"unsupported URL scheme '{scheme}' in {text!r}"))
    if not host:
        raise _Refused(_final(f"invalid URL: no host in {text!r}"))
    if port is not None and not 0 < port < 65536:
        raise _Refused(_final(f"invalid URL: port {port} out of range"))
    return url


def _redirect_target(response: httpx.Response, location: str) -> httpx.URL:
    """Return where a redirect points, checked like a feed URL; raise _Refused if unusable."""
    try:
        target = str(response.url.join(location.strip()))
    except (httpx.InvalidURL, ValueError) as exc:
        raise _Refused(_final(f"bad redirect to {location!r}: {_one_line(str(exc))}")) from None
    try:
        return _checked_url(target)
    except _Refused as refused:
        raise _Refused(_final(f"bad redirect: {refused.failure.error}")) from None


def _final(error: str) -> FetchFailed:
    return FetchFailed(error, None, None, False)


def _describe_connect_error(exc: httpx.RequestError, message: str) -> tuple[str, bool]:
    # httpx's own message is often just "All connection attempts failed"; the real reason is
    # further down the chain (anyio tries each address and chains the last error).
    tls = _find_cause(exc, ssl.SSLError)
    if tls is not None:
        # A bad certificate does not fix itself in seconds: final, the scheduler backs off.
        if isinstance(tls, ssl.SSLCertVerificationError) and tls.verify_message:
            return f"TLS error: certificate verify failed: {tls.verify_message}", False
        return f"TLS error: {_one_line(str(tls.reason or tls))}", False
    if _find_cause(exc, ConnectionRefusedError) is not None or "refused" in message.lower():
        return "connection refused", True
    dns = _find_cause(exc, socket.gaierror)
    if dns is not None:
        # Not retried within the poll: offline, or a name that does not exist, stays so for
        # the seconds retries span; the scheduler's backoff tries again later.
        return f"DNS lookup failed: {_one_line(dns.strerror or str(dns))}", False
    cause = _find_cause(exc, OSError)
    if cause is not None and cause.strerror:
        return f"connection failed: {_one_line(cause.strerror)}", True
    return f"connection failed: {message}", True


def _find_cause(exc: BaseException, kind: type[_E]) -> _E | None:
    """Return the first exception of `kind` in exc's cause/context chain (and groups), or None."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)
    return None


class _Inflater:
    """Inflate gzip/deflate in bounded steps, counting the compressed bytes consumed."""

    def __init__(self, wbits: int | None) -> None:
        # wbits None: "deflate", whose framing (zlib or raw) we learn from the first bytes.
        self._wbits = wbits
        self._zlib: zlib._Decompress | None = None if wbits is None else zlib.decompressobj(wbits)
        self.consumed = 0

    @classmethod
    def for_response(cls, response: httpx.Response) -> _Inflater | None:
        """Return an inflater for the response's Content-Encoding, None for identity."""
        codings = [
            c.strip().lower()
            for c in response.headers.get("content-encoding", "").split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        if not codings:
            return None
        if len(codings) == 1 and codings[0] in ("gzip", "x-gzip"):
            return cls(zlib.MAX_WBITS | 16)
        if len(codings) == 1 and codings[0] == "deflate":
            return cls(None)
        raise _Refused(
            FetchFailed(
                f"unsupported content encoding: {', '.join(codings)}",
                response.status_code,
                None,
                False,
            )
        )

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Yield the inflated bytes of `data`, at most 64 KB at a time."""
        if self._zlib is None:
            # "deflate" should be zlib-wrapped (RFC 9110) but servers send raw deflate too.
            zlib_header = (
                len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            )
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        inflater = self._zlib
        pending = data
        while True:
            try:
                out = inflater.decompress(pending, _INFLATE_STEP)
            except zlib.error as exc:
                raise _Refused(
                    FetchFailed(f"corrupt compressed body: {exc}", None, None, False)
                ) from None
            self.consumed += len(pending) - len(inflater.unconsumed_tail)
            pending = inflater.unconsumed_tail
            if out:
                yield out
            # A full step may leave output inside zlib even with no input left: ask again.
            if inflater.eof or (not pending and len(out) < _INFLATE_STEP):
                return

    def finish(self) -> bytes:
        """Return whatever zlib still holds once the input has ended."""
        if self._zlib is None:
            return b""
        try:
            return self._zlib.flush(_INFLATE_STEP)
        except zlib.error as exc:
            raise _Refused(
                FetchFailed(f"corrupt compressed body: {exc}", None, None, False)
            ) from None


def _corrupt(exc: zlib.error) -> FetchFailed:
    return FetchFailed(f"corrupt compressed body: {exc}", None, None, False)


def _last_result(state: RetryCallState) -> FetchResult:
    # Out of attempts: hand back the last failure itself rather than tenacity's RetryError.
    assert state.outcome is not None
    result: FetchResult = state.outcome.result()
    return result


def _log_retry(request: FetchRequest, state: RetryCallState) -> None:
    result = state.outcome.result() if state.outcome is not None else None
    error = redact_url(result.error) if isinstance(result, FetchFailed) else "?"
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    # DEBUG: a retry that works is routine; the poll's one failure line tells the rest.
    log.debug(
        "retrying %s (%s) in %.1f s after attempt %d: %s",
        request.source_id,
        redact_url(request.url),
        wait,
        state.attempt_number,
        error,
    )


def _server_now(response: httpx.Response) -> datetime:
    # Read an HTTP-date Retry-After against the server's own clock (its Date header), so our
    # clock's skew does not change the wait; fall back to ours.
    date = response.headers.get("date")
    if date:
        try:
            parsed = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            pass
        else:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _size(n: int) -> str:
    if n >= _MIB:
        return f"{n // _MIB} MB" if n % _MIB == 0 else f"{n / _MIB:.1f} MB"
    if n >= 1024:
        return f"{n // 1024} KB" if n % 1024 == 0 else f"{n / 1024:.1f} KB"
    return f"{n} bytes"


def _one_line(text: str) -> str:
    return " ".join(text.split())
