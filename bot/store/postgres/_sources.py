"""PostgreSQL store, sources and their leases: sync, claim, fetch outcomes, health."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from bot.errors import StoreError
from bot.store import codec
from bot.store.base import SOURCE_HEALTHS, NotModifiedRecord, SourceConfig, SourceState
from bot.store.leases import DEFAULT_HOLDER, Lease, check_holder, lease_lost
from bot.store.postgres._base import Conn, PostgresBase, Row, utc_of, utc_or_none


class SourcesMixin(PostgresBase):
    """Sources: syncing with the config, leasing due ones, recording fetch outcomes."""

    def sync_sources(self, sources: Sequence[SourceConfig], now: datetime) -> None:
        """Make the stored sources match the configured ones (see `Store.sync_sources`)."""
        at = codec.utc(now, "now")
        ids = [s.id for s in sources]
        if len(set(ids)) != len(ids):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"source ids configured twice: {', '.join(dupes)}")
        with self._transaction("sync_sources") as db:
            db.execute("UPDATE sources SET configured = FALSE WHERE configured")
            for src in sorted(sources, key=lambda s: s.id):  # one lock order for every syncer
                # A new URL is a new feed: old validators, failures, the first-fetch
                # baseline and any poll of it under way belonged to the old one.
                db.execute(
                    "INSERT INTO sources (id, url, type, interval_s, next_poll_at, created_at)"
                    " VALUES (%(id)s, %(url)s, %(type)s, %(interval)s, %(at)s, %(at)s)"
                    " ON CONFLICT (id) DO UPDATE SET type = excluded.type,"
                    " interval_s = excluded.interval_s, configured = TRUE, url = excluded.url,"
                    " etag = CASE WHEN sources.url = excluded.url THEN sources.etag END,"
                    " last_modified = CASE WHEN sources.url = excluded.url"
                    "  THEN sources.last_modified END,"
                    " first_fetch_done = sources.first_fetch_done AND sources.url = excluded.url,"
                    " consecutive_failures = CASE WHEN sources.url = excluded.url"
                    "  THEN sources.consecutive_failures ELSE 0 END,"
                    " disabled_reason = CASE WHEN sources.url = excluded.url"
                    "  THEN sources.disabled_reason END,"
                    " next_poll_at = CASE WHEN sources.url = excluded.url"
                    "  THEN sources.next_poll_at ELSE excluded.next_poll_at END,"
                    # a poll of the old URL under way cannot commit under the new one
                    " lease_until = CASE WHEN sources.url = excluded.url"
                    "  THEN sources.lease_until END,"
                    " lease_token = sources.lease_token"
                    "  + CASE WHEN sources.url = excluded.url THEN 0 ELSE 1 END",
                    {"id": src.id, "url": src.url, "type": src.type, "interval": src.interval_s,
                     "at": at},
                )  # fmt: skip

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
        at = codec.utc(now, "now")
        until = at + lease
        check_holder(holder)
        if limit <= 0:
            return []
        due = "" if force else " AND next_poll_at <= %(at)s"
        # SKIP LOCKED: a source another claimer is taking right now is left to it, so two
        # claimers never get the same one and neither waits for the other.
        with self._transaction("claim_due_sources") as db:
            rows = db.execute(
                "WITH picked AS MATERIALIZED ("
                " SELECT id FROM sources"
                " WHERE configured AND enabled AND disabled_reason IS NULL"
                f"{due} AND (lease_until IS NULL OR lease_until < %(at)s)"
                " AND NOT (id = ANY(%(skip)s))"
                " ORDER BY next_poll_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE sources s SET lease_until = %(until)s, lease_holder = %(holder)s,"
                " lease_token = s.lease_token + 1 FROM picked WHERE s.id = picked.id"
                " RETURNING s.*",
                {"at": at, "until": until, "holder": holder, "skip": list(skip), "limit": limit},
            ).fetchall()
        claimed = [_source_state(row) for row in rows]
        return sorted(claimed, key=lambda s: (s.next_poll_at, s.id))

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
        at = codec.utc(now, "now")
        params = (
            status,
            etag,
            last_modified,
            codec.utc(next_poll_at, "next_poll_at"),
            entries_seen_delta,
            at,
            at,
            warning,
        )
        self._update_source(
            "record_fetch_ok",
            source_id,
            "UPDATE sources SET last_status = %s, etag = %s, last_modified = %s,"
            " next_poll_at = %s, entries_seen = entries_seen + %s, last_attempt_at = %s,"
            " last_success_at = %s, consecutive_failures = 0, last_error = %s,"
            " lease_until = NULL WHERE id = %s",
            params,
            lease=lease,
            at=at,
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
                at = codec.utc(r.now, "now")
                sql = (
                    "UPDATE sources SET last_status = 304, next_poll_at = %s,"
                    " last_attempt_at = %s, last_success_at = %s, consecutive_failures = 0,"
                    " last_error = NULL, lease_until = NULL WHERE id = %s"
                )
                params: tuple[object, ...] = (
                    codec.utc(r.next_poll_at, "next_poll_at"),
                    at,
                    at,
                    r.source_id,
                )
                if r.lease is not None:  # the lease check in the same statement
                    sql += " AND lease_holder = %s AND lease_token = %s AND lease_until >= %s"
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
            codec.utc(next_poll_at, "next_poll_at"),
            codec.utc(now, "now"),
            disable_reason,
        )
        self._update_source(
            "record_fetch_failed",
            source_id,
            "UPDATE sources SET last_error = %s, last_status = %s, next_poll_at = %s,"
            " last_attempt_at = %s, consecutive_failures = consecutive_failures + 1,"
            " disabled_reason = COALESCE(%s, disabled_reason), lease_until = NULL"
            " WHERE id = %s",
            params,
            lease=lease,
            at=codec.utc(now, "now"),
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
        self._update_source(
            "reschedule_source",
            source_id,
            "UPDATE sources SET next_poll_at = %s, last_attempt_at = %s, lease_until = NULL"
            " WHERE id = %s",
            (codec.utc(next_poll_at, "next_poll_at"), codec.utc(now, "now")),
            lease=lease,
            at=codec.utc(now, "now"),
        )

    def renew_source_lease(
        self, source_id: str, lease: Lease, now: datetime, until: datetime
    ) -> bool:
        """Extend a lease still held (a long search); False when it was lost meanwhile."""
        with self._transaction("renew_source_lease") as db:
            cursor = db.execute(
                "UPDATE sources SET lease_until = %s WHERE id = %s AND lease_holder = %s"
                " AND lease_token = %s AND lease_until >= %s",
                (codec.utc(until, "until"), source_id, lease.holder, lease.token, codec.utc(now)),
            )
        return cursor.rowcount == 1

    def set_source_enabled(self, source_id: str, enabled: bool, now: datetime) -> None:
        """Switch a source on or off; switching on also clears auto-disable and makes it due."""
        at = codec.utc(now, "now")
        if enabled:
            self._update_source(
                "set_source_enabled",
                source_id,
                "UPDATE sources SET enabled = TRUE, disabled_reason = NULL,"
                " consecutive_failures = 0, next_poll_at = %s WHERE id = %s",
                (at,),
            )
        else:
            self._update_source(
                "set_source_enabled",
                source_id,
                "UPDATE sources SET enabled = FALSE WHERE id = %s",
                (),
            )

    def sources(self) -> list[SourceState]:
        """Every stored source, configured or not, by id (the health table)."""
        with self._transaction("sources", write=False) as db:
            rows = db.execute("SELECT * FROM sources ORDER BY id").fetchall()
        return [_source_state(row) for row in rows]

    def source(self, source_id: str) -> SourceState | None:
        """One source's state, or None when the store has no such source."""
        with self._transaction("source", write=False) as db:
            row = db.execute("SELECT * FROM sources WHERE id = %s", (source_id,)).fetchone()
        return None if row is None else _source_state(row)

    def source_counts(self) -> dict[str, int]:
        """How many stored sources are ok, failing, disabled and removed (`source_health`)."""
        with self._transaction("source_counts", write=False) as db:
            rows = db.execute(
                "SELECT CASE WHEN NOT configured THEN 'removed'"
                " WHEN NOT enabled OR disabled_reason IS NOT NULL THEN 'disabled'"
                " WHEN consecutive_failures > 0 THEN 'failing' ELSE 'ok' END AS health,"
                " COUNT(*) AS n FROM sources GROUP BY health"
            ).fetchall()
        counts: dict[str, int] = dict.fromkeys(SOURCE_HEALTHS, 0)
        counts.update({row["health"]: int(row["n"]) for row in rows})
        return counts

    def last_poll_at(self) -> datetime | None:
        """When any source was last fetched (its latest attempt), or None before the first."""
        with self._transaction("last_poll_at", write=False) as db:
            row = db.execute("SELECT MAX(last_attempt_at) AS last FROM sources").fetchone()
        return None if row is None else utc_or_none(row["last"])

    def _update_source(
        self,
        what: str,
        source_id: str,
        sql: str,
        params: tuple[object, ...],
        *,
        lease: Lease | None = None,
        at: datetime | None = None,
    ) -> None:
        with self._transaction(what) as db:
            if lease is not None and at is not None:
                check_lease(db, source_id, lease, at)
            _update_one(db, source_id, sql, params)


def _update_one(db: Conn, source_id: str, sql: str, params: tuple[object, ...]) -> None:
    if db.execute(sql, (*params, source_id)).rowcount == 0:
        raise StoreError(f"no source {source_id!r}")


def _source_state(row: Row) -> SourceState:
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
        next_poll_at=utc_of(row["next_poll_at"]),
        lease_until=utc_or_none(row["lease_until"]),
        consecutive_failures=row["consecutive_failures"],
        last_attempt_at=utc_or_none(row["last_attempt_at"]),
        last_success_at=utc_or_none(row["last_success_at"]),
        last_error=row["last_error"],
        last_status=row["last_status"],
        entries_seen=int(row["entries_seen"]),
        first_fetch_done=bool(row["first_fetch_done"]),
        created_at=utc_of(row["created_at"]),
        lease_holder=row["lease_holder"],
        lease_token=int(row["lease_token"]),
    )


def check_lease(db: Conn, source_id: str, lease: Lease | None, at: datetime) -> None:
    """Raise LeaseLost unless `lease` (when given) is the source's current, unexpired lease.

    The row is locked until the transaction ends, so the lease cannot change under the write.
    """
    if lease is None:
        return
    row = db.execute(
        "SELECT 1 FROM sources WHERE id = %s AND lease_holder = %s AND lease_token = %s"
        " AND lease_until >= %s FOR UPDATE",
        (source_id, lease.holder, lease.token, at),
    ).fetchone()
    if row is None:
        raise lease_lost(source_id, lease)
