"""Several processes on one PostgreSQL database: what they must not do twice.

Two `PostgresStore`s on one schema stand for two worker processes (each its own pool, its
own Poller, its own commit lock); only the database is shared. Skipped, saying why, where
SIGNALWATCH_TEST_PG is unset.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeClock, Notices
from test_pipeline import NOW, compiled_for
from test_store_postgres import connect, needs_pg, schema  # noqa: F401  (fixtures)

from bot.model import Alert, Entry
from bot.pipeline import Poller, source_configs
from bot.pipeline import poller as poller_module
from bot.pipeline.live_source import WatchlistSource
from bot.pipeline.loop import RunOptions, run_loop
from bot.settings import Settings
from bot.store.postgres import PostgresStore

pytestmark = needs_pg

HEADLINE = "NATO allies agree to raise defence spending to 5% of GDP by 2035"


def copy_from(source_id: str, site: str) -> Entry:
    """One outlet's copy of the story, fresh enough to alert on a first poll."""
    return Entry(
        source_id=source_id,
        key=f"guid:{site}-1",
        title=HEADLINE,
        summary="Allies agreed the new target at the summit.",
        link=f"https://{site}/world/nato-5",
        published=NOW - timedelta(minutes=5),
    )


def test_two_workers_filing_copies_of_one_story_at_once_make_one_alert_and_one_update(
    connect: Callable[[], PostgresStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers commit copies of one story from two outlets at the same moment (planning
    slowed so the two would overlap): one story, one alert, one "+1 source" update."""
    compiled = compiled_for({"a": "https://a-wire.example/feed", "b": "https://b-paper.example/f"})
    first, second = connect(), connect()
    first.migrate()
    first.sync_sources(source_configs(compiled.watchlist), NOW)
    real_plan = poller_module.plan_poll

    def slow_plan(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # long enough for the other worker to plan the same story meanwhile
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(poller_module, "plan_poll", slow_plan)
    start = threading.Barrier(2)
    results: dict[str, int] = {}

    def work(store: PostgresStore, source_id: str, site: str) -> None:
        poller = Poller(store, None, lambda: compiled, Notices(), FakeClock(NOW))  # type: ignore[arg-type]
        source = store.source(source_id)
        assert source is not None
        start.wait()
        _, _, results[source_id] = poller.commit(
            compiled, source, [copy_from(source_id, site)], NOW
        )

    threads = [
        threading.Thread(target=work, args=(first, "a", "a-wire.example")),
        threading.Thread(target=work, args=(second, "b", "b-paper.example")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    with first._transaction("test") as db:  # what the outbox holds, by kind
        kinds = sorted(row["kind"] for row in db.execute("SELECT kind FROM outbox").fetchall())
        stories = db.execute("SELECT count(*) AS n FROM stories").fetchone()
    assert stories is not None and stories["n"] == 1
    assert kinds == ["story", "update"]
    assert sorted(results.values()) == [1, 1]


def test_the_gateway_hears_a_workers_commit_at_once(
    connect: Callable[[], PostgresStore], tmp_path: Path
) -> None:
    """A gateway's delivery waits on LISTEN instead of asking the outbox every second, and
    an alert another process commits is delivered at once all the same."""
    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(
        "version: 1\nsignals:\n  - id: nato\n    title: NATO\n    query: NATO\n"
        "sources:\n  - id: a\n    url: https://a-wire.example/feed\n",
        encoding="utf-8",
    )
    gateway_store, worker_store = connect(), connect()
    gateway_store.migrate()
    settings = Settings(heartbeat_file=None, reload_every=60)
    received: list[tuple[str, float]] = []
    claims: list[float] = []
    real_claim = gateway_store.claim_alerts

    def counted_claim(*args: Any, **kwargs: Any) -> Any:
        claims.append(time.monotonic())
        return real_claim(*args, **kwargs)

    gateway_store.claim_alerts = counted_claim  # type: ignore[method-assign]

    class Sink:
        async def send(self, alert: Alert) -> str | None:
            received.append((alert.alert_id, time.monotonic()))
            return None

    async def scenario() -> float:
        stop = asyncio.Event()
        loop = asyncio.create_task(
            run_loop(
                settings,
                watchlist,
                gateway_store,
                Sink(),
                Notices(),
                RunOptions(role="gateway"),
                stop=stop,
            )
        )
        await asyncio.sleep(1.5)  # the gateway is up and listening
        idle_from = time.monotonic()
        await asyncio.sleep(3.0)
        idle_claims = [t for t in claims if t >= idle_from]
        assert len(idle_claims) <= 1  # no busy polling: the outbox is asked every 5 s at most
        committed = time.monotonic()
        await asyncio.to_thread(
            worker_store.commit_poll, "a", NOW, seen=[], articles=[], alerts=[alert("x1")]
        )
        async with asyncio.timeout(10):
            while not received:
                await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(loop, 10)
        return received[0][1] - committed

    latency = asyncio.run(scenario())
    print(f"\ngateway delivered a worker's alert {latency * 1000:.0f} ms after its commit")
    assert latency < 2.5  # a look every 5 s (LISTEN_TICK) would be far later, on average


def test_an_edit_reaches_a_worker_through_the_live_watchlist(
    connect: Callable[[], PostgresStore], tmp_path: Path
) -> None:
    """The gateway publishes the file it loads and each good edit; a worker on another host
    (no file of its own) follows the store's newest version."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(TWO_SIGNALS.replace("{extra}", ""), encoding="utf-8")
    gateway_store, worker_store = connect(), connect()
    gateway_store.migrate()
    clock = FakeClock(NOW)
    gateway = WatchlistSource(path, gateway_store, clock, publish=True)
    worker = WatchlistSource(tmp_path / "missing.yaml", worker_store, clock, follow_store=True)
    gateway.load()
    assert [s.id for s in worker.load().signals] == ["nato"]
    assert worker.check() is None  # nothing new
    path.write_text(TWO_SIGNALS.replace("{extra}", EXTRA_SIGNAL), encoding="utf-8")
    clock.advance(minutes=1)
    assert gateway.check() is not None
    fresh = worker.check()
    assert fresh is not None and [s.id for s in fresh.signals] == ["nato", "truce"]
    assert worker.name.startswith("the store's live watchlist v")


TWO_SIGNALS = """\
version: 1
signals:
  - id: nato
    title: NATO
    query: NATO
{extra}sources:
  - id: a
    url: https://a-wire.example/feed
"""
EXTRA_SIGNAL = """\
  - id: truce
    title: Truce
    query: ceasefire
"""


def alert(alert_id: str) -> Alert:
    """A console alert for signal nato."""
    return Alert(alert_id, "nato", "console", "NATO allies agree", None, "a", NOW, ("NATO",), "")
