"""A local server that answers like the news search APIs (aiohttp on 127.0.0.1, own thread).

Same shape as `feedserver.FeedServer`: a background event loop, so sync and asyncio tests
can both use it, and the `api_server` fixture (`pytest_plugins = ["apiserver"]`).

Paths mirror the real endpoints; bodies come from tests/data/apis (see its README):

    /api/v2/doc/doc   GDELT DOC 2.0: needs mode=artlist&format=json and a query
    /rss/search       Google News RSS search: needs q
    /v2/everything    NewsAPI: X-Api-Key header (or apiKey=) must be `newsapi_key`
    /search           Guardian: api-key= must be `guardian_key`

Every request is recorded (`requests`, `requests_to(path)`). `results[path] = body` changes
the normal answer; `script(path, Reply(...), …)` queues canned replies, one per request, and
`reply("newsapi_error_rateLimited.json", 429)` builds one from a data file.

PYTEST_DONT_REWRITE: imported by test modules before pytest registers it as a plugin.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from feedserver import RecordedRequest, Reply, ThreadedServer

__all__ = ["API_DATA", "ApiServer", "api_server"]

API_DATA = Path(__file__).parent / "data" / "apis"

GDELT_PATH = "/api/v2/doc/doc"
GOOGLE_PATH = "/rss/search"
NEWSAPI_PATH = "/v2/everything"
GUARDIAN_PATH = "/search"

_TYPES = {
    ".json": "application/json; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class ApiServer(ThreadedServer):
    """A programmable stand-in for GDELT, Google News, NewsAPI and the Guardian on 127.0.0.1."""

    def __init__(
        self, *, newsapi_key: str = "test-newsapi-key", guardian_key: str = "test-guardian-key"
    ) -> None:
        super().__init__()
        self.newsapi_key = newsapi_key
        self.guardian_key = guardian_key
        self.results: dict[str, bytes] = {
            GDELT_PATH: (API_DATA / "gdelt_artlist.json").read_bytes(),
            GOOGLE_PATH: (API_DATA / "google_news_search.xml").read_bytes(),
            NEWSAPI_PATH: (API_DATA / "newsapi_everything.json").read_bytes(),
            GUARDIAN_PATH: (API_DATA / "guardian_search.json").read_bytes(),
        }
        self._requests: list[RecordedRequest] = []
        self._scripts: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()

    thread_name = "apiserver"

    def make_app(self) -> web.Application:
        """One route per API, each recorded by the middleware."""
        app = web.Application(middlewares=[self._record])
        app.router.add_get(GDELT_PATH, self._gdelt)
        app.router.add_get(GOOGLE_PATH, self._google)
        app.router.add_get(NEWSAPI_PATH, self._newsapi)
        app.router.add_get(GUARDIAN_PATH, self._guardian)
        return app

    # --- addresses, log, programming ----------------------------------------------------------

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The requests received for `path`."""
        return [r for r in self.requests if r.path == path]

    def script(self, path: str, *replies: Reply) -> None:
        """Answer the next requests to `path` with `replies`, one each, then as usual."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(replies)

    @staticmethod
    def reply(name: str, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        """A Reply carrying data file `name` with its content type."""
        path = API_DATA / name
        return Reply(
            status, path.read_bytes(), {"Content-Type": _TYPES[path.suffix], **(headers or {})}
        )

    # --- handlers -----------------------------------------------------------------------------

    @web.middleware
    async def _record(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        with self._lock:
            self._requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    host=(request.host or "").rsplit(":", 1)[0],
                    at=time.monotonic(),
                )
            )
            queue = self._scripts.get(request.path)
            scripted = queue.popleft() if queue else None
        if scripted is not None:
            return web.Response(
                status=scripted.status, body=scripted.body, headers=scripted.headers
            )
        return await handler(request)

    def _ok(self, path: str, content_type: str) -> web.Response:
        return web.Response(body=self.results[path], headers={"Content-Type": content_type})

    async def _gdelt(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("mode", "").lower() != "artlist" or q.get("format", "").lower() != "json":
            return web.Response(text="Invalid mode or format.", content_type="text/html")
        if not q.get("query", "").strip():
            return web.Response(text="The specified query is empty.", content_type="text/html")
        if q.get("query", "").count("(") != q.get("query", "").count(")"):
            return web.Response(text="Unbalanced parentheses.", content_type="text/html")
        return self._ok(GDELT_PATH, _TYPES[".json"])

    async def _google(self, request: web.Request) -> web.Response:
        if not request.query.get("q", "").strip():
            return web.Response(status=400, text="Bad Request", content_type="text/html")
        return self._ok(GOOGLE_PATH, _TYPES[".xml"])

    async def _newsapi(self, request: web.Request) -> web.Response:
        key = request.headers.get("X-Api-Key") or request.query.get("apiKey")
        if not key:
            return self._file("newsapi_error_apiKeyMissing.json", 401)
        if key != self.newsapi_key:
            return self._file("newsapi_error_apiKeyInvalid.json", 401)
        if not request.query.get("q"):
            body = b'{"status":"error","code":"parametersMissing","message":"Required parameters are missing."}'
            return web.Response(status=400, body=body, headers={"Content-Type": _TYPES[".json"]})
        return self._ok(NEWSAPI_PATH, _TYPES[".json"])

    async def _guardian(self, request: web.Request) -> web.Response:
        key = request.query.get("api-key")
        if not key:
            return self._file("guardian_401_missing.json", 401)
        if key != self.guardian_key:
            return self._file("guardian_401.json", 401)
        return self._ok(GUARDIAN_PATH, _TYPES[".json"])

    def _file(self, name: str, status: int) -> web.Response:
        reply = self.reply(name, status)
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)


@pytest.fixture
def api_server() -> Iterator[ApiServer]:
    """A running ApiServer on 127.0.0.1, stopped after the test."""
    with ApiServer() as server:
        yield server
