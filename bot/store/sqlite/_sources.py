"""SQLite store, sources and their leases: sync, claim, fetch outcomes, health."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from bot.errors import StoreError
from bot.store import codec
from bot.store.base import SOURCE_HEALTHS, NotModifiedRecord, SourceConfig, SourceState
from bot.store.leases import DEFAULT_HOLDER, Lease, check_holder, lease_lost
from bot.store.sqlite._base import SQLiteBase, _chunks


class SourcesMixin(SQLiteBase):
    """Sources: syncing with the config, leasing due ones, recording fetch outcomes."""

    def sync_sources(self, sources: Sequence[SourceConfig], now: datetime) -> None:
        """Make the stored sources match the configured ones (see `Store.sync_sources`)."""
        at = codec.to_text(now, "now")
        ids = [s.id for s in sources]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"source ids configured twice: {', '.join(dupes)}")
        with self._transaction("sync_sources") as db:
            db.execute("UPDATE sources SET configured = 0")
            for src in sources:
                old = db.execute("SELECT url FROM sources WHERE id = ?", (src.id,)).fetchone()
                if old is None:
                    db.execute(
                        "INSERT INTO sources (id, url, type, interval_s, next_poll_at, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (src.id, src.url, src.type, src.interval_s, at, at),
                    )
                elif old["url"] != src.url:
                    # A new URL is a new feed: old validators, failures and the first-fetch
                    # baseline belonged to the old one, and so does a poll of it under way
                    # (its lease ends and its token moves on: it cannot commit).
                    db.execute(
                        "UPDATE sources SET url = ?, type = ?, interval_s = ?, configured = 1,"
                        " etag = NULL, last_modified = NULL, first_fetch_done = 0,"
                        " consecutive_failures = 0, disabled_reason = NULL, next_poll_at = ?,"
                        " lease_until = NULL, lease_token = lease_token + 1"
                        " WHERE id = ?",
                        (src.url, src.type, src.interval_s, at, src.id),
                    )
                else:
                    db.execute(
                        "UPDATE sources SET type = ?, interval_s = ?, configured = 1 WHERE id = ?",
                        (src.type, src.interval_s, src.id),
                    )

    def claim_due_sources(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        *,
        force: bool = False,
        holder: str = DEFAULT_HOLDER,
        skip: Collection[str] = (),
    ) -> list[SourceState]:
        """Lease up to `limit` due sources, oldest `next_poll_at` first (see `Store`)."""
        at = codec.to_text(now, "now")
        until = codec.to_text(now + lease)
        check_holder(holder)
        if limit <= 0:
            return []
        due = "" if force else " AND next_poll_at <= ?"
        skipped = tuple(skip)
        not_in = f" AND id NOT IN ({', '.join('?' * len(skipped))})" if skipped else ""
        with self._transaction("claim_due_sources") as db:
            rows = db.execute(
                "SELECT id FROM sources"
                " WHERE configured = 1 AND enabled = 1 AND disabled_reason IS NULL"
                f"{due} AND (lease_until IS NULL OR lease_until < ?){not_in}"
                " ORDER BY next_poll_at, id LIMIT ?",
                (*(() if force else (at,)), at, *skipped, limit),
            ).fetchall()
            ids = [row["id"] for row in rows]
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    "UPDATE sources SET lease_until = ?, lease_holder = ?,"
                    f" lease_token = lease_token + 1 WHERE id IN ({marks})",
                    (until, holder, *chunk),
                )
            claimed = {s.id: s for s in self._select_sources(db, ids)}
        return [claimed[i] for i in ids]

    def record_fetch_ok(
        self,
        source_id: str,
        now: datetime,
        *,
        status: int,
        etag: str | None,
        last_modified: str | None,
        next_poll_at: datetime,
        entries_seen_delta: int,
        warning: str | None = None,
        lease: Lease | None = None,
    ) -> None:
        """Record a successful fetch: new validators, failures reset, lease released."""
        at = codec.to_text(now, "now")
        params = (
            status,
            etag,
            last_modified,
            codec.to_text(next_poll_at, "next_poll_at"),
            entries_seen_delta,
            at,
            at,
            warning,
        )
        with self._transaction("record_fetch_ok") as db:
            check_lease(db, source_id, lease, at)
            self._update_source(
                db,
                source_id,
                "UPDATE sources SET last_status = ?, etag = ?, last_modified = ?, next_poll_at = ?,"
                " entries_seen = entries_seen + ?, last_attempt_at = ?, last_success_at = ?,"
                " consecutive_failures = 0, last_error = ?, lease_until = NULL WHERE id = ?",
                params,
            )

    def record_not_modified(
        self,
        source_id: str,
        now: datetime,
        *,
        next_poll_at: datetime,
        lease: Lease | None = None,
    ) -> None:
        """Record a 304 Not Modified: a success that keeps the validators; lease released."""
        record = NotModifiedRecord(source_id, now, next_poll_at, lease)
        if self.record_not_modified_many([record]):
            if lease is not None:
                raise lease_lost(source_id, lease)
            raise StoreError(f"no source {source_id!r}")

    def record_not_modified_many(self, records: Sequence[NotModifiedRecord]) -> list[str]:
        """Several 304s in one transaction; the ids not recorded (lease lost, or gone)."""
        lost: list[str] = []
        if not records:
            return lost
        with self._transaction("record_not_modified") as db:
            for r in records:
                at = codec.to_text(r.now, "now")
                sql = (
                    "UPDATE sources SET last_status = 304, next_poll_at = ?, last_attempt_at = ?,"
                    " last_success_at = ?, consecutive_failures = 0, last_error = NULL,"
                    " lease_until = NULL WHERE id = ?"
                )
                params: tuple[object, ...] = (
                    codec.to_text(r.next_poll_at, "next_poll_at"),
                    at,
                    at,
                    r.source_id,
                )
                if r.lease is not None:  # the lease check in the same statement
                    sql += " AND lease_holder = ? AND lease_token = ? AND lease_until >= ?"
                    params += (r.lease.holder, r.lease.token, at)
                if db.execute(sql, params).rowcount == 0:
                    lost.append(r.source_id)
        return lost

    def record_fetch_failed(
        self,
        source_id: str,
        now: datetime,
        *,
        error: str,
        status: int | None,
        next_poll_at: datetime,
        disable_reason: str | None,
        lease: Lease | None = None,
    ) -> None:
        """Record a failed fetch: one more consecutive failure, lease released."""
        params = (
            error,
            status,
            codec.to_text(next_poll_at, "next_poll_at"),
            codec.to_text(now, "now"),
            disable_reason,
        )
        with self._transaction("record_fetch_failed") as db:
            check_lease(db, source_id, lease, params[3])
            self._update_source(
                db,
                source_id,
                "UPDATE sources SET last_error = ?, last_status = ?, next_poll_at = ?,"
                " last_attempt_at = ?, consecutive_failures = consecutive_failures + 1,"
                " disabled_reason = COALESCE(?, disabled_reason), lease_until = NULL"
                " WHERE id = ?",
                params,
            )

    def reschedule_source(
        self,
        source_id: str,
        now: datetime,
        *,
        next_poll_at: datetime,
        lease: Lease | None = None,
    ) -> None:
        """Release the lease and poll again at `next_poll_at`, recording neither outcome."""
        params = (codec.to_text(next_poll_at, "next_poll_at"), codec.to_text(now, "now"))
        with self._transaction("reschedule_source") as db:
            check_lease(db, source_id, lease, params[1])
            self._update_source(
                db,
                source_id,
                "UPDATE sources SET next_poll_at = ?, last_attempt_at = ?, lease_until = NULL"
                " WHERE id = ?",
                params,
            )

    def set_source_enabled(self, source_id: str, enabled: bool, now: datetime) -> None:
        """Switch a source on or off; switching on also clears auto-disable and makes it due."""
        at = codec.to_text(now, "now")
        with self._transaction("set_source_enabled", durable=True) as db:
            if enabled:
                self._update_source(
                    db,
                    source_id,
                    "UPDATE sources SET enabled = 1, disabled_reason = NULL,"
                    " consecutive_failures = 0, next_poll_at = ? WHERE id = ?",
                    (at,),
                )
            else:
                self._update_source(
                    db, source_id, "UPDATE sources SET enabled = 0 WHERE id = ?", ()
                )

    def renew_source_lease(
        self, source_id: str, lease: Lease, now: datetime, until: datetime
    ) -> bool:
        """Extend a lease still held (a long search); False when it was lost meanwhile."""
        at, end = codec.to_text(now, "now"), codec.to_text(until, "until")
        with self._transaction("renew_source_lease") as db:
            cursor = db.execute(
                "UPDATE sources SET lease_until = ? WHERE id = ? AND lease_holder = ?"
                " AND lease_token = ? AND lease_until >= ?",
                (end, source_id, lease.holder, lease.token, at),
            )
        return cursor.rowcount == 1

    def sources(self) -> list[SourceState]:
        """Every stored source, configured or not, by id (the health table)."""
        with self._transaction("sources", write=False) as db:
            rows = db.execute("SELECT * FROM sources ORDER BY id").fetchall()
        return [_source_state(row) for row in rows]

    def source(self, source_id: str) -> SourceState | None:
        """One source's state, or None when the store has no such source."""
        with self._transaction("source", write=False) as db:
            found = self._select_sources(db, [source_id])
        return found[0] if found else None

    def source_counts(self) -> dict[str, int]:
        """How many stored sources are ok, failing, disabled and removed (`source_health`)."""
        with self._transaction("source_counts", write=False) as db:
            rows = db.execute(
                "SELECT CASE WHEN configured = 0 THEN 'removed'"
                " WHEN enabled = 0 OR disabled_reason IS NOT NULL THEN 'disabled'"
                " WHEN consecutive_failures > 0 THEN 'failing' ELSE 'ok' END AS health,"
                " COUNT(*) FROM sources GROUP BY health"
            ).fetchall()
        counts: dict[str, int] = dict.fromkeys(SOURCE_HEALTHS, 0)
        counts.update({row[0]: row[1] for row in rows})
        return counts

    def last_poll_at(self) -> datetime | None:
        """When any source was last fetched (its latest attempt), or None before the first."""
        with self._transaction("last_poll_at", write=False) as db:
            row = db.execute("SELECT MAX(last_attempt_at) FROM sources").fetchone()
        return codec.opt_from_text(row[0])

    @staticmethod
    def _select_sources(db: sqlite3.Connection, ids: Sequence[str]) -> list[SourceState]:
        result: list[SourceState] = []
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(f"SELECT * FROM sources WHERE id IN ({marks})", chunk).fetchall()
            result.extend(_source_state(row) for row in rows)
        return result

    @staticmethod
    def _update_source(
        db: sqlite3.Connection, source_id: str, sql: str, params: tuple[object, ...]
    ) -> None:
        if db.execute(sql, (*params, source_id)).rowcount == 0:
            raise StoreError(f"no source {source_id!r}")


def _source_state(row: sqlite3.Row) -> SourceState:
    return SourceState(
        id=row["id"],
        url=row["url"],
        type=row["type"],
        interval_s=row["interval_s"],
        configured=bool(row["configured"]),
        enabled=bool(row["enabled"]),
        disabled_reason=row["disabled_reason"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        next_poll_at=codec.from_text(row["next_poll_at"]),
        lease_until=codec.opt_from_text(row["lease_until"]),
        consecutive_failures=row["consecutive_failures"],
        last_attempt_at=codec.opt_from_text(row["last_attempt_at"]),
        last_success_at=codec.opt_from_text(row["last_success_at"]),
        last_error=row["last_error"],
        last_status=row["last_status"],
        entries_seen=row["entries_seen"],
        first_fetch_done=bool(row["first_fetch_done"]),
        created_at=codec.from_text(row["created_at"]),
        lease_holder=row["lease_holder"],
        lease_token=row["lease_token"],
    )


def check_lease(db: sqlite3.Connection, source_id: str, lease: Lease | None, at: str) -> None:
    """Raise LeaseLost unless `lease` (when given) is the source's current, unexpired lease."""
    if lease is None:
        return
    row = db.execute(
        "SELECT 1 FROM sources WHERE id = ? AND lease_holder = ? AND lease_token = ?"
        " AND lease_until >= ?",
        (source_id, lease.holder, lease.token, at),
    ).fetchone()
    if row is None:
        raise lease_lost(source_id, lease)
