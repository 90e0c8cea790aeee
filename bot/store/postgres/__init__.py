"""PostgreSQL backend of the store: for several processes on one database (scale-out).

A `PostgresStore` keeps a small pool of psycopg 3 connections (psycopg_pool), so the threads
`asyncio.to_thread` uses share it safely. Each method is one transaction at READ COMMITTED.
Claims of sources and alerts take their rows with `FOR UPDATE SKIP LOCKED`: two claimers,
in one process or on two machines, never get the same row and never wait for each other.
`commit_poll` is one transaction whose inserts all say ON CONFLICT DO NOTHING, so two
processes committing the same entries at once both succeed and the alerts are queued once.

Times are TIMESTAMPTZ and read back in UTC; Discord ids are BIGINT; alerts and audit states
are the JSON text `bot.store.codec` writes. The schema is `bot.store.postgres.migrations`.
Connection settings come from the URL (a libpq URI or conninfo), e.g. a schema by
`?options=-csearch_path%3Dsignalwatch`. Importing this package needs the `postgres` extra.
"""

from __future__ import annotations

from bot.store.postgres._articles import ArticlesMixin
from bot.store.postgres._audit import AuditMixin
from bot.store.postgres._base import PostgresBase, describe
from bot.store.postgres._cluster import ClusterMixin
from bot.store.postgres._digests import DigestsMixin
from bot.store.postgres._feedback import FeedbackMixin
from bot.store.postgres._leases import LeasesMixin
from bot.store.postgres._outbox import OutboxMixin
from bot.store.postgres._poll import PollMixin
from bot.store.postgres._prune import PruneMixin
from bot.store.postgres._quotas import QuotasMixin
from bot.store.postgres._sources import SourcesMixin
from bot.store.postgres._stories import StoriesMixin
from bot.store.postgres._subscriptions import SubscriptionsMixin
from bot.store.postgres._timeline import TimelineMixin

__all__ = ["PostgresStore", "describe"]


class PostgresStore(
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
    PostgresBase,
):
    """The `Store` on PostgreSQL: a connection pool, one transaction per call."""
