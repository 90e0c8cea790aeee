"""Polling and delivery do not wait on each other, and destinations do not wait on each other.

The whole run loop in-process, on the real clock: feeds from the local feed server, Discord
from the emulator (unmodified discord.py, the real DiscordSink). What is measured is how long
an alert takes from its poll's commit to the emulator. The bounds are generous (seconds,
where the shape this replaced took the full 30 s hang or 429); the measured latencies are
printed (`pytest -s`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer, LiveFeed
from test_chat_delivery import (  # noqa: F401  (fixtures used by name)
    NonceEmulator,
    clean_environment,
    emulator,
    signal_bot,
)

from bot.pipeline import loop as runner
from bot.pipeline.loop import RunOptions, run_loop
from bot.pipeline.poller import Poller
from bot.settings import Settings
from bot.sinks.router import RoutingSink
from bot.store import Store

pytest_plugins = ["feedserver"]

SETTINGS = Settings(
    allow_private_urls=True, per_host_spacing=0, delivery_delay=0, heartbeat_file=None
)
LIMIT = 60.0  # seconds: the most a whole scenario may take
FAST = 5.0  # seconds: "at once"; the old lockstep loop took the full 30 s hang here
NOW = datetime(2025, 6, 25, 13, 0, tzinfo=UTC)  # an hour after the LiveFeed epoch
HANG = 30.0  # seconds the hanging feed or the rate-limited channel holds


@pytest.fixture(autouse=True)
def short_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle turns of the loop last 50 ms instead of a second."""
    monkeypatch.setattr(runner, "TICK", 0.05)


async def arrival(emu: NonceEmulator, channel: Any, count: int, within: float) -> float:
    """Wait until `channel` holds `count` messages; when the last of them was first seen."""
    async with asyncio.timeout(within):
        while len(emu.messages_in(channel)) < count:
            await asyncio.sleep(0.01)
    return time.monotonic()


def scenario(
    emulator: Callable[..., Any],
    tmp_path: Path,
    store: Store,
    watchlist: str,
    body: Callable[[NonceEmulator, asyncio.Task[int]], Awaitable[None]],
    *,
    latency: list[float] | None = None,
    **emulator_options: Any,
) -> None:
    """Run the loop with a SignalBot on the emulator; `body` checks while it runs.

    `latency`, if given, receives the bot's last measured gateway heartbeat latency."""

    async def run() -> None:
        async with emulator(**emulator_options) as emu, signal_bot(emu, tmp_path, store) as rig:
            path = tmp_path / "loop-watchlist.yaml"
            text = watchlist.replace("{alerts}", str(emu.alerts.id))
            path.write_text(text.replace("{general}", str(emu.general.id)), encoding="utf-8")
            sink = RoutingSink(default=rig.sink, discord=rig.sink)
            stop = asyncio.Event()
            loop = asyncio.create_task(
                run_loop(
                    SETTINGS,
                    path,
                    store,
                    sink,
                    rig.notifier,
                    RunOptions(),
                    clock=lambda: NOW,
                    stop=stop,
                )
            )
            try:
                await body(emu, loop)
                if latency is not None:
                    latency[0] = rig.bot.latency
            finally:
                stop.set()
                assert await asyncio.wait_for(loop, 15) == 0

    asyncio.run(asyncio.wait_for(run(), LIMIT))


def test_a_hanging_feed_holds_up_no_other_feeds_alert(
    emulator: Callable[..., Any], tmp_path: Path, store: Store, feed_server: FeedServer
) -> None:
    """One feed hangs for 30 s: another feed's alert reaches Discord at once after its poll."""
    good: LiveFeed = feed_server.live("/good.xml")
    good.add_items(1, title="NATO summit")
    watchlist = f"""\
version: 1
signals:
  - id: nato
    title: NATO moves
    query: NATO
sources:
  - id: hanging
    url: {feed_server.url(f"/slow?delay={HANG:g}")}
  - id: good
    url: {feed_server.url("/good.xml")}
"""
    seen: dict[str, float] = {}

    async def body(emu: NonceEmulator, loop: asyncio.Task[int]) -> None:
        posted = await arrival(emu, emu.alerts, 1, within=FAST * 2)
        latency = posted - seen["good"]
        print(f"\nhanging feed: alert posted {latency * 1000:.0f} ms after its poll committed")
        assert "hanging" not in seen  # it is still hanging
        assert latency < FAST

    with pytest.MonkeyPatch.context() as mp:
        original = Poller.commit_off_loop

        async def observed(self: Poller, *args: Any) -> Any:
            result = await original(self, *args)
            seen.setdefault(args[1].id, time.monotonic())
            return result

        mp.setattr(Poller, "commit_off_loop", observed)
        scenario(emulator, tmp_path, store, watchlist, body)
    assert store.outbox_counts() == {"pending": 0, "delivered": 1, "failed": 0}


def test_a_rate_limited_channel_holds_up_no_other_channel_and_keeps_its_order(
    emulator: Callable[..., Any], tmp_path: Path, store: Store, feed_server: FeedServer
) -> None:
    """#alerts answers 429 for a while: #general's alert is posted at once; #alerts gets its
    two alerts afterwards, once each and in the order they were queued."""
    wire: LiveFeed = feed_server.live("/wire.xml")
    wire.add_items(2, title="NATO summit")
    wire.add_items(1, title="Ceasefire talks")
    watchlist = f"""\
version: 1
signals:
  - id: nato
    title: NATO moves
    query: NATO
  - id: truce
    title: Truce terms land
    query: ceasefire
sources:
  - id: wire
    url: {feed_server.url("/wire.xml")}
routes:
  - signal: nato
    channel: {{alerts}}
  - signal: truce
    channel: {{general}}
"""
    limited = 8.0  # the 429's retry_after: long enough to tell apart, short for the suite
    seen: dict[str, float] = {}
    posted_nonces: list[str] = []
    queued_order: list[str] = []

    async def body(emu: NonceEmulator, loop: asyncio.Task[int]) -> None:
        emu.fail_next("POST", f"/channels/{emu.alerts.id}/messages", 429, retry_after=limited)
        posted = await arrival(emu, emu.general, 1, within=FAST * 2)
        latency = posted - seen["wire"]
        print(f"\nrate-limited channel: the other channel's alert {latency * 1000:.0f} ms after")
        assert latency < FAST
        assert len(emu.messages_in(emu.alerts)) == 0  # still waiting out its 429
        await arrival(emu, emu.alerts, 2, within=limited + FAST * 2)
        posted_nonces.extend(m["nonce"] for m in emu.messages_in(emu.alerts))
        rows = store._db.execute(  # type: ignore[attr-defined]
            "SELECT alert_id FROM outbox WHERE destination = ? ORDER BY created_at, alert_id",
            (f"channel:{emu.alerts.id}",),
        ).fetchall()
        queued_order.extend(row[0][:25] for row in rows)

    with pytest.MonkeyPatch.context() as mp:
        original = Poller.commit_off_loop

        async def observed(self: Poller, *args: Any) -> Any:
            result = await original(self, *args)
            seen.setdefault(args[1].id, time.monotonic())
            return result

        mp.setattr(Poller, "commit_off_loop", observed)
        scenario(emulator, tmp_path, store, watchlist, body)
    assert store.outbox_counts() == {"pending": 0, "delivered": 3, "failed": 0}
    assert posted_nonces == queued_order  # #alerts: each once, in the order queued


def test_the_event_loop_stays_free_while_polls_commit_thousands_of_entries(
    emulator: Callable[..., Any], tmp_path: Path, store: Store, feed_server: FeedServer
) -> None:
    """Five feeds of 1,000 new matching items each are parsed, matched and committed while a
    slash command is answered again and again and the gateway heartbeat keeps being acked:
    none of that work runs on the event loop."""
    feeds = 5
    for n in range(feeds):
        live: LiveFeed = feed_server.live(f"/bulk{n}.xml")
        live.add_items(1000, title=f"NATO allies debate spending plan {n}")
    sources = "".join(
        f"  - id: bulk{n}\n    url: {feed_server.url(f'/bulk{n}.xml')}\n" for n in range(feeds)
    )
    watchlist = f"""\
version: 1
signals:
  - id: nato
    title: NATO moves
    query: NATO AND (allies OR spending)
sources:
{sources}"""
    seen: dict[str, float] = {}
    lags: list[float] = []
    answers: list[float] = []

    async def watch_lag(stop: asyncio.Event) -> None:
        while not stop.is_set():
            start = time.monotonic()
            await asyncio.sleep(0.02)
            lags.append(time.monotonic() - start - 0.02)

    async def body(emu: NonceEmulator, loop: asyncio.Task[int]) -> None:
        done = asyncio.Event()
        watcher = asyncio.create_task(watch_lag(done))
        async with asyncio.timeout(40):
            while len(seen) < feeds:
                start = time.monotonic()
                reply = await emu.send_interaction("status")
                await reply
                answers.append(time.monotonic() - start)
                await asyncio.sleep(0.05)
        done.set()
        await watcher
        heartbeats = sum(len(c.ops_received(1)) for c in emu.gateway_connections)
        print(
            f"\n{feeds}x1000 entries committed: slash command answered in at most"
            f" {max(answers) * 1000:.0f} ms ({len(answers)} tries), event loop lag at most"
            f" {max(lags) * 1000:.0f} ms, {heartbeats} heartbeats acked"
        )
        assert max(answers) < 1.0 and max(lags) < 0.5

    emu_bot_latency = [0.0]

    with pytest.MonkeyPatch.context() as mp:
        original = Poller.commit_off_loop

        async def observed(self: Poller, *args: Any) -> Any:
            result = await original(self, *args)
            seen.setdefault(args[1].id, time.monotonic())
            return result

        mp.setattr(Poller, "commit_off_loop", observed)
        scenario(
            emulator,
            tmp_path,
            store,
            watchlist,
            body,
            heartbeat_interval=0.25,
            latency=emu_bot_latency,
        )
    print(f"gateway heartbeat latency at the end: {emu_bot_latency[0] * 1000:.0f} ms")
    assert emu_bot_latency[0] < 1.0
