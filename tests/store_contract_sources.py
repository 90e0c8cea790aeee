"""Part of the Store contract: sources, from migrations and claims to lease holders."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from store_contract_data import (
    LEASE,
    T0,
    USER,
    V2_ARTICLE,
    V2_AT,
    V2_DELIVERED,
    V2_DISABLED,
    V2_ETAG,
    V2_PENDING,
    V2_RECEIPT,
    Connect,
    ContractBase,
    alert,
    at,
    cfg,
    commit,
    entry,
    failed,
    fetched,
    identify,
    identify_text,
    ids,
)

from bot.errors import StoreError
from bot.store.base import Store, source_health
from bot.store.leases import DEFAULT_HOLDER


class SourcesContract(ContractBase):
    """Sources: migrations, syncing and claiming, fetch bookkeeping, lease holders."""

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
