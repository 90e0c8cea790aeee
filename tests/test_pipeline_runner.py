"""The run loop in-process: hot reload of the watchlist, and stopping on its Event.

`run_loop` runs on a fresh event loop with a fake clock (the schedule only moves when the
test moves it), a collecting sink and notifier, and the feed server. The test waits on what
the sink and notifier receive (bounded), never on time; the loop's idle tick is shortened.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeClock
from feedserver import FeedServer, LiveFeed

from bot.errors import StoreError
from bot.model import Alert
from bot.notices import Notice, notice_text
from bot.pipeline import loop as runner
from bot.pipeline.loop import RunOptions, run_loop
from bot.settings import Settings
from bot.store import SourceConfig, Store, default_holder

pytest_plugins = ["feedserver"]

NOW = datetime(2025, 6, 25, 13, 0, tzinfo=UTC)  # an hour after the LiveFeed epoch
WAIT = 10.0  # seconds: the most the loop may take to produce what a step waits for
SETTINGS = Settings(
    allow_private_urls=True,
    per_host_spacing=0,
    reload_every=0.001,  # check the file on every turn of the loop
    delivery_delay=0,
    heartbeat_file=None,
)

NATO_ONLY = """\
version: 1
signals:
  - id: nato
    title: NATO moves
    query: NATO
sources:
  - id: wire
    url: {url}
"""
NATO_AND_TRUCE = """\
version: 1
signals:
  - id: nato
    title: NATO moves
    query: NATO
  - id: truce
    title: Truce terms land
    query: truce OR ceasefire
sources:
  - id: wire
    url: {url}
"""
BROKEN = """\
version: 1
signals:
  - id: nato
    title: NATO moves
    query: NATO AND (
  - id: truce
    title: Truce terms land
    query: truce OR ceasefire
sources:
  - id: wire
    url: {url}
"""


class Collector:
    """Sink and Notifier in one: keeps alerts and notices, and wakes whoever waits on them."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.notices: list[str] = []
        self._changed = asyncio.Event()

    async def send(self, alert: Alert) -> str | None:
        """Keep an alert."""
        self.alerts.append(alert)
        self._changed.set()
        return None

    async def notify(self, message: str | Notice) -> None:
        """Keep an admin notice, as the text it would be posted as."""
        self.notices.append(message if isinstance(message, str) else notice_text(message))
        self._changed.set()

    async def until(self, *, alerts: int, notices: int = 0) -> None:
        """Wait (at most WAIT seconds) until this many alerts and notices have arrived."""
        async with asyncio.timeout(WAIT):
            while len(self.alerts) < alerts or len(self.notices) < notices:
                self._changed.clear()
                await self._changed.wait()

    def titles(self, start: int = 0) -> list[str]:
        """The titles of the alerts from `start` on, sorted."""
        return sorted(a.title for a in self.alerts[start:])


def replace_file(path: Path, text: str) -> None:
    """Replace the file in one step, as editors and `atomic_write` do."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@pytest.fixture(autouse=True)
def short_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle turns of the loop last 10 ms instead of a second."""
    monkeypatch.setattr(runner, "TICK", 0.01)


def test_hot_reload_picks_up_a_new_signal_and_keeps_the_last_good_on_a_broken_file(
    tmp_path: Path, store: Store, feed_server: FeedServer
) -> None:
    """An added signal matches from the next poll; a broken edit notifies once, matching goes on."""
    live: LiveFeed = feed_server.live("/wire.xml")
    live.add_items(1, title="NATO summit")
    url = feed_server.url("/wire.xml")
    path = tmp_path / "watchlist.yaml"
    path.write_text(NATO_ONLY.format(url=url), encoding="utf-8")
    clock = FakeClock(NOW)
    out = Collector()

    def next_round(*titles: str) -> None:
        """Publish new items and move the clock past the source's next poll."""
        for title in titles:
            live.add_items(1, title=title)
        clock.now += timedelta(minutes=20)

    async def scenario() -> int:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_loop(SETTINGS, path, store, out, out, RunOptions(), clock=clock, stop=stop)
        )
        await out.until(alerts=1)
        assert out.titles() == ["NATO summit 1"]

        # The same moment the file changes, new items appear: the loop checks the file
        # before it polls, so the new signal is live for them.
        replace_file(path, NATO_AND_TRUCE.format(url=url))
        next_round("Ceasefire talks", "NATO envoys")
        await out.until(alerts=3)
        assert out.titles(1) == ["Ceasefire talks 2", "NATO envoys 3"]
        assert [a.signal_id for a in out.alerts if a.title == "Ceasefire talks 2"] == ["truce"]

        replace_file(path, BROKEN.format(url=url))
        next_round("Truce monitors", "NATO drills")
        await out.until(alerts=5, notices=1)
        assert out.titles(3) == ["NATO drills 5", "Truce monitors 4"]  # the last good one

        next_round("Ceasefire extended")  # the file is still broken: no second notice
        await out.until(alerts=6)
        assert out.titles(5) == ["Ceasefire extended 6"]
        stop.set()
        return await asyncio.wait_for(loop, WAIT)

    assert asyncio.run(scenario()) == 0
    assert len(out.notices) == 1
    assert out.notices[0].startswith(
        f"`{path.name}` has errors; keeping the last good watchlist:\n"
    )
    assert f"{path.name}:5: signal 'nato': query: " in out.notices[0]
    assert str(path.parent) not in out.notices[0]  # no server path in an admin notice
    assert store.outbox_counts() == {"pending": 0, "delivered": 6, "failed": 0}


def test_run_loop_stops_when_its_event_is_set(
    tmp_path: Path, store: Store, feed_server: FeedServer
) -> None:
    """Setting the stop Event ends a long-running loop with exit code 0."""
    feed_server.live("/wire.xml").add_items(2, title="NATO summit")
    path = tmp_path / "watchlist.yaml"
    path.write_text(NATO_ONLY.format(url=feed_server.url("/wire.xml")), encoding="utf-8")
    out = Collector()

    async def scenario() -> int:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_loop(SETTINGS, path, store, out, out, RunOptions(), clock=FakeClock(NOW), stop=stop)
        )
        await out.until(alerts=2)
        stop.set()
        return await asyncio.wait_for(loop, WAIT)

    assert asyncio.run(scenario()) == 0
    assert out.titles() == ["NATO summit 1", "NATO summit 2"]
    assert out.notices == []


def test_a_restart_releases_what_its_previous_run_held_and_works_at_once(
    tmp_path: Path, store: Store, feed_server: FeedServer
) -> None:
    """Leases a killed run of this host held (a source and an alert) are released at start:
    the source is polled and the alert delivered at once, not when the leases run out."""
    live: LiveFeed = feed_server.live("/wire.xml")
    live.add_items(1, title="NATO summit")
    path = tmp_path / "watchlist.yaml"
    path.write_text(NATO_ONLY.format(url=feed_server.url("/wire.xml")), encoding="utf-8")
    clock = FakeClock(NOW)
    store.sync_sources([SourceConfig("wire", feed_server.url("/wire.xml"), "rss", 600)], NOW)
    store.commit_poll("wire", NOW, seen=[], articles=[], alerts=[left_behind()])
    holder = default_holder("run")
    # what the killed run held: the source being polled and the alert being sent
    assert store.claim_due_sources(NOW, 10, timedelta(hours=1), holder=holder)
    assert store.claim_alerts(NOW, 10, timedelta(hours=1), holder=holder)
    out = Collector()

    async def scenario() -> int:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_loop(SETTINGS, path, store, out, out, RunOptions(), clock=clock, stop=stop)
        )
        await out.until(alerts=2)
        stop.set()
        return await asyncio.wait_for(loop, WAIT)

    assert asyncio.run(scenario()) == 0
    assert out.titles() == ["Left behind", "NATO summit 1"]


def left_behind() -> Alert:
    """An alert the killed run was sending."""
    return Alert("left-1", "nato", "console", "Left behind", None, "wire", NOW, ("NATO",), "")


def test_a_database_that_goes_away_is_ridden_out_with_one_line(
    tmp_path: Path,
    store: Store,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The store fails five times in a row mid-run: the loop says so once, backs off, says
    when it is back, and then polls and delivers as if nothing happened."""
    live: LiveFeed = feed_server.live("/wire.xml")
    live.add_items(1, title="NATO summit")
    path = tmp_path / "watchlist.yaml"
    path.write_text(NATO_ONLY.format(url=feed_server.url("/wire.xml")), encoding="utf-8")
    out = Collector()
    failures = {"left": 5}
    real_claim = store.claim_due_sources

    def flaky_claim(*args: Any, **kwargs: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise StoreError("SQLite store 'db.sqlite': claim_due_sources failed: disk I/O error")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(store, "claim_due_sources", flaky_claim)
    monkeypatch.setattr(runner, "Outage", FastOutage)

    async def scenario() -> int:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_loop(SETTINGS, path, store, out, out, RunOptions(), clock=FakeClock(NOW), stop=stop)
        )
        await out.until(alerts=1)
        stop.set()
        return await asyncio.wait_for(loop, WAIT)

    assert asyncio.run(scenario()) == 0
    assert out.titles() == ["NATO summit 1"]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("the run loop")]
    assert lines == [
        "the run loop cannot reach the database: SQLite store 'db.sqlite': claim_due_sources"
        " failed: disk I/O error; retrying with backoff",
        "the run loop reaches the database again after 5 tries",
    ]


class FastOutage(runner.Outage):
    """The loop's outage handling with millisecond backoff, so the test does not wait."""

    def backoff(self) -> float:
        """A hundredth of the real backoff."""
        return super().backoff() / 100
