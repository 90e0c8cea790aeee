"""PostgreSQL store, what several processes share: the live watchlist, admin notices on their
way to the gateway, the news APIs' request slots, and the wake-up for new alerts.

A commit that queues alerts also notifies its schema's `signalwatch_alerts_…` channel
(delivered when it commits); the gateway's deliverer waits on `LISTEN` instead of asking
the outbox every second.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import psycopg
from psycopg import sql
from psycopg_pool import PoolTimeout

from bot.store import codec
from bot.store.postgres._base import PostgresBase
from bot.store.postgres._outbox import ALERTS_CHANNEL_SQL

ALERTS_CHANNEL = "signalwatch_alerts"
# Any constant: the key of the session advisory lock under which one process at a time files
# new entries under stories (see `story_lock`).
STORY_FILING_LOCK = 0x5357_5354


class ClusterMixin(PostgresBase):
    """The watchlist by version, the admin-notice queue, shared API pacing, alert wake-ups."""

    def save_watchlist(self, text: str, now: datetime) -> int:
        """Keep `text` as the live watchlist unless it already is; its version."""
        with self._transaction("save_watchlist") as db:
            db.execute("LOCK TABLE watchlists IN SHARE ROW EXCLUSIVE MODE")
            row = db.execute(
                "SELECT version, text FROM watchlists ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if row is not None and row["text"] == text:
                return int(row["version"])
            new = db.execute(
                "INSERT INTO watchlists (text, saved_at) VALUES (%s, %s) RETURNING version",
                (text, codec.utc(now, "now")),
            ).fetchone()
            assert new is not None
            version = int(new["version"])
            db.execute("DELETE FROM watchlists WHERE version < %s", (version,))
        return version

    def latest_watchlist(self, after: int = 0) -> tuple[int, str] | None:
        """The live watchlist's (version, text) if newer than version `after`, else None."""
        with self._transaction("latest_watchlist", write=False) as db:
            row = db.execute(
                "SELECT version, text FROM watchlists WHERE version > %s"
                " ORDER BY version DESC LIMIT 1",
                (after,),
            ).fetchone()
        return None if row is None else (int(row["version"]), str(row["text"]))

    @contextmanager
    def story_lock(self) -> Iterator[None]:
        """Hold the cluster-wide story-filing lock for the block: planning which story a new
        entry joins and committing that plan happen for one poll at a time, across every
        process, so two workers filing copies of one story make one story, not two."""
        try:
            with self._pool.connection() as conn:
                conn.execute("SELECT pg_advisory_lock(%s)", (STORY_FILING_LOCK,))
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (STORY_FILING_LOCK,))
                    conn.commit()
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._error("story_lock", exc) from exc

    def queue_notice(self, payload: str, now: datetime) -> None:
        """Leave an admin notice (JSON, see bot.notices) for the process that posts them."""
        with self._transaction("queue_notice") as db:
            db.execute(
                "INSERT INTO admin_notices (payload, created_at) VALUES (%s, %s)",
                (payload, codec.utc(now, "now")),
            )

    def take_notices(self, limit: int) -> list[str]:
        """Remove and return up to `limit` queued notices, oldest first."""
        with self._transaction("take_notices") as db:
            rows = db.execute(
                "DELETE FROM admin_notices WHERE id IN (SELECT id FROM admin_notices"
                " ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING id, payload",
                (limit,),
            ).fetchall()
        return [str(row["payload"]) for row in sorted(rows, key=lambda r: int(r["id"]))]

    def reserve_api_slot(
        self, api: str, now: datetime, spacing: timedelta, *, max_wait: timedelta | None = None
    ) -> datetime:
        """The time this caller may send its next request to `api` (see `Store`)."""
        at = codec.utc(now, "now")
        with self._transaction("reserve_api_slot") as db:
            db.execute(
                "INSERT INTO api_slots (api, next_start) VALUES (%s, %s)"
                " ON CONFLICT (api) DO NOTHING",
                (api, at),
            )
            row = db.execute(
                "SELECT next_start FROM api_slots WHERE api = %s FOR UPDATE", (api,)
            ).fetchone()
            assert row is not None
            start: datetime = max(at, row["next_start"])
            if max_wait is not None and start - at > max_wait:
                return start
            db.execute(
                "UPDATE api_slots SET next_start = %s WHERE api = %s", (start + spacing, api)
            )
        return start

    def wait_for_alerts(self, timeout: float) -> bool:
        """Block until a commit queues alerts (True) or `timeout` seconds pass (False).

        Blocking: the gateway runs it in a worker thread. One dedicated connection listens
        (not the pool's: a LISTEN must outlive the call that starts it).
        """
        conn = self._listener()
        try:
            for _ in conn.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error:
            self._drop_listener()
        return False

    _listen_conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _listener(self) -> psycopg.Connection[tuple[object, ...]]:
        listener = self._listen_conn
        if listener is None or listener.closed:
            listener = psycopg.connect(self.url, autocommit=True)
            row = listener.execute(f"SELECT {ALERTS_CHANNEL_SQL}").fetchone()
            channel = str(row[0]) if row else ALERTS_CHANNEL
            listener.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
            self._listen_conn = listener
        return listener

    def close(self) -> None:
        """Close the listening connection too."""
        self._drop_listener()
        super().close()

    def _drop_listener(self) -> None:
        listener = self._listen_conn
        if listener is not None:
            listener.close()
            self._listen_conn = None
