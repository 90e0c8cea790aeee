"""SQLite store, what several processes share: the live watchlist, admin notices on their
way to the gateway, and the news APIs' request slots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from bot.store import codec
from bot.store.sqlite._base import SQLiteBase


class ClusterMixin(SQLiteBase):
    """The watchlist by version, the admin-notice queue, and shared API pacing."""

    def save_watchlist(self, text: str, now: datetime) -> int:
        """Keep `text` as the live watchlist unless it already is; its version."""
        at = codec.to_text(now, "now")
        with self._transaction("save_watchlist", durable=True) as db:
            row = db.execute(
                "SELECT version, text FROM watchlists ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if row is not None and row["text"] == text:
                return int(row["version"])
            cursor = db.execute("INSERT INTO watchlists (text, saved_at) VALUES (?, ?)", (text, at))
            version = int(cursor.lastrowid or 0)
            # Older versions serve no one: a process reads only the newest.
            db.execute("DELETE FROM watchlists WHERE version < ?", (version,))
        return version

    def latest_watchlist(self, after: int = 0) -> tuple[int, str] | None:
        """The live watchlist's (version, text) if newer than version `after`, else None."""
        with self._transaction("latest_watchlist", write=False) as db:
            row = db.execute(
                "SELECT version, text FROM watchlists WHERE version > ?"
                " ORDER BY version DESC LIMIT 1",
                (after,),
            ).fetchone()
        return None if row is None else (int(row["version"]), str(row["text"]))

    @contextmanager
    def story_lock(self) -> Iterator[None]:
        """The story-filing lock (see `Store`): one SQLite process plans under its own commit
        lock already, so there is nothing more to hold. Several workers on one SQLite file are
        not a supported setup: use PostgreSQL."""
        yield

    def queue_notice(self, payload: str, now: datetime) -> None:
        """Leave an admin notice (JSON, see bot.notices) for the process that posts them."""
        at = codec.to_text(now, "now")
        with self._transaction("queue_notice") as db:
            db.execute(
                "INSERT INTO admin_notices (payload, created_at) VALUES (?, ?)", (payload, at)
            )

    def take_notices(self, limit: int) -> list[str]:
        """Remove and return up to `limit` queued notices, oldest first."""
        with self._transaction("take_notices") as db:
            rows = db.execute(
                "SELECT id, payload FROM admin_notices ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
            if rows:
                db.execute("DELETE FROM admin_notices WHERE id <= ?", (rows[-1]["id"],))
        return [str(row["payload"]) for row in rows]

    def reserve_api_slot(
        self, api: str, now: datetime, spacing: timedelta, *, max_wait: timedelta | None = None
    ) -> datetime:
        """The time this caller may send its next request to `api`: at least `spacing` after
        the slot reserved before it, by any process. The slot is taken when this returns."""
        with self._transaction("reserve_api_slot") as db:
            row = db.execute("SELECT next_start FROM api_slots WHERE api = ?", (api,)).fetchone()
            start = max(now, codec.from_text(row["next_start"])) if row else now
            if max_wait is not None and start - now > max_wait:
                return start
            db.execute(
                "INSERT INTO api_slots (api, next_start) VALUES (?, ?)"
                " ON CONFLICT (api) DO UPDATE SET next_start = excluded.next_start",
                (api, codec.to_text(start + spacing, "next_start")),
            )
        return start
