"""PostgreSQL store, the outbox: claiming alerts, delivery outcomes, receipts, counts."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from bot.errors import StoreError
from bot.model import Alert, StoryUpdateAlert
from bot.store import codec
from bot.store.base import OUTBOX_STATUSES, OutboxRecord, PendingAlert, distinct_updates
from bot.store.leases import DEFAULT_HOLDER, check_holder
from bot.store.postgres._base import Conn, PostgresBase, Row, utc_of, utc_or_none


class OutboxMixin(PostgresBase):
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
        at = codec.utc(now, "now")
        until = at + lease
        check_holder(holder)
        if limit <= 0:
            return []
        heads = ""
        if heads_only:
            # Only a destination's oldest pending alert, whatever its state: one that waits
            # for a retry (or is being sent) holds back the rest of its destination's queue.
            # The test does not look at leases, so a head another claimer has locked (and
            # SKIP LOCKED passes over) still holds back the alerts behind it.
            heads = (
                " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.status = 'pending'"
                " AND p.destination = o.destination"
                " AND (p.created_at, p.alert_id) < (o.created_at, o.alert_id))"
            )
        with self._transaction("claim_alerts") as db:
            rows = db.execute(
                "WITH picked AS MATERIALIZED ("
                " SELECT o.alert_id FROM outbox o"
                " WHERE o.status = 'pending' AND o.next_attempt_at <= %(at)s"
                " AND (o.lease_until IS NULL OR o.lease_until < %(at)s)"
                f" AND NOT (o.destination = ANY(%(skip)s)){heads}"
                " ORDER BY o.created_at, o.alert_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE outbox x SET lease_until = %(until)s, attempts = x.attempts + 1,"
                " lease_holder = %(holder)s, lease_token = x.lease_token + 1"
                " FROM picked WHERE x.alert_id = picked.alert_id RETURNING x.*",
                {
                    "at": at,
                    "until": until,
                    "holder": holder,
                    "skip": list(skip_destinations),
                    "limit": limit,
                },
            ).fetchall()
        claimed = []
        for row in rows:
            try:
                claimed.append(_pending_alert(row))
            except (ValueError, KeyError, TypeError) as exc:
                # A row this version cannot read (a newer kind, a broken payload) fails for
                # good, saying why, instead of stopping every delivery behind it.
                with self._transaction("claim_alerts: unreadable") as db:
                    db.execute(
                        "UPDATE outbox SET status = 'failed', lease_until = NULL,"
                        " last_error = %s WHERE alert_id = %s",
                        (f"this version cannot read the alert: {exc}", row["alert_id"]),
                    )
        return sorted(claimed, key=lambda p: (p.created_at, p.alert.alert_id))

    def mark_delivered(self, alert_id: str, now: datetime, receipt: str | None) -> None:
        """Record that a sink accepted the alert; terminal, and a repeat changes nothing."""
        at = codec.utc(now, "now")
        with self._transaction("mark_delivered") as db:
            # 'failed' may still become 'delivered': another deliverer got it through.
            cursor = db.execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = %s, receipt = %s,"
                " lease_until = NULL WHERE alert_id = %s AND status != 'delivered'",
                (at, receipt, alert_id),
            )
            if cursor.rowcount == 0:
                _require_alert(db, alert_id)

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
        retry_at = codec.utc(next_attempt_at, "next_attempt_at")
        with self._transaction("mark_failed") as db:
            # Only a pending alert can fail: a late report from a deliverer whose lease ran out
            # must not pull back an alert another deliverer already delivered.
            cursor = db.execute(
                "UPDATE outbox SET status = %s, last_error = %s, next_attempt_at = %s,"
                " lease_until = NULL WHERE alert_id = %s AND status = 'pending'",
                ("failed" if permanent else "pending", error, retry_at, alert_id),
            )
            if cursor.rowcount == 0:
                _require_alert(db, alert_id)

    def outbox_record(self, alert_id: str) -> OutboxRecord | None:
        """One outbox row with its status and receipt, or None when there is no such alert."""
        with self._transaction("outbox_record", write=False) as db:
            row = db.execute("SELECT * FROM outbox WHERE alert_id = %s", (alert_id,)).fetchone()
        if row is None:
            return None
        return OutboxRecord(
            alert=codec.alert_from_json(row["payload"]),
            status=row["status"],
            attempts=row["attempts"],
            receipt=row["receipt"],
            created_at=utc_of(row["created_at"]),
            delivered_at=utc_or_none(row["delivered_at"]),
        )

    def last_update_receipt(self, original_id: str) -> str | None:
        """The receipt of the latest delivered story update of the alert `original_id`."""
        with self._transaction("last_update_receipt", write=False) as db:
            row = db.execute(
                "SELECT receipt FROM outbox WHERE update_of = %s"
                " AND status = 'delivered' AND receipt IS NOT NULL"
                " ORDER BY delivered_at DESC, alert_id DESC LIMIT 1",
                (original_id,),
            ).fetchone()
        return None if row is None else str(row["receipt"])

    def recent_story_updates(self, signal_id: str, limit: int) -> list[StoryUpdateAlert]:
        """The signal's latest story updates, newest first, one per story and headline."""
        with self._transaction("recent_story_updates", write=False) as db:
            rows = db.execute(
                "SELECT payload FROM outbox WHERE signal_id = %s AND kind = 'update'"
                " ORDER BY created_at DESC, alert_id DESC LIMIT %s",
                (signal_id, limit * 4),  # one per route: read a few more, keep `limit`
            ).fetchall()
        return distinct_updates([codec.alert_from_json(row["payload"]) for row in rows], limit)

    def alerts_for_signal_since(
        self, signal_id: str, since: datetime, *, limit: int | None = None
    ) -> int:
        """How many alerts for this signal were enqueued at or after `since`, any status,
        counted up to `limit`."""
        with self._transaction("alerts_for_signal_since", write=False) as db:
            row = db.execute(
                "SELECT COUNT(*) AS n FROM (SELECT 1 FROM outbox WHERE signal_id = %s"
                " AND created_at >= %s AND kind != 'update' LIMIT %s) AS recent",
                (signal_id, codec.utc(since, "since"), limit),
            ).fetchone()
        return 0 if row is None else int(row["n"])

    def oldest_pending_at(self) -> datetime | None:
        """When the oldest alert still waiting in the outbox was queued (None: none waits)."""
        with self._transaction("oldest_pending_at", write=False) as db:
            row = db.execute(
                "SELECT MIN(created_at) AS oldest FROM outbox WHERE status = 'pending'"
            ).fetchone()
        return utc_or_none(row["oldest"]) if row else None

    def outbox_counts(self) -> dict[str, int]:
        """The number of alerts per outbox status: pending, delivered, failed."""
        with self._transaction("outbox_counts", write=False) as db:
            rows = db.execute("SELECT status, COUNT(*) AS n FROM outbox GROUP BY status").fetchall()
        counts: dict[str, int] = dict.fromkeys(OUTBOX_STATUSES, 0)
        counts.update({row["status"]: int(row["n"]) for row in rows})
        return counts

    def delivered_alerts_since(
        self, signal_id: str | None, since: datetime, limit: int
    ) -> list[tuple[PendingAlert, str | None]]:
        """Alerts delivered at or after `since`, with their receipts, newest delivery first."""
        start = codec.utc(since, "since")
        if limit <= 0:
            return []
        with self._transaction("delivered_alerts_since", write=False) as db:
            rows = db.execute(
                "SELECT * FROM outbox WHERE status = 'delivered' AND delivered_at >= %s"
                " AND (%s::text IS NULL OR signal_id = %s)"
                " ORDER BY delivered_at DESC, alert_id DESC LIMIT %s",
                (start, signal_id, signal_id, limit),
            ).fetchall()
        return [(_pending_alert(row), row["receipt"]) for row in rows]


def _require_alert(db: Conn, alert_id: str) -> None:
    if db.execute("SELECT 1 FROM outbox WHERE alert_id = %s", (alert_id,)).fetchone() is None:
        raise StoreError(f"no alert {alert_id!r}")


def _pending_alert(row: Row) -> PendingAlert:
    # A claim's row comes from its UPDATE ... RETURNING: attempt and lease already counted.
    return PendingAlert(
        alert=codec.alert_from_json(row["payload"]),
        status=row["status"],
        attempts=row["attempts"],
        next_attempt_at=utc_of(row["next_attempt_at"]),
        last_error=row["last_error"],
        created_at=utc_of(row["created_at"]),
        lease_holder=row["lease_holder"],
        lease_token=int(row["lease_token"]),
    )


# The alerts channel of this connection's schema (an md5 prefix keeps it a short identifier).
ALERTS_CHANNEL_SQL = "'signalwatch_alerts_' || left(md5(current_schema()), 16)"


def insert_alert(db: Conn, alert: Alert, at: datetime) -> int:
    """Enqueue `alert` in the open transaction, with its kind; 1 if new, 0 if already there."""
    return insert_alerts(db, [alert], at)


def insert_alerts(db: Conn, alerts: Sequence[Alert], at: datetime) -> int:
    """Enqueue `alerts` in the open transaction (one pipelined statement, in id order: two
    polls enqueueing the same alerts lock them in one order); how many were new."""
    if not alerts:
        return 0
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload, kind,"
            " update_of, next_attempt_at, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (alert_id) DO NOTHING",
            [
                codec.outbox_values(alert, at)
                for alert in sorted(alerts, key=lambda a: str(a.alert_id))
            ],
        )
        new = max(0, cur.rowcount)  # executemany's rowcount: the rows of every statement
    if new:
        # Heard by the gateway's LISTEN when this transaction commits (one per commit); the
        # channel names the schema, so deployments sharing a database do not wake each other.
        db.execute(f"SELECT pg_notify({ALERTS_CHANNEL_SQL}, '')")
    return new
