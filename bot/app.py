"""The one place the application is put together from its settings.

    settings ─► Wiring: the live watchlist, the store, the console and webhook sinks
    no Discord token   ─► run_loop(Wiring.sink(),        Wiring.notifier(ConsoleNotifier()))
    a Discord token    ─► the gateway (bot/chat/run) ─► run_loop(Wiring.sink(discord),
                                                                 Wiring.notifier(DiscordNotifier))
    role "worker"      ─► run_loop(polling only, notices queued in the store for the gateway)

Every run (`signalwatch run`, and later one `worker` or `gateway` role each) goes through
`run_app`; nothing else assembles sinks or notifiers. Sinks look their destinations up when
they send (a webhook's URL is read from the environment then, a signal's title from the
watchlist in force), so a route added by editing the watchlist works without a restart.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from bot.notices import CoalescingNotifier, QueuedNotifier, TextNotifier
from bot.ops.http import alerts_to, start_http
from bot.ops.observe import RunObserver
from bot.pipeline import Notifier, Sink
from bot.pipeline.loop import LiveWatchlist, RunOptions, run_loop, utc_now
from bot.settings import Settings
from bot.sinks import ConsoleNotifier, ConsoleSink
from bot.sinks.router import RoutingSink
from bot.sinks.webhook import WebhookSink
from bot.store import Store

__all__ = ["Wiring", "run_app"]


@dataclass
class Wiring:
    """What one run is made of, and how its parts are joined."""

    settings: Settings
    watchlist_path: Path
    store: Store
    fmt: Literal["text", "json"] = "text"
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], datetime] = utc_now
    live: LiveWatchlist = field(default_factory=LiveWatchlist)
    # Counts what the run does: cycle lines, `--once`'s exit code, metrics, health (bot.ops).
    observer: RunObserver = field(default_factory=RunObserver)
    webhooks: WebhookSink = field(init=False)

    def __post_init__(self) -> None:
        # URLs come from the environment at send time: routes hot-reloaded in work at once.
        self.webhooks = WebhookSink(self.environ, titles=self.live.signal_title)

    def sink(self, discord: Sink | None = None) -> Sink:
        """Where alerts go: Discord channels through the bot when there is one, webhooks by
        name, and the console for everything else (and for channels without a bot)."""
        default = discord if discord is not None else ConsoleSink(self.fmt)
        return RoutingSink(default=default, discord=discord, webhooks=self.webhooks)

    def notifier(self, inner: TextNotifier | None = None) -> CoalescingNotifier:
        """Admin notices: gathered per destination and kind, paths shown relative to the
        watchlist's folder; the log when no Discord admin channel is given."""
        return CoalescingNotifier(
            inner if inner is not None else ConsoleNotifier(),
            self.clock,
            watchlist_dir=self.watchlist_path.parent,
        )

    async def run(
        self, sink: Sink, notifier: Notifier, options: RunOptions, stop: asyncio.Event
    ) -> int:
        """The pipeline's loop on these parts, until `stop` (or one pass)."""
        return await run_loop(
            self.settings,
            self.watchlist_path,
            self.store,
            sink,
            notifier,
            options,
            clock=self.clock,
            stop=stop,
            live=self.live,
            environ=self.environ,
            observer=self.observer,
        )

    async def aclose(self) -> None:
        """Release what the parts hold (the webhook sink's HTTP client)."""
        await self.webhooks.aclose()


async def run_app(wiring: Wiring, options: RunOptions, *, stop: asyncio.Event | None = None) -> int:
    """Run the whole bot on `wiring`: with Discord when a token is set, else on the console.

    Returns the process exit code.
    """
    from bot.chat.settings import DiscordSettings

    stop = stop or asyncio.Event()
    discord_settings = DiscordSettings()
    wiring.observer.alerts_to = (
        "nowhere: a worker polls; the gateway delivers"
        if options.role == "worker"
        else alerts_to(discord_settings)
    )
    server = await start_http(wiring)  # None unless SIGNALWATCH_HTTP_PORT is set
    try:
        if options.role == "worker":
            # A worker delivers nothing; its notices go through the store to the gateway.
            notices = QueuedNotifier(wiring.store, wiring.clock)
            return await wiring.run(wiring.sink(), notices, options, stop)
        if discord_settings.enabled:
            from bot.chat.run import run_with_discord

            return await run_with_discord(wiring, discord_settings, options, stop=stop)
        return await wiring.run(wiring.sink(), wiring.notifier(), options, stop)
    finally:
        if server is not None:
            await server.aclose()
        await wiring.aclose()
