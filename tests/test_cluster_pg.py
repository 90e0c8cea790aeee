"""Several processes on one PostgreSQL database: what they must not do twice.

Two `PostgresStore`s on one schema stand for two worker processes (each its own pool, its
own Poller, its own commit lock); only the database is shared. Skipped, saying why, where
SIGNALWATCH_TEST_PG is unset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fakes import FakeClock, Notices
from test_pipeline import NOW, compiled_for
from test_store_postgres import connect, needs_pg, schema  # noqa: F401  (fixtures)

from bot.model import Entry
from bot.pipeline import Poller, source_configs
from bot.pipeline import poller as poller_module
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
