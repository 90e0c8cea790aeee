"""SQLite durability: the commits at-least-once delivery rests on sync at COMMIT (FULL).

Under WAL, synchronous=NORMAL may lose the last commits to a power cut; the store commits
commit_poll, mark_delivered and commit_digest, and the rare edits a person was told are done,
with FULL, and the rest with NORMAL. No test
can cut the power, so these watch the level each COMMIT runs under (SQLite's trace hook).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from store_contract import LEASE, T0, alert, at, cfg

from bot.errors import StoreError
from bot.store import DigestItem
from bot.store.sqlite import SQLiteStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A migrated store on a WAL file with source 'a' configured."""
    with SQLiteStore(tmp_path / "signalwatch.db") as store:
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        yield store


def levels_at_commit(store: SQLiteStore, action: Callable[[], object]) -> list[str]:
    """The synchronous level each COMMIT of `action` ran under, in order."""
    level, found = "NORMAL", []

    def trace(sql: str) -> None:
        nonlocal level
        if sql.upper().startswith("PRAGMA SYNCHRONOUS"):
            level = sql.split("=")[1].strip().upper()
        elif sql.upper() == "COMMIT":
            found.append(level)

    store._db.set_trace_callback(trace)
    try:
        action()
    finally:
        store._db.set_trace_callback(None)
    return found


def synchronous(store: SQLiteStore) -> int:
    """The connection's synchronous level now: 1 is NORMAL, 2 is FULL."""
    return int(store._db.execute("PRAGMA synchronous").fetchone()[0])


def test_the_connection_runs_normal_between_durable_commits(store: SQLiteStore) -> None:
    """The level the store opens with, and returns to after every durable commit, is NORMAL."""
    assert synchronous(store) == 1
    store.commit_poll("a", T0, seen=[], articles=[], alerts=[alert("x1")])
    assert synchronous(store) == 1


def test_poll_delivery_and_digest_commits_are_full(store: SQLiteStore) -> None:
    """commit_poll, mark_delivered and commit_digest each commit under synchronous=FULL."""
    hit = alert("h1", destination="digest")
    assert levels_at_commit(
        store,
        lambda: store.commit_poll(
            "a",
            T0,
            seen=[],
            articles=[],
            alerts=[alert("x1")],
            digest_items=[DigestItem("daily", hit)],
        ),
    ) == ["FULL"]
    assert [p.alert.alert_id for p in store.claim_alerts(at(1), 10, LEASE)] == ["x1"]
    assert levels_at_commit(store, lambda: store.mark_delivered("x1", at(2), "m:1")) == ["FULL"]
    digest = alert("d1", destination="digest")
    assert levels_at_commit(
        store,
        lambda: store.commit_digest("digest", "daily", at(3), item_ids=["h1"], digest=digest),
    ) == ["FULL"]


def test_what_a_person_was_told_is_done_commits_full(store: SQLiteStore) -> None:
    """Subscriptions, admin switches and audit entries are rare: each commits under FULL."""

    def edits() -> None:
        store.subscribe(1, "nato", "dm", None, T0)
        store.unsubscribe(1, "nato")
        store.set_source_enabled("a", False, T0)
        store.record_audit(
            T0, actor_id=1, actor_name="admin", action="disable", target="a", before={}, after={}
        )

    assert levels_at_commit(store, edits) == ["FULL"] * 4


def test_bookkeeping_commits_stay_normal(store: SQLiteStore) -> None:
    """Claims and fetch outcomes, which a repeated poll makes good, commit under NORMAL."""

    def bookkeeping() -> None:
        store.claim_due_sources(T0, 10, LEASE)
        store.record_not_modified("a", at(1), next_poll_at=at(10))
        store.claim_alerts(at(1), 10, LEASE)
        store.release_leases("nobody")

    assert levels_at_commit(store, bookkeeping) == ["NORMAL"] * 4


def test_a_failed_durable_transaction_leaves_the_connection_normal(store: SQLiteStore) -> None:
    """A durable transaction that raises still puts the connection back to NORMAL."""
    with pytest.raises(StoreError, match="no source 'nope'"):
        store.commit_poll("nope", T0, seen=[], articles=[], alerts=[])
    assert synchronous(store) == 1
    assert levels_at_commit(store, lambda: store.claim_due_sources(T0, 10, LEASE)) == ["NORMAL"]
