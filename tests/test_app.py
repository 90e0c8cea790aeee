"""The one assembly (bot/app.py): what it joins, and that routes added while running work."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from discord_emulator import DiscordEmulator
from fakes import FakeClock
from feedserver import FeedServer, LiveFeed

from bot.app import Wiring
from bot.pipeline import loop as runner
from bot.pipeline.loop import RunOptions
from bot.settings import Settings
from bot.store import Store

pytest_plugins = ["feedserver"]

NOW = datetime(2025, 6, 25, 13, 0, tzinfo=UTC)  # an hour after the LiveFeed epoch
SETTINGS = Settings(
    allow_private_urls=True, per_host_spacing=0, reload_every=0.001, heartbeat_file=None
)
WATCHLIST = """\
version: 1
signals:
  - id: nato
    title: NATO moves
    query: NATO
sources:
  - id: wire
    url: {url}
"""
ROUTED = (
    WATCHLIST
    + """\
routes:
  - signal: nato
    webhook: NEW_HOOK
"""
)


@pytest.fixture(autouse=True)
def short_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle turns of the loop last 10 ms instead of a second."""
    monkeypatch.setattr(runner, "TICK", 0.01)


def test_a_webhook_route_added_while_running_delivers(
    tmp_path: Path, store: Store, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Start with no route (alerts on the console); add a webhook route to the file while the
    bot runs; the next alert goes to that webhook, whose URL was never looked at before."""
    live: LiveFeed = feed_server.live("/wire.xml")
    live.add_items(1, title="NATO summit")
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST.format(url=feed_server.url("/wire.xml")), encoding="utf-8")
    clock = FakeClock(NOW)

    async def scenario() -> None:
        async with DiscordEmulator() as emu:
            hook = emu.add_webhook(emu.alerts)
            environ = {"NEW_HOOK": hook.url.replace("https://discord.com/api", emu.api_base)}
            wiring = Wiring(SETTINGS, path, store, "json", environ=environ, clock=clock)
            stop = asyncio.Event()
            loop = asyncio.create_task(
                wiring.run(wiring.sink(), wiring.notifier(), RunOptions(), stop)
            )
            try:
                async with asyncio.timeout(15):
                    while store.outbox_counts()["delivered"] < 1:
                        await asyncio.sleep(0.01)
                    assert "NATO summit 1" in capsys.readouterr().out  # the console, no route
                    tmp = path.with_suffix(".tmp")
                    tmp.write_text(ROUTED.format(url=feed_server.url("/wire.xml")), "utf-8")
                    os.replace(tmp, path)
                    while not wiring.live.compiled.watchlist.routes:
                        await asyncio.sleep(0.01)
                    live.add_items(1, title="NATO ministers")
                    clock.now += timedelta(minutes=20)
                    while not emu.messages_in(emu.alerts):
                        await asyncio.sleep(0.01)
            finally:
                stop.set()
                assert await asyncio.wait_for(loop, 10) == 0
                await wiring.aclose()
            (message,) = emu.messages_in(emu.alerts)
            assert message["embeds"][0]["title"] == "NATO ministers 2"
            assert store.outbox_counts() == {"pending": 0, "delivered": 2, "failed": 0}

    asyncio.run(scenario())
