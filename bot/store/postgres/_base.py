"""PostgreSQL store, the core: the connection pool, transactions, errors and migrations.

Every topic's mixin (the other modules of this package) builds on `PostgresBase`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.errors import StoreError
from bot.store.postgres.migrations import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION_TABLE

Conn = psycopg.Connection[DictRow]
Row = dict[str, Any]

# How long opening the store waits for the server to answer before saying it cannot.
CONNECT_TIMEOUT_S = 10
# Connections per store: a process's threads (poller, deliverer, chat) share them.
POOL_MAX = 4
# How long a call waits for a free connection of the pool before it fails.
POOL_WAIT_S = 30.0


def describe(url: str) -> str:
    """The database a URL names, for messages: user, host, port and database, never a password."""
    try:
        params = pg_conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://…"
    user = f"{params['user']}@" if params.get("user") else ""
    host = str(params.get("host") or "localhost")
    port = f":{params['port']}" if params.get("port") else ""
    dbname = str(params.get("dbname") or "")
    return f"postgresql://{user}{host}{port}/{dbname}"


def scrub(text: str, url: str) -> str:
    """`text` with the URL's password (if any, as written or decoded) replaced by ***."""
    secrets: set[str] = set()
    found = re.match(r"^[a-z0-9+]*://[^:/@]*:([^@/]*)@", url, re.IGNORECASE)
    if found and found.group(1):
        secrets.add(found.group(1))
    try:
        password = pg_conninfo.conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    if password:
        secrets.add(str(password))
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def first_line(exc: BaseException) -> str:
    """An exception's message on one line (libpq's can run over several)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def utc_or_none(value: datetime | None) -> datetime | None:
    """A TIMESTAMPTZ read back as UTC, whatever the session's time zone (None stays None)."""
    return None if value is None else value.astimezone(UTC)


def utc_of(value: datetime) -> datetime:
    """A TIMESTAMPTZ read back as UTC, whatever the session's time zone."""
    return value.astimezone(UTC)


class PostgresBase:
    """A pool of PostgreSQL connections with transactions and migrations."""

    def __init__(self, url: str, *, pool_max: int = POOL_MAX) -> None:
        """Connect to the database `url` names; StoreError (one line, no password) if we can't."""
        self.url = url
        self.target = describe(url)
        self._closed = False
        try:
            pg_conninfo.conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise StoreError(
                f"bad PostgreSQL URL in SIGNALWATCH_DB ({self.target}):"
                f" {scrub(first_line(exc), url)}"
            ) from None
        # One plain connection first: a wrong host, password or database gets libpq's own
        # reason, where the pool would only say it timed out.
        try:
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_S):
                pass
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL {self.target} (SIGNALWATCH_DB):"
                f" {scrub(first_line(exc), url)}"
            ) from None
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_max),
            timeout=POOL_WAIT_S,
            kwargs={"autocommit": True, "row_factory": dict_row},
            configure=_configure,
            name="signalwatch-store",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except (PoolTimeout, psycopg.Error) as exc:
            self._pool.close()
            raise StoreError(
                f"cannot connect to PostgreSQL {self.target} (SIGNALWATCH_DB):"
                f" {scrub(first_line(exc), url)}"
            ) from None

    def __repr__(self) -> str:
        return f"PostgresStore({self.target!r})"

    def _error(self, what: str, exc: BaseException) -> StoreError:
        """A StoreError saying which store, which operation, and what PostgreSQL said."""
        if self._closed:
            return StoreError(f"PostgreSQL store {self.target} is closed ({what})")
        hint = " (run migrate() first)" if isinstance(exc, psycopg.errors.UndefinedTable) else ""
        message = scrub(first_line(exc), self.url)
        return StoreError(f"PostgreSQL store {self.target}: {what} failed: {message}{hint}")

    @contextmanager
    def _transaction(self, what: str, *, write: bool = True) -> Iterator[Conn]:
        """Run the block in one transaction: committed if it returns, rolled back if it raises.

        Transactions run at READ COMMITTED; claims lock what they take (FOR UPDATE SKIP
        LOCKED) and writes that must not race say so in their SQL. Every commit is durable
        (the server's synchronous_commit), so there is no `durable` flag as on SQLite.
        """
        del write  # the same transaction either way; the flag documents the caller's intent
        if self._closed:
            raise StoreError(f"PostgreSQL store {self.target} is closed ({what})")
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise self._error(what, exc) from exc

    @staticmethod
    def _require_source(db: Conn, source_id: str) -> None:
        if db.execute("SELECT 1 FROM sources WHERE id = %s", (source_id,)).fetchone() is None:
            raise StoreError(f"no source {source_id!r}")

    def migrate(self) -> int:
        """Apply the schema migrations not applied yet; return how many ran (0 when current)."""
        latest = MIGRATIONS[-1].version
        applied = 0
        for migration in MIGRATIONS:
            with self._transaction("migrate") as db:
                db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
                db.execute(SCHEMA_VERSION_TABLE)
                row = db.execute("SELECT COALESCE(MAX(version), 0) AS v FROM schema_version")
                current = int(_one(row.fetchone())["v"])
                if current > latest:
                    raise StoreError(
                        f"PostgreSQL store {self.target} has schema version {current}, newer"
                        f" than this signalwatch knows ({latest}): upgrade signalwatch"
                    )
                if migration.version <= current:
                    continue
                for statement in migration.statements():
                    db.execute(statement)
                db.execute(
                    "INSERT INTO schema_version (version, name, variant) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, "postgresql"),
                )
                applied += 1
        return applied

    def close(self) -> None:
        """Release the database connections; further calls raise StoreError. Idempotent."""
        if not self._closed:
            self._closed = True
            self._pool.close()

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


def _configure(conn: Conn) -> None:
    # Times come back in UTC whatever the server's default zone; the store converts anyway.
    conn.execute("SET TIME ZONE 'UTC'")


def _one(row: Row | None) -> Row:
    """The row a query that always answers gave (an aggregate without GROUP BY)."""
    if row is None:  # pragma: no cover - such a query always gives one row
        raise StoreError("PostgreSQL gave no row where one was certain")
    return row
