"""`signalwatch run` with a Discord token: the bot and the run loop in one event loop.

The bot connects to the gateway and serves slash commands; the run loop polls and delivers
through the bot. If either stops (SIGINT/SIGTERM, a rejected token), both stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import discord

from bot.chat.bot import BotServices, DiscordNotifier, DiscordSink, SignalBot, point_discord_at
from bot.chat.settings import DiscordSettings
from bot.pipeline import Sink
from bot.runner import LiveWatchlist, RunOptions, run_loop, utc_now
from bot.settings import Settings
from bot.sinks.router import RoutingSink
from bot.store import Store
from bot.watchlist import WatchlistEditor

__all__ = ["run_with_discord"]

log = logging.getLogger("signalwatch.discord")


async def run_with_discord(
    settings: Settings,
    discord_settings: DiscordSettings,
    watchlist_path: Path,
    store: Store,
    webhooks: Sink,
    options: RunOptions,
    *,
    stop: asyncio.Event | None = None,
    guild_ready_timeout: float = 2.0,
) -> int:
    """Run the bot and the pipeline together until stopped; return the exit code."""
    assert discord_settings.token is not None
    point_discord_at(discord_settings.api_base, discord_settings.gateway)
    stop = stop or asyncio.Event()
    live = LiveWatchlist()
    services = BotServices(
        store=store,
        compiled=live.get,
        editor=WatchlistEditor(watchlist_path),
        clock=utc_now,
        reload=live.request_reload,
    )
    bot = SignalBot(services, discord_settings, guild_ready_timeout=guild_ready_timeout)
    discord_sink = DiscordSink(bot, discord_settings.channel)
    sink = RoutingSink(default=discord_sink, discord=discord_sink, webhooks=webhooks)
    notifier = DiscordNotifier(bot, discord_settings.admin_channel)
    async with bot:
        gateway = asyncio.create_task(bot.start(discord_settings.token.get_secret_value()))
        pipeline = asyncio.create_task(
            run_loop(settings, watchlist_path, store, sink, notifier, options, stop=stop, live=live)
        )
        done, _ = await asyncio.wait({gateway, pipeline}, return_when=asyncio.FIRST_COMPLETED)
        code = 0
        if gateway in done:
            stop.set()  # the bot is gone: let the loop finish the alert in flight and end
            error = gateway.exception()
            if isinstance(error, discord.LoginFailure):
                log.error("Discord rejected the token (SIGNALWATCH_DISCORD_TOKEN): %s", error)
                code = 1
            elif error is not None:
                log.error("the Discord connection failed: %s", error)
                code = 1
            code = max(code, await pipeline)
        else:
            code = pipeline.result()
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, discord.DiscordException):
            await gateway
    return code
