"""SQLite store, leases across topics: releasing every lease one holder took."""

from __future__ import annotations

from bot.store.leases import check_holder
from bot.store.sqlite._base import SQLiteBase


class LeasesMixin(SQLiteBase):
    """Releasing the source and alert leases of one holder (a restarted process)."""

    def release_leases(self, holder: str) -> tuple[int, int]:
        """End every source and alert lease `holder` holds; return (sources, alerts) released."""
        check_holder(holder)
        with self._transaction("release_leases") as db:
            sources = db.execute(
                "UPDATE sources SET lease_until = NULL"
                " WHERE lease_holder = ? AND lease_until IS NOT NULL",
                (holder,),
            ).rowcount
            # The WHERE repeats the partial index's condition so that index serves the update.
            alerts = db.execute(
                "UPDATE outbox SET lease_until = NULL"
                " WHERE lease_holder = ? AND lease_until IS NOT NULL",
                (holder,),
            ).rowcount
        return sources, alerts
