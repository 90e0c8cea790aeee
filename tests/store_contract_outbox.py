"""Part of the Store contract: the outbox, claiming, delivering, failing and counting alerts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from store_contract_data import (
    LEASE,
    T0,
    Connect,
    ContractBase,
    alert,
    at,
    commit,
    ids,
    update,
)

from bot.errors import StoreError
from bot.model import Alert, OutletCopy, StoryUpdateAlert
from bot.store.base import Store


class OutboxContract(ContractBase):
    """The outbox: claiming, delivering, failing and counting alerts."""

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
        assert polled.alerts_for_signal_since("nato", T0, limit=2) == 2  # counting stops there
        assert polled.alerts_for_signal_since("nato", T0, limit=5) == 3
        assert polled.alerts_for_signal_since("eu", T0) == 1
        assert polled.alerts_for_signal_since("none", T0) == 0

    def test_recent_story_updates_newest_first_one_per_copy(self, polled: Store) -> None:
        """recent_story_updates: a signal's story updates with why each copy merged, newest
        first, one per copy however many routes it updated, at most `limit`."""
        joined = {"title": "Allies back 5% at The Hague", "link": "https://b.example/1"}
        first = update("u1", "x1", merged_on=("nato", "hague"), outlets=2, **joined)
        second_route = update("u1b", "x1b", merged_on=("nato", "hague"), outlets=2, **joined)
        later = update("u2", "x1", merged_on=("same link",), outlets=3, title="Later copy")
        commit(polled, T0, alerts=[alert("x1"), alert("x1b", destination="webhook:x")])
        commit(polled, at(1), alerts=[first, second_route, alert("o1", "eu")])
        commit(polled, at(2), alerts=[later])
        got = polled.recent_story_updates("nato", 5)
        assert [u.alert_id for u in got] == ["u2", "u1b"]  # ties: the greater id first
        assert got[0].merged_on == ("same link",) and got[0].outlets == 3
        assert got[1].merged_on == ("nato", "hague") and got[1].outlets == 2
        assert all(isinstance(u, StoryUpdateAlert) for u in got)
        assert [u.alert_id for u in polled.recent_story_updates("nato", 1)] == ["u2"]
        assert polled.recent_story_updates("eu", 5) == []

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

    def test_oldest_pending_at_is_the_first_queued_still_waiting(self, polled: Store) -> None:
        """None on an empty outbox; then the creation time of the oldest pending alert."""
        assert polled.oldest_pending_at() is None
        commit(polled, T0, alerts=[alert("x1")])
        commit(polled, at(5), alerts=[alert("x2")])
        assert polled.oldest_pending_at() == T0
        polled.claim_alerts(at(6), 1, LEASE)
        polled.mark_delivered("x1", at(6), None)
        assert polled.oldest_pending_at() == at(5)
