"""SQLite store, the core: the connection, transactions, errors and schema migrations.

Every topic's mixin (the other modules of this package) builds on `SQLiteBase`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from types import TracebackType
from typing import Self, TypeVar

from bot.errors import StoreError
from bot.store.migrations import FTS5_PROBE, MIGRATIONS, SCHEMA_VERSION_TABLE, AddColumn, statements

BUSY_TIMEOUT_S = 5.0
# Under WAL, NORMAL syncs at checkpoints only: a crash of the process loses nothing, but a
# power cut may roll back the last commits. The commits at-least-once delivery rests on
# (commit_poll, mark_delivered, commit_digest) and the rare ones a person was told are done
# (subscriptions, admin edits) are `durable` and sync at COMMIT (FULL); the rest, bookkeeping
# that a repeated poll or claim makes good, stay NORMAL: FULL for every commit would make a
# 304's bookkeeping about 10 times slower (bench/bench_durability.py).
SYNCHRONOUS = "NORMAL"
DURABLE_SYNCHRONOUS = "FULL"
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


class SQLiteBase:
    """One SQLite connection with its lock, transactions and migrations."""

    def __init__(self, path_or_url: str | os.PathLike[str], *, fts: bool | None = None) -> None:
        """Open (creating if needed) the database; `fts=False` migrates as if FTS5 were absent."""
        self.path = sqlite_path(path_or_url)
        self._fts_wanted = fts
        self._has_fts: bool | None = None  # learnt from the schema on first search
        self._lock = threading.RLock()
        # Reads of a file database go through a second connection of their own: under WAL a
        # reader sees the last commit and never waits for a write in progress (a slash
        # command is not held up by a poll committing a thousand entries).
        self._read_lock = threading.RLock()
        self._reader: sqlite3.Connection | None = None
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
            self._db.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")
            self._db.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"cannot open SQLite database {self.path!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _error(self, what: str, exc: sqlite3.Error) -> StoreError:
        """A StoreError saying which store, which operation, and what SQLite said."""
        if self._closed:
            return StoreError(f"SQLite store {self.path!r} is closed ({what})")
        hint = " (run migrate() first)" if "no such table" in str(exc) else ""
        return StoreError(f"SQLite store {self.path!r}: {what} failed: {exc}{hint}")

    @contextmanager
    def _transaction(
        self, what: str, *, write: bool = True, durable: bool = False
    ) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction: committed if it returns, rolled back if it raises.

        Writes take the write lock at BEGIN (IMMEDIATE) so a read-then-write never finds the
        database changed under it; reads get one consistent snapshot (DEFERRED).
        A `durable` write commits with synchronous=FULL: once it returns it survives a power
        cut, not only a crash of the process.
        """
        if not write and not durable and self.path != ":memory:":
            with self._read_transaction(what) as reader:
                yield reader
            return
        with self._lock:
            try:
                if durable:
                    self._db.execute(f"PRAGMA synchronous = {DURABLE_SYNCHRONOUS}")
                self._db.execute("BEGIN IMMEDIATE" if write else "BEGIN DEFERRED")
            except sqlite3.Error as exc:
                self._restore_synchronous(durable)
                raise self._error(what, exc) from exc
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as exc:
                self._rollback()
                if isinstance(exc, sqlite3.Error):
                    raise self._error(what, exc) from exc
                raise
            finally:
                self._restore_synchronous(durable)

    @contextmanager
    def _read_transaction(self, what: str) -> Iterator[sqlite3.Connection]:
        """One read transaction on the reading connection (opened on first use)."""
        with self._read_lock:
            if self._closed:
                raise StoreError(f"SQLite store {self.path!r} is closed ({what})")
            try:
                if self._reader is None:
                    reader = sqlite3.connect(
                        self.path,
                        timeout=BUSY_TIMEOUT_S,
                        isolation_level=None,
                        check_same_thread=False,
                    )
                    reader.row_factory = sqlite3.Row
                    reader.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                    reader.execute("PRAGMA query_only = ON")
                    self._reader = reader
                self._reader.execute("BEGIN DEFERRED")
            except sqlite3.Error as exc:
                raise self._error(what, exc) from exc
            try:
                yield self._reader
            except sqlite3.Error as exc:
                raise self._error(what, exc) from exc
            finally:
                with suppress(sqlite3.Error):
                    if self._reader.in_transaction:
                        self._reader.execute("COMMIT")

    def _restore_synchronous(self, durable: bool) -> None:
        # Back to the connection's usual level once a durable transaction is over; should
        # that fail, the connection is broken and its next statement says so.
        if durable:
            with suppress(sqlite3.Error):
                self._db.execute(f"PRAGMA synchronous = {SYNCHRONOUS}")

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

    def close(self) -> None:
        """Release the database connection; further calls raise StoreError. Idempotent."""
        with self._lock, self._read_lock:
            if not self._closed:
                self._closed = True
                self._db.close()
                if self._reader is not None:
                    self._reader.close()

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
