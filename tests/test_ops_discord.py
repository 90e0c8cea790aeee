"""Discord down at start: the login is retried with backoff while polling goes on; only a
rejected token stops the bot."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from discord_emulator import DiscordEmulator, patch_discord
from feedserver import FeedServer
from pydantic import SecretStr

# isort: split
# discord_emulator first: it imports discord.py with its import-time warning filtered.
import discord

from bot.app import Wiring
from bot.chat import connect
from bot.chat.run import run_with_discord
from bot.chat.settings import DiscordSettings
from bot.pipeline import loop as runner
from bot.pipeline.loop import RunOptions
from bot.settings import Settings
from bot.store import Store

pytest_plugins = ["feedserver"]

E2E = Path(__file__).parent / "data" / "e2e"
LIMIT = 30.0


class FakeHttp:
    """The part of discord.py's HTTP client the retry touches."""

    def __init__(self) -> None:
        self.closed = 0
        self.connector: object = object()

    async def close(self) -> None:
        self.closed += 1


class FakeBot:
    """A client whose logins fail as scripted."""

    def __init__(self, failures: list[BaseException]) -> None:
        self.failures = failures
        self.logins = 0
        self.connected = False
        self.http = FakeHttp()

    async def login(self, token: str) -> None:
        self.logins += 1
        if self.failures:
            raise self.failures.pop(0)

    async def connect(self, *, reconnect: bool) -> None:
        self.connected = reconnect


def retry(bot: FakeBot, stop: asyncio.Event, waits: list[float]) -> None:
    """Run start_with_retry on the fake, recording the backoff waits instead of sleeping."""

    async def wait(_stop: asyncio.Event, seconds: float) -> None:
        waits.append(seconds)

    asyncio.run(
        connect.start_with_retry(cast(Any, bot), "t", stop, first_wait=2, max_wait=5, wait=wait)
    )


def test_an_unreachable_discord_is_retried_with_capped_backoff() -> None:
    """Refused, timed out, 503: waits 2, 4, 5 s (capped), then logs in and connects."""
    response = cast(Any, type("R", (), {"status": 503, "reason": "down"})())
    failures: list[BaseException] = [
        aiohttp.ClientConnectionError("refused"),
        TimeoutError(),
        discord.DiscordServerError(response, "down"),
    ]
    bot, waits = FakeBot(failures), []
    retry(bot, asyncio.Event(), waits)
    assert waits == [2, 4, 5]
    assert bot.logins == 4 and bot.connected
    assert bot.http.closed == 3  # each failed login's session closed


def test_a_rejected_token_is_not_retried() -> None:
    """LoginFailure goes straight out: no wait, no second login."""
    bot, waits = FakeBot([discord.LoginFailure("Improper token has been passed.")]), []
    with pytest.raises(discord.LoginFailure):
        retry(bot, asyncio.Event(), waits)
    assert waits == [] and bot.logins == 1


def test_a_stop_while_waiting_ends_the_retries() -> None:
    """Stopped during the backoff: no more logins, no connect."""
    stop = asyncio.Event()
    stop.set()
    bot, waits = FakeBot([OSError("unreachable")]), []
    retry(bot, stop, waits)
    assert bot.logins == 1 and not bot.connected


def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_discord_down_at_start_polls_meanwhile_then_delivers(
    tmp_path: Path,
    store: Store,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Discord unreachable at start: the bot keeps trying, the loop polls and queues alerts;
    when Discord is back every queued alert is delivered, and a stop exits 0."""
    for name in list(os.environ):
        if name.startswith("SIGNALWATCH_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)
    monkeypatch.setattr(runner, "TICK", 0.01)
    monkeypatch.setattr(connect, "FIRST_WAIT", 0.1)
    monkeypatch.setattr(connect, "MAX_WAIT", 0.2)
    feed_server.put("/e2e/wire.xml", (E2E / "wire.xml").read_bytes())
    text = (E2E / "watchlist.yaml").read_text(encoding="utf-8")
    path = tmp_path / "watchlist.yaml"
    path.write_text(text.replace("__FEEDS__", feed_server.base_url), encoding="utf-8")
    settings = Settings(allow_private_urls=True, per_host_spacing=0, heartbeat_file=None)

    async def until(check: Any) -> None:
        while not check():
            await asyncio.sleep(0.02)

    async def scenario() -> int:
        async with DiscordEmulator() as emu:
            down = f"http://127.0.0.1:{closed_port()}"
            monkeypatch.setattr(discord.http.Route, "BASE", down + "/api/v10")
            discord_settings = DiscordSettings(token=SecretStr(emu.token), channel=emu.alerts.id)
            wiring = Wiring(settings, path, store, "json")
            stop = asyncio.Event()
            task = asyncio.create_task(
                run_with_discord(
                    wiring, discord_settings, RunOptions(), stop=stop, guild_ready_timeout=0.05
                )
            )
            try:
                await until(lambda: sum(store.outbox_counts().values()) == 6)
                await until(lambda: "Discord is unreachable" in caplog.text)
                assert store.outbox_counts()["delivered"] == 0
                patch_discord(monkeypatch, emu)  # Discord is back
                await until(lambda: store.outbox_counts()["delivered"] == 6)
            finally:
                stop.set()
                code = await task
                await wiring.aclose()
            assert len(emu.messages_in(emu.alerts)) == 6
            return code

    assert asyncio.run(asyncio.wait_for(scenario(), LIMIT)) == 0
