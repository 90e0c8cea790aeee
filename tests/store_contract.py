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

Nothing here sleeps or reads the clock: every time is an offset from `T0`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from bot.errors import StoreError
from bot.model import Alert, Entry, OutletCopy, StoryUpdateAlert
from bot.store.base import (
    SEEN_SUMMARY_MAX_CHARS,
    Announcement,
    ArticleMatch,
    ArticleRecord,
    AuditEntry,
    DigestItem,
    EntryIdentity,
    OpenDigest,
    PendingAlert,
    SeenText,
    SignalStats,
    SignalTimeline,
    SourceConfig,
    Store,
    StoryCopy,
    StoryWrite,
    Subscription,
    source_health,
)
from bot.store.leases import DEFAULT_HOLDER

T0 = datetime(2025, 6, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
Connect = Callable[[], Store]


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def cfg(source_id: str, url: str | None = None, interval_s: int = 600) -> SourceConfig:
    """A configured RSS source."""
    return SourceConfig(source_id, url or f"https://{source_id}.example/feed", "rss", interval_s)


def entry(
    key: str,
    title: str | None = None,
    link: str | None = None,
    source: str = "a",
    *,
    summary: str = "",
    published: datetime | None = None,
) -> Entry:
    """An entry with a distinct title unless one is given."""
    return Entry(
        source_id=source,
        key=key,
        title=title or f"Title of {key}",
        summary=summary,
        link=link,
        published=published,
    )


def identify(e: Entry) -> EntryIdentity:
    """A simple identity: key, link, and the title case-folded with whitespace collapsed."""
    return EntryIdentity(e.key, e.link, " ".join(e.title.casefold().split()), e.published)


def identify_text(e: Entry) -> EntryIdentity:
    """`identify`, also carrying the entry's title and summary text for `recent_seen`."""
    return EntryIdentity(
        e.key,
        e.link,
        " ".join(e.title.casefold().split()),
        e.published,
        title=e.title,
        summary=e.summary,
    )


def alert(alert_id: str, signal_id: str = "nato", source_id: str = "a", **changes: object) -> Alert:
    """An alert for the console with plausible content."""
    fields: dict[str, object] = {
        "alert_id": alert_id,
        "signal_id": signal_id,
        "destination": "console",
        "title": f"NATO allies agree to 5% ({alert_id})",
        "link": f"https://a.example/{alert_id}",
        "source_id": source_id,
        "published": T0 - timedelta(hours=1),
        "terms": ("NATO", "5%"),
        "snippet": "**NATO** allies agree to **5%**",
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def update(alert_id: str, original: str, **changes: object) -> StoryUpdateAlert:
    """A story update ("+N sources") of the alert `original`."""
    base = alert(alert_id, **changes)
    return StoryUpdateAlert(
        **{f.name: getattr(base, f.name) for f in fields(Alert)}, update_of=original
    )


def article(
    key: str,
    title: str,
    summary: str = "",
    signals: tuple[str, ...] = ("nato",),
    matched_at: datetime = T0,
    source: str = "a",
) -> ArticleRecord:
    """A matched article with one match per signal."""
    return ArticleRecord(
        source_id=source,
        key=key,
        title=title,
        summary=summary,
        link=f"https://{source}.example/{key}",
        published=matched_at - timedelta(minutes=30),
        publisher="Reuters",
        matches=tuple(ArticleMatch(s, ("NATO",), f"**NATO** for {s}") for s in signals),
        matched_at=matched_at,
    )


def fetched(
    store: Store,
    source_id: str,
    now: datetime,
    next_poll_at: datetime,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    new: int = 0,
) -> None:
    """record_fetch_ok with status 200, for tests that care about only some fields."""
    store.record_fetch_ok(
        source_id,
        now,
        status=200,
        etag=etag,
        last_modified=last_modified,
        next_poll_at=next_poll_at,
        entries_seen_delta=new,
    )


def failed(
    store: Store,
    source_id: str,
    now: datetime,
    next_poll_at: datetime,
    *,
    error: str = "timeout",
    status: int | None = None,
    disable: str | None = None,
) -> None:
    """record_fetch_failed with defaults, for tests that care about only some fields."""
    store.record_fetch_failed(
        source_id,
        now,
        error=error,
        status=status,
        next_poll_at=next_poll_at,
        disable_reason=disable,
    )


def commit(
    store: Store,
    now: datetime,
    *,
    entries: Sequence[Entry] = (),
    articles: Sequence[ArticleRecord] = (),
    alerts: Sequence[Alert] = (),
    source: str = "a",
) -> int:
    """commit_poll for source 'a', the entries identified with `identify`."""
    seen = [identify(e) for e in entries]
    return store.commit_poll(source, now, seen=seen, articles=articles, alerts=alerts)


def ids(items: list[PendingAlert]) -> list[str]:
    """The alert ids of claimed alerts, in order."""
    return [p.alert.alert_id for p in items]


def seen_keys(items: list[SeenText]) -> list[str]:
    """The keys of recently seen entries, in order."""
    return [s.key for s in items]


# A Discord snowflake of today (2025) and the largest id a signed 64-bit column holds.
USER = 1_386_973_614_032_805_989
GUILD = 1_105_561_349_781_958_706
MAX_ID = 2**63 - 1

# -- the V2 data set ---------------------------------------------------------------------------
# What a backend's `v2_store` fixture holds, written with the schema of migrations 1–2 only,
# as a signalwatch of that time would have left it:
#   sources   'a': configured and enabled; last fetch (200, ETag V2_ETAG) ok at V2_AT;
#                  next poll at V2_AT + 10 min; first fetch done; 1 entry seen
#             'b': configured, enabled but auto-disabled (V2_DISABLED), 3 consecutive
#                  failures, last attempt (HTTP 410) at V2_AT - 1 h, due at V2_AT
#             both created at V2_AT - 1 day
#   seen      V2_SEEN for source 'a', first seen at V2_AT (no title or summary columns yet)
#   articles  V2_ARTICLE, its one match at V2_AT
#   outbox    V2_DELIVERED: created at V2_AT, 1 attempt, delivered at V2_AT + 1 min with
#                           receipt V2_RECEIPT
#             V2_PENDING:   created at V2_AT, 0 attempts, due at V2_AT
V2_AT = T0 - timedelta(days=1)
V2_ETAG = '"v2"'
V2_DISABLED = "HTTP 410 Gone"
V2_SEEN = EntryIdentity(
    "old1", "https://a.example/old1", "old nato story", V2_AT - timedelta(hours=1)
)
V2_ARTICLE = ArticleRecord(
    source_id="a",
    key="old1",
    title="Old NATO story",
    summary="From before the upgrade.",
    link="https://a.example/old1",
    published=V2_AT - timedelta(hours=1),
    publisher="Reuters",
    matches=(ArticleMatch("nato", ("NATO",), "Old **NATO** story"),),
    matched_at=V2_AT,
)
V2_DELIVERED = alert("old-x1")
V2_RECEIPT = "message:1"
V2_PENDING = alert("old-x2")


class StoreContract:
    """Behaviour every Store backend must show; subclass and provide `connect`, `v2_store`."""

    shared_database = True

    @pytest.fixture
    def store(self, connect: Connect) -> Iterator[Store]:
        """A migrated, empty store."""
        with connect() as store:
            assert store.migrate() > 0
            yield store

    @pytest.fixture
    def polled(self, store: Store) -> Store:
        """A store with sources 'a' and 'b' configured at T0."""
        store.sync_sources([cfg("a"), cfg("b")], T0)
        return store

    # -- migrations ------------------------------------------------------------------------

    def test_migrate_again_applies_nothing_and_keeps_data(self, polled: Store) -> None:
        """A second migrate() is a no-op that keeps what is stored."""
        assert polled.migrate() == 0
        assert [s.id for s in polled.sources()] == ["a", "b"]

    def test_second_connection_sees_migrated_schema(self, polled: Store, connect: Connect) -> None:
        """Another connection to a migrated database has nothing to apply."""
        if not self.shared_database:
            pytest.skip("connections of this backend do not share a database")
        with connect() as other:
            assert other.migrate() == 0
            assert [s.id for s in other.sources()] == ["a", "b"]

    def test_migrating_a_v2_database_keeps_its_data(self, v2_store: Store) -> None:
        """Upgrading a schema-2 database with data keeps every row working, and adds the rest."""
        store = v2_store
        assert store.migrate() >= 1
        assert store.migrate() == 0

        a, b = store.sources()
        assert (a.id, a.etag, a.last_success_at, a.first_fetch_done) == ("a", V2_ETAG, V2_AT, True)
        assert (b.id, b.disabled_reason, b.consecutive_failures) == ("b", V2_DISABLED, 3)
        assert store.source_counts() == {"ok": 1, "failing": 0, "disabled": 1, "removed": 0}
        assert store.last_poll_at() == V2_AT
        # the old seen record still dedupes by key, link and title ...
        repeats = [
            entry("old1"),
            entry("new1", link="https://a.example/old1"),
            entry("new2", title="Old  NATO story"),
        ]
        assert store.unseen("a", repeats, identify) == []
        # ... but has no text to preview against, so recent_seen skips it
        assert store.recent_seen(10) == []
        assert store.recent_articles(10) == [V2_ARTICLE]
        assert [r.key for r in store.search_articles("nato", 10)] == ["old1"]
        assert store.outbox_counts() == {"pending": 1, "delivered": 1, "failed": 0}
        [(delivered, receipt)] = store.delivered_alerts_since(None, V2_AT, 10)
        assert (delivered.alert, delivered.status, receipt) == (
            V2_DELIVERED,
            "delivered",
            V2_RECEIPT,
        )
        assert ids(store.claim_alerts(T0, 10, LEASE)) == [V2_PENDING.alert_id]

        # and what migration 3 added works on the upgraded database
        new = entry("new3", "Fresh NATO story", summary="After the upgrade.")
        store.commit_poll("a", T0, seen=[identify_text(new)], articles=[], alerts=[])
        [text] = store.recent_seen(10)
        assert (text.key, text.title, text.summary) == ("new3", new.title, new.summary)
        assert store.subscribe(USER, "nato", "dm", None, T0)
        assert [s.user_id for s in store.subscribers("nato")] == [USER]
        entry_id = store.record_audit(
            T0, actor_id=None, actor_name="cli", action="a", target="t", before=None, after={}
        )
        assert [e.id for e in store.audit_history(10)] == [entry_id]

    # -- sources -----------------------------------------------------------------------------

    def test_new_sources_are_due_now_with_clean_state(self, store: Store) -> None:
        """A newly configured source is due at once, enabled, with no history."""
        store.sync_sources([cfg("a", interval_s=300)], T0)
        state = store.source("a")
        assert state is not None
        assert (state.url, state.type, state.interval_s) == ("https://a.example/feed", "rss", 300)
        assert state.configured and state.enabled and state.disabled_reason is None
        assert state.next_poll_at == T0 and state.created_at == T0
        assert state.lease_until is None and state.etag is None and state.last_modified is None
        assert state.consecutive_failures == 0 and state.entries_seen == 0
        assert not state.first_fetch_done
        assert state.last_attempt_at is None and state.last_success_at is None
        assert state.last_error is None and state.last_status is None

    def test_unknown_source_is_none(self, store: Store) -> None:
        """source() answers None for an id the store does not have."""
        assert store.source("nope") is None

    def test_changed_url_resets_validators_and_baseline(self, polled: Store) -> None:
        """A new URL is a new feed: ETag, Last-Modified, failures and first fetch are forgotten."""
        polled.claim_due_sources(T0, 10, LEASE)
        commit(polled, at(1))
        failed(polled, "a", at(1), at(2), error="boom", status=500, disable="too many")
        fetched(polled, "b", at(1), at(10), etag='"b1"', last_modified="x", new=3)
        polled.sync_sources([cfg("a", url="https://a.example/new"), cfg("b", interval_s=60)], at(5))

        a = polled.source("a")
        assert a is not None
        assert a.url == "https://a.example/new"
        assert a.etag is None and a.last_modified is None and not a.first_fetch_done
        assert a.disabled_reason is None and a.consecutive_failures == 0
        assert a.next_poll_at == at(5)
        b = polled.source("b")
        assert b is not None
        assert b.interval_s == 60
        assert (b.etag, b.last_modified, b.next_poll_at) == ('"b1"', "x", at(10))

    def test_removed_source_is_kept_unconfigured_and_never_claimed(self, polled: Store) -> None:
        """A source dropped from the config stays, marked unconfigured, and is not claimed."""
        polled.sync_sources([cfg("b")], T0)
        a = polled.source("a")
        assert a is not None and not a.configured
        assert [s.id for s in polled.sources()] == ["a", "b"]
        assert [s.id for s in polled.claim_due_sources(at(60), 10, LEASE)] == ["b"]

        polled.sync_sources([cfg("a"), cfg("b")], at(61))
        a = polled.source("a")
        assert a is not None and a.configured

    def test_sync_rejects_duplicate_ids(self, store: Store) -> None:
        """The same id twice in one config is a caller error."""
        with pytest.raises(ValueError, match="twice"):
            store.sync_sources([cfg("a"), cfg("a")], T0)

    def test_claim_takes_due_sources_oldest_first_up_to_limit(self, store: Store) -> None:
        """Claims only due sources, by next_poll_at, at most `limit`, and sets the lease."""
        store.sync_sources([cfg("late")], at(3))
        store.sync_sources([cfg("late"), cfg("early")], at(1))
        store.sync_sources([cfg("late"), cfg("early"), cfg("future")], at(20))

        claimed = store.claim_due_sources(at(10), 1, LEASE)
        assert [s.id for s in claimed] == ["early"]
        assert claimed[0].lease_until == at(10) + LEASE
        assert [s.id for s in store.claim_due_sources(at(10), 10, LEASE)] == ["late"]
        assert store.claim_due_sources(at(10), 10, LEASE) == []
        assert store.claim_due_sources(at(30), 0, LEASE) == []

    def test_lease_blocks_claims_until_it_ends(self, polled: Store) -> None:
        """A leased source is not claimed again until its lease is over (a crashed worker)."""
        assert len(polled.claim_due_sources(T0, 10, LEASE)) == 2
        assert polled.claim_due_sources(T0 + LEASE, 10, LEASE) == []
        again = polled.claim_due_sources(T0 + LEASE + timedelta(seconds=1), 10, LEASE)
        assert sorted(s.id for s in again) == ["a", "b"]

    def test_forced_claim_ignores_schedule_but_not_leases(self, store: Store) -> None:
        """force=True takes sources not yet due, never one another claimer holds."""
        store.sync_sources([cfg("held"), cfg("free")], T0)
        assert [s.id for s in store.claim_due_sources(T0, 1, LEASE)] == ["free"]
        store.record_not_modified("free", T0, next_poll_at=at(3600))
        # A normal claim takes "held" (due); "free" is not due for an hour.
        assert [s.id for s in store.claim_due_sources(at(1), 10, LEASE)] == ["held"]
        forced = store.claim_due_sources(at(2), 10, LEASE, force=True)
        assert [s.id for s in forced] == ["free"]
        assert forced[0].lease_until == at(2) + LEASE

    def test_disabled_sources_are_not_claimed(self, polled: Store) -> None:
        """Neither an admin-disabled nor an auto-disabled source is claimed."""
        polled.set_source_enabled("a", False, T0)
        polled.claim_due_sources(T0, 10, LEASE)
        failed(polled, "b", T0, at(1), error="gone", status=410, disable="HTTP 410 Gone")
        assert polled.claim_due_sources(at(60), 10, LEASE) == []
        a, b = polled.sources()
        assert not a.enabled and a.disabled_reason is None
        assert b.enabled and b.disabled_reason == "HTTP 410 Gone"

    def test_reenabling_clears_auto_disable_and_makes_due(self, polled: Store) -> None:
        """Switching a source on clears its disable reason and failures and makes it due now."""
        polled.claim_due_sources(T0, 10, LEASE)
        failed(polled, "a", at(1), at(500))
        failed(polled, "a", at(2), at(500), disable="2 failures")
        polled.set_source_enabled("a", True, at(3))
        a = polled.source("a")
        assert a is not None
        assert a.enabled and a.disabled_reason is None and a.consecutive_failures == 0
        assert a.next_poll_at == at(3)
        assert [s.id for s in polled.claim_due_sources(at(3), 10, LEASE)] == ["a"]

    def test_set_enabled_on_unknown_source_raises(self, store: Store) -> None:
        """Switching an unknown source names it in a StoreError."""
        with pytest.raises(StoreError, match="no source 'x'"):
            store.set_source_enabled("x", True, T0)

    def test_concurrent_claimers_never_share_a_source(self, store: Store, connect: Connect) -> None:
        """Two stores on one database, claiming in two threads, split the sources disjointly."""
        if not self.shared_database:
            pytest.skip("connections of this backend do not share a database")
        names = [f"s{i:03}" for i in range(80)]
        store.sync_sources([cfg(n) for n in names], T0)
        start = threading.Barrier(2)

        def claimer() -> list[str]:
            got: list[str] = []
            with connect() as own:
                start.wait()
                while batch := own.claim_due_sources(T0, 2, LEASE):
                    got.extend(s.id for s in batch)
            return got

        with ThreadPoolExecutor(2) as pool:
            first, second = (f.result() for f in [pool.submit(claimer), pool.submit(claimer)])
        assert not set(first) & set(second)
        assert sorted(first + second) == names

    def test_source_counts_classify_like_the_sources_command(self, store: Store) -> None:
        """removed beats disabled beats failing beats ok; every key present, zeros included."""
        assert store.source_counts() == {"ok": 0, "failing": 0, "disabled": 0, "removed": 0}
        names = ["ok1", "ok2", "failing", "off", "auto", "gone", "gone-off"]
        store.sync_sources([cfg(n) for n in names], T0)
        store.claim_due_sources(T0, 10, LEASE)
        fetched(store, "ok1", at(1), at(10))
        failed(store, "ok2", at(1), at(10))
        fetched(store, "ok2", at(2), at(10))  # recovered: failures reset
        failed(store, "failing", at(3), at(10))
        store.set_source_enabled("off", False, at(1))
        failed(store, "auto", at(2), at(10), disable="5 failures")
        store.set_source_enabled("gone-off", False, at(1))
        store.sync_sources([cfg(n) for n in names if not n.startswith("gone")], at(4))

        counts = store.source_counts()
        assert counts == {"ok": 2, "failing": 1, "disabled": 2, "removed": 2}
        by_rule = {k: 0 for k in counts}
        for state in store.sources():
            by_rule[source_health(state)] += 1
        assert by_rule == counts

    def test_last_poll_at_is_the_latest_attempt_of_any_source(self, polled: Store) -> None:
        """last_poll_at: None before any fetch, then the latest attempt, failed or not."""
        assert polled.last_poll_at() is None
        polled.claim_due_sources(T0, 10, LEASE)
        fetched(polled, "a", at(5), at(10))
        assert polled.last_poll_at() == at(5)
        failed(polled, "b", at(7), at(10))
        assert polled.last_poll_at() == at(7)
        polled.record_not_modified("a", at(6), next_poll_at=at(20))  # reported late: no change
        assert polled.last_poll_at() == at(7)
        polled.sync_sources([cfg("a")], at(8))  # an unconfigured source's history still counts
        assert polled.last_poll_at() == at(7)

    # -- fetch bookkeeping ----------------------------------------------------------------------

    def test_fetch_ok_records_validators_and_releases_lease(self, polled: Store) -> None:
        """A good fetch stores validators and status, resets failures, adds to entries_seen."""
        polled.claim_due_sources(T0, 10, LEASE)
        failed(polled, "a", T0, at(1))
        polled.claim_due_sources(at(1), 10, LEASE)
        fetched(polled, "a", at(2), at(12), etag='"v2"', last_modified="Mon, 23 Jun", new=5)
        polled.record_fetch_ok(
            "a",
            at(12),
            status=200,
            etag='"v12"',
            last_modified="Tue, 24 Jun",
            next_poll_at=at(22),
            entries_seen_delta=2,
        )
        a = polled.source("a")
        assert a is not None
        assert (a.etag, a.last_modified, a.last_status) == ('"v12"', "Tue, 24 Jun", 200)
        assert a.entries_seen == 7 and a.consecutive_failures == 0 and a.last_error is None
        assert a.last_attempt_at == at(12) and a.last_success_at == at(12)
        assert a.next_poll_at == at(22) and a.lease_until is None
        assert "a" in [s.id for s in polled.claim_due_sources(at(22), 10, LEASE)]

    def test_not_modified_keeps_validators_and_releases_lease(self, polled: Store) -> None:
        """A 304 is a success: validators kept, status 304, failures reset, lease released."""
        polled.claim_due_sources(T0, 10, LEASE)
        fetched(polled, "a", T0, at(10), etag='"e"', last_modified="lm", new=1)
        polled.claim_due_sources(at(10), 10, LEASE)
        failed(polled, "a", at(10), at(11), error="503", status=503)
        polled.record_not_modified("a", at(11), next_poll_at=at(21))
        a = polled.source("a")
        assert a is not None
        assert (a.etag, a.last_modified, a.last_status) == ('"e"', "lm", 304)
        assert a.consecutive_failures == 0 and a.last_error is None
        assert a.last_success_at == at(11) and a.next_poll_at == at(21) and a.lease_until is None
        assert a.entries_seen == 1

    def test_fetch_failed_counts_failures_and_keeps_validators(self, polled: Store) -> None:
        """Failures add up, keep the validators, and a later None reason keeps a set one."""
        fetched(polled, "a", T0, T0, etag='"e"')
        polled.claim_due_sources(T0, 10, LEASE)
        polled.record_fetch_failed(
            "a", at(1), error="HTTP 500", status=500, next_poll_at=at(3), disable_reason=None
        )
        a = polled.source("a")
        assert a is not None
        assert a.consecutive_failures == 1 and a.last_error == "HTTP 500" and a.last_status == 500
        assert a.etag == '"e"' and a.last_attempt_at == at(1) and a.last_success_at == T0
        assert a.lease_until is None and a.next_poll_at == at(3)

        failed(polled, "a", at(3), at(7), error="HTTP 500", status=500, disable="5 fails")
        failed(polled, "a", at(7), at(15))
        a = polled.source("a")
        assert a is not None
        assert a.consecutive_failures == 3 and a.disabled_reason == "5 fails"
        assert a.last_status is None and a.last_error == "timeout"

    def test_bookkeeping_on_unknown_source_raises(self, store: Store) -> None:
        """Recording a fetch for an unknown source is a StoreError, not a silent no-op."""
        with pytest.raises(StoreError, match="no source 'x'"):
            store.record_not_modified("x", T0, next_poll_at=T0)
        with pytest.raises(StoreError, match="no source 'x'"):
            fetched(store, "x", T0, T0)
        with pytest.raises(StoreError, match="no source 'x'"):
            failed(store, "x", T0, T0)

    # -- seen -----------------------------------------------------------------------------------

    def test_unseen_drops_seen_key_link_and_title(self, polled: Store) -> None:
        """An entry is seen if its key, its link or its normalised title was seen before."""
        old = [entry("k1"), entry("k2", link="https://a.example/2"), entry("k3", "NATO Agrees")]
        commit(polled, T0, entries=old)
        batch = [
            entry("k1", title="retitled"),  # same key
            entry("k2b", link="https://a.example/2"),  # same link, new GUID
            entry("k3b", title="  nato   agrees "),  # same title after normalisation
            entry("k4", link="https://a.example/4"),  # new
        ]
        assert [e.key for e in polled.unseen("a", batch, identify)] == ["k4"]

    def test_unseen_is_per_source(self, polled: Store) -> None:
        """What one source gave us says nothing about another source."""
        commit(polled, T0, entries=[entry("k1")])
        assert [e.key for e in polled.unseen("b", [entry("k1", source="b")], identify)] == ["k1"]

    def test_unseen_dedupes_within_batch_keeping_order(self, polled: Store) -> None:
        """Repeats inside one batch are dropped; the first of each survives, order kept."""
        batch = [
            entry("k1", link="https://x/1"),
            entry("k2", title="Same Story"),
            entry("k1"),
            entry("k3", link="https://x/1"),
            entry("k4", title="same story"),
            entry("k5"),
        ]
        assert [e.key for e in polled.unseen("a", batch, identify)] == ["k1", "k2", "k5"]

    def test_empty_link_and_title_never_match(self, polled: Store) -> None:
        """Entries without link or title are told apart by key alone."""

        def bare(e: Entry) -> EntryIdentity:
            return EntryIdentity(e.key, None, "")

        polled.commit_poll("a", T0, seen=[bare(entry("k1"))], articles=[], alerts=[])
        batch = [entry("k1"), entry("k2"), entry("k3")]
        assert [e.key for e in polled.unseen("a", batch, bare)] == ["k2", "k3"]

    def test_unseen_handles_large_batches(self, polled: Store) -> None:
        """A batch larger than a statement's parameter limit is looked up in chunks."""
        many = [entry(f"k{i}", link=f"https://x/{i}") for i in range(1500)]
        commit(polled, T0, entries=many[::2])
        assert [e.key for e in polled.unseen("a", many, identify)] == [e.key for e in many[1::2]]

    def test_recent_seen_returns_stored_text_newest_first(self, polled: Store) -> None:
        """Text given with the identities comes back, newest seen first, limited."""
        first = [entry("k1", "NATO summit opens", summary="Leaders meet in The Hague.")]
        later = [
            entry("k2", "Undated", summary="no date"),
            entry("k3", "Older story", published=at(-30)),
            entry("k4", "Newer story", published=at(-10)),
        ]
        other = [entry("b1", "From b", source="b", summary="b text")]
        polled.commit_poll("a", T0, seen=[identify_text(e) for e in first], articles=[], alerts=[])
        polled.commit_poll(
            "a", at(5), seen=[identify_text(e) for e in later], articles=[], alerts=[]
        )
        polled.commit_poll(
            "b", at(9), seen=[identify_text(e) for e in other], articles=[], alerts=[]
        )

        got = polled.recent_seen(10)
        # newest seen first; one poll's entries newest published first, undated last
        assert seen_keys(got) == ["b1", "k4", "k3", "k2", "k1"]
        assert seen_keys(polled.recent_seen(2)) == ["b1", "k4"]
        assert polled.recent_seen(0) == []
        assert got[-1] == SeenText(
            source_id="a",
            key="k1",
            title="NATO summit opens",
            summary="Leaders meet in The Hague.",
            link=None,
            published=None,
            first_seen_at=T0,
        )
        assert got[1].published == at(-10) and got[1].summary == ""

    def test_recent_seen_caps_summary_and_skips_entries_without_text(self, polled: Store) -> None:
        """Summaries are cut to the cap; entries seen without any text are not returned."""
        long = "é" * (SEEN_SUMMARY_MAX_CHARS - 1) + "xyz"
        with_text = [
            entry("long", "Long one", summary=long),
            EntryIdentity("summary-only", None, None, summary="Only a summary"),
        ]
        seen = [
            identify_text(with_text[0]),
            with_text[1],
            identify(entry("bare")),  # an old-style caller: no text
            EntryIdentity("empty", None, "", title="", summary=""),  # empty text is no text
        ]
        polled.commit_poll("a", T0, seen=seen, articles=[], alerts=[])

        got = {s.key: s for s in polled.recent_seen(10)}
        assert sorted(got) == ["long", "summary-only"]
        assert got["long"].summary == long[:SEEN_SUMMARY_MAX_CHARS]
        assert len(got["long"].summary) == SEEN_SUMMARY_MAX_CHARS
        assert (got["summary-only"].title, got["summary-only"].summary) == ("", "Only a summary")
        # text never changes what counts as seen, and a repeat keeps the first text
        assert polled.unseen("a", [entry("bare"), entry("empty")], identify) == []
        again = EntryIdentity("long", None, None, title="Changed", summary="Changed")
        polled.commit_poll("a", at(1), seen=[again], articles=[], alerts=[])
        assert [s.title for s in polled.recent_seen(10) if s.key == "long"] == ["Long one"]

    def test_prune_drops_seen_text_with_its_record(self, polled: Store) -> None:
        """Old seen records take their text with them when pruned."""
        commit_text = [identify_text(entry("k1", "Old")), identify_text(entry("k2", "New"))]
        polled.commit_poll("a", T0, seen=commit_text[:1], articles=[], alerts=[])
        polled.commit_poll("a", at(60), seen=commit_text[1:], articles=[], alerts=[])
        polled.prune(at(90), seen_older_than=timedelta(minutes=60), delivered_older_than=LEASE)
        assert seen_keys(polled.recent_seen(10)) == ["k2"]

    # -- commit_poll -------------------------------------------------------------------------------

    def test_commit_poll_marks_seen_stores_and_enqueues(self, polled: Store) -> None:
        """One commit marks entries seen, keeps articles, queues alerts and ends the first fetch."""
        entries = [entry("k1"), entry("k2")]
        n = polled.commit_poll(
            "a",
            T0,
            seen=[identify(e) for e in entries],
            articles=[article("k1", "NATO deal")],
            alerts=[alert("x1"), alert("x2", destination="channel:1")],
        )
        assert n == 2
        assert polled.unseen("a", entries, identify) == []
        assert [r.key for r in polled.recent_articles(10)] == ["k1"]
        assert polled.outbox_counts() == {"pending": 2, "delivered": 0, "failed": 0}
        a = polled.source("a")
        assert a is not None and a.first_fetch_done

    def test_replayed_poll_enqueues_nothing_twice(self, polled: Store) -> None:
        """The same alert id committed again (a replayed poll) is not queued again."""
        seen = [identify(entry("k1"))]
        arts = [article("k1", "NATO deal")]
        assert polled.commit_poll("a", T0, seen=seen, articles=arts, alerts=[alert("x1")]) == 1
        assert polled.commit_poll("a", at(1), seen=seen, articles=arts, alerts=[alert("x1")]) == 0
        both = [alert("x2"), alert("x2")]
        assert commit(polled, at(2), alerts=both) == 1
        assert polled.outbox_counts()["pending"] == 2
        assert len(polled.recent_articles(10)) == 1
        assert polled.alerts_for_signal_since("nato", T0) == 2

    def test_commit_poll_failure_writes_nothing(self, polled: Store) -> None:
        """A failure in the middle of commit_poll rolls back the entries, articles and alerts."""
        entries = [entry("k1"), entry("k2")]
        # A NULL signal id violates NOT NULL in the database itself, after the seen rows, the
        # article and alert x1 were already written in the same transaction.
        broken = alert("x2", signal_id=None)  # type: ignore[arg-type]
        with pytest.raises(StoreError):
            commit(
                polled,
                T0,
                entries=entries,
                articles=[article("k1", "NATO")],
                alerts=[alert("x1"), broken],
            )
        assert polled.unseen("a", entries, identify) == entries
        assert polled.recent_articles(10) == []
        assert polled.search_articles("NATO", 10) == []
        assert polled.outbox_counts() == {"pending": 0, "delivered": 0, "failed": 0}
        a = polled.source("a")
        assert a is not None and not a.first_fetch_done
        # and the store still works afterwards
        assert commit(polled, T0, alerts=[alert("x1")]) == 1

    def test_unstorable_alert_rolls_back(self, polled: Store) -> None:
        """An alert that cannot be stored fails the commit and leaves nothing behind."""
        with pytest.raises(ValueError, match="x2"):
            unstorable = alert("x2", publisher=object())
            commit(polled, T0, entries=[entry("k1")], alerts=[alert("x1"), unstorable])
        assert len(polled.unseen("a", [entry("k1")], identify)) == 1
        assert polled.outbox_counts()["pending"] == 0

    def test_commit_poll_for_unknown_source_raises(self, store: Store) -> None:
        """Committing a poll of a source the store does not have is a StoreError."""
        with pytest.raises(StoreError, match="no source 'x'"):
            store.commit_poll("x", T0, seen=[], articles=[], alerts=[alert("x1")])
        assert store.outbox_counts()["pending"] == 0

    # -- outbox -------------------------------------------------------------------------------------

    def test_alert_round_trips_through_outbox(self, polled: Store) -> None:
        """A claimed alert equals the one enqueued, datetimes tz-aware, its outlets intact."""
        original = alert(
            "x1",
            published=datetime(2025, 6, 24, 11, 0, tzinfo=timezone(timedelta(hours=2))),
            publisher="Reuters",
            severity="high",
            also=(OutletCopy("AP", "Allies agree", "https://ap.example/1"),),
        )
        commit(polled, T0, alerts=[original])
        [pending] = polled.claim_alerts(T0, 10, LEASE)
        got = pending.alert
        assert got == original and type(got) is Alert
        assert got.also == original.also
        assert got.published is not None and got.published.utcoffset() == timedelta(0)
        assert got.published == datetime(2025, 6, 24, 9, 0, tzinfo=UTC)
        assert isinstance(got.terms, tuple)
        assert pending.status == "pending" and pending.created_at == T0
        assert pending.next_attempt_at == T0 and pending.last_error is None

    def test_claim_alerts_oldest_first_with_lease_and_attempts(self, polled: Store) -> None:
        """Claims go oldest first (then by id), lease the alerts, and count attempts."""
        commit(polled, at(1), alerts=[alert("c"), alert("b")])
        commit(polled, T0, alerts=[alert("z")])
        first = polled.claim_alerts(at(2), 2, LEASE)
        assert ids(first) == ["z", "b"] and [p.attempts for p in first] == [1, 1]
        assert ids(polled.claim_alerts(at(2), 10, LEASE)) == ["c"]
        assert polled.claim_alerts(at(2), 10, LEASE) == []
        # a deliverer that died: the lease runs out and the alerts come back, one attempt more
        later = at(2) + LEASE + timedelta(seconds=1)
        again = polled.claim_alerts(later, 10, LEASE)
        assert [(p.alert.alert_id, p.attempts) for p in again] == [("z", 2), ("b", 2), ("c", 2)]

    def test_delivered_alerts_leave_the_queue(self, polled: Store) -> None:
        """mark_delivered is terminal: not claimed again, and a late failure changes nothing."""
        commit(polled, T0, alerts=[alert("x1"), alert("x2")])
        polled.claim_alerts(T0, 10, LEASE)
        polled.mark_delivered("x1", at(1), "message:42")
        polled.mark_delivered("x1", at(2), None)  # a repeat is harmless
        polled.mark_failed("x1", at(2), error="late", next_attempt_at=at(3), permanent=False)
        assert polled.outbox_counts() == {"pending": 1, "delivered": 1, "failed": 0}
        assert ids(polled.claim_alerts(at(60), 10, LEASE)) == ["x2"]

    def test_transient_failure_retries_at_next_attempt(self, polled: Store) -> None:
        """A transient failure keeps the alert pending until next_attempt_at, with its error."""
        commit(polled, T0, alerts=[alert("x1")])
        polled.claim_alerts(T0, 10, LEASE)
        polled.mark_failed(
            "x1", at(1), error="429 slow down", next_attempt_at=at(3), permanent=False
        )
        assert polled.claim_alerts(at(2), 10, LEASE) == []
        [again] = polled.claim_alerts(at(3), 10, LEASE)
        assert again.attempts == 2 and again.last_error == "429 slow down"
        assert again.next_attempt_at == at(3)
        assert polled.outbox_counts() == {"pending": 1, "delivered": 0, "failed": 0}

    def test_permanent_failure_is_kept_but_never_claimed(self, polled: Store) -> None:
        """A permanent failure moves the alert to 'failed', kept for inspection, not retried."""
        commit(polled, T0, alerts=[alert("x1")])
        polled.claim_alerts(T0, 10, LEASE)
        polled.mark_failed(
            "x1", at(1), error="403 forbidden", next_attempt_at=at(2), permanent=True
        )
        assert polled.claim_alerts(at(60), 10, LEASE) == []
        assert polled.outbox_counts() == {"pending": 0, "delivered": 0, "failed": 1}
        # a replay of the same alert must not resurrect it either
        assert commit(polled, at(61), alerts=[alert("x1")]) == 0

    def test_marking_unknown_alert_raises(self, store: Store) -> None:
        """Marking an alert the outbox never had is a StoreError."""
        with pytest.raises(StoreError, match="no alert 'nope'"):
            store.mark_delivered("nope", T0, None)
        with pytest.raises(StoreError, match="no alert 'nope'"):
            store.mark_failed("nope", T0, error="e", next_attempt_at=T0, permanent=False)

    def test_concurrent_alert_claimers_never_share(self, polled: Store, connect: Connect) -> None:
        """Two deliverers on one database never claim the same alert."""
        if not self.shared_database:
            pytest.skip("connections of this backend do not share a database")
        names = [f"x{i:03}" for i in range(80)]
        commit(polled, T0, alerts=[alert(n) for n in names])
        start = threading.Barrier(2)

        def deliverer() -> list[str]:
            got: list[str] = []
            with connect() as own:
                start.wait()
                while batch := own.claim_alerts(T0, 2, LEASE):
                    got.extend(ids(batch))
            return got

        with ThreadPoolExecutor(2) as pool:
            first, second = (f.result() for f in [pool.submit(deliverer), pool.submit(deliverer)])
        assert not set(first) & set(second)
        assert sorted(first + second) == names

    def test_flood_count_per_signal_any_status(self, polled: Store) -> None:
        """alerts_for_signal_since counts a signal's alerts enqueued since a time, any status."""
        commit(polled, T0, alerts=[alert("x1"), alert("o1", "eu")])
        commit(polled, at(10), alerts=[alert("x2"), alert("x3")])
        polled.claim_alerts(at(10), 10, LEASE)
        polled.mark_delivered("x2", at(11), None)
        polled.mark_failed("x3", at(11), error="gone", next_attempt_at=at(11), permanent=True)
        assert polled.alerts_for_signal_since("nato", T0) == 3
        assert polled.alerts_for_signal_since("nato", at(10)) == 2
        assert polled.alerts_for_signal_since("nato", at(11)) == 0
        assert polled.alerts_for_signal_since("eu", T0) == 1
        assert polled.alerts_for_signal_since("none", T0) == 0

    def test_delivered_alerts_since_gives_receipts_newest_first(self, polled: Store) -> None:
        """Delivered alerts in the window come newest delivery first, with their receipts."""
        queued = [alert("old"), alert("x1"), alert("x2"), alert("eu1", "eu"), alert("no-receipt")]
        commit(polled, T0, alerts=[*queued, alert("pending"), alert("failed")])
        polled.claim_alerts(T0, 10, LEASE)
        polled.mark_delivered("old", at(1), "message:100")
        polled.mark_delivered("x2", at(10), "message:102")
        polled.mark_delivered("eu1", at(11), "message:103")
        polled.mark_delivered("x1", at(12), "message:101")
        polled.mark_delivered("no-receipt", at(13), None)
        polled.mark_failed("failed", at(2), error="403", next_attempt_at=at(2), permanent=True)

        got = polled.delivered_alerts_since(None, at(10), 10)
        assert [(p.alert.alert_id, r) for p, r in got] == [
            ("no-receipt", None),
            ("x1", "message:101"),
            ("eu1", "message:103"),
            ("x2", "message:102"),
        ]
        pending, _ = got[1]
        assert pending.alert == alert("x1")
        assert (pending.status, pending.attempts, pending.created_at) == ("delivered", 1, T0)
        nato = polled.delivered_alerts_since("nato", at(10), 2)
        assert [(p.alert.alert_id, r) for p, r in nato] == [
            ("no-receipt", None),
            ("x1", "message:101"),
        ]
        assert [p.alert.alert_id for p, _ in polled.delivered_alerts_since("eu", T0, 10)] == ["eu1"]
        assert polled.delivered_alerts_since("nato", at(14), 10) == []
        assert polled.delivered_alerts_since(None, T0, 0) == []

    def test_delivered_alerts_since_counts_a_failed_alert_delivered_later(
        self, polled: Store
    ) -> None:
        """An alert given up as failed but then delivered by another deliverer has its receipt."""
        commit(polled, T0, alerts=[alert("x1")])
        polled.claim_alerts(T0, 10, LEASE)
        polled.mark_failed("x1", at(1), error="gone", next_attempt_at=at(1), permanent=True)
        assert polled.delivered_alerts_since(None, T0, 10) == []
        polled.mark_delivered("x1", at(2), "message:7")
        polled.mark_delivered("x1", at(3), "message:8")  # a repeat changes nothing
        [(got, receipt)] = polled.delivered_alerts_since(None, at(2), 10)
        assert (got.alert.alert_id, receipt) == ("x1", "message:7")
        assert got.last_error == "gone"

    # -- lease holders (a restart releases what its previous incarnation held) -------------------

    def test_release_leases_frees_that_holders_sources_only(self, polled: Store) -> None:
        """A's source leases end at once on release_leases("A"); B's stand; a taker is recorded."""
        [a] = polled.claim_due_sources(T0, 1, LEASE, holder="A")
        [b] = polled.claim_due_sources(T0, 1, LEASE, holder="B")
        assert (a.id, a.lease_holder, a.lease_token) == ("a", "A", 1)
        assert (b.id, b.lease_holder, b.lease_token) == ("b", "B", 1)

        assert polled.release_leases("A") == (1, 0)
        # claimable at once, at the very time it was leased, and only it: B's lease stands
        [again] = polled.claim_due_sources(T0, 10, LEASE, holder="A")
        assert (again.id, again.lease_holder, again.lease_token) == ("a", "A", 2)
        assert again.lease_until == T0 + LEASE
        assert polled.claim_due_sources(T0, 10, LEASE, holder="C") == []

    def test_release_leases_frees_that_holders_alerts_only(self, polled: Store) -> None:
        """A's alert leases end at once on release_leases("A"): the same alert comes back."""
        sent = alert("x1")
        commit(polled, T0, alerts=[sent, alert("x2")])
        [first] = polled.claim_alerts(T0, 1, LEASE, holder="A")
        assert ids(polled.claim_alerts(T0, 1, LEASE, holder="B")) == ["x2"]
        assert (first.lease_holder, first.lease_token, first.attempts) == ("A", 1, 1)

        assert polled.release_leases("A") == (0, 1)
        [again] = polled.claim_alerts(T0, 10, LEASE, holder="A")
        assert again.alert == sent and again.alert.alert_id == "x1"
        assert (again.lease_holder, again.lease_token, again.attempts) == ("A", 2, 2)
        assert polled.claim_alerts(T0, 10, LEASE, holder="C") == []

    def test_release_leases_spares_leases_taken_over_and_finished_work(self, polled: Store) -> None:
        """A lease that ran out and was claimed by another, or work done, is not released."""
        commit(polled, T0, alerts=[alert("x1"), alert("x2")])
        polled.claim_due_sources(T0, 1, LEASE, holder="A")
        polled.claim_alerts(T0, 2, LEASE, holder="A")
        polled.mark_delivered("x2", at(1), "message:1")
        later = T0 + LEASE + timedelta(seconds=1)
        assert [s.id for s in polled.claim_due_sources(later, 10, LEASE, holder="B")] == [
            "a",
            "b",
        ]
        assert ids(polled.claim_alerts(later, 10, LEASE, holder="B")) == ["x1"]

        assert polled.release_leases("A") == (0, 0)
        assert polled.claim_due_sources(later, 10, LEASE, holder="A") == []
        assert polled.claim_alerts(later, 10, LEASE, holder="A") == []
        assert polled.release_leases("B") == (2, 1)
        assert polled.outbox_counts() == {"pending": 1, "delivered": 1, "failed": 0}

    def test_claims_without_a_holder_hold_for_the_default_holder(self, polled: Store) -> None:
        """Callers that name no holder lease as DEFAULT_HOLDER, and that name releases them."""
        commit(polled, T0, alerts=[alert("x1")])
        [source, _] = polled.claim_due_sources(T0, 10, LEASE)
        [pending] = polled.claim_alerts(T0, 10, LEASE)
        assert source.lease_holder == pending.lease_holder == DEFAULT_HOLDER
        assert polled.release_leases(DEFAULT_HOLDER) == (2, 1)
        state = polled.source("a")
        assert state is not None and state.lease_until is None

    def test_an_empty_holder_is_refused(self, polled: Store) -> None:
        """An empty holder name is a ValueError: its leases could never be told apart."""
        with pytest.raises(ValueError, match="lease holder"):
            polled.claim_due_sources(T0, 10, LEASE, holder="")
        with pytest.raises(ValueError, match="lease holder"):
            polled.claim_alerts(T0, 10, LEASE, holder="")
        with pytest.raises(ValueError, match="lease holder"):
            polled.release_leases("")

    # -- articles -------------------------------------------------------------------------------------

    def test_recent_articles_newest_first_and_by_signal(self, polled: Store) -> None:
        """Recent articles come newest first, limited, optionally for one signal."""
        arts = [
            article("k1", "NATO one", signals=("nato",), matched_at=at(1)),
            article("k2", "Tariff two", signals=("tariffs",), matched_at=at(3)),
            article("k3", "Both three", signals=("nato", "tariffs"), matched_at=at(2)),
        ]
        commit(polled, at(3), articles=arts)
        assert [r.key for r in polled.recent_articles(10)] == ["k2", "k3", "k1"]
        assert [r.key for r in polled.recent_articles(2)] == ["k2", "k3"]
        assert [r.key for r in polled.recent_articles(10, "nato")] == ["k3", "k1"]
        assert polled.recent_articles(10, "unknown") == []
        assert polled.recent_articles(0) == []

    def test_articles_matching_window_newest_first(self, polled: Store) -> None:
        """articles_matching: first matched at or after `since`, newest first, limited."""
        arts = [
            article("k0", "Before", matched_at=at(-1)),
            article("k1", "At since", signals=("eu",), matched_at=T0),
            article("k2", "Later", matched_at=at(5)),
            article("k3", "Latest", signals=("nato", "eu"), matched_at=at(9)),
        ]
        commit(polled, at(9), articles=arts)
        assert [r.key for r in polled.articles_matching(T0, 10)] == ["k3", "k2", "k1"]
        assert [r.key for r in polled.articles_matching(T0, 2)] == ["k3", "k2"]
        assert polled.articles_matching(at(10), 10) == []
        assert polled.articles_matching(T0, 0) == []
        assert polled.articles_matching(at(9), 10) == [arts[3]]

    def test_article_round_trips(self, polled: Store) -> None:
        """A stored article comes back equal, matches in order, datetimes tz-aware UTC."""
        original = article("k1", "NATO deal", "Allies agree.", signals=("nato", "eu", "budget"))
        commit(polled, T0, articles=[original])
        [got] = polled.recent_articles(1)
        assert got == original
        assert got.signal_ids == ("nato", "eu", "budget")
        assert got.published is not None and got.published.utcoffset() == timedelta(0)

    def test_a_later_signal_adds_to_the_same_article(self, polled: Store) -> None:
        """Committing an article again with another signal adds the match; the text stays."""
        commit(polled, T0, articles=[article("k1", "NATO deal")])
        again = article("k1", "NATO deal (edited)", signals=("nato", "eu"), matched_at=at(5))
        commit(polled, at(5), articles=[again])
        [got] = polled.recent_articles(10)
        assert got.title == "NATO deal" and got.signal_ids == ("nato", "eu")
        assert polled.signal_stats("eu", at(5)) == SignalStats(at(5), 1)

    def test_search_finds_words_in_title_or_summary(self, polled: Store) -> None:
        """Search needs every word, in title or summary, any case, prefixes allowed."""
        arts = [
            article("k1", "NATO allies agree 5% spending", matched_at=at(1)),
            article("k2", "Chip pact sealed", "Seoul and Tokyo sign", matched_at=at(2)),
            article("k3", "Tariff waivers granted", "for chips", matched_at=at(3)),
        ]
        commit(polled, T0, articles=arts)
        assert [r.key for r in polled.search_articles("nato", 10)] == ["k1"]
        assert [r.key for r in polled.search_articles("TOKYO", 10)] == ["k2"]
        assert [r.key for r in polled.search_articles("chip", 10)] == ["k3", "k2"]
        assert [r.key for r in polled.search_articles("chip tariff", 10)] == ["k3"]
        assert [r.key for r in polled.search_articles("chip", 1)] == ["k3"]
        assert polled.search_articles("ukraine", 10) == []
        assert polled.search_articles("   ", 10) == []

    @pytest.mark.parametrize(
        "words", ['"', "NATO AND", "OR NOT", "*", "-", "nato)", 'a"b', "title:nato", "%", "_"]
    )
    def test_search_treats_syntax_as_plain_words(self, polled: Store, words: str) -> None:
        """Quotes, operators and wildcards in a search are words, never an error."""
        commit(polled, T0, articles=[article("k1", "NATO and 100%")])
        assert isinstance(polled.search_articles(words, 10), list)

    def test_signal_stats_last_hit_and_week(self, polled: Store) -> None:
        """signal_stats gives the latest match time and the matches of the last 7 days."""
        assert polled.signal_stats("nato", T0) == SignalStats(None, 0)
        arts = [
            article("k1", "old", matched_at=T0 - timedelta(days=8)),
            article("k2", "recent", matched_at=T0 - timedelta(days=2)),
            article("k3", "now", matched_at=T0),
            article("k4", "other", signals=("eu",), matched_at=T0),
        ]
        commit(polled, T0, articles=arts)
        last, week = polled.signal_stats("nato", T0)
        assert last == T0 and week == 2
        assert polled.signal_stats("nato", T0 + timedelta(days=6)) == SignalStats(T0, 1)

    # -- signal timelines (T0 is 2025-06-24 09:00 UTC) -------------------------------------------

    def test_signal_timeline_of_a_signal_without_hits(self, polled: Store) -> None:
        """An unknown signal: no first or last hit, total 0, every day of the window a zero."""
        commit(polled, T0, articles=[article("k1", "other", signals=("eu",))])
        timeline = polled.signal_timeline("nato", T0)
        assert timeline == SignalTimeline(
            "nato",
            None,
            None,
            0,
            tuple((date(2025, 5, 26) + timedelta(days=n), 0) for n in range(30)),
        )
        assert timeline.window_total == 0 and timeline.busiest_day is None

    def test_signal_timeline_counts_articles_per_utc_day(self, polled: Store) -> None:
        """Hits fall on the UTC day of their match, midnight on the new day; zeros kept."""
        last_of_22 = datetime(2025, 6, 22, 23, 59, 59, 999999, tzinfo=UTC)
        arts = [
            article("k1", "a", matched_at=last_of_22),
            article("k2", "b", matched_at=datetime(2025, 6, 23, tzinfo=UTC)),
            article("k3", "c", matched_at=datetime(2025, 6, 20, 1, tzinfo=UTC)),
            article(
                "k4", "d", signals=("nato", "eu"), matched_at=datetime(2025, 6, 20, 23, tzinfo=UTC)
            ),
            article("k5", "e", signals=("eu",), matched_at=datetime(2025, 6, 21, tzinfo=UTC)),
            article("k6", "f", matched_at=T0),
        ]
        commit(polled, T0, articles=arts)
        timeline = polled.signal_timeline("nato", T0, days=6)
        assert timeline.days == (
            (date(2025, 6, 19), 0),
            (date(2025, 6, 20), 2),
            (date(2025, 6, 21), 0),
            (date(2025, 6, 22), 1),
            (date(2025, 6, 23), 1),
            (date(2025, 6, 24), 1),
        )
        assert (timeline.total, timeline.window_total) == (5, 5)
        assert timeline.busiest_day == (date(2025, 6, 20), 2)
        assert polled.signal_timeline("eu", T0, days=6).days[1:3] == (
            (date(2025, 6, 20), 1),
            (date(2025, 6, 21), 1),
        )

    def test_signal_timeline_window_edges(self, polled: Store) -> None:
        """The window starts at midnight UTC of its first day and ends at `now`, inclusive."""
        start = datetime(2025, 6, 22, tzinfo=UTC)
        arts = [
            article("k1", "before", matched_at=start - timedelta(microseconds=1)),
            article("k2", "first instant", matched_at=start),
            article("k3", "at now", matched_at=T0),
            article("k4", "after now", matched_at=T0 + timedelta(microseconds=1)),
        ]
        commit(polled, T0, articles=arts)
        timeline = polled.signal_timeline("nato", T0, days=3)
        assert timeline.days == (
            (date(2025, 6, 22), 1),
            (date(2025, 6, 23), 0),
            (date(2025, 6, 24), 1),
        )
        assert polled.signal_timeline("nato", T0, days=1).days == ((date(2025, 6, 24), 1),)

    def test_signal_timeline_first_and_last_hit_are_over_all_time(self, polled: Store) -> None:
        """First hit, last hit and total count every hit, inside the window or not."""
        long_ago = T0 - timedelta(days=400)
        arts = [
            article("k1", "long ago", matched_at=long_ago),
            article("k2", "last month", matched_at=T0 - timedelta(days=31)),
            article("k3", "yesterday", matched_at=T0 - timedelta(days=1)),
        ]
        commit(polled, T0, articles=arts)
        timeline = polled.signal_timeline("nato", T0)
        assert (timeline.first_hit, timeline.last_hit, timeline.total) == (
            long_ago,
            T0 - timedelta(days=1),
            3,
        )
        assert timeline.first_hit is not None and timeline.first_hit.utcoffset() == timedelta(0)
        assert timeline.window_total == 1 and len(timeline.days) == 30
        assert timeline.days[-2] == (date(2025, 6, 23), 1)

    def test_signal_timeline_a_later_signal_counts_when_it_matched(self, polled: Store) -> None:
        """A signal added to a stored article counts on the day it matched, not the article's."""
        commit(
            polled,
            T0 - timedelta(days=2),
            articles=[article("k1", "x", matched_at=T0 - timedelta(days=2))],
        )
        commit(polled, T0, articles=[article("k1", "x", signals=("nato", "eu"), matched_at=T0)])
        eu = polled.signal_timeline("eu", T0, days=3)
        assert eu.days == ((date(2025, 6, 22), 0), (date(2025, 6, 23), 0), (date(2025, 6, 24), 1))
        assert polled.signal_timeline("nato", T0, days=3).total == 1

    def test_signal_timeline_counts_one_article_found_by_several_sources_once(
        self, polled: Store
    ) -> None:
        """One link from three sources, filed under no story, is one hit (by its link)."""
        polled.sync_sources([cfg("a"), cfg("b"), cfg("c")], T0)
        link = "https://www.reuters.com/world/nato-agrees-5-2025-06-24/"
        for source in ("a", "b", "c"):
            copy = article(f"link:{link}", "NATO agrees 5%", source=source)
            same = ArticleRecord(
                copy.source_id,
                copy.key,
                copy.title,
                copy.summary,
                link,
                copy.published,
                copy.publisher,
                copy.matches,
                copy.matched_at,
            )
            polled.commit_poll(source, T0, seen=[], articles=[same], alerts=[])
        timeline = polled.signal_timeline("nato", T0, days=2)
        assert timeline.days == ((date(2025, 6, 23), 0), (date(2025, 6, 24), 1))
        assert timeline.total == 1 and timeline.first_hit == timeline.last_hit == T0

    def test_signal_timeline_counts_a_story_once_a_day(self, polled: Store) -> None:
        """Copies under one story (links of their own) are one hit a day; two stories are two."""
        day_before = T0 - timedelta(days=1)
        one = article("k1", "NATO agrees 5%", matched_at=day_before)
        two = article("k2", "Allies back 5% goal", matched_at=day_before)
        polled.commit_poll(
            "a",
            day_before,
            seen=[],
            articles=[one, two],
            alerts=[],
            stories=[
                StoryWrite(
                    StoryCopy("a", "k1", one.title, one.link, None), new_ref="s", fingerprint="f"
                ),
                StoryWrite(StoryCopy("a", "k2", two.title, two.link, None), new_ref="s"),
            ],
        )
        (story,) = polled.recent_stories(day_before)
        later = article("k9", "NATO's 5% goal, a day on", source="b")
        other = article("k3", "NATO ministers meet on Arctic patrols", source="b")
        polled.commit_poll(
            "b",
            T0,
            seen=[],
            articles=[later, other],
            alerts=[],
            stories=[
                StoryWrite(StoryCopy("b", "k9", later.title, later.link, None), story_id=story.id),
                StoryWrite(
                    StoryCopy("b", "k3", other.title, other.link, None),
                    new_ref="t",
                    fingerprint="g",
                ),
            ],
        )
        timeline = polled.signal_timeline("nato", T0, days=2)
        assert timeline.days == ((date(2025, 6, 23), 1), (date(2025, 6, 24), 2))
        assert timeline.total == timeline.window_total == 3

    def test_signal_timeline_days_are_utc_whatever_the_zone_of_now(self, polled: Store) -> None:
        """`now` in another zone ends the window on its UTC day, not its local one."""
        commit(polled, T0, articles=[article("k1", "x", matched_at=T0)])
        evening_before = T0.astimezone(timezone(timedelta(hours=-10)))  # 2025-06-23 23:00 local
        timeline = polled.signal_timeline("nato", evening_before, days=2)
        assert timeline.days == ((date(2025, 6, 23), 0), (date(2025, 6, 24), 1))

    def test_signal_timeline_refuses_bad_arguments(self, polled: Store) -> None:
        """A window under one day, or a naive `now`, is a ValueError that says so."""
        with pytest.raises(ValueError, match="at least 1 day"):
            polled.signal_timeline("nato", T0, days=0)
        with pytest.raises(ValueError, match="timezone-aware"):
            polled.signal_timeline("nato", datetime(2025, 6, 24, 9, 0))

    # -- subscriptions -----------------------------------------------------------------------------

    def test_subscribe_then_again_is_no_change(self, store: Store) -> None:
        """A new subscription is a change; the same one again is not."""
        assert store.subscribe(USER, "nato", "mention", GUILD, T0)
        assert not store.subscribe(USER, "nato", "mention", GUILD, at(1))
        assert store.subscriptions_of(USER) == [Subscription(USER, "nato", "mention", GUILD, T0)]

    def test_mode_change_is_a_change_that_keeps_created_at(self, store: Store) -> None:
        """Switching mode counts and keeps created_at; a new guild alone is stored, not counted."""
        store.subscribe(USER, "nato", "mention", GUILD, T0)
        assert store.subscribe(USER, "nato", "dm", None, at(1))
        assert store.subscriptions_of(USER) == [Subscription(USER, "nato", "dm", None, T0)]
        assert not store.subscribe(USER, "nato", "dm", GUILD + 1, at(2))
        assert store.subscribers("nato") == [Subscription(USER, "nato", "dm", GUILD + 1, T0)]
        assert store.subscribe(USER, "nato", "mention", GUILD, at(3))
        [sub] = store.subscribers("nato")
        assert (sub.mode, sub.guild_id, sub.created_at) == ("mention", GUILD, T0)

    def test_unsubscribe_says_whether_anything_was_removed(self, store: Store) -> None:
        """unsubscribe removes one user's one signal and says so; a second time finds nothing."""
        store.subscribe(USER, "nato", "dm", None, T0)
        store.subscribe(USER, "eu", "dm", None, T0)
        store.subscribe(USER + 1, "nato", "dm", None, T0)
        assert store.unsubscribe(USER, "nato")
        assert not store.unsubscribe(USER, "nato")
        assert not store.unsubscribe(USER, "never")
        assert [s.signal_id for s in store.subscriptions_of(USER)] == ["eu"]
        assert [s.user_id for s in store.subscribers("nato")] == [USER + 1]
        # and subscribing again starts afresh
        assert store.subscribe(USER, "nato", "mention", GUILD, at(5))
        assert [s.created_at for s in store.subscriptions_of(USER)] == [T0, at(5)]

    def test_subscriptions_by_signal_and_subscribers_oldest_first(self, store: Store) -> None:
        """A user's subscriptions come by signal id; a signal's subscribers oldest first."""
        for signal in ["tariffs", "eu", "nato"]:
            store.subscribe(USER, signal, "mention", GUILD, at(len(signal)))
        store.subscribe(30, "nato", "dm", None, at(1))
        store.subscribe(20, "nato", "dm", None, at(9))
        store.subscribe(10, "nato", "mention", GUILD, at(9))  # same time: by user id
        assert [s.signal_id for s in store.subscriptions_of(USER)] == ["eu", "nato", "tariffs"]
        assert [s.user_id for s in store.subscribers("nato")] == [30, USER, 10, 20]
        assert store.subscribers("unknown") == []
        assert store.subscriptions_of(99) == []

    def test_subscriptions_keep_64_bit_snowflakes_exact(self, store: Store) -> None:
        """Discord ids up to 2**63 - 1 come back exactly; beyond that is a ValueError."""
        assert store.subscribe(MAX_ID, "nato", "mention", MAX_ID, T0)
        assert store.subscribe(0, "nato", "dm", None, T0)
        [top] = store.subscriptions_of(MAX_ID)
        assert (top.user_id, top.guild_id) == (MAX_ID, MAX_ID)
        assert isinstance(top.user_id, int) and isinstance(top.guild_id, int)
        for bad in (MAX_ID + 1, -1):
            with pytest.raises(ValueError, match="out of range"):
                store.subscribe(bad, "nato", "dm", None, T0)
            with pytest.raises(ValueError, match="out of range"):
                store.subscribe(USER, "nato", "mention", bad, T0)
            with pytest.raises(ValueError, match="out of range"):
                store.subscriptions_of(bad)
        assert [s.user_id for s in store.subscribers("nato")] == [0, MAX_ID]

    def test_subscribe_refuses_bad_arguments(self, store: Store) -> None:
        """An unknown mode, an empty signal id or a naive time is a ValueError; nothing stored."""
        with pytest.raises(ValueError, match="mode"):
            store.subscribe(USER, "nato", "email", None, T0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="signal id"):
            store.subscribe(USER, "", "dm", None, T0)
        with pytest.raises(ValueError, match="timezone-aware"):
            store.subscribe(USER, "nato", "dm", None, datetime(2025, 6, 24))
        assert store.subscriptions_of(USER) == []

    # -- audit log ---------------------------------------------------------------------------------

    def test_audit_round_trips_nested_json(self, store: Store) -> None:
        """An entry comes back with its before/after equal, nested, unicode and datetimes intact."""
        before: dict[str, object] = {
            "query": '"NATO" AND (5% OR "five percent")',
            "routes": [{"channel": GUILD, "severity": "high"}, {"webhook": "ops"}],
            "limits": {"flood": {"per_hour": 10, "ratio": 0.5}, "muted": False, "note": None},
            "label": "Türkiye – Черное море ✓",
            "edited": datetime(2025, 6, 24, 11, 0, tzinfo=timezone(timedelta(hours=2))),
        }
        after = {**before, "routes": [], "limits": {"flood": {"per_hour": 20}}}
        entry_id = store.record_audit(
            at(1),
            actor_id=USER,
            actor_name="ops#0001",
            action="signal.edit",
            target="signal:nato",
            before=before,
            after=after,
        )
        [got] = store.audit_history(10)
        assert got == AuditEntry(
            entry_id, at(1), USER, "ops#0001", "signal.edit", "signal:nato", before, after
        )
        assert got.before is not None and got.before["edited"] == T0  # 11:00+02:00
        assert isinstance(got.before["edited"], datetime)
        assert got.before["edited"].utcoffset() == got.at.utcoffset() == timedelta(0)

    def test_audit_history_newest_first_limited_and_by_target(self, store: Store) -> None:
        """Newest first by time (ids break ties), limited, optionally one target's entries."""

        def record(minutes: float, target: str, action: str) -> int:
            return store.record_audit(
                at(minutes),
                actor_id=None,
                actor_name="cli",
                action=action,
                target=target,
                before=None,
                after={"n": minutes},
            )

        created = record(0, "signal:nato", "signal.create")
        other = record(1, "source:a", "source.disable")
        edited = record(2, "signal:nato", "signal.edit")
        late = record(1.5, "signal:nato", "signal.edit")  # recorded after, but happened earlier
        tie = record(2, "source:a", "source.enable")
        assert created < other < edited < late < tie

        assert [e.id for e in store.audit_history(10)] == [tie, edited, late, other, created]
        assert [e.id for e in store.audit_history(2)] == [tie, edited]
        assert [e.id for e in store.audit_history(10, "signal:nato")] == [edited, late, created]
        assert store.audit_history(10, "signal:eu") == []
        assert store.audit_history(0) == []
        first = store.audit_history(10, "signal:nato")[-1]
        assert (first.actor_id, first.before, first.after) == (None, None, {"n": 0})

    def test_audit_refuses_what_json_cannot_keep(self, store: Store) -> None:
        """A state JSON would change or cannot hold, or an empty action, records nothing."""
        bad_states: list[dict[str, object]] = [
            {"obj": object()},
            {"nan": float("nan")},
            {"nested": {1: "int key"}},
            {"naive": datetime(2025, 6, 24)},
        ]
        for state in bad_states:
            with pytest.raises(ValueError):
                store.record_audit(
                    T0,
                    actor_id=USER,
                    actor_name="x",
                    action="a",
                    target="t",
                    before=state,
                    after=None,
                )
        with pytest.raises(ValueError, match="empty"):
            store.record_audit(
                T0, actor_id=USER, actor_name="x", action="", target="t", before=None, after=None
            )
        with pytest.raises(ValueError, match="out of range"):
            store.record_audit(
                T0, actor_id=-5, actor_name="x", action="a", target="t", before=None, after=None
            )
        assert store.audit_history(10) == []

    # -- prune ------------------------------------------------------------------------------------------

    # -- stories, digests and API quotas ----------------------------------------------------------

    def test_story_is_created_with_its_first_copy_and_announcements(self, polled: Store) -> None:
        """A new story keeps its fingerprint, first copy and the alerts that announced it."""
        first = StoryCopy("a", "k1", "NATO agrees 5%", "https://a.example/k1", "Reuters")
        polled.commit_poll(
            "a",
            T0,
            seen=[identify(entry("k1"))],
            articles=[],
            alerts=[alert("x1")],
            stories=[
                StoryWrite(
                    first,
                    new_ref="k1",
                    fingerprint="v1:abc",
                    announced=(Announcement("nato", "console", "x1"),),
                )
            ],
        )
        (story,) = polled.recent_stories(T0 - timedelta(hours=48))
        assert story.fingerprint == "v1:abc" and story.title == "NATO agrees 5%"
        assert story.copies == (first,)
        assert story.announced == (Announcement("nato", "console", "x1"),)
        assert story.first_seen_at == story.last_seen_at == T0
        assert polled.story(story.id) == story
        assert polled.story(story.id + 1000) is None
        assert polled.story_of_alert("x1") == story
        assert polled.story_of_alert("x2") is None

    def test_later_copies_join_in_order_and_refresh_last_seen(self, polled: Store) -> None:
        """Copies filed under an existing story keep their order; a replay adds nothing."""
        one = StoryCopy("a", "k1", "Title one", None, None)
        polled.commit_poll(
            "a",
            T0,
            seen=[],
            articles=[],
            alerts=[],
            stories=[StoryWrite(one, new_ref="r", fingerprint="f")],
        )
        (story,) = polled.recent_stories(T0)
        two = StoryCopy("b", "k9", "Title two", "https://b.example/k9", "AP")
        three = StoryCopy("b", "k10", "Title three", None, "AP")
        for _ in range(2):  # the second time is a replay
            polled.commit_poll(
                "b",
                at(30),
                seen=[],
                articles=[],
                alerts=[],
                stories=[StoryWrite(two, story_id=story.id), StoryWrite(three, story_id=story.id)],
            )
        again = polled.story(story.id)
        assert again is not None and again.copies == (one, two, three)
        assert again.first_seen_at == T0 and again.last_seen_at == at(30)
        assert polled.recent_stories(at(1)) == [again]  # seen lately through its newest copy
        assert polled.recent_stories(at(31)) == []
        assert polled.recent_story_fingerprints(at(1)) == [(story.id, "f", at(30))]
        assert polled.recent_story_fingerprints(at(31)) == []
        # catching up: nothing newer than the story; its last sighting asked by id
        assert polled.recent_story_fingerprints(at(1), after_id=story.id) == []
        assert polled.recent_story_fingerprints(at(1), after_id=story.id - 1) == [
            (story.id, "f", at(30))
        ]
        assert polled.stories_last_seen([story.id, story.id + 1000]) == {story.id: at(30)}
        assert polled.stories_last_seen([]) == {}
        assert polled.story_fingerprints([story.id, story.id + 1000]) == {story.id: "f"}
        assert polled.story_fingerprints(range(story.id, story.id + 1200)) == {story.id: "f"}

    def test_writes_with_one_new_ref_share_one_story(self, polled: Store) -> None:
        """Two copies of a story new in this poll make one story, not two."""
        writes = [
            StoryWrite(StoryCopy("a", "k1", "T1", None, None), new_ref="s", fingerprint="f1"),
            StoryWrite(StoryCopy("a", "k2", "T2", None, None), new_ref="s"),
            StoryWrite(StoryCopy("a", "k3", "T3", None, None), new_ref="t", fingerprint="f3"),
        ]
        polled.commit_poll("a", T0, seen=[], articles=[], alerts=[], stories=writes)
        stories = polled.recent_stories(T0)
        assert [len(s.copies) for s in stories] == [2, 1]
        assert [s.fingerprint for s in stories] == ["f1", "f3"]

    def test_story_writes_roll_back_with_the_poll(self, polled: Store) -> None:
        """A story write to a story that does not exist fails the whole poll."""
        bad = StoryWrite(StoryCopy("a", "k1", "T", None, None), story_id=12345)
        with pytest.raises(StoreError):
            polled.commit_poll(
                "a",
                T0,
                seen=[identify(entry("k1"))],
                articles=[],
                alerts=[alert("x")],
                stories=[bad],
            )
        assert polled.outbox_counts()["pending"] == 0
        assert polled.unseen("a", [entry("k1")], identify) == [entry("k1")]
        with pytest.raises(ValueError):
            StoryWrite(StoryCopy("a", "k1", "T", None, None))

    def test_story_updates_do_not_count_toward_the_flood_limit(self, polled: Store) -> None:
        """An update edits an alert already counted: it is not another alert, whatever its id."""
        commit(polled, T0, alerts=[alert("x1"), update("u2", "x1"), update("u3", "x1")])
        assert polled.alerts_for_signal_since("nato", T0) == 1
        commit(polled, T0, alerts=[alert("upd-looks-like-an-update")])
        assert polled.alerts_for_signal_since("nato", T0) == 2

    def test_outbox_record_and_last_update_receipt(self, polled: Store) -> None:
        """An outbox row reads back with its receipt; the latest update receipt is found."""
        commit(
            polled,
            T0,
            alerts=[
                alert("x1"),
                update("upd-x1-1", "x1"),
                update("upd-x1-2", "x1"),
                update("upd-x2-1", "x2"),
            ],
        )
        assert polled.outbox_record("nope") is None
        record = polled.outbox_record("x1")
        assert record is not None and record.status == "pending" and record.receipt is None
        assert record.alert == alert("x1") and record.delivered_at is None
        polled.claim_alerts(T0, 10, LEASE)
        polled.mark_delivered("x1", at(1), "m1")
        polled.mark_delivered("upd-x1-1", at(2), "followup:m2")
        polled.mark_delivered("upd-x2-1", at(3), "m9")
        record = polled.outbox_record("x1")
        assert record is not None and (record.status, record.receipt) == ("delivered", "m1")
        assert record.delivered_at == at(1) and record.attempts == 1
        assert polled.last_update_receipt("x1") == "followup:m2"
        polled.mark_delivered("upd-x1-2", at(4), "followup:m3")
        assert polled.last_update_receipt("x1") == "followup:m3"
        assert polled.last_update_receipt("x3") is None

    def test_heads_only_claims_each_destinations_oldest_pending_alert(self, polled: Store) -> None:
        """One alert per destination, its oldest; a head waiting for a retry holds back its
        own destination and no other; skipped destinations are left alone."""
        commit(
            polled,
            T0,
            alerts=[
                alert("a1", destination="channel:1"),
                alert("a2", destination="channel:1"),
                alert("b1", destination="channel:2"),
                alert("c1", destination="channel:3"),
            ],
        )
        heads = polled.claim_alerts(T0, 10, LEASE, heads_only=True, skip_destinations=["channel:3"])
        assert sorted(p.alert.alert_id for p in heads) == ["a1", "b1"]
        # a1 is leased: channel 1 has nothing more to give until it is done
        later = polled.claim_alerts(at(1), 10, LEASE, heads_only=True)
        assert [p.alert.alert_id for p in later] == ["c1"]
        polled.mark_failed("a1", at(1), error="429", next_attempt_at=at(60), permanent=False)
        polled.mark_delivered("b1", at(1), "m1")
        polled.mark_delivered("c1", at(1), "m1")
        assert polled.claim_alerts(at(2), 10, LEASE, heads_only=True) == []  # a1 waits; so does a2
        (retry,) = polled.claim_alerts(at(60), 10, LEASE, heads_only=True)
        assert retry.alert.alert_id == "a1"
        polled.mark_delivered("a1", at(61), "m2")
        (second,) = polled.claim_alerts(at(61), 10, LEASE, heads_only=True)
        assert second.alert.alert_id == "a2"

    def test_digest_items_wait_until_a_digest_takes_them(self, polled: Store) -> None:
        """Hits collect per route and schedule; a digest takes them once, in one transaction."""
        hits = [alert("h1", destination="channel:1"), alert("h2", destination="channel:1")]
        other = alert("h3", destination="channel:2")
        polled.commit_poll(
            "a",
            T0,
            seen=[],
            articles=[],
            alerts=[],
            digest_items=[DigestItem("daily@08:00", h) for h in hits]
            + [DigestItem("hourly@:00", other)],
        )
        # a replay collects nothing twice
        polled.commit_poll(
            "a",
            at(5),
            seen=[],
            articles=[],
            alerts=[],
            digest_items=[DigestItem("daily@08:00", hits[0])],
        )
        assert polled.open_digests() == [
            OpenDigest("channel:1", "daily@08:00", T0, 2),
            OpenDigest("channel:2", "hourly@:00", T0, 1),
        ]
        assert polled.digest_items("channel:1", "daily@08:00", T0) == []
        assert polled.digest_items("channel:1", "daily@08:00", at(1)) == hits
        digest = alert("digest-1", signal_id="digest", destination="channel:1")
        assert polled.commit_digest(
            "channel:1", "daily@08:00", at(60), item_ids=["h1", "h2"], digest=digest
        )
        assert not polled.commit_digest(
            "channel:1", "daily@08:00", at(61), item_ids=["h1", "h2"], digest=digest
        )
        assert polled.open_digests() == [OpenDigest("channel:2", "hourly@:00", T0, 1)]
        assert ids(polled.claim_alerts(at(60), 10, LEASE)) == ["digest-1"]

    def test_api_calls_count_per_api_and_day(self, store: Store) -> None:
        """Calls add up per API and UTC day, starting from zero."""
        day = date(2025, 6, 24)
        assert store.api_calls_on("newsapi", day) == 0
        store.add_api_calls("newsapi", day, 3)
        store.add_api_calls("newsapi", day, 2)
        store.add_api_calls("guardian", day, 1)
        assert store.api_calls_on("newsapi", day) == 5
        assert store.api_calls_on("newsapi", date(2025, 6, 25)) == 0
        assert store.api_calls_on("guardian", day) == 1
        with pytest.raises(ValueError):
            store.add_api_calls("newsapi", day, -1)

    def test_search_cursors_move_forward_per_source_and_signal(self, polled: Store) -> None:
        """Cursors start empty, are kept per source and signal, and never move backwards."""
        assert polled.search_cursors("a") == {}
        polled.advance_search_cursors("a", {"nato": at(10), "gaza": at(5)})
        polled.advance_search_cursors("b", {"nato": at(1)})
        polled.advance_search_cursors("a", {"nato": at(3), "gaza": at(8)})
        polled.advance_search_cursors("a", {})
        assert polled.search_cursors("a") == {"nato": at(10), "gaza": at(8)}
        assert polled.search_cursors("b") == {"nato": at(1)}

    def test_reschedule_releases_the_lease_and_records_no_outcome(self, polled: Store) -> None:
        """A rescheduled source keeps its failures, error and last success; only the time moves."""
        fetched(polled, "a", T0, at(1))
        polled.claim_due_sources(at(1), 10, LEASE)
        failed(polled, "a", at(1), at(2), error="HTTP 503", status=503)
        polled.claim_due_sources(at(3), 10, LEASE)
        polled.reschedule_source("a", at(4), next_poll_at=at(60))
        a = polled.source("a")
        assert a is not None
        assert a.lease_until is None and a.next_poll_at == at(60) and a.last_attempt_at == at(4)
        assert a.consecutive_failures == 1 and a.last_error == "HTTP 503"
        assert a.last_success_at == T0
        assert "a" not in [s.id for s in polled.claim_due_sources(at(59), 10, LEASE)]
        with pytest.raises(StoreError, match="no source 'x'"):
            polled.reschedule_source("x", T0, next_poll_at=T0)

    def test_fetch_ok_with_a_warning_keeps_it_as_the_last_error(self, polled: Store) -> None:
        """A search that partly failed is a success that still says what went wrong."""
        polled.claim_due_sources(T0, 10, LEASE)
        failed(polled, "a", T0, at(1))
        polled.record_fetch_ok(
            "a",
            at(2),
            status=200,
            etag=None,
            last_modified=None,
            next_poll_at=at(12),
            entries_seen_delta=0,
            warning="GDELT rejected the query for signal 'x'",
        )
        a = polled.source("a")
        assert a is not None and a.consecutive_failures == 0
        assert a.last_error == "GDELT rejected the query for signal 'x'"
        assert source_health(a) == "ok"

    def test_prune_drops_old_stories_taken_digest_items_and_call_counts(
        self, polled: Store
    ) -> None:
        """Stories, taken digest items and call counts older than the seen cutoff go."""
        polled.commit_poll(
            "a",
            T0,
            seen=[],
            articles=[],
            alerts=[],
            stories=[
                StoryWrite(StoryCopy("a", "k1", "T", None, None), new_ref="s", fingerprint="f")
            ],
            digest_items=[
                DigestItem("daily@08:00", alert("h1")),
                DigestItem("daily@08:00", alert("h2")),
            ],
        )
        polled.commit_digest("console", "daily@08:00", T0, item_ids=["h1"], digest=alert("d1"))
        polled.add_api_calls("gdelt", T0.date(), 4)
        later = T0 + timedelta(days=40)
        polled.prune(
            later, seen_older_than=timedelta(days=30), delivered_older_than=timedelta(days=30)
        )
        assert polled.recent_stories(T0 - timedelta(days=1)) == []
        assert polled.api_calls_on("gdelt", T0.date()) == 0
        assert [o.items for o in polled.open_digests()] == [1]  # waiting items are never pruned

    def test_prune_drops_old_seen_and_delivered_only(self, polled: Store) -> None:
        """Prune deletes old seen records and old delivered alerts, never pending or failed."""
        old = [entry("k1"), entry("k2")]
        queued = [alert("pending"), alert("delivered"), alert("failed"), alert("fresh")]
        commit(polled, T0, entries=old, articles=[article("k1", "NATO")], alerts=queued)
        commit(polled, at(60 * 24 * 20), entries=[entry("k3")])
        polled.claim_alerts(T0, 10, LEASE)
        polled.mark_delivered("delivered", at(1), None)
        polled.mark_failed("failed", at(1), error="x", next_attempt_at=at(1), permanent=True)
        polled.mark_delivered("fresh", at(60 * 24 * 29), None)

        now = at(60 * 24 * 30)  # 30 days after T0
        deleted = polled.prune(
            now, seen_older_than=timedelta(days=14), delivered_older_than=timedelta(days=7)
        )
        assert deleted == 3  # seen k1, k2 and the old delivered alert
        assert [e.key for e in polled.unseen("a", [*old, entry("k3")], identify)] == ["k1", "k2"]
        assert polled.outbox_counts() == {"pending": 1, "delivered": 1, "failed": 1}
        assert ids(polled.claim_alerts(now, 10, LEASE)) == ["pending"]
        assert len(polled.recent_articles(10)) == 1
        assert (
            polled.prune(now, seen_older_than=timedelta(0), delivered_older_than=timedelta(0)) == 2
        )

    # -- time and lifecycle -------------------------------------------------------------------------

    def test_other_time_zones_come_back_as_the_same_instant_in_utc(self, polled: Store) -> None:
        """A tz-aware time in any zone is stored as that instant and returned in UTC."""
        tokyo = timezone(timedelta(hours=9))
        polled.claim_due_sources(T0, 10, LEASE)
        polled.record_not_modified("a", T0.astimezone(tokyo), next_poll_at=at(5).astimezone(tokyo))
        a = polled.source("a")
        assert a is not None
        assert a.next_poll_at == at(5) and a.next_poll_at.utcoffset() == timedelta(0)
        assert [s.id for s in polled.claim_due_sources(at(5), 10, LEASE)] == ["a"]

    def test_naive_datetimes_are_refused(self, polled: Store) -> None:
        """A naive datetime is a caller bug: ValueError, nothing written."""
        naive = datetime(2025, 6, 24, 9, 0)
        with pytest.raises(ValueError, match="timezone-aware"):
            polled.claim_due_sources(naive, 10, LEASE)
        with pytest.raises(ValueError, match="timezone-aware"):
            commit(polled, naive, alerts=[alert("x1")])
        assert polled.outbox_counts()["pending"] == 0

    def test_closed_store_raises_store_error(self, connect: Connect) -> None:
        """After close (idempotent), every call raises StoreError."""
        with connect() as store:
            store.migrate()
        store.close()
        with pytest.raises(StoreError):
            store.sources()
        with pytest.raises(StoreError):
            store.claim_alerts(T0, 1, LEASE)
