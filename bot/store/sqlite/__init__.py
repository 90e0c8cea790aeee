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

from bot.store.sqlite._articles import ArticlesMixin
from bot.store.sqlite._audit import AuditMixin
from bot.store.sqlite._base import BUSY_TIMEOUT_S, SQLiteBase, sqlite_path
from bot.store.sqlite._cluster import ClusterMixin
from bot.store.sqlite._digests import DigestsMixin
from bot.store.sqlite._feedback import FeedbackMixin
from bot.store.sqlite._leases import LeasesMixin
from bot.store.sqlite._outbox import OutboxMixin
from bot.store.sqlite._poll import PollMixin
from bot.store.sqlite._prune import PruneMixin
from bot.store.sqlite._quotas import QuotasMixin
from bot.store.sqlite._sources import SourcesMixin
from bot.store.sqlite._stories import StoriesMixin
from bot.store.sqlite._subscriptions import SubscriptionsMixin
from bot.store.sqlite._timeline import TimelineMixin

__all__ = ["BUSY_TIMEOUT_S", "SQLiteStore", "sqlite_path"]


class SQLiteStore(
    SourcesMixin,
    PollMixin,
    OutboxMixin,
    ArticlesMixin,
    TimelineMixin,
    SubscriptionsMixin,
    FeedbackMixin,
    AuditMixin,
    StoriesMixin,
    DigestsMixin,
    QuotasMixin,
    PruneMixin,
    LeasesMixin,
    ClusterMixin,
    SQLiteBase,
):
    """The `Store` on one SQLite file (or `:memory:`), WAL mode, explicit transactions."""
