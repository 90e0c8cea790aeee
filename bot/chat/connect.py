"""Logging in to Discord when Discord (or the way to it) is down at start.

discord.py reconnects a gateway it has lost, but its first login is one HTTP request: if
that fails the bot would stop. Here the login is retried with capped exponential backoff
while the pipeline polls and alerts wait in the outbox; only a rejected token (or an
operator's stop) ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord
from discord.utils import MISSING

__all__ = ["FIRST_WAIT", "MAX_WAIT", "start_with_retry"]

log = logging.getLogger("signalwatch.discord")

FIRST_WAIT = 2.0
MAX_WAIT = 300.0
# Worth another try: the network, a timeout, or Discord's own trouble (5xx); not a 401.
UNREACHABLE = (aiohttp.ClientError, OSError, TimeoutError, discord.DiscordServerError)


async def start_with_retry(
    bot: discord.Client,
    token: str,
    stop: asyncio.Event,
    *,
    first_wait: float | None = None,
    max_wait: float | None = None,
    on_unreachable: Callable[[], None] | None = None,
    wait: Callable[[asyncio.Event, float], Awaitable[None]] | None = None,
) -> None:
    """Log in (retrying while Discord is unreachable), then hold the gateway connection.

    Raises discord.LoginFailure for a rejected token; returns if `stop` is set while waiting.
    """
    pause = wait or _wait
    delay = FIRST_WAIT if first_wait is None else first_wait
    most = MAX_WAIT if max_wait is None else max_wait
    attempt = 1
    while True:
        try:
            await bot.login(token)
            break
        except discord.LoginFailure:
            raise
        except UNREACHABLE as exc:
            if on_unreachable is not None:
                on_unreachable()
            log.warning(
                "Discord is unreachable (attempt %d: %s); retrying in %.0f s — polling goes on"
                " and alerts wait in the outbox",
                attempt,
                str(exc) or type(exc).__name__,
                delay,
            )
            await _fresh_session(bot)
            await pause(stop, delay)
            if stop.is_set():
                return
            delay = min(most, delay * 2)
            attempt += 1
    if attempt > 1:
        log.info("logged in to Discord after %d attempts", attempt)
    await bot.connect(reconnect=True)


async def _fresh_session(bot: discord.Client) -> None:
    """Close the failed login's HTTP session (and connector): the next login makes new ones."""
    await bot.http.close()
    bot.http.connector = MISSING


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
