"""PostgreSQL store, leases across topics: releasing every lease one holder took."""

from __future__ import annotations

from bot.store.leases import check_holder
from bot.store.postgres._base import PostgresBase


class LeasesMixin(PostgresBase):
    """Releasing the source and alert leases of one holder (a restarted process)."""

    def release_leases(self, holder: str) -> tuple[int, int]:
        """End every source and alert lease `holder` holds; return (sources, alerts) released."""
        check_holder(holder)
        # A plain UPDATE, not SKIP LOCKED: a row another transaction holds is waited for and
        # then tested again, so a lease that claimer took over is spared and one it left
        # with this holder is released; skipping it would leave it held until it ran out.
        # The WHERE repeats the partial indexes' condition so they serve the updates.
        with self._transaction("release_leases") as db:
            sources = db.execute(
                "UPDATE sources SET lease_until = NULL"
                " WHERE lease_holder = %s AND lease_until IS NOT NULL",
                (holder,),
            ).rowcount
            alerts = db.execute(
                "UPDATE outbox SET lease_until = NULL"
                " WHERE lease_holder = %s AND lease_until IS NOT NULL",
                (holder,),
            ).rowcount
        return sources, alerts
