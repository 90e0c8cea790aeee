"""SQLite store, housekeeping: deleting what is old enough to go."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store import codec
from bot.store.sqlite._base import SQLiteBase


class PruneMixin(SQLiteBase):
    """Housekeeping: deleting what is old enough to go."""

    def prune(
        self, now: datetime, *, seen_older_than: timedelta, delivered_older_than: timedelta
    ) -> int:
        """Delete old seen records and old delivered alerts; never pending or failed alerts."""
        seen_cutoff = codec.to_text(now - seen_older_than, "now")
        delivered_cutoff = codec.to_text(now - delivered_older_than)
        with self._transaction("prune") as db:
            deleted = db.execute(
                "DELETE FROM seen WHERE first_seen_at < ?", (seen_cutoff,)
            ).rowcount
            deleted += db.execute(
                "DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < ?",
                (delivered_cutoff,),
            ).rowcount
            # A story's copies and announcements go with it (ON DELETE CASCADE).
            deleted += db.execute(
                "DELETE FROM stories WHERE last_seen_at < ?", (seen_cutoff,)
            ).rowcount
            deleted += db.execute(
                "DELETE FROM digest_items WHERE digest_id IS NOT NULL AND created_at < ?",
                (seen_cutoff,),
            ).rowcount
            deleted += db.execute(
                "DELETE FROM api_calls WHERE day < ?", (seen_cutoff[:10],)
            ).rowcount
        return deleted
