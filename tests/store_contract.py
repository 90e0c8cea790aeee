"""The contract every `Store` backend passes.

A backend's test module subclasses `StoreContract` and provides three things:

    connect          fixture: a callable that opens another, unmigrated Store on this test's
                     own empty database (each call a new connection to the same database)
    v2_store         fixture: an open Store on a database at schema version 2 (migrations
                     1–2 only) holding the V2 data set below, written with that old schema
    shared_database  class attribute: False when connections cannot share a database
                     (SQLite :memory:); the tests that need two connections then skip

    class TestSQLiteFile(StoreContract):
        @pytest.fixture
        def connect(self, tmp_path): ...

The tests live in one class per topic (store_contract_sources, _poll, _outbox, _articles,
_users, _stories, _cluster, _feedback), composed here; the data and helpers in store_contract_data, and
importable from here too.

Nothing here sleeps or reads the clock: every time is an offset from `T0`.
"""

from __future__ import annotations

from store_contract_articles import ArticlesContract
from store_contract_cluster import ClusterContract
from store_contract_data import (
    GUILD,
    LEASE,
    MAX_ID,
    T0,
    USER,
    V2_ARTICLE,
    V2_AT,
    V2_DELIVERED,
    V2_DISABLED,
    V2_ETAG,
    V2_PENDING,
    V2_RECEIPT,
    V2_SEEN,
    Connect,
    alert,
    article,
    at,
    cfg,
    commit,
    entry,
    failed,
    fetched,
    identify,
    identify_text,
    ids,
    seen_keys,
)
from store_contract_feedback import FeedbackContract
from store_contract_outbox import OutboxContract
from store_contract_poll import PollContract
from store_contract_sources import SourcesContract
from store_contract_stories import StoriesContract
from store_contract_users import UsersContract

# The helpers and data live in store_contract_data; backends' tests import them from here.
__all__ = [
    "GUILD",
    "LEASE",
    "MAX_ID",
    "T0",
    "USER",
    "V2_ARTICLE",
    "V2_AT",
    "V2_DELIVERED",
    "V2_DISABLED",
    "V2_ETAG",
    "V2_PENDING",
    "V2_RECEIPT",
    "V2_SEEN",
    "Connect",
    "StoreContract",
    "alert",
    "article",
    "at",
    "cfg",
    "commit",
    "entry",
    "failed",
    "fetched",
    "identify",
    "identify_text",
    "ids",
    "seen_keys",
]


class StoreContract(
    SourcesContract,
    PollContract,
    OutboxContract,
    ArticlesContract,
    UsersContract,
    StoriesContract,
    ClusterContract,
    FeedbackContract,
):
    """Behaviour every Store backend must show; subclass and provide `connect`, `v2_store`."""
