"""`signalwatch run` with a Discord token: the bot and the run loop in one event loop.

The bot connects to the gateway and serves slash commands; the run loop polls and delivers
through the bot. If either stops (SIGINT/SIGTERM, a rejected token), both stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from typing import Any

import discord

from bot.app import Wiring
from bot.chat.bot import BotServices, DiscordNotifier, DiscordSink, SignalBot, point_discord_at
from bot.chat.connect import start_with_retry
from bot.chat.settings import DiscordSettings
from bot.pipeline.loop import RunOptions, utc_now
from bot.watchlist import WatchlistEditor

__all__ = ["run_with_discord"]

log = logging.getLogger("signalwatch.discord")

# How long `run --once` waits for the gateway's READY before it gives up (exit 1): discord.py
# retries an unreachable gateway forever, and a one-shot run must not hang a cron job.
ONCE_READY_TIMEOUT = 60.0


async def run_with_discord(
    wiring: Wiring,
    discord_settings: DiscordSettings,
    options: RunOptions,
    *,
    stop: asyncio.Event | None = None,
    guild_ready_timeout: float = 2.0,
    ready_timeout: float = ONCE_READY_TIMEOUT,
) -> int:
    """Run the bot and the pipeline together until stopped; return the exit code.

    With `options.once` the pass starts only once the bot is ready, so its alerts and admin
    notices reach Discord and the bot is never torn down half-connected.
    """
    assert discord_settings.token is not None
    point_discord_at(discord_settings.api_base, discord_settings.gateway)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # until run_loop sets its own (the same)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    live = wiring.live
    services = BotServices(
        store=wiring.store,
        compiled=live.get,
        editor=WatchlistEditor(wiring.watchlist_path),
        clock=utc_now,
        reload=live.request_reload,
    )
    bot = SignalBot(services, discord_settings, guild_ready_timeout=guild_ready_timeout)
    sink = wiring.sink(DiscordSink(bot, discord_settings.channel))
    notifier = wiring.notifier(DiscordNotifier(bot, discord_settings.admin_channel))
    wiring.observer.discord_ready = bot.is_ready  # /readyz: not ready until READY
    async with bot:
        # Discord down at start: the login is retried while polling goes on (bot.chat.connect).
        token = discord_settings.token.get_secret_value()
        gateway = asyncio.create_task(start_with_retry(bot, token, stop))
        # Whatever ends the gateway task, nothing may wait for READY after it.
        gateway.add_done_callback(lambda _: bot.gateway_ended.set())
        code = 0
        try:
            if options.once:
                await _first_of(bot.until_ready(), stop.wait(), timeout=ready_timeout)
                if not (bot.is_ready() or bot.gateway_ended.is_set() or stop.is_set()):
                    log.error(
                        "Discord was not ready after %g s: nothing polled or sent", ready_timeout
                    )
                    code = 1
            if code == 0 and not bot.gateway_ended.is_set() and not stop.is_set():
                code = await _run_pipeline(wiring.run(sink, notifier, options, stop), gateway, stop)
            if gateway.done():
                code = max(code, _gateway_outcome(gateway))
        finally:
            await bot.close()
            gateway.cancel()  # a login retry may be waiting out its backoff
            # Closed mid-login, the gateway task ends in whatever error the closed HTTP
            # session gives (aiohttp's "Connector is closed"): that is the shutdown, not news.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await gateway
    return code


async def _run_pipeline(
    pipeline_loop: Coroutine[Any, Any, int], gateway: asyncio.Task[None], stop: asyncio.Event
) -> int:
    """Run the loop until it ends; if the bot goes first, stop the loop and let it finish."""
    pipeline = asyncio.create_task(pipeline_loop)
    await asyncio.wait({gateway, pipeline}, return_when=asyncio.FIRST_COMPLETED)
    if not pipeline.done():
        stop.set()  # the bot is gone: let the loop finish the alert in flight and end
    return await pipeline


def _gateway_outcome(gateway: asyncio.Task[None]) -> int:
    """Log why the gateway task ended early; the exit code it calls for."""
    error = None if gateway.cancelled() else gateway.exception()
    if isinstance(error, discord.LoginFailure):
        log.error("Discord rejected the token (SIGNALWATCH_DISCORD_TOKEN): %s", error)
        return 1
    if error is not None:
        log.error("the Discord connection failed: %s", error)
        return 1
    return 0


async def _first_of(*waits: Coroutine[Any, Any, Any], timeout: float | None = None) -> None:
    """Wait until the first of `waits` completes (or `timeout` passes); cancel the others."""
    tasks = {asyncio.ensure_future(w) for w in waits}
    try:
        await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
