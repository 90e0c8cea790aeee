"""SQLite backend of the store: the embedded default, one file in WAL mode.

One connection per `SQLiteStore`, guarded by a lock, so a store is safe to call from the
threads `asyncio.to_thread` uses. Several stores (or processes) may share one file: every
write runs in `BEGIN IMMEDIATE`, which takes SQLite's single write lock up front, so
claim-then-lease cannot interleave (PostgreSQL gets the same from `FOR UPDATE SKIP LOCKED`)
and a writer waits up to 5 s (busy_timeout) instead of failing at once.

Discord ids go in INTEGER columns (SQLite integers are signed 64-bit, which every snowflake
fits); the audit log's before/after states are JSON text written by `bot.store.codec`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

from bot.errors import StoreError
from bot.model import Alert, Entry
from bot.store import codec
from bot.store.base import (
    OUTBOX_STATUSES,
    SEEN_SUMMARY_MAX_CHARS,
    SOURCE_HEALTHS,
    SUBSCRIPTION_MODES,
    Announcement,
    ArticleMatch,
    ArticleRecord,
    AuditEntry,
    DigestItem,
    EntryIdentity,
    Identify,
    KnownStory,
    OpenDigest,
    OutboxRecord,
    PendingAlert,
    SeenText,
    SignalStats,
    SignalTimeline,
    SourceConfig,
    SourceState,
    StoryCopy,
    StoryWrite,
    Subscription,
    SubscriptionMode,
)
from bot.store.migrations import (
    FTS5_PROBE,
    MIGRATIONS,
    SCHEMA_VERSION_TABLE,
    AddColumn,
    statements,
)

BUSY_TIMEOUT_S = 5.0
# Stay well under SQLite's bound-parameter limit (999 on builds before 3.32).
_CHUNK = 500
T = TypeVar("T")


def sqlite_path(path_or_url: str | os.PathLike[str]) -> str:
    """The file path in `sqlite:///relative.db`, `sqlite:////abs.db`, `sqlite:///:memory:`.

    Anything not starting with `sqlite:` is taken as a plain path.
    """
    text = os.fspath(path_or_url)
    if not text.startswith("sqlite:"):
        path = text
    elif text.startswith("sqlite:///"):
        path = text.removeprefix("sqlite:///")
    else:
        raise StoreError(
            f"bad SQLite URL {text!r}: expected sqlite:///relative.db, sqlite:////absolute.db"
            " or sqlite:///:memory:"
        )
    if not path:
        raise StoreError(f"bad SQLite URL {text!r}: no database path")
    return path


class SQLiteStore:
    """The `Store` on one SQLite file (or `:memory:`), WAL mode, explicit transactions."""

    def __init__(self, path_or_url: str | os.PathLike[str], *, fts: bool | None = None) -> None:
        """Open (creating if needed) the database; `fts=False` migrates as if FTS5 were absent."""
        self.path = sqlite_path(path_or_url)
        self._fts_wanted = fts
        self._has_fts: bool | None = None  # learnt from the schema on first search
        self._lock = threading.RLock()
        self._closed = False
        try:
            # isolation_level=None: the sqlite3 module opens no transactions behind our back;
            # every write says BEGIN IMMEDIATE ... COMMIT itself.
            self._db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")  # ':memory:' stays 'memory'; fine
            self._db.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints under WAL
            self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"cannot open SQLite database {self.path!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # -- plumbing -------------------------------------------------------------------------

    def _error(self, what: str, exc: sqlite3.Error) -> StoreError:
        """A StoreError saying which store, which operation, and what SQLite said."""
        if self._closed:
            return StoreError(f"SQLite store {self.path!r} is closed ({what})")
        hint = " (run migrate() first)" if "no such table" in str(exc) else ""
        return StoreError(f"SQLite store {self.path!r}: {what} failed: {exc}{hint}")

    @contextmanager
    def _transaction(self, what: str, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction: committed if it returns, rolled back if it raises.

        Writes take the write lock at BEGIN (IMMEDIATE) so a read-then-write never finds the
        database changed under it; reads get one consistent snapshot (DEFERRED).
        """
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            except sqlite3.Error as exc:
                raise self._error(what, exc) from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise self._error(what, exc) from exc
                raise

    def _rollback(self) -> None:
        # A failed COMMIT or a constraint error can leave the transaction open or closed;
        # roll back only if one is open so the original error is what the caller sees.
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    @staticmethod
    def _require_source(db: sqlite3.Connection, source_id: str) -> None:
        if db.execute("SELECT 1 FROM sources WHERE id = ?", (source_id,)).fetchone() is None:
            raise StoreError(f"no source {source_id!r}")

    @staticmethod
    def _update_source(
        db: sqlite3.Connection, source_id: str, sql: str, params: tuple[object, ...]
    ) -> None:
        if db.execute(sql, (*params, source_id)).rowcount == 0:
            raise StoreError(f"no source {source_id!r}")

    # -- schema -----------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the schema migrations not applied yet; return how many ran (0 when current)."""
        fts = self._fts_wanted if self._fts_wanted is not None else self._fts5_available()
        latest = MIGRATIONS[-1].version
        applied = 0
        with self._transaction("migrate") as db:
            db.execute(SCHEMA_VERSION_TABLE)
            row = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
            current = int(row[0])
            if current > latest:
                raise StoreError(
                    f"SQLite store {self.path!r} has schema version {current}, newer than this"
                    f" signalwatch knows ({latest}): upgrade signalwatch"
                )
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                use_fallback = not fts and migration.without_fts5 is not None
                script = migration.without_fts5 if use_fallback else migration.sql
                for column in migration.add_columns:
                    if not _has_column(db, column):
                        db.execute(column.sql)
                for statement in statements(script or ""):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_version (version, name, variant) VALUES (?, ?, ?)",
                    (
                        migration.version,
                        migration.name,
                        "without fts5" if use_fallback else "standard",
                    ),
                )
                applied += 1
        self._has_fts = None
        return applied

    def _fts5_available(self) -> bool:
        with self._lock:
            try:
                self._db.execute(FTS5_PROBE)
                self._db.execute("DROP TABLE temp.fts5_probe")
            except sqlite3.OperationalError:
                return False
            except sqlite3.Error as exc:
                raise self._error("migrate", exc) from exc
            return True

    def _search_uses_fts(self, db: sqlite3.Connection) -> bool:
        if self._has_fts is None:
            row = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'articles_fts'"
            ).fetchone()
            self._has_fts = row is not None
        return self._has_fts

    # -- sources ----------------------------------------------------------------------------

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
                    # baseline belonged to the old one.
                    db.execute(
                        "UPDATE sources SET url = ?, type = ?, interval_s = ?, configured = 1,"
                        " etag = NULL, last_modified = NULL, first_fetch_done = 0,"
                        " consecutive_failures = 0, disabled_reason = NULL, next_poll_at = ?"
                        " WHERE id = ?",
                        (src.url, src.type, src.interval_s, at, src.id),
                    )
                else:
                    db.execute(
                        "UPDATE sources SET type = ?, interval_s = ?, configured = 1 WHERE id = ?",
                        (src.type, src.interval_s, src.id),
                    )

    def claim_due_sources(
        self, now: datetime, limit: int, lease: timedelta, *, force: bool = False
    ) -> list[SourceState]:
        """Lease up to `limit` due sources, oldest `next_poll_at` first (see `Store`)."""
        at = codec.to_text(now, "now")
        until = codec.to_text(now + lease)
        if limit <= 0:
            return []
        due = "" if force else " AND next_poll_at <= ?"
        with self._transaction("claim_due_sources") as db:
            rows = db.execute(
                "SELECT id FROM sources"
                " WHERE configured = 1 AND enabled = 1 AND disabled_reason IS NULL"
                f"{due} AND (lease_until IS NULL OR lease_until < ?)"
                " ORDER BY next_poll_at, id LIMIT ?",
                (at, limit) if force else (at, at, limit),
            ).fetchall()
            ids = [row["id"] for row in rows]
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    f"UPDATE sources SET lease_until = ? WHERE id IN ({marks})", (until, *chunk)
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
            self._update_source(
                db,
                source_id,
                "UPDATE sources SET last_status = ?, etag = ?, last_modified = ?, next_poll_at = ?,"
                " entries_seen = entries_seen + ?, last_attempt_at = ?, last_success_at = ?,"
                " consecutive_failures = 0, last_error = ?, lease_until = NULL WHERE id = ?",
                params,
            )

    def record_not_modified(self, source_id: str, now: datetime, *, next_poll_at: datetime) -> None:
        """Record a 304 Not Modified: a success that keeps the validators; lease released."""
        at = codec.to_text(now, "now")
        params = (codec.to_text(next_poll_at, "next_poll_at"), at, at)
        with self._transaction("record_not_modified") as db:
            self._update_source(
                db,
                source_id,
                "UPDATE sources SET last_status = 304, next_poll_at = ?, last_attempt_at = ?,"
                " last_success_at = ?, consecutive_failures = 0, last_error = NULL,"
                " lease_until = NULL WHERE id = ?",
                params,
            )

    def record_fetch_failed(
        self,
        source_id: str,
        now: datetime,
        *,
        error: str,
        status: int | None,
        next_poll_at: datetime,
        disable_reason: str | None,
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
            self._update_source(
                db,
                source_id,
                "UPDATE sources SET last_error = ?, last_status = ?, next_poll_at = ?,"
                " last_attempt_at = ?, consecutive_failures = consecutive_failures + 1,"
                " disabled_reason = COALESCE(?, disabled_reason), lease_until = NULL"
                " WHERE id = ?",
                params,
            )

    def set_source_enabled(self, source_id: str, enabled: bool, now: datetime) -> None:
        """Switch a source on or off; switching on also clears auto-disable and makes it due."""
        at = codec.to_text(now, "now")
        with self._transaction("set_source_enabled") as db:
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

    # -- seen and poll results ---------------------------------------------------------------

    def unseen(self, source_id: str, entries: Sequence[Entry], identify: Identify) -> list[Entry]:
        """The entries this source has not given us before, in order; batch repeats dropped."""
        identities = [identify(entry) for entry in entries]
        keys = {i.key for i in identities}
        links = {i.link for i in identities if i.link}
        titles = {i.title_norm for i in identities if i.title_norm}
        with self._transaction("unseen", write=False) as db:
            seen_keys = self._seen_values(db, source_id, "key", sorted(keys))
            seen_links = self._seen_values(db, source_id, "link", sorted(links))
            seen_titles = self._seen_values(db, source_id, "title_norm", sorted(titles))
        fresh: list[Entry] = []
        for entry, ident in zip(entries, identities, strict=True):
            if (
                ident.key in seen_keys
                or (ident.link and ident.link in seen_links)
                or (ident.title_norm and ident.title_norm in seen_titles)
            ):
                continue
            fresh.append(entry)
            # later entries in this batch repeating this one are not new either
            seen_keys.add(ident.key)
            if ident.link:
                seen_links.add(ident.link)
            if ident.title_norm:
                seen_titles.add(ident.title_norm)
        return fresh

    @staticmethod
    def _seen_values(
        db: sqlite3.Connection, source_id: str, column: str, values: Sequence[str]
    ) -> set[str]:
        # `column` is one of our three literal column names, never caller text.
        found: set[str] = set()
        for chunk in _chunks(values):
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT {column} FROM seen WHERE source_id = ? AND {column} IN ({marks})",
                (source_id, *chunk),
            )
            found.update(row[0] for row in rows)
        return found

    def recent_seen(self, limit: int) -> list[SeenText]:
        """The text of the most recently seen entries that have some, newest first."""
        if limit <= 0:
            return []
        with self._transaction("recent_seen", write=False) as db:
            # The WHERE repeats the partial index's condition so that index serves the query.
            rows = db.execute(
                "SELECT source_id, key, link, published, first_seen_at, title, summary FROM seen"
                " WHERE title IS NOT NULL OR summary IS NOT NULL"
                " ORDER BY first_seen_at DESC, published IS NULL, published DESC, source_id, key"
                " LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            SeenText(
                source_id=row["source_id"],
                key=row["key"],
                title=row["title"] or "",
                summary=row["summary"] or "",
                link=row["link"],
                published=codec.opt_from_text(row["published"]),
                first_seen_at=codec.from_text(row["first_seen_at"]),
            )
            for row in rows
        ]

    def commit_poll(
        self,
        source_id: str,
        now: datetime,
        *,
        seen: Sequence[EntryIdentity],
        articles: Sequence[ArticleRecord],
        alerts: Sequence[Alert],
        stories: Sequence[StoryWrite] = (),
        digest_items: Sequence[DigestItem] = (),
    ) -> int:
        """In one transaction: mark entries seen, keep matched articles, enqueue alerts."""
        at = codec.to_text(now, "now")
        enqueued = 0
        with self._transaction("commit_poll") as db:
            self._require_source(db, source_id)
            for ident in seen:
                # ON CONFLICT names its target, unlike INSERT OR IGNORE, which would also
                # swallow NOT NULL and CHECK violations and so hide a broken batch.
                db.execute(
                    "INSERT INTO seen (source_id, key, link, title_norm, published, first_seen_at,"
                    " title, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (source_id, key) DO NOTHING",
                    (
                        source_id,
                        ident.key,
                        ident.link or None,
                        ident.title_norm or None,
                        codec.opt_to_text(ident.published, "published"),
                        at,
                        ident.title or None,
                        (ident.summary or "")[:SEEN_SUMMARY_MAX_CHARS] or None,
                    ),
                )
            for article in articles:
                self._insert_article(db, article)
            for alert in alerts:
                cursor = db.execute(
                    "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload,"
                    " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (alert_id) DO NOTHING",
                    (
                        alert.alert_id,
                        alert.signal_id,
                        alert.destination,
                        alert.source_id,
                        codec.alert_to_json(alert),
                        at,
                        at,
                    ),
                )
                enqueued += cursor.rowcount
            self._write_stories(db, stories, at)
            for item in digest_items:
                db.execute(
                    "INSERT INTO digest_items (alert_id, destination, schedule, payload,"
                    " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO NOTHING",
                    (
                        item.alert.alert_id,
                        item.alert.destination,
                        item.schedule,
                        codec.alert_to_json(item.alert),
                        at,
                    ),
                )
            db.execute("UPDATE sources SET first_fetch_done = 1 WHERE id = ?", (source_id,))
        return enqueued

    @staticmethod
    def _write_stories(db: sqlite3.Connection, writes: Sequence[StoryWrite], at: str) -> None:
        created: dict[str, int] = {}
        for write in writes:
            story_id = write.story_id
            if story_id is None:
                assert write.new_ref is not None  # StoryWrite checks one of the two is set
                story_id = created.get(write.new_ref)
                if story_id is None:
                    if write.fingerprint is None:
                        raise ValueError(f"new story {write.new_ref!r} needs a fingerprint")
                    cursor = db.execute(
                        "INSERT INTO stories (fingerprint, title, first_seen_at, last_seen_at)"
                        " VALUES (?, ?, ?, ?)",
                        (write.fingerprint, write.copy.title, at, at),
                    )
                    story_id = created[write.new_ref] = int(cursor.lastrowid or 0)
            elif (
                db.execute(
                    "UPDATE stories SET last_seen_at = ? WHERE id = ?", (at, story_id)
                ).rowcount
                == 0
            ):
                raise StoreError(f"no story {story_id}")
            copy = write.copy
            db.execute(
                "INSERT INTO story_copies (story_id, position, source_id, key, title, link,"
                " publisher, added_at) SELECT ?, COALESCE(MAX(position) + 1, 0), ?, ?, ?, ?, ?, ?"
                " FROM story_copies WHERE story_id = ?"
                " ON CONFLICT (story_id, source_id, key) DO NOTHING",
                (
                    story_id,
                    copy.source_id,
                    copy.key,
                    copy.title,
                    copy.link,
                    copy.publisher,
                    at,
                    story_id,
                ),
            )
            for announced in write.announced:
                db.execute(
                    "INSERT INTO story_alerts (story_id, signal_id, destination, alert_id)"
                    " VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (story_id, signal_id, destination) DO NOTHING",
                    (story_id, announced.signal_id, announced.destination, announced.alert_id),
                )

    @staticmethod
    def _insert_article(db: sqlite3.Connection, article: ArticleRecord) -> None:
        # The first stored copy of an article wins; a replay or a later signal only adds
        # the signals not recorded yet.
        matched_at = codec.to_text(article.matched_at, "matched_at")
        db.execute(
            "INSERT INTO articles (source_id, key, title, summary, link, published, publisher,"
            " matched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source_id, key) DO NOTHING",
            (
                article.source_id,
                article.key,
                article.title,
                article.summary,
                article.link,
                codec.opt_to_text(article.published, "published"),
                article.publisher,
                matched_at,
            ),
        )
        article_id = db.execute(
            "SELECT id FROM articles WHERE source_id = ? AND key = ?",
            (article.source_id, article.key),
        ).fetchone()["id"]
        position = db.execute(
            "SELECT COALESCE(MAX(position) + 1, 0) FROM article_signals WHERE article_id = ?",
            (article_id,),
        ).fetchone()[0]
        for match in article.matches:
            cursor = db.execute(
                "INSERT INTO article_signals (article_id, signal_id, position, terms, snippet,"
                " matched_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (article_id, signal_id) DO NOTHING",
                (
                    article_id,
                    match.signal_id,
                    position,
                    codec.terms_to_json(match.terms),
                    match.snippet,
                    matched_at,
                ),
            )
            position += cursor.rowcount

    # -- outbox -----------------------------------------------------------------------------

    def claim_alerts(self, now: datetime, limit: int, lease: timedelta) -> list[PendingAlert]:
        """Lease up to `limit` pending alerts that are due, oldest first, counting an attempt."""
        at = codec.to_text(now, "now")
        until = codec.to_text(now + lease)
        if limit <= 0:
            return []
        with self._transaction("claim_alerts") as db:
            rows = db.execute(
                "SELECT * FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
                " AND (lease_until IS NULL OR lease_until < ?)"
                " ORDER BY created_at, alert_id LIMIT ?",
                (at, at, limit),
            ).fetchall()
            ids = [row["alert_id"] for row in rows]
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    "UPDATE outbox SET lease_until = ?, attempts = attempts + 1"
                    f" WHERE alert_id IN ({marks})",
                    (until, *chunk),
                )
        return [_pending_alert(row, attempts=row["attempts"] + 1) for row in rows]

    def mark_delivered(self, alert_id: str, now: datetime, receipt: str | None) -> None:
        """Record that a sink accepted the alert; terminal, and a repeat changes nothing."""
        at = codec.to_text(now, "now")
        with self._transaction("mark_delivered") as db:
            # 'failed' may still become 'delivered': another deliverer got it through.
            cursor = db.execute(
                "UPDATE outbox SET status = 'delivered', delivered_at = ?, receipt = ?,"
                " lease_until = NULL WHERE alert_id = ? AND status != 'delivered'",
                (at, receipt, alert_id),
            )
            if cursor.rowcount == 0:
                self._require_alert(db, alert_id)

    def mark_failed(
        self,
        alert_id: str,
        now: datetime,
        *,
        error: str,
        next_attempt_at: datetime,
        permanent: bool,
    ) -> None:
        """Record a failed delivery: retry at `next_attempt_at`, or 'failed' if permanent."""
        codec.utc(now, "now")  # validated for the contract; the outbox keeps no failure time
        retry_at = codec.to_text(next_attempt_at, "next_attempt_at")
        with self._transaction("mark_failed") as db:
            # Only a pending alert can fail: a late report from a deliverer whose lease ran out
            # must not pull back an alert another deliverer already delivered.
            cursor = db.execute(
                "UPDATE outbox SET status = ?, last_error = ?, next_attempt_at = ?,"
                " lease_until = NULL WHERE alert_id = ? AND status = 'pending'",
                ("failed" if permanent else "pending", error, retry_at, alert_id),
            )
            if cursor.rowcount == 0:
                self._require_alert(db, alert_id)

    def outbox_record(self, alert_id: str) -> OutboxRecord | None:
        """One outbox row with its status and receipt, or None when there is no such alert."""
        with self._transaction("outbox_record", write=False) as db:
            row = db.execute("SELECT * FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone()
        if row is None:
            return None
        return OutboxRecord(
            alert=codec.alert_from_json(row["payload"]),
            status=row["status"],
            attempts=row["attempts"],
            receipt=row["receipt"],
            created_at=codec.from_text(row["created_at"]),
            delivered_at=codec.opt_from_text(row["delivered_at"]),
        )

    def last_receipt_like(self, alert_id_prefix: str) -> str | None:
        """The receipt of the latest delivered alert whose id starts with the prefix, if any."""
        if not alert_id_prefix:
            raise ValueError("alert_id_prefix must not be empty")
        # A range on the primary key instead of LIKE: no escaping, and the index serves it.
        with self._transaction("last_receipt_like", write=False) as db:
            row = db.execute(
                "SELECT receipt FROM outbox WHERE alert_id >= ? AND alert_id < ?"
                " AND status = 'delivered' AND receipt IS NOT NULL"
                " ORDER BY delivered_at DESC, alert_id DESC LIMIT 1",
                (alert_id_prefix, alert_id_prefix + "\U0010ffff"),
            ).fetchone()
        return None if row is None else str(row[0])

    @staticmethod
    def _require_alert(db: sqlite3.Connection, alert_id: str) -> None:
        if db.execute("SELECT 1 FROM outbox WHERE alert_id = ?", (alert_id,)).fetchone() is None:
            raise StoreError(f"no alert {alert_id!r}")

    def alerts_for_signal_since(self, signal_id: str, since: datetime) -> int:
        """How many alerts for this signal were enqueued at or after `since`, any status."""
        with self._transaction("alerts_for_signal_since", write=False) as db:
            row = db.execute(
                "SELECT COUNT(*) FROM outbox WHERE signal_id = ? AND created_at >= ?"
                " AND alert_id NOT LIKE 'upd-%'",
                (signal_id, codec.to_text(since, "since")),
            ).fetchone()
        return int(row[0])

    def outbox_counts(self) -> dict[str, int]:
        """The number of alerts per outbox status: pending, delivered, failed."""
        with self._transaction("outbox_counts", write=False) as db:
            rows = db.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall()
        counts: dict[str, int] = dict.fromkeys(OUTBOX_STATUSES, 0)
        counts.update({row[0]: row[1] for row in rows})
        return counts

    def delivered_alerts_since(
        self, signal_id: str | None, since: datetime, limit: int
    ) -> list[tuple[PendingAlert, str | None]]:
        """Alerts delivered at or after `since`, with their receipts, newest delivery first."""
        start = codec.to_text(since, "since")
        if limit <= 0:
            return []
        with self._transaction("delivered_alerts_since", write=False) as db:
            if signal_id is None:
                rows = db.execute(
                    "SELECT * FROM outbox WHERE status = 'delivered' AND delivered_at >= ?"
                    " ORDER BY delivered_at DESC, alert_id DESC LIMIT ?",
                    (start, limit),
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM outbox WHERE status = 'delivered' AND signal_id = ?"
                    " AND delivered_at >= ? ORDER BY delivered_at DESC, alert_id DESC LIMIT ?",
                    (signal_id, start, limit),
                ).fetchall()
        return [(_pending_alert(row, attempts=row["attempts"]), row["receipt"]) for row in rows]

    # -- articles -----------------------------------------------------------------------------

    def recent_articles(self, limit: int, signal_id: str | None = None) -> list[ArticleRecord]:
        """The most recently matched articles, newest first, optionally for one signal."""
        if limit <= 0:
            return []
        with self._transaction("recent_articles", write=False) as db:
            if signal_id is None:
                rows = db.execute(
                    "SELECT * FROM articles ORDER BY matched_at DESC, id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT a.* FROM articles a JOIN article_signals s ON s.article_id = a.id"
                    " WHERE s.signal_id = ? ORDER BY a.matched_at DESC, a.id DESC LIMIT ?",
                    (signal_id, limit),
                ).fetchall()
            return self._articles(db, rows)

    def articles_matching(self, since: datetime, limit: int) -> list[ArticleRecord]:
        """Up to `limit` articles first matched at or after `since`, newest first."""
        start = codec.to_text(since, "since")
        if limit <= 0:
            return []
        with self._transaction("articles_matching", write=False) as db:
            rows = db.execute(
                "SELECT * FROM articles WHERE matched_at >= ?"
                " ORDER BY matched_at DESC, id DESC LIMIT ?",
                (start, limit),
            ).fetchall()
            return self._articles(db, rows)

    def search_articles(self, words: str, limit: int) -> list[ArticleRecord]:
        """Matched articles whose title or summary holds every word (prefixes), newest first."""
        # Words without a letter or digit would be empty FTS phrases (a syntax error there)
        # and match everything under LIKE; a search for them finds nothing.
        terms = [w for w in words.split() if any(c.isalnum() for c in w)]
        if not terms or limit <= 0:
            return []
        with self._transaction("search_articles", write=False) as db:
            if self._search_uses_fts(db):
                # Each word becomes a quoted prefix phrase, so no user text is FTS syntax.
                query = " ".join('"' + t.replace('"', '""') + '"*' for t in terms)
                rows = db.execute(
                    "SELECT a.* FROM articles_fts f JOIN articles a ON a.id = f.rowid"
                    " WHERE articles_fts MATCH ? ORDER BY a.matched_at DESC, a.id DESC LIMIT ?",
                    (query, limit),
                ).fetchall()
            else:
                clause = " AND ".join(
                    "(title LIKE ? ESCAPE '\\' OR summary LIKE ? ESCAPE '\\')" for _ in terms
                )
                params: list[object] = []
                for term in terms:
                    pattern = "%" + _like_escape(term) + "%"
                    params += [pattern, pattern]
                rows = db.execute(
                    f"SELECT * FROM articles WHERE {clause}"
                    " ORDER BY matched_at DESC, id DESC LIMIT ?",
                    (*params, limit),
                ).fetchall()
            return self._articles(db, rows)

    @staticmethod
    def _articles(db: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> list[ArticleRecord]:
        matches: dict[int, list[ArticleMatch]] = {row["id"]: [] for row in rows}
        for chunk in _chunks(list(matches)):
            marks = ", ".join("?" * len(chunk))
            for m in db.execute(
                "SELECT article_id, signal_id, terms, snippet FROM article_signals"
                f" WHERE article_id IN ({marks}) ORDER BY article_id, position",
                chunk,
            ):
                matches[m["article_id"]].append(
                    ArticleMatch(m["signal_id"], codec.terms_from_json(m["terms"]), m["snippet"])
                )
        return [
            ArticleRecord(
                source_id=row["source_id"],
                key=row["key"],
                title=row["title"],
                summary=row["summary"],
                link=row["link"],
                published=codec.opt_from_text(row["published"]),
                publisher=row["publisher"],
                matches=tuple(matches[row["id"]]),
                matched_at=codec.from_text(row["matched_at"]),
            )
            for row in rows
        ]

    def signal_stats(self, signal_id: str, now: datetime) -> SignalStats:
        """When the signal last matched, and how many articles it matched in the 7 days to now."""
        week_ago = codec.to_text(now - timedelta(days=7), "now")
        with self._transaction("signal_stats", write=False) as db:
            row = db.execute(
                "SELECT MAX(matched_at),"
                " COUNT(CASE WHEN matched_at > ? AND matched_at <= ? THEN 1 END)"
                " FROM article_signals WHERE signal_id = ?",
                (week_ago, codec.to_text(now), signal_id),
            ).fetchone()
        return SignalStats(codec.opt_from_text(row[0]), int(row[1]))

    def signal_timeline(self, signal_id: str, now: datetime, days: int = 30) -> SignalTimeline:
        """First and last hit and total over all time, and hits per UTC day of the window.

        A hit is one story on one day: one article found by several sources (a story of
        several copies) counts once that day, and `total` is the sum over every day.
        """
        window = SignalTimeline.window(now, days)
        # Stored times are fixed-width UTC text that starts with the day: "2025-06-24" sorts
        # before every time of that day, and the first 10 characters are the UTC day.
        start, end = window[0].isoformat(), codec.to_text(now)
        # What a hit counts as: the article's story; else (its story pruned, or the article
        # older than stories) its link; else the article itself. One story per article, the
        # first, should a re-seen entry have been filed twice.
        story = (
            "COALESCE('s' || (SELECT MIN(c.story_id) FROM story_copies c"
            " WHERE c.source_id = a.source_id AND c.key = a.key), 'l' || a.link, 'a' || a.id)"
        )
        hits = (
            " FROM article_signals s JOIN articles a ON a.id = s.article_id WHERE s.signal_id = ?"
        )
        with self._transaction("signal_timeline", write=False) as db:
            # Both walk the (signal_id, matched_at) index over this signal's range (all time,
            # then the window's part of it), each hit's article by its rowid and its story by
            # (source_id, key), which wants an index of story_copies on those two columns.
            first, last, total = db.execute(
                "SELECT MIN(s.matched_at), MAX(s.matched_at),"
                f" COUNT(DISTINCT substr(s.matched_at, 1, 10) || ' ' || {story}){hits}",
                (signal_id,),
            ).fetchone()
            per_day = dict(
                db.execute(
                    f"SELECT substr(s.matched_at, 1, 10), COUNT(DISTINCT {story}){hits}"
                    " AND s.matched_at >= ? AND s.matched_at <= ?"
                    " GROUP BY substr(s.matched_at, 1, 10)",
                    (signal_id, start, end),
                ).fetchall()
            )
        return SignalTimeline(
            signal_id=signal_id,
            first_hit=codec.opt_from_text(first),
            last_hit=codec.opt_from_text(last),
            total=int(total),
            days=tuple((day, int(per_day.get(day.isoformat(), 0))) for day in window),
        )

    # -- subscriptions ------------------------------------------------------------------------

    def subscribe(
        self,
        user_id: int,
        signal_id: str,
        mode: SubscriptionMode,
        guild_id: int | None,
        now: datetime,
    ) -> bool:
        """Make the user follow the signal in `mode`; True when new or the mode changed."""
        at = codec.to_text(now, "now")
        user = codec.snowflake(user_id, "user_id")
        guild = codec.opt_snowflake(guild_id, "guild_id")
        if mode not in SUBSCRIPTION_MODES:
            raise ValueError(f"subscription mode must be one of {SUBSCRIPTION_MODES}, not {mode!r}")
        if not signal_id:
            raise ValueError("signal id must not be empty")
        with self._transaction("subscribe") as db:
            old = db.execute(
                "SELECT mode FROM subscriptions WHERE user_id = ? AND signal_id = ?",
                (user, signal_id),
            ).fetchone()
            if old is None:
                db.execute(
                    "INSERT INTO subscriptions (user_id, signal_id, mode, guild_id, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (user, signal_id, mode, guild, at),
                )
            else:
                db.execute(
                    "UPDATE subscriptions SET mode = ?, guild_id = ?"
                    " WHERE user_id = ? AND signal_id = ?",
                    (mode, guild, user, signal_id),
                )
        return old is None or old["mode"] != mode

    def unsubscribe(self, user_id: int, signal_id: str) -> bool:
        """Stop the user following the signal; True if they were following it."""
        user = codec.snowflake(user_id, "user_id")
        with self._transaction("unsubscribe") as db:
            cursor = db.execute(
                "DELETE FROM subscriptions WHERE user_id = ? AND signal_id = ?", (user, signal_id)
            )
        return cursor.rowcount > 0

    def subscriptions_of(self, user_id: int) -> list[Subscription]:
        """The signals a user follows, by signal id."""
        user = codec.snowflake(user_id, "user_id")
        with self._transaction("subscriptions_of", write=False) as db:
            rows = db.execute(
                "SELECT * FROM subscriptions WHERE user_id = ? ORDER BY signal_id", (user,)
            ).fetchall()
        return [_subscription(row) for row in rows]

    def subscribers(self, signal_id: str) -> list[Subscription]:
        """The users following a signal, oldest subscription first (then by user id)."""
        with self._transaction("subscribers", write=False) as db:
            rows = db.execute(
                "SELECT * FROM subscriptions WHERE signal_id = ? ORDER BY created_at, user_id",
                (signal_id,),
            ).fetchall()
        return [_subscription(row) for row in rows]

    # -- audit log ----------------------------------------------------------------------------

    def record_audit(
        self,
        now: datetime,
        *,
        actor_id: int | None,
        actor_name: str,
        action: str,
        target: str,
        before: dict[str, object] | None,
        after: dict[str, object] | None,
    ) -> int:
        """Append an admin edit to the audit log; return its id."""
        params = (
            codec.to_text(now, "now"),
            codec.opt_snowflake(actor_id, "actor_id"),
            actor_name,
            action,
            target,
            codec.doc_to_json(before, "audit 'before'"),
            codec.doc_to_json(after, "audit 'after'"),
        )
        if not action or not target:
            raise ValueError("audit action and target must not be empty")
        with self._transaction("record_audit") as db:
            cursor = db.execute(
                "INSERT INTO audit_log (at, actor_id, actor_name, action, target, before_json,"
                " after_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            entry_id = cursor.lastrowid
        if entry_id is None:  # pragma: no cover - an INSERT into a rowid table always sets it
            raise StoreError(f"SQLite store {self.path!r}: record_audit got no id")
        return entry_id

    def audit_history(self, limit: int, target: str | None = None) -> list[AuditEntry]:
        """The latest `limit` audit entries, newest first (by time, then id)."""
        if limit <= 0:
            return []
        with self._transaction("audit_history", write=False) as db:
            if target is None:
                rows = db.execute(
                    "SELECT * FROM audit_log ORDER BY at DESC, id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM audit_log WHERE target = ? ORDER BY at DESC, id DESC LIMIT ?",
                    (target, limit),
                ).fetchall()
        return [
            AuditEntry(
                id=row["id"],
                at=codec.from_text(row["at"]),
                actor_id=row["actor_id"],
                actor_name=row["actor_name"],
                action=row["action"],
                target=row["target"],
                before=codec.doc_from_json(row["before_json"]),
                after=codec.doc_from_json(row["after_json"]),
            )
            for row in rows
        ]

    # -- housekeeping -----------------------------------------------------------------------

    # -- stories --------------------------------------------------------------------------------

    def recent_stories(self, since: datetime) -> list[KnownStory]:
        """Stories with a copy seen at or after `since`, oldest first, with copies and alerts."""
        start = codec.to_text(since, "since")
        with self._transaction("recent_stories", write=False) as db:
            rows = db.execute(
                "SELECT * FROM stories WHERE last_seen_at >= ? ORDER BY first_seen_at, id",
                (start,),
            ).fetchall()
            return self._stories(db, rows)

    def recent_story_fingerprints(
        self, since: datetime, *, after_id: int = 0
    ) -> list[tuple[int, str, datetime]]:
        """(id, fingerprint, last seen) of the stories seen at or after `since`, oldest first;
        with `after_id`, only those with a greater id."""
        # Rows are ids in commit order (one writer at a time): new stories are the ids past
        # the last read.
        with self._transaction("recent_story_fingerprints", write=False) as db:
            rows = db.execute(
                "SELECT id, fingerprint, last_seen_at FROM stories"
                " WHERE last_seen_at >= ? AND id > ? ORDER BY first_seen_at, id",
                (codec.to_text(since, "since"), after_id),
            ).fetchall()
        return [(int(row[0]), str(row[1]), codec.from_text(row[2])) for row in rows]

    def stories_last_seen(self, story_ids: Iterable[int]) -> dict[int, datetime]:
        """When each of these stories was last seen; unknown ids are left out."""
        rows = self._stories_by_id("stories_last_seen", "last_seen_at", story_ids)
        return {story_id: codec.from_text(value) for story_id, value in rows}

    def story_fingerprints(self, story_ids: Iterable[int]) -> dict[int, str]:
        """The stored fingerprint of each of these stories; unknown ids are left out."""
        return dict(self._stories_by_id("story_fingerprints", "fingerprint", story_ids))

    def _stories_by_id(
        self, operation: str, column: str, story_ids: Iterable[int]
    ) -> list[tuple[int, str]]:
        # `column` is one of our literal column names, never caller text.
        found: list[tuple[int, str]] = []
        with self._transaction(operation, write=False) as db:
            for chunk in _chunks(sorted(set(story_ids))):
                marks = ", ".join("?" * len(chunk))
                found += [
                    (int(row[0]), str(row[1]))
                    for row in db.execute(
                        f"SELECT id, {column} FROM stories WHERE id IN ({marks})", chunk
                    )
                ]
        return found

    def story(self, story_id: int) -> KnownStory | None:
        """One story with its copies and announcements, or None."""
        with self._transaction("story", write=False) as db:
            rows = db.execute("SELECT * FROM stories WHERE id = ?", (story_id,)).fetchall()
            found = self._stories(db, rows)
        return found[0] if found else None

    def story_of_alert(self, alert_id: str) -> KnownStory | None:
        """The story an alert announced, or None."""
        with self._transaction("story_of_alert", write=False) as db:
            rows = db.execute(
                "SELECT s.* FROM stories s JOIN story_alerts a ON a.story_id = s.id"
                " WHERE a.alert_id = ? LIMIT 1",
                (alert_id,),
            ).fetchall()
            found = self._stories(db, rows)
        return found[0] if found else None

    @staticmethod
    def _stories(db: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> list[KnownStory]:
        ids = [row["id"] for row in rows]
        copies: dict[int, list[StoryCopy]] = {i: [] for i in ids}
        announced: dict[int, list[Announcement]] = {i: [] for i in ids}
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            for c in db.execute(
                f"SELECT * FROM story_copies WHERE story_id IN ({marks})"
                " ORDER BY story_id, position",
                chunk,
            ):
                copies[c["story_id"]].append(
                    StoryCopy(c["source_id"], c["key"], c["title"], c["link"], c["publisher"])
                )
            for a in db.execute(
                f"SELECT * FROM story_alerts WHERE story_id IN ({marks})"
                " ORDER BY story_id, signal_id, destination",
                chunk,
            ):
                announced[a["story_id"]].append(
                    Announcement(a["signal_id"], a["destination"], a["alert_id"])
                )
        return [
            KnownStory(
                id=row["id"],
                fingerprint=row["fingerprint"],
                title=row["title"],
                first_seen_at=codec.from_text(row["first_seen_at"]),
                last_seen_at=codec.from_text(row["last_seen_at"]),
                copies=tuple(copies[row["id"]]),
                announced=tuple(announced[row["id"]]),
            )
            for row in rows
        ]

    # -- digests --------------------------------------------------------------------------------

    def open_digests(self) -> list[OpenDigest]:
        """Every (destination, schedule) with hits waiting for a digest."""
        with self._transaction("open_digests", write=False) as db:
            rows = db.execute(
                "SELECT destination, schedule, MIN(created_at) AS oldest, COUNT(*) AS items"
                " FROM digest_items WHERE digest_id IS NULL"
                " GROUP BY destination, schedule ORDER BY destination, schedule"
            ).fetchall()
        return [
            OpenDigest(r["destination"], r["schedule"], codec.from_text(r["oldest"]), r["items"])
            for r in rows
        ]

    def digest_items(self, destination: str, schedule: str, before: datetime) -> list[Alert]:
        """The waiting hits of one digest route collected before `before`, oldest first."""
        until = codec.to_text(before, "before")
        with self._transaction("digest_items", write=False) as db:
            rows = db.execute(
                "SELECT payload FROM digest_items WHERE digest_id IS NULL AND destination = ?"
                " AND schedule = ? AND created_at < ? ORDER BY created_at, alert_id",
                (destination, schedule, until),
            ).fetchall()
        return [codec.alert_from_json(row[0]) for row in rows]

    def commit_digest(
        self,
        destination: str,
        schedule: str,
        now: datetime,
        *,
        item_ids: Sequence[str],
        digest: Alert,
    ) -> bool:
        """In one transaction: enqueue the digest alert and mark its items as taken by it."""
        at = codec.to_text(now, "now")
        with self._transaction("commit_digest") as db:
            cursor = db.execute(
                "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (alert_id) DO NOTHING",
                (
                    digest.alert_id,
                    digest.signal_id,
                    digest.destination,
                    digest.source_id,
                    codec.alert_to_json(digest),
                    at,
                    at,
                ),
            )
            if cursor.rowcount == 0:
                return False
            for chunk in _chunks(list(item_ids)):
                marks = ", ".join("?" * len(chunk))
                db.execute(
                    f"UPDATE digest_items SET digest_id = ? WHERE digest_id IS NULL"
                    f" AND destination = ? AND schedule = ? AND alert_id IN ({marks})",
                    (digest.alert_id, destination, schedule, *chunk),
                )
        return True

    # -- news-API quotas ------------------------------------------------------------------------

    def api_calls_on(self, api: str, day: date) -> int:
        """How many requests were made to `api` on that UTC day."""
        with self._transaction("api_calls_on", write=False) as db:
            row = db.execute(
                "SELECT calls FROM api_calls WHERE api = ? AND day = ?", (api, day.isoformat())
            ).fetchone()
        return 0 if row is None else int(row[0])

    def add_api_calls(self, api: str, day: date, calls: int) -> None:
        """Count `calls` more requests to `api` on that UTC day."""
        if calls < 0:
            raise ValueError(f"calls must be 0 or more, got {calls}")
        with self._transaction("add_api_calls") as db:
            db.execute(
                "INSERT INTO api_calls (api, day, calls) VALUES (?, ?, ?)"
                " ON CONFLICT (api, day) DO UPDATE SET calls = calls + excluded.calls",
                (api, day.isoformat(), calls),
            )

    def search_cursors(self, source_id: str) -> dict[str, datetime]:
        """Per signal id: the end of the last window `source_id` searched without an error."""
        with self._transaction("search_cursors", write=False) as db:
            rows = db.execute(
                "SELECT signal_id, searched_until FROM search_cursors WHERE source_id = ?",
                (source_id,),
            ).fetchall()
        return {signal_id: codec.from_text(until) for signal_id, until in rows}

    def advance_search_cursors(self, source_id: str, until: Mapping[str, datetime]) -> None:
        """Move each signal's cursor of `source_id` to its time in `until`; never backwards."""
        rows = [(source_id, sid, codec.to_text(t, "searched_until")) for sid, t in until.items()]
        if not rows:
            return
        with self._transaction("advance_search_cursors") as db:
            # Fixed-width UTC text orders like the times it holds, so MAX keeps the later one.
            db.executemany(
                "INSERT INTO search_cursors (source_id, signal_id, searched_until)"
                " VALUES (?, ?, ?) ON CONFLICT (source_id, signal_id) DO UPDATE"
                " SET searched_until = MAX(searched_until, excluded.searched_until)",
                rows,
            )

    def reschedule_source(self, source_id: str, now: datetime, *, next_poll_at: datetime) -> None:
        """Release the lease and poll again at `next_poll_at`, recording neither outcome."""
        params = (codec.to_text(next_poll_at, "next_poll_at"), codec.to_text(now, "now"))
        with self._transaction("reschedule_source") as db:
            self._update_source(
                db,
                source_id,
                "UPDATE sources SET next_poll_at = ?, last_attempt_at = ?, lease_until = NULL"
                " WHERE id = ?",
                params,
            )

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

    def close(self) -> None:
        """Release the database connection; further calls raise StoreError. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Self:
        """Use the store as a context manager that closes it."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()


def _chunks(items: Sequence[T]) -> Iterator[list[T]]:
    """The items in lists short enough to bind as parameters of one statement."""
    for start in range(0, len(items), _CHUNK):
        yield list(items[start : start + _CHUNK])


def _has_column(db: sqlite3.Connection, column: AddColumn) -> bool:
    row = db.execute(
        "SELECT 1 FROM pragma_table_info(?) WHERE name = ?", (column.table, column.column)
    ).fetchone()
    return row is not None


def _pending_alert(row: sqlite3.Row, *, attempts: int) -> PendingAlert:
    return PendingAlert(
        alert=codec.alert_from_json(row["payload"]),
        status=row["status"],
        attempts=attempts,
        next_attempt_at=codec.from_text(row["next_attempt_at"]),
        last_error=row["last_error"],
        created_at=codec.from_text(row["created_at"]),
    )


def _subscription(row: sqlite3.Row) -> Subscription:
    return Subscription(
        user_id=row["user_id"],
        signal_id=row["signal_id"],
        mode=row["mode"],
        guild_id=row["guild_id"],
        created_at=codec.from_text(row["created_at"]),
    )


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
    )
