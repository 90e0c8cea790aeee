"""The Store contract, what several processes share: fenced source leases, the live
watchlist by version, the admin-notice queue and the news APIs' request slots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_contract_data import LEASE, T0, ContractBase, alert, at, cfg, commit

from bot.errors import LeaseLost
from bot.store import Lease, NotModifiedRecord
from bot.store.base import Store


class ClusterContract(ContractBase):
    """What workers and the gateway share through the store."""

    def test_a_poll_commits_only_under_the_lease_it_was_claimed_with(self, polled: Store) -> None:
        """A write carrying its lease commits while that lease stands; after it ran out and
        another worker claimed the source, the late write raises LeaseLost and leaves nothing."""
        (first,) = [s for s in polled.claim_due_sources(T0, 10, LEASE, holder="w1") if s.id == "a"]
        mine = Lease("w1", first.lease_token)
        commit(polled, T0, alerts=[alert("x1")], lease=mine)
        later = T0 + LEASE + timedelta(seconds=1)  # w1's lease ran out; w2 takes the source
        (second,) = [
            s for s in polled.claim_due_sources(later, 10, LEASE, holder="w2") if s.id == "a"
        ]
        assert second.lease_token > first.lease_token
        with pytest.raises(LeaseLost, match="'a'"):
            commit(polled, later, alerts=[alert("x2")], lease=mine)
        with pytest.raises(LeaseLost):
            polled.record_not_modified("a", later, next_poll_at=later, lease=mine)
        assert polled.outbox_counts()["pending"] == 1  # x1 only
        theirs = Lease("w2", second.lease_token)
        polled.record_not_modified("a", later, next_poll_at=later, lease=theirs)

    def test_304s_recorded_together_leave_out_only_those_whose_lease_was_lost(
        self, polled: Store
    ) -> None:
        """One transaction records a batch of 304s: each under its own lease; a lost lease or a
        source that is gone is named and left out, the others are recorded."""
        claimed = {s.id: s for s in polled.claim_due_sources(T0, 10, LEASE, holder="w1")}
        assert {"a", "b"} <= claimed.keys()
        good = Lease("w1", claimed["a"].lease_token)
        stale = Lease("w1", claimed["b"].lease_token - 1)
        later = T0 + timedelta(seconds=5)
        lost = polled.record_not_modified_many(
            [
                NotModifiedRecord("a", later, later + timedelta(hours=1), good),
                NotModifiedRecord("b", later, later + timedelta(hours=1), stale),
                NotModifiedRecord("gone", later, later + timedelta(hours=1), None),
            ]
        )
        assert lost == ["b", "gone"]
        a, b = polled.source("a"), polled.source("b")
        assert a is not None and b is not None
        assert a.last_status == 304 and a.lease_until is None
        assert a.next_poll_at == later + timedelta(hours=1)
        assert b.last_status != 304 and b.lease_until is not None
        assert polled.record_not_modified_many([]) == []

    def test_an_expired_lease_cannot_commit_even_unclaimed(self, polled: Store) -> None:
        """Past its end a lease fences its writes even when no one else took the source."""
        (claimed,) = [
            s for s in polled.claim_due_sources(T0, 10, LEASE, holder="w1") if s.id == "a"
        ]
        mine = Lease("w1", claimed.lease_token)
        with pytest.raises(LeaseLost):
            polled.record_fetch_failed(
                "a",
                T0 + LEASE + timedelta(seconds=1),
                error="x",
                status=None,
                next_poll_at=T0,
                disable_reason=None,
                lease=mine,
            )

    def test_a_long_poll_renews_its_lease(self, polled: Store) -> None:
        """Renewed before it ends, a lease keeps fencing others out; a lost one cannot renew."""
        (claimed,) = [
            s for s in polled.claim_due_sources(T0, 10, LEASE, holder="w1") if s.id == "a"
        ]
        mine = Lease("w1", claimed.lease_token)
        assert polled.renew_source_lease("a", mine, at(1), T0 + 3 * LEASE)
        assert polled.claim_due_sources(T0 + 2 * LEASE, 10, LEASE, holder="w2", skip=["b"]) == []
        commit(polled, T0 + 2 * LEASE, alerts=[alert("x1")], lease=mine)
        assert not polled.renew_source_lease("a", Lease("w1", 0), at(1), T0 + 4 * LEASE)

    def test_the_live_watchlist_is_versioned(self, store: Store) -> None:
        """Saving new text makes a new version; the same text again changes nothing."""
        assert store.latest_watchlist() is None
        v1 = store.save_watchlist("signals: []\n", T0)
        assert store.save_watchlist("signals: []\n", at(1)) == v1
        assert store.latest_watchlist() == (v1, "signals: []\n")
        assert store.latest_watchlist(after=v1) is None
        v2 = store.save_watchlist("signals: [x]\n", at(2))
        assert v2 > v1 and store.latest_watchlist(after=v1) == (v2, "signals: [x]\n")

    def test_admin_notices_queue_in_order_and_are_taken_once(self, store: Store) -> None:
        """What a worker queues, the gateway takes, oldest first, once."""
        for n in range(3):
            store.queue_notice(f'{{"text": "n{n}"}}', at(n))
        assert store.take_notices(2) == ['{"text": "n0"}', '{"text": "n1"}']
        assert store.take_notices(10) == ['{"text": "n2"}']
        assert store.take_notices(10) == []

    def test_api_slots_are_spaced_for_every_caller(self, store: Store) -> None:
        """Each reservation starts at least `spacing` after the one before, whoever asked."""
        spacing = timedelta(seconds=5)
        starts = [store.reserve_api_slot("gdelt", T0, spacing) for _ in range(3)]
        assert starts == [T0, T0 + spacing, T0 + 2 * spacing]
        assert store.reserve_api_slot("newsapi", T0, spacing) == T0  # another API, its own
        late = T0 + timedelta(minutes=5)
        assert store.reserve_api_slot("gdelt", late, spacing) == late  # idle since: at once

    def test_a_quota_call_is_taken_only_while_there_is_room(self, store: Store) -> None:
        """The check and the count are one step: the third of a quota of two is refused."""
        day = T0.date()
        assert [store.take_api_call("newsapi", day, 2) for _ in range(3)] == [True, True, False]
        assert store.api_calls_on("newsapi", day) == 2
        assert store.take_api_call("newsapi", day + timedelta(days=1), 2)
        assert not store.take_api_call("guardian", day, 0)

    def test_a_new_url_ends_the_old_urls_poll(self, polled: Store) -> None:
        """A poll of the old URL under way cannot commit once the source points elsewhere: its
        results (validators, first-fetch baseline) belonged to another feed."""
        (claimed,) = [
            s for s in polled.claim_due_sources(T0, 10, LEASE, holder="w1") if s.id == "a"
        ]
        mine = Lease("w1", claimed.lease_token)
        polled.sync_sources([cfg("a", url="https://elsewhere.example/feed"), cfg("b")], at(1))
        with pytest.raises(LeaseLost):
            polled.record_fetch_ok(
                "a",
                at(2),
                status=200,
                etag='"old"',
                last_modified=None,
                next_poll_at=at(10),
                entries_seen_delta=1,
                lease=mine,
            )
        state = polled.source("a")
        assert state is not None and state.etag is None and not state.first_fetch_done
