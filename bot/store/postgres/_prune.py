"""PostgreSQL store, housekeeping: deleting what is old enough to go."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store import codec
from bot.store.postgres._base import PostgresBase


class PruneMixin(PostgresBase):
    """Housekeeping: deleting what is old enough to go."""

    def prune(
        self, now: datetime, *, seen_older_than: timedelta, delivered_older_than: timedelta
    ) -> int:
        """Delete old seen records and old delivered alerts; never pending or failed alerts."""
        at = codec.utc(now, "now")
        seen_cutoff = at - seen_older_than
        delivered_cutoff = at - delivered_older_than
        with self._transaction("prune") as db:
            deleted = db.execute(
                "DELETE FROM seen WHERE first_seen_at < %s", (seen_cutoff,)
            ).rowcount
            deleted += db.execute(
                "DELETE FROM outbox WHERE status = 'delivered' AND delivered_at < %s",
                (delivered_cutoff,),
            ).rowcount
            # A story's copies and announcements go with it (ON DELETE CASCADE).
            deleted += db.execute(
                "DELETE FROM stories WHERE last_seen_at < %s", (seen_cutoff,)
            ).rowcount
            deleted += db.execute(
                "DELETE FROM digest_items WHERE digest_id IS NOT NULL AND created_at < %s",
                (seen_cutoff,),
            ).rowcount
            deleted += db.execute(
                "DELETE FROM api_calls WHERE day < %s", (seen_cutoff.date(),)
            ).rowcount
        return deleted
