"""PostgreSQL store, news-API quotas (calls per day) and per-signal search cursors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from bot.store import codec
from bot.store.postgres._base import PostgresBase, utc_of


class QuotasMixin(PostgresBase):
    """News-API quotas (calls per UTC day) and per-signal search cursors."""

    def api_calls_on(self, api: str, day: date) -> int:
        """How many requests were made to `api` on that UTC day."""
        with self._transaction("api_calls_on", write=False) as db:
            row = db.execute(
                "SELECT calls FROM api_calls WHERE api = %s AND day = %s", (api, day)
            ).fetchone()
        return 0 if row is None else int(row["calls"])

    def add_api_calls(self, api: str, day: date, calls: int) -> None:
        """Count `calls` more requests to `api` on that UTC day."""
        if calls < 0:
            raise ValueError(f"calls must be 0 or more, got {calls}")
        with self._transaction("add_api_calls") as db:
            db.execute(
                "INSERT INTO api_calls (api, day, calls) VALUES (%s, %s, %s)"
                " ON CONFLICT (api, day) DO UPDATE SET calls = api_calls.calls + excluded.calls",
                (api, day, calls),
            )

    def take_api_call(self, api: str, day: date, limit: int) -> bool:
        """Count one request to `api` on that UTC day if fewer than `limit` were (atomically)."""
        with self._transaction("take_api_call") as db:
            cursor = db.execute(
                "INSERT INTO api_calls (api, day, calls) SELECT %s, %s, 1 WHERE %s >= 1"
                " ON CONFLICT (api, day) DO UPDATE SET calls = api_calls.calls + 1"
                " WHERE api_calls.calls < %s",
                (api, day, limit, limit),
            )
        return cursor.rowcount == 1

    def search_cursors(self, source_id: str) -> dict[str, datetime]:
        """Per signal id: the end of the last window `source_id` searched without an error."""
        with self._transaction("search_cursors", write=False) as db:
            rows = db.execute(
                "SELECT signal_id, searched_until FROM search_cursors WHERE source_id = %s",
                (source_id,),
            ).fetchall()
        return {row["signal_id"]: utc_of(row["searched_until"]) for row in rows}

    def advance_search_cursors(self, source_id: str, until: Mapping[str, datetime]) -> None:
        """Move each signal's cursor of `source_id` to its time in `until`; never backwards."""
        rows = sorted((source_id, sid, codec.utc(t, "searched_until")) for sid, t in until.items())
        if not rows:
            return
        with self._transaction("advance_search_cursors") as db, db.cursor() as cur:
            cur.executemany(
                "INSERT INTO search_cursors (source_id, signal_id, searched_until)"
                " VALUES (%s, %s, %s) ON CONFLICT (source_id, signal_id) DO UPDATE"
                " SET searched_until"
                " = GREATEST(search_cursors.searched_until, excluded.searched_until)",
                rows,
            )
