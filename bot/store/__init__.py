"""Durable state: sources and their polling state, seen entries (and their text), matched
articles, the outbox (with delivery receipts), subscriptions, and the audit log of admin edits.

    open_store(url) -> Store        sqlite:///file.db (default) | postgresql://user@host/db

`Store` (in `bot.store.base`) is the one contract; `tests/store_contract.py` is its test suite.
Backends are imported only when opened, so importing the types pulls in no database driver.
"""

from __future__ import annotations

import os
import re

from bot.errors import StoreError
from bot.store.base import (
    Announcement,
    ArticleMatch,
    ArticleRecord,
    AuditEntry,
    DigestItem,
    EntryIdentity,
    Identify,
    JudgedItem,
    Judgement,
    KnownStory,
    NotModifiedRecord,
    OpenDigest,
    OutboxRecord,
    OutboxStatus,
    PendingAlert,
    SeenText,
    SignalStats,
    SignalTimeline,
    SourceConfig,
    SourceHealth,
    SourceState,
    Store,
    StoryCopy,
    StoryWrite,
    Subscription,
    SubscriptionMode,
    Verdict,
    source_health,
)
from bot.store.leases import DEFAULT_HOLDER, Lease, default_holder

DEFAULT_URL = "sqlite:///signalwatch.db"

__all__ = [
    "DEFAULT_HOLDER",
    "DEFAULT_URL",
    "Announcement",
    "ArticleMatch",
    "ArticleRecord",
    "AuditEntry",
    "DigestItem",
    "EntryIdentity",
    "Identify",
    "JudgedItem",
    "Judgement",
    "KnownStory",
    "Lease",
    "NotModifiedRecord",
    "OpenDigest",
    "OutboxRecord",
    "OutboxStatus",
    "PendingAlert",
    "SeenText",
    "SignalStats",
    "SignalTimeline",
    "SourceConfig",
    "SourceHealth",
    "SourceState",
    "Store",
    "StoryCopy",
    "StoryWrite",
    "Subscription",
    "SubscriptionMode",
    "Verdict",
    "default_holder",
    "open_store",
    "source_health",
]


def open_store(url: str = DEFAULT_URL, *, migrate: bool = True, read_only: bool = False) -> Store:
    """Open the store the URL names, migrated to the current schema unless `migrate=False`.

    `sqlite:///relative.db`, `sqlite:////absolute.db`, `sqlite:///:memory:` or a plain file
    path choose SQLite; `postgresql://` (or `postgres://`) chooses PostgreSQL, which needs
    the `postgres` extra. Errors name the setting (SIGNALWATCH_DB), never a password.
    `read_only`: the caller only reads, so a SQLite file that is not there is read as an
    empty store instead of being created.
    """
    scheme, sep, _ = url.partition(":")
    scheme = scheme.lower() if sep else ""
    store: Store
    if scheme in ("postgresql", "postgres"):
        store = _open_postgres(url)
    elif scheme.startswith(("postgresql+", "postgres+")):
        raise StoreError(
            f"unsupported store URL in SIGNALWATCH_DB ({scheme}://…):"
            " use postgresql://user@host:5432/dbname"
        )
    elif scheme == "sqlite" or "://" not in url:
        from bot.store.sqlite import SQLiteStore, sqlite_path

        path = sqlite_path(url)
        # A command that only reads (sources, timeline) sees an empty store where there is
        # no file yet, and leaves none behind.
        missing = read_only and path != ":memory:" and not os.path.exists(path)
        store = SQLiteStore(":memory:" if missing else url)
    else:
        shown = re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)  # never print a password
        raise StoreError(
            f"unsupported store URL {shown!r} in SIGNALWATCH_DB:"
            " use sqlite:///path.db or postgresql://user@host:5432/dbname"
        )
    if migrate:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store


def _open_postgres(url: str) -> Store:
    """A PostgresStore on `url`; StoreError naming the extra when psycopg is not installed."""
    try:
        from bot.store.postgres import PostgresStore
    except ImportError as exc:
        raise StoreError(
            "SIGNALWATCH_DB names a PostgreSQL database, but the PostgreSQL driver is not"
            f" installed ({exc.name or exc}): pip install 'signalwatch[postgres]'"
        ) from None
    return PostgresStore(url)
