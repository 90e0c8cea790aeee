"""PostgreSQL store, digests: waiting hits per route, and committing a digest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.model import Alert
from bot.store import codec
from bot.store.base import OpenDigest
from bot.store.postgres._base import PostgresBase, utc_of
from bot.store.postgres._outbox import insert_alert


class DigestsMixin(PostgresBase):
    """Digests: the hits waiting per route, and committing a digest."""

    def open_digests(self) -> list[OpenDigest]:
        """Every (destination, schedule) with hits waiting for a digest."""
        with self._transaction("open_digests", write=False) as db:
            rows = db.execute(
                "SELECT destination, schedule, MIN(created_at) AS oldest, COUNT(*) AS items"
                " FROM digest_items WHERE digest_id IS NULL"
                " GROUP BY destination, schedule ORDER BY destination, schedule"
            ).fetchall()
        return [
            OpenDigest(r["destination"], r["schedule"], utc_of(r["oldest"]), int(r["items"]))
            for r in rows
        ]

    def digest_items(self, destination: str, schedule: str, before: datetime) -> list[Alert]:
        """The waiting hits of one digest route collected before `before`, oldest first."""
        until = codec.utc(before, "before")
        with self._transaction("digest_items", write=False) as db:
            rows = db.execute(
                "SELECT payload FROM digest_items WHERE digest_id IS NULL AND destination = %s"
                " AND schedule = %s AND created_at < %s ORDER BY created_at, alert_id",
                (destination, schedule, until),
            ).fetchall()
        return [codec.alert_from_json(row["payload"]) for row in rows]

    def commit_digest(
        self,
        destination: str,
        schedule: str,
        now: datetime,
        *,
        item_ids: Sequence[str],
        digest: Alert,
    ) -> bool:
        """In one transaction: enqueue the digest alert and mark its items as taken by it."""
        at = codec.utc(now, "now")
        with self._transaction("commit_digest") as db:
            if insert_alert(db, digest, at) == 0:
                return False
            db.execute(
                "UPDATE digest_items SET digest_id = %s WHERE digest_id IS NULL"
                " AND destination = %s AND schedule = %s AND alert_id = ANY(%s)",
                (digest.alert_id, destination, schedule, list(item_ids)),
            )
        return True
