"""PostgreSQL store, users following signals."""

from __future__ import annotations

from datetime import datetime

from bot.store import codec
from bot.store.base import SUBSCRIPTION_MODES, Subscription, SubscriptionMode
from bot.store.postgres._base import PostgresBase, Row, utc_of


class SubscriptionsMixin(PostgresBase):
    """Users following signals, by mention or by DM."""

    def subscribe(
        self,
        user_id: int,
        signal_id: str,
        mode: SubscriptionMode,
        guild_id: int | None,
        now: datetime,
    ) -> bool:
        """Make the user follow the signal in `mode`; True when new or the mode changed."""
        at = codec.utc(now, "now")
        user = codec.snowflake(user_id, "user_id")
        guild = codec.opt_snowflake(guild_id, "guild_id")
        if mode not in SUBSCRIPTION_MODES:
            raise ValueError(f"subscription mode must be one of {SUBSCRIPTION_MODES}, not {mode!r}")
        if not signal_id:
            raise ValueError("signal id must not be empty")
        with self._transaction("subscribe") as db:
            # FOR UPDATE: two subscribes of one user to one signal take turns, so each
            # compares its mode with the other's.
            old = db.execute(
                "SELECT mode FROM subscriptions WHERE user_id = %s AND signal_id = %s FOR UPDATE",
                (user, signal_id),
            ).fetchone()
            db.execute(
                "INSERT INTO subscriptions (user_id, signal_id, mode, guild_id, created_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (user_id, signal_id)"
                " DO UPDATE SET mode = excluded.mode, guild_id = excluded.guild_id",
                (user, signal_id, mode, guild, at),
            )
        return old is None or old["mode"] != mode

    def unsubscribe(self, user_id: int, signal_id: str) -> bool:
        """Stop the user following the signal; True if they were following it."""
        user = codec.snowflake(user_id, "user_id")
        with self._transaction("unsubscribe") as db:
            cursor = db.execute(
                "DELETE FROM subscriptions WHERE user_id = %s AND signal_id = %s",
                (user, signal_id),
            )
        return cursor.rowcount > 0

    def subscriptions_of(self, user_id: int) -> list[Subscription]:
        """The signals a user follows, by signal id."""
        user = codec.snowflake(user_id, "user_id")
        with self._transaction("subscriptions_of", write=False) as db:
            rows = db.execute(
                "SELECT * FROM subscriptions WHERE user_id = %s ORDER BY signal_id", (user,)
            ).fetchall()
        return [_subscription(row) for row in rows]

    def subscribers(self, signal_id: str) -> list[Subscription]:
        """The users following a signal, oldest subscription first (then by user id)."""
        with self._transaction("subscribers", write=False) as db:
            rows = db.execute(
                "SELECT * FROM subscriptions WHERE signal_id = %s ORDER BY created_at, user_id",
                (signal_id,),
            ).fetchall()
        return [_subscription(row) for row in rows]


def _subscription(row: Row) -> Subscription:
    return Subscription(
        user_id=int(row["user_id"]),
        signal_id=row["signal_id"],
        mode=row["mode"],
        guild_id=None if row["guild_id"] is None else int(row["guild_id"]),
        created_at=utc_of(row["created_at"]),
    )
