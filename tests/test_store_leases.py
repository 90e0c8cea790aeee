"""Lease holders in SQLite: the holder names, and migration 7 over leases taken before it."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from store_contract import LEASE, T0, alert, cfg

from bot.store import DEFAULT_HOLDER, default_holder
from bot.store.codec import alert_to_json
from bot.store.migrations import MIGRATIONS
from bot.store.sqlite import SQLiteStore


def test_default_holder_is_this_host_and_role() -> None:
    """default_holder names this host and the role, the same on every call (every restart)."""
    assert default_holder() == f"{socket.gethostname()}:run"
    assert default_holder("chat") == f"{socket.gethostname()}:chat" == default_holder("chat")
    assert DEFAULT_HOLDER not in (default_holder(), default_holder("chat"))


def test_default_holder_refuses_an_empty_role() -> None:
    """An empty role is a ValueError naming what was wrong."""
    with pytest.raises(ValueError, match="role must not be empty"):
        default_holder("")


def test_leases_taken_before_migration_7_have_no_holder_and_stand(tmp_path: Path) -> None:
    """Leases from before holders were recorded belong to no one: no release ends them."""
    db_file = tmp_path / "signalwatch.db"
    with SQLiteStore(db_file) as store, pytest.MonkeyPatch.context() as mp:
        mp.setattr("bot.store.sqlite._base.MIGRATIONS", MIGRATIONS[:6])
        assert store.migrate() == 6
        store.sync_sources([cfg("a")], T0)
        # what a signalwatch of schema 6 did to enqueue and to claim
        store._db.execute(
            "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                "x1",
                "nato",
                "console",
                "a",
                alert_to_json(alert("x1")),
                T0.isoformat(),
                T0.isoformat(),
            ),
        )
        until = "2025-06-24T09:05:00.000000+00:00"
        store._db.execute("UPDATE sources SET lease_until = ?", (until,))
        store._db.execute("UPDATE outbox SET lease_until = ?, attempts = 1", (until,))
    with SQLiteStore(db_file) as store:
        assert store.migrate() == len(MIGRATIONS) - 6
        state = store.source("a")
        assert state is not None and (state.lease_holder, state.lease_token) == (None, 0)
        assert store.release_leases(DEFAULT_HOLDER) == (0, 0)
        assert store.claim_due_sources(T0, 10, LEASE) == []
        assert store.claim_alerts(T0, 10, LEASE) == []
        # and they run out as they always did
        later = T0 + LEASE + LEASE
        assert [s.lease_token for s in store.claim_due_sources(later, 10, LEASE)] == [1]
        [pending] = store.claim_alerts(later, 10, LEASE)
        assert (pending.attempts, pending.lease_token) == (2, 1)
