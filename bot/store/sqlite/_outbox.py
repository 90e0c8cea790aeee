"""SQLite store, the outbox: claiming alerts, delivery outcomes, receipts, counts."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from bot.errors import StoreError
from bot.model import Alert, StoryUpdateAlert
from bot.store import codec
from bot.store.base import OUTBOX_STATUSES, OutboxRecord, PendingAlert, distinct_updates
from bot.store.leases import DEFAULT_HOLDER, check_holder
from bot.store.sqlite._base import SQLiteBase, _chunks


class OutboxMixin(SQLiteBase):
    """The outbox: leasing due alerts, recording delivery outcomes, receipts and counts."""

    def claim_alerts(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        *,
        holder: str = DEFAULT_HOLDER,
        heads_only: bool = False,
        skip_destinations: Collection[str] = (),
    ) -> list[PendingAlert]:
        """Lease up to `limit` pending alerts that are due, oldest first, counting an attempt."""
        at = codec.to_text(now, "now")
        until = codec.to_text(now + lease)
        check_holder(holder)
        if limit <= 0:
            return []
        skipped = tuple(skip_destinations)
        where = ""
        if skipped:
            where += f" AND o.destination NOT IN ({', '.join('?' * len(skipped))})"
        if heads_only:
            # Only a destination's oldest pending alert, whatever its state: one that waits
            # for a retry (or is being sent) holds back the rest of its destination's queue.
            where += (
                " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.status = 'pending'"
                " AND p.destination = o.destination"
                " AND (p.created_at, p.alert_id) < (o.created_at, o.alert_id))"
            )
        with self._transaction("claim_alerts") as db:
            rows = db.execute(
                "SELECT o.* FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= ?"
                f" AND (o.lease_until IS NULL OR o.lease_until < ?){where}"
                " ORDER BY o.created_at, o.alert_id LIMIT ?",
                (at, at, *skipped, limit),
            ).fetchall()
            ids = [row["alert_id"] for row in rows]
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    "UPDATE outbox SET lease_until = ?, attempts = attempts + 1,"
                    f" lease_holder = ?, lease_token = lease_token + 1 WHERE alert_id IN ({marks})",
                    (until, holder, *chunk),
                )
        return _readable(self, rows, holder)

    def mark_delivered(self, alert_id: str, now: datetime, receipt: str | None) -> None:
        """Record that a sink accepted the alert; terminal, and a repeat changes nothing."""
        at = codec.to_text(now, "now")
        with self._transaction("mark_delivered", durable=True) as db:
            # 'failed' may still become 'delivered': another deliverer got it through.
            cursor = db.execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?, receipt = ?,"
                " lease_until = NULL WHERE alert_id = ? AND status != 'delivered'",
                (at, receipt, alert_id),
            )
            if cursor.rowcount == 0:
                self._require_alert(db, alert_id)

    def mark_failed(
        self,
        alert_id: str,
        now: datetime,
        *,
        error: str,
        next_attempt_at: datetime,
        permanent: bool,
    ) -> None:
        """Record a failed delivery: retry at `next_attempt_at`, or 'failed' if permanent."""
        codec.utc(now, "now")  # validated for the contract; the outbox keeps no failure time
        retry_at = codec.to_text(next_attempt_at, "next_attempt_at")
        with self._transaction("mark_failed") as db:
            # Only a pending alert can fail: a late report from a deliverer whose lease ran out
            # must not pull back an alert another deliverer already delivered.
            cursor = db.execute(
                "UPDATE outbox SET status = ?, last_error = ?, next_attempt_at = ?,"
                " lease_until = NULL WHERE alert_id = ? AND status = 'pending'",
                ("failed" if permanent else "pending", error, retry_at, alert_id),
            )
            if cursor.rowcount == 0:
                self._require_alert(db, alert_id)

    def outbox_record(self, alert_id: str) -> OutboxRecord | None:
        """One outbox row with its status and receipt, or None when there is no such alert."""
        with self._transaction("outbox_record", write=False) as db:
            row = db.execute("SELECT * FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone()
        if row is None:
            return None
        return OutboxRecord(
            alert=codec.alert_from_json(row["payload"]),
            status=row["status"],
            attempts=row["attempts"],
            receipt=row["receipt"],
            created_at=codec.from_text(row["created_at"]),
            delivered_at=codec.opt_from_text(row["delivered_at"]),
        )

    def last_update_receipt(self, original_id: str) -> str | None:
        """The receipt of the latest delivered story update of the alert `original_id`."""
        with self._transaction("last_update_receipt", write=False) as db:
            row = db.execute(
                "SELECT receipt FROM outbox WHERE update_of = ?"
                " AND status = 'delivered' AND receipt IS NOT NULL"
                " ORDER BY delivered_at DESC, alert_id DESC LIMIT 1",
                (original_id,),
            ).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _require_alert(db: sqlite3.Connection, alert_id: str) -> None:
        if db.execute("SELECT 1 FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone() is None:
            raise StoreError(f"no alert {alert_id!r}")

    def recent_story_updates(self, signal_id: str, limit: int) -> list[StoryUpdateAlert]:
        """The signal's latest story updates, newest first, one per story and headline."""
        with self._transaction("recent_story_updates", write=False) as db:
            rows = db.execute(
                "SELECT payload FROM outbox WHERE signal_id = ? AND kind = 'update'"
                " ORDER BY created_at DESC, alert_id DESC LIMIT ?",
                (signal_id, limit * 4),  # one per route: read a few more, keep `limit`
            ).fetchall()
        return distinct_updates([codec.alert_from_json(row[0]) for row in rows], limit)

    def alerts_for_signal_since(
        self, signal_id: str, since: datetime, *, limit: int | None = None
    ) -> int:
        """How many alerts for this signal were enqueued at or after `since`, any status,
        counted up to `limit`."""
        with self._transaction("alerts_for_signal_since", write=False) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM outbox WHERE signal_id = ?"
                " AND created_at >= ? AND kind != 'update' LIMIT ?)",
                (signal_id, codec.to_text(since, "since"), -1 if limit is None else limit),
            ).fetchone()
        return int(row[0])

    def outbox_counts(self) -> dict[str, int]:
        """The number of alerts per outbox status: pending, delivered, failed."""
        with self._transaction("outbox_counts", write=False) as db:
            rows = db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
        counts: dict[str, int] = dict.fromkeys(OUTBOX_STATUSES, 0)
        counts.update({row[0]: row[1] for row in rows})
        return counts

    def oldest_pending_at(self) -> datetime | None:
        """When the oldest alert still waiting in the outbox was queued (None: none waits)."""
        with self._transaction("oldest_pending_at", write=False) as db:
            query = "SELECT MIN(created_at) FROM outbox WHERE status = 'pending'"
            row = db.execute(query).fetchone()
        return codec.from_text(row[0]) if row and row[0] else None

    def delivered_alerts_since(
        self, signal_id: str | None, since: datetime, limit: int
    ) -> list[tuple[PendingAlert, str | None]]:
        """Alerts delivered at or after `since`, with their receipts, newest delivery first."""
        start = codec.to_text(since, "since")
        if limit <= 0:
            return []
        with self._transaction("delivered_alerts_since", write=False) as db:
            if signal_id is None:
                rows = db.execute(
                    "SELECT * FROM outbox WHERE status = 'delivered' AND delivered_at >= ?"
                    " ORDER BY delivered_at DESC, alert_id DESC LIMIT ?",
                    (start, limit),
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM outbox WHERE status = 'delivered' AND signal_id = ?"
                    " AND delivered_at >= ? ORDER BY delivered_at DESC, alert_id DESC LIMIT ?",
                    (signal_id, start, limit),
                ).fetchall()
        return [(_pending_alert(row), row["receipt"]) for row in rows]


def _pending_alert(row: sqlite3.Row, *, claimed_by: str | None = None) -> PendingAlert:
    # `claimed_by`: the row was read just before this holder's claim updated it, so the
    # claim's attempt and lease are added here.
    claimed = claimed_by is not None
    return PendingAlert(
        alert=codec.alert_from_json(row["payload"]),
        status=row["status"],
        attempts=row["attempts"] + int(claimed),
        next_attempt_at=codec.from_text(row["next_attempt_at"]),
        last_error=row["last_error"],
        created_at=codec.from_text(row["created_at"]),
        lease_holder=claimed_by if claimed else row["lease_holder"],
        lease_token=row["lease_token"] + int(claimed),
    )


def insert_alert(db: sqlite3.Connection, alert: Alert, at: str) -> int:
    """Enqueue `alert` in the open transaction, with its kind; 1 if new, 0 if already there."""
    return insert_alerts(db, [alert], at)


def insert_alerts(db: sqlite3.Connection, alerts: Sequence[Alert], at: str) -> int:
    """Enqueue `alerts` in the open transaction (one statement); how many were new."""
    if not alerts:
        return 0
    cursor = db.executemany(
        "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload, kind,"
        " update_of, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (alert_id) DO NOTHING",
        [codec.outbox_values(alert, at) for alert in alerts],
    )
    return cursor.rowcount


def _readable(store: SQLiteBase, rows: list[sqlite3.Row], holder: str) -> list[PendingAlert]:
    """The claimed rows as alerts; a row this version cannot read (a newer kind, a broken
    payload) is failed for good, saying why, instead of stopping every delivery behind it."""
    claimed = []
    for row in rows:
        try:
            claimed.append(_pending_alert(row, claimed_by=holder))
        except (ValueError, KeyError, TypeError) as exc:
            with store._transaction("claim_alerts: unreadable") as db:
                db.execute(
                    "UPDATE outbox SET status = 'failed', lease_until = NULL, last_error = ?"
                    " WHERE alert_id = ?",
                    (f"this version cannot read the alert: {exc}", row["alert_id"]),
                )
    return claimed
