"""SQLite store, digests: waiting hits per route, and committing a digest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.model import Alert
from bot.store import codec
from bot.store.base import OpenDigest
from bot.store.sqlite._base import SQLiteBase, _chunks
from bot.store.sqlite._outbox import insert_alert


class DigestsMixin(SQLiteBase):
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
            OpenDigest(r["destination"], r["schedule"], codec.from_text(r["oldest"]), r["items"])
            for r in rows
        ]

    def digest_items(self, destination: str, schedule: str, before: datetime) -> list[Alert]:
        """The waiting hits of one digest route collected before `before`, oldest first."""
        until = codec.to_text(before, "before")
        with self._transaction("digest_items", write=False) as db:
            rows = db.execute(
                "SELECT payload FROM digest_items WHERE digest_id IS NULL AND destination = ?"
                " AND schedule = ? AND created_at < ? ORDER BY created_at, alert_id",
                (destination, schedule, until),
            ).fetchall()
        return [codec.alert_from_json(row[0]) for row in rows]

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
        at = codec.to_text(now, "now")
        with self._transaction("commit_digest", durable=True) as db:
            if insert_alert(db, digest, at) == 0:
                return False
            for chunk in _chunks(list(item_ids)):
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    f"UPDATE digest_items SET digest_id = ? WHERE digest_id IS NULL"
                    f" AND destination = ? AND schedule = ? AND alert_id IN ({marks})",
                    (digest.alert_id, destination, schedule, *chunk),
                )
        return True
