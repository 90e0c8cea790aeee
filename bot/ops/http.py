"""The operator's HTTP server: /metrics, /healthz, /readyz and the status page at /.

Off unless SIGNALWATCH_HTTP_PORT is set; bound to 127.0.0.1 unless SIGNALWATCH_HTTP_HOST
says otherwise. Read-only: GET and HEAD only, one request per connection, small requests.
A plain asyncio server on the run's own event loop: nothing to install beyond
prometheus-client (for /metrics; without it /metrics says how to get it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.ops.status import gather_status, render_status

if TYPE_CHECKING:
    from bot.app import Wiring
    from bot.chat.settings import DiscordSettings
    from bot.ops.metrics import Metrics
    from bot.watchlist import Watchlist

__all__ = ["HttpServer", "alerts_to", "start_http"]

log = logging.getLogger("signalwatch.http")

MAX_REQUEST = 8192  # bytes of request line and headers
READ_TIMEOUT = 5.0
MISSING_EXTRA = (
    "prometheus-client is not installed: install signalwatch with the ops extra"
    " (pip install 'signalwatch[ops]') for /metrics\n"
)
SECURITY_HEADERS = {
    # The page runs no script and loads nothing: anything a feed smuggles in stays inert.
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def alerts_to(discord: DiscordSettings) -> str:
    """Where alerts go, in words, for the banner."""
    if not discord.enabled:
        return "the console (SIGNALWATCH_DISCORD_TOKEN is not set)"
    where = f"channel {discord.channel}" if discord.channel else "the channels routes name"
    guild = f", commands in guild {discord.guild}" if discord.guild else ""
    return f"Discord: {where}{guild}"


@dataclass
class Response:
    """One HTTP answer."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 400: "Bad Request"}
REASONS |= {500: "Internal Server Error", 503: "Service Unavailable"}


class HttpServer:
    """Serves the run's health, metrics and status page until closed."""

    def __init__(self, wiring: Wiring, metrics: Metrics | None) -> None:
        self.wiring = wiring
        self.metrics = metrics
        self._server: asyncio.Server | None = None
        self._rate_limits: logging.Handler | None = None
        self.routes: dict[str, Callable[[], Awaitable[Response]]] = {
            "/": self.status_page,
            "/metrics": self.metrics_text,
            "/healthz": self.healthz,
            "/readyz": self.readyz,
        }

    async def start(self, host: str, port: int) -> str:
        """Listen; return the URL it serves (port 0 picks a free one)."""
        self._server = await asyncio.start_server(self._handle, host, port)
        bound = self._server.sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        return f"http://{shown}:{bound[1]}/"

    async def aclose(self) -> None:
        """Stop listening and close the open connections."""
        if self._rate_limits is not None:
            logging.getLogger("discord.http").removeHandler(self._rate_limits)
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    # --- routes --------------------------------------------------------------------------

    async def healthz(self) -> Response:
        """200 while the run loop turns."""
        if self.wiring.observer.alive():
            return Response(200, b"ok: the run loop is turning\n")
        return Response(503, b"unhealthy: the run loop has not turned lately\n")

    async def readyz(self) -> Response:
        """200 when the store answers and Discord (if configured) is ready."""
        try:
            await asyncio.to_thread(self.wiring.store.outbox_counts)
        except Exception as exc:
            return Response(503, f"not ready: the store does not answer: {exc}\n".encode())
        ready = self.wiring.observer.discord_ready
        if ready is not None and not ready():
            return Response(503, b"not ready: Discord is not connected yet\n")
        return Response(200, b"ready\n")

    async def metrics_text(self) -> Response:
        """The Prometheus exposition, gauges read from the store first."""
        if self.metrics is None:
            return Response(503, MISSING_EXTRA.encode())
        from bot.ops.metrics import CONTENT_TYPE

        watchlist = _watchlist(self.wiring)
        await asyncio.to_thread(
            self.metrics.refresh, self.wiring.store, watchlist, self.wiring.clock()
        )
        self.metrics.up.set(1 if self.wiring.observer.alive() else 0)
        return Response(200, self.metrics.render(), CONTENT_TYPE)

    async def status_page(self) -> Response:
        """The read-only HTML status page."""
        watchlist = _watchlist(self.wiring)
        data = await asyncio.to_thread(
            gather_status, self.wiring.store, watchlist, self.wiring.clock()
        )
        return Response(200, render_status(data).encode(), "text/html; charset=utf-8")

    # --- the protocol --------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path = await asyncio.wait_for(_read_request(reader), READ_TIMEOUT)
            response = await self._answer(method, path)
            head_only = method == "HEAD"
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, ConnectionError):
            response, head_only = Response(400, b"bad request\n"), False
        try:
            writer.write(_encode(response, head_only))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> Response:
        if method not in ("GET", "HEAD"):
            return Response(405, b"read-only: GET or HEAD\n")
        route = self.routes.get(path.split("?", 1)[0])
        if route is None:
            return Response(404, b"not found: try /, /metrics, /healthz or /readyz\n")
        try:
            return await route()
        except Exception:
            log.exception("serving %s failed", path)
            return Response(500, b"internal error (see the log)\n")


def _watchlist(wiring: Wiring) -> Watchlist | None:
    """The watchlist in force, or None before the run loop loaded it."""
    try:
        return wiring.live.compiled.watchlist
    except RuntimeError:
        return None


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    """The method and path of one request; its headers are read and ignored."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise ValueError("request too large") from None
    if len(head) > MAX_REQUEST:
        raise ValueError("request too large")
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[1].startswith("/"):
        raise ValueError("bad request line")
    return parts[0], parts[1]


def _encode(response: Response, head_only: bool) -> bytes:
    headers: dict[str, Any] = {
        "Content-Type": response.content_type,
        "Content-Length": len(response.body),
        "Connection": "close",
        **SECURITY_HEADERS,
    }
    reason = REASONS.get(response.status, "")
    lines = [f"HTTP/1.1 {response.status} {reason}"] + [f"{k}: {v}" for k, v in headers.items()]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


async def start_http(wiring: Wiring) -> HttpServer | None:
    """Start the server when SIGNALWATCH_HTTP_PORT is set (and say where); else None."""
    settings = wiring.settings
    if settings.http_port is None:
        return None
    metrics: Metrics | None
    try:
        from bot.ops.metrics import Metrics
    except ImportError:
        log.warning(MISSING_EXTRA.strip())
        metrics = None
    else:
        metrics = Metrics()
        wiring.observer.metrics = metrics
    server = HttpServer(wiring, metrics)
    if metrics is not None:
        server._rate_limits = metrics.count_rate_limits()
        logging.getLogger("discord.http").addHandler(server._rate_limits)
    wiring.observer.http_url = await server.start(settings.http_host, settings.http_port)
    return server


def probe_health(host: str, port: int, timeout: float = 5.0) -> tuple[bool, str]:
    """GET /healthz of a running signalwatch (for `signalwatch health`): (healthy, why)."""
    import urllib.error
    import urllib.request

    shown = f"[{host}]" if ":" in host else host
    if host in ("0.0.0.0", "::"):  # listening everywhere: ask it on loopback
        shown = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
    url = f"http://{shown}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return True, response.read(200).decode("utf-8", "replace").strip()
    except urllib.error.HTTPError as exc:
        return False, exc.read(200).decode("utf-8", "replace").strip() or f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"no answer from {url}: {reason}"
