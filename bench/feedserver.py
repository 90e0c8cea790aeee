"""A local HTTP feed server for tests and benchmarks (aiohttp on 127.0.0.1, in its own thread).

It runs its own event loop in a background thread, so synchronous tests, `asyncio.run` tests
and benchmarks can all use it. It lives in bench/ and imports no pytest, so the benchmarks run
with the `bench` extra alone; tests import it as `feedserver` (tests/feedserver.py re-exports
it beside the `feed_server` fixture: `pytest_plugins = ["feedserver"]` in a test module). Or use
the class directly:

    with FeedServer() as server:
        url = server.url("/feeds/bbc_world.xml")

Routes (every response's request is recorded in `server.requests`):

    /feeds/{file}                 files in tests/data/feeds, ETag + Last-Modified, 304 on match
    /gzip/{file}, /deflate/{file} the same file content-coded (`?raw=1`: raw deflate)
    /status/{code}                that status; `?retry_after=…` adds Retry-After
    /slow?delay=S                 waits S seconds before sending headers (read timeouts)
    /trickle?chunks=N&interval=S  sends headers, then a chunk every S seconds (total deadline)
    /big?size=N                   streams an N-byte feed-looking body in 64 KB chunks, never built
                                  whole; `?length=0` omits Content-Length. Bytes really sent are
                                  in `server.bytes_sent["/big"]`.
    /bomb.xml                     a small gzip body that inflates to `bomb_size` zero bytes
    /redirect?to=PATH&hops=N      N 302 hops, then PATH
    /gen/{i}.xml                  synthetic feed i of `gen_feeds`, `gen_entries` items, stable ETag
    /real/{i}.xml                 the same, its items drawn from `gen_stories` (a StoryMix: real
                                  headlines, few of them hits, each carried by several feeds)

Programmable, taking precedence over the routes above:

    server.put(path, body, …)            a static document with validators and 304s
    server.live(path) -> LiveFeed        an RSS feed that tests change between polls
    server.script(path, Reply(...), …)   canned replies, one per request, then normal routing

`server.live_delay = S` makes every live feed wait S seconds before answering, so that two
clients fetching one feed at once overlap visibly in `server.spans`: (path, start, end) of
every finished request (time.monotonic(); a request whose client hung up ends when it did).

`?max_age=N` on /feeds, /gzip, /deflate, /gen and put/live paths adds Cache-Control: max-age=N.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import threading
import time
import zlib
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Self
from xml.sax.saxutils import escape

from aiohttp import web

__all__ = [
    "DATA_DIR",
    "MIB",
    "FeedServer",
    "LiveFeed",
    "LiveItem",
    "RecordedRequest",
    "Reply",
    "StoryMix",
    "ThreadedServer",
]

DATA_DIR = Path(__file__).resolve().parent.parent / "tests" / "data" / "feeds"
MIB = 1024 * 1024
_CHUNK = 64 * 1024
# Fixed so that validators are identical from run to run (benchmarks compare 304 rates).
_EPOCH = datetime(2025, 6, 25, 12, 0, tzinfo=UTC)

_CONTENT_TYPES = {
    ".json": "application/feed+json",
    ".atom": "application/atom+xml; charset=utf-8",
    ".rdf": "application/rdf+xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".xml": "application/rss+xml; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it; header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    host: str  # host name from the Host header, without the port
    at: float  # time.monotonic() on arrival


@dataclass(frozen=True, slots=True)
class Reply:
    """A canned response for `FeedServer.script`."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before sending headers


@dataclass(slots=True)
class LiveItem:
    """One item of a LiveFeed."""

    guid: str
    title: str
    link: str
    summary: str
    published: datetime


class LiveFeed:
    """An RSS 2.0 feed that changes between polls: new items, new GUIDs, new dates."""

    def __init__(self, title: str = "Live wire", link: str = "https://live.example.com/") -> None:
        self.title = title
        self.link = link
        self.items: list[LiveItem] = []
        self.version = 0  # bumped on every change; part of the ETag
        self._serial = 0
        self._lock = threading.Lock()

    def add_items(self, n: int = 1, *, title: str = "Wire update") -> list[LiveItem]:
        """Add `n` new items at the top (newest first) and return them."""
        with self._lock:
            new = []
            for _ in range(n):
                self._serial += 1
                k = self._serial
                new.append(
                    LiveItem(
                        guid=f"live-{k}",
                        title=f"{title} {k}",
                        link=f"{self.link.rstrip('/')}/story/{k}",
                        summary=f"<p>Details of {escape(title.lower())} number {k}.</p>",
                        published=_EPOCH + timedelta(minutes=k),
                    )
                )
            self.items[:0] = reversed(new)
            self.version += 1
            return new

    def change_guids(self, suffix: str = "-republished") -> None:
        """Give every current item a new GUID, as a CMS migration does; titles and links stay."""
        with self._lock:
            for item in self.items:
                item.guid += suffix
            self.version += 1

    def redate(self, delta: timedelta) -> None:
        """Shift every current item's pubDate by `delta` (outlets re-date old stories)."""
        with self._lock:
            for item in self.items:
                item.published += delta
            self.version += 1

    def render(self) -> bytes:
        """Return the feed as RSS 2.0 bytes."""
        with self._lock:
            return _rss(self.title, self.link, self.items)


class ThreadedServer:
    """An aiohttp app on a free port of 127.0.0.1, served from an event loop in its own thread,
    so sync and asyncio tests can both use it. Subclasses build the app in `make_app`."""

    thread_name = "testserver"
    # handler_cancellation: a client that gives up (timeout tests) cancels the slow handler,
    # so the server never waits on it at shutdown.
    handler_cancellation = False

    def __init__(self) -> None:
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def make_app(self) -> web.Application:
        """The application to serve."""
        raise NotImplementedError

    def start(self) -> None:
        """Start serving on a free port of 127.0.0.1."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=self.thread_name, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        asyncio.run_coroutine_threadsafe(self._start(), loop).result(timeout=10)

    def stop(self) -> None:
        """Stop serving and join the server thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), loop).result(timeout=10)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def _start(self) -> None:
        self._runner = web.AppRunner(
            self.make_app(),
            access_log=None,
            handler_cancellation=self.handler_cancellation,
            shutdown_timeout=0.5,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class FeedServer(ThreadedServer):
    """A programmable feed server on 127.0.0.1 with a request log. Start, use `url()`, stop."""

    thread_name = "feedserver"
    handler_cancellation = True

    def __init__(
        self,
        data_dir: Path = DATA_DIR,
        *,
        bomb_size: int = 64 * MIB,
        gen_feeds: int = 1000,
        gen_entries: int = 20,
        gen_stories: StoryMix | None = None,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.bomb_size = bomb_size
        self.gen_feeds = gen_feeds
        self.gen_entries = gen_entries
        self.gen_stories = gen_stories
        self.gen_version = 0  # bump to add one new item to every /gen feed
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self._requests: list[RecordedRequest] = []
        self._spans: list[tuple[str, float, float]] = []
        self.live_delay = 0.0  # seconds every live feed waits before it answers
        self._in_flight: dict[str, int] = defaultdict(int)
        self._max_in_flight: dict[str, int] = defaultdict(int)
        self._in_flight_total = 0
        self._max_in_flight_total = 0
        self._docs: dict[str, _Doc] = {}
        self._live: dict[str, tuple[LiveFeed, int | None]] = {}
        self._scripts: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._bomb = b""

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving on a free port of 127.0.0.1."""
        self._bomb = _gzip_zeros(self.bomb_size)  # built once per size, then cached
        super().start()

    def make_app(self) -> web.Application:
        """Every path goes to `_route`, which serves data files, live and generated feeds."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self._route)
        return app

    # --- addresses and the request log --------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server's root URL, http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str, *, host: str = "127.0.0.1") -> str:
        """Return the absolute URL of `path`; host="localhost" reaches the same server by name."""
        return f"http://{host}:{self.port}{path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def spans(self) -> list[tuple[str, float, float]]:
        """(path, start, end) of every request handled so far, in the order they ended."""
        with self._lock:
            return list(self._spans)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received for `path` (query string ignored)."""
        return [r for r in self.requests if r.path == path]

    def clear(self) -> None:
        """Forget recorded requests, concurrency peaks and byte counts."""
        with self._lock:
            self._requests.clear()
            self._max_in_flight.clear()
            self._max_in_flight_total = 0
            self.bytes_sent.clear()

    @property
    def max_in_flight(self) -> int:
        """The most requests that were being handled at the same moment."""
        with self._lock:
            return self._max_in_flight_total

    def max_in_flight_for(self, host: str) -> int:
        """The most requests with this Host name that were handled at the same moment."""
        with self._lock:
            return self._max_in_flight.get(host, 0)

    # --- programming the server ---------------------------------------------------------------

    def put(
        self,
        path: str,
        body: bytes | str,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        max_age: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve `body` at `path` with an ETag and Last-Modified that change when it changes."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            previous = self._docs.get(path)
            version = previous.version + 1 if previous else 0
            self._docs[path] = _Doc(data, content_type, max_age, dict(headers or {}), version)

    def live(
        self, path: str, feed: LiveFeed | None = None, *, max_age: int | None = None
    ) -> LiveFeed:
        """Serve a LiveFeed at `path` and return it, for tests to change between polls."""
        feed = feed if feed is not None else LiveFeed()
        with self._lock:
            self._live[path] = (feed, max_age)
        return feed

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with `replies`, one each, then route as usual."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(replies)

    # --- handling -----------------------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        host = (request.host or "").rsplit(":", 1)[0] if request.host else ""
        started = time.monotonic()
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    host=host,
                    at=started,
                )
            )
            self._in_flight[host] += 1
            self._in_flight_total += 1
            self._max_in_flight[host] = max(self._max_in_flight[host], self._in_flight[host])
            self._max_in_flight_total = max(self._max_in_flight_total, self._in_flight_total)
        try:
            return await handler(request)
        finally:
            with self._lock:
                self._in_flight[host] -= 1
                self._in_flight_total -= 1
                self._spans.append((request.path, started, time.monotonic()))

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        with self._lock:
            queue = self._scripts.get(path)
            reply = queue.popleft() if queue else None
            doc = self._docs.get(path)
            live = self._live.get(path)
        if reply is not None:
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        max_age = _int(request.query.get("max_age"))
        if doc is not None:
            return _conditional(
                request, doc.body, doc.content_type, doc.etag, doc.last_modified,
                doc.max_age if doc.max_age is not None else max_age, doc.headers,
            )  # fmt: skip
        if live is not None:
            feed, live_max_age = live
            if self.live_delay:
                await asyncio.sleep(self.live_delay)
            body = feed.render()
            etag = f'"live-{hashlib.sha1(body).hexdigest()[:16]}"'
            modified = _EPOCH + timedelta(minutes=feed.version)
            age = live_max_age if live_max_age is not None else max_age
            return _conditional(request, body, _CONTENT_TYPES[".xml"], etag, modified, age)

        first, _, rest = path.lstrip("/").partition("/")
        match first:
            case "feeds" | "gzip" | "deflate":
                return self._file(request, first, rest, max_age)
            case "status":
                return _status(request, rest)
            case "slow":
                await asyncio.sleep(float(request.query.get("delay", "1")))
                return web.Response(body=_rss("Slow", "https://slow.example.com/", []))
            case "trickle":
                return await self._trickle(request)
            case "big":
                return await self._big(request)
            case "bomb.xml":
                return web.Response(
                    body=self._bomb,
                    headers={"Content-Encoding": "gzip", "Content-Type": _CONTENT_TYPES[".xml"]},
                )
            case "redirect":
                return _redirect(request)
            case "gen" | "real":
                return self._gen(request, rest, max_age, realistic=first == "real")
        raise web.HTTPNotFound()

    def _file(
        self, request: web.Request, coding: str, name: str, max_age: int | None
    ) -> web.Response:
        path = (self.data_dir / name).resolve()
        if not name or self.data_dir.resolve() not in path.parents or not path.is_file():
            raise web.HTTPNotFound()
        body = path.read_bytes()
        content_type = _content_type(path)
        etag = f'"{hashlib.sha1(body).hexdigest()[:20]}"'
        headers = {}
        if coding == "gzip":
            body = _gzip(body)
            headers["Content-Encoding"] = "gzip"
        elif coding == "deflate":
            raw = request.query.get("raw") == "1"
            compressor = zlib.compressobj(
                6, zlib.DEFLATED, -zlib.MAX_WBITS if raw else zlib.MAX_WBITS
            )
            body = compressor.compress(body) + compressor.flush()
            headers["Content-Encoding"] = "deflate"
        return _conditional(request, body, content_type, etag, _EPOCH, max_age, headers)

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        chunks = int(request.query.get("chunks", "10"))
        interval = float(request.query.get("interval", "0.1"))
        response = web.StreamResponse(headers={"Content-Type": _CONTENT_TYPES[".xml"]})
        await response.prepare(request)
        for i in range(chunks):
            await response.write(f"<!-- chunk {i} -->\n".encode())
            await asyncio.sleep(interval)
        await response.write_eof()
        return response

    async def _big(self, request: web.Request) -> web.StreamResponse:
        size = int(request.query.get("size", str(12 * MIB)))
        headers = {"Content-Type": _CONTENT_TYPES[".xml"]}
        if request.query.get("length", "1") != "0":
            headers["Content-Length"] = str(size)
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        chunk = _filler_chunk()
        sent = 0
        try:
            while sent < size:
                piece = chunk[: min(_CHUNK, size - sent)]
                await response.write(piece)
                sent += len(piece)
                with self._lock:
                    self.bytes_sent[request.path] += len(piece)
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            # The client hung up, which is what the size cap should make it do. Stop quietly.
            pass
        return response

    def _gen(
        self, request: web.Request, name: str, max_age: int | None, *, realistic: bool
    ) -> web.Response:
        index = _int(name.removesuffix(".xml")) if name.endswith(".xml") else None
        if index is None or not 0 <= index < self.gen_feeds:
            raise web.HTTPNotFound()
        if realistic:
            if self.gen_stories is None:
                raise web.HTTPNotFound()
            body = _realistic_feed(index, self.gen_entries, self.gen_version, self.gen_stories)
        else:
            body = _generated_feed(index, self.gen_entries, self.gen_version)
        kind = "real" if realistic else "gen"
        etag = f'"{kind}-{index}-{self.gen_entries}-{self.gen_version}"'
        modified = _EPOCH + timedelta(minutes=self.gen_version)
        return _conditional(request, body, _CONTENT_TYPES[".xml"], etag, modified, max_age)


# --- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Doc:
    body: bytes
    content_type: str
    max_age: int | None
    headers: dict[str, str]
    version: int

    @property
    def etag(self) -> str:
        return f'"doc-{hashlib.sha1(self.body).hexdigest()[:16]}"'

    @property
    def last_modified(self) -> datetime:
        return _EPOCH + timedelta(minutes=self.version)


def _conditional(
    request: web.Request,
    body: bytes,
    content_type: str,
    etag: str,
    last_modified: datetime,
    max_age: int | None,
    extra: dict[str, str] | None = None,
) -> web.Response:
    headers = {"ETag": etag, "Last-Modified": format_datetime(last_modified, usegmt=True)}
    if max_age is not None:
        headers["Cache-Control"] = f"max-age={max_age}"
    headers.update(extra or {})
    if _not_modified(request, etag, last_modified):
        headers.pop("Content-Encoding", None)
        return web.Response(status=304, headers=headers)
    headers["Content-Type"] = content_type
    return web.Response(body=body, headers=headers)


def _not_modified(request: web.Request, etag: str, last_modified: datetime) -> bool:
    # RFC 9110 §13.2.2: If-None-Match decides when present; If-Modified-Since only otherwise.
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or etag in tags
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return last_modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _status(request: web.Request, code: str) -> web.Response:
    status = _int(code)
    if status is None or not 200 <= status <= 599:
        raise web.HTTPNotFound()
    headers = {}
    if "retry_after" in request.query:
        headers["Retry-After"] = request.query["retry_after"]
    return web.Response(status=status, text=f"status {status}\n", headers=headers)


def _redirect(request: web.Request) -> web.Response:
    target = request.query.get("to", "/feeds/bbc_world.xml")
    hops = _int(request.query.get("hops", "1")) or 0
    location = target if hops <= 1 else f"/redirect?to={target}&hops={hops - 1}"
    return web.Response(status=302, headers={"Location": location})


def _content_type(path: Path) -> str:
    name = path.name
    if name.endswith(".atom.xml"):
        return _CONTENT_TYPES[".atom"]
    if name.endswith(".rdf.xml"):
        return _CONTENT_TYPES[".rdf"]
    return _CONTENT_TYPES.get(path.suffix, "application/octet-stream")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _gzip(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return compressor.compress(data) + compressor.flush()


@functools.cache
def _gzip_zeros(size: int) -> bytes:
    """Gzip `size` zero bytes, 1 MB at a time so the plain text never exists whole."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(size // MIB)]
    parts.append(compressor.compress(bytes(size % MIB)))
    parts.append(compressor.flush())
    return b"".join(parts)


@functools.cache
def _filler_chunk() -> bytes:
    item = b"<item><title>Filler</title><description>" + b"x" * 900 + b"</description></item>\n"
    head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>\n'
    return (head + item * (_CHUNK // len(item) + 1))[:_CHUNK]


def _rss(title: str, link: str, items: list[LiveItem]) -> bytes:
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link>",
        "<description>Synthetic test feed</description>",
    ]
    for item in items:
        parts.append(
            f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>"
            f'<guid isPermaLink="false">{escape(item.guid)}</guid>'
            f"<description>{escape(item.summary)}</description>"
            f"<pubDate>{format_datetime(item.published, usegmt=True)}</pubDate></item>"
        )
    parts.append("</channel></rss>\n")
    return "".join(parts).encode("utf-8")


_GEN_HEADLINES = (
    "NATO allies debate path to 5% of GDP defence spending",
    "Ukraine and Russia delegations meet for ceasefire talks",
    "US grants tariff exemptions for smartphones and chips",
    "Chipmakers seal supply pact as export curbs tighten",
    "UN weighs mandate for Gaza stabilisation force",
    "Japan and Philippines deepen defence cooperation",
    "Panama Canal ports sale draws scrutiny from Beijing",
    "Central bank holds rates as inflation cools",
    "Heatwave grips southern Europe as wildfires spread",
    "Champions League final draws record audience",
)


@functools.lru_cache(maxsize=4096)
def _generated_feed(index: int, entries: int, version: int) -> bytes:
    # Item numbers run from version+entries-1 (newest) down to version: each bump of
    # `gen_version` adds one item at the top and drops the oldest, like a real wire feed.
    items = []
    for number in range(version + entries - 1, version - 1, -1):
        headline = _GEN_HEADLINES[(index + number) % len(_GEN_HEADLINES)]
        items.append(
            LiveItem(
                guid=f"gen-{index}-{number}",
                title=f"{headline} ({index}.{number})",
                link=f"https://gen{index}.example.com/news/{number}",
                summary=f"<p>{escape(headline)}. Report {number} from synthetic feed {index}.</p>",
                published=_EPOCH + timedelta(minutes=number),
            )
        )
    return _rss(f"Synthetic feed {index}", f"https://gen{index}.example.com/", items)


@dataclass(frozen=True, slots=True)
class StoryMix:
    """What the realistic /real feeds carry: real (headline, lede) pairs, `hits` (which match
    the watchlist) one item in `hit_every`, `plain` (which do not) the rest. Feeds in groups of
    `copies` carry the same stories at the same places, each under its own link and GUID, as
    outlets running one wire story do."""

    plain: tuple[tuple[str, str], ...]
    hits: tuple[tuple[str, str], ...]
    hit_every: int = 12
    copies: int = 5


@functools.lru_cache(maxsize=4096)
def _realistic_feed(index: int, entries: int, version: int, mix: StoryMix) -> bytes:
    items = []
    group = index // mix.copies
    for number in range(version + entries - 1, version - 1, -1):
        slot = group * 7919 + number  # a prime stride: groups start at different stories
        if slot % mix.hit_every == 0:
            title, lede = mix.hits[(slot // mix.hit_every) % len(mix.hits)]
        else:
            title, lede = mix.plain[slot % len(mix.plain)]
        items.append(
            LiveItem(
                guid=f"real-{index}-{number}",
                title=title,
                link=f"https://real{index}.example.com/news/{number}",
                summary=f"<p>{escape(lede)}</p>",
                published=_EPOCH + timedelta(minutes=number),
            )
        )
    return _rss(f"Realistic feed {index}", f"https://real{index}.example.com/", items)
