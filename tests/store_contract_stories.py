"""Part of the Store contract: stories, digests, API quotas and prune; time and lifecycle."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from store_contract_data import (
    LEASE,
    T0,
    Connect,
    ContractBase,
    alert,
    article,
    at,
    commit,
    entry,
    failed,
    fetched,
    identify,
    ids,
    update,
)

from bot.errors import StoreError
from bot.store.base import (
    Announcement,
    DigestItem,
    OpenDigest,
    Store,
    StoryCopy,
    StoryWrite,
    source_health,
)


class StoriesContract(ContractBase):
    """Stories, digests, API quotas and prune; time and lifecycle."""

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

    def test_every_copys_idents_lead_to_its_story_within_the_window(self, polled: Store) -> None:
        """Each copy's link and headline idents find its story; old stories and unknown
        idents find nothing; one ident written twice is kept once."""
        first = StoryCopy("a", "k1", "NATO agrees 5%", "https://a.example/k1", None)
        later = StoryCopy("a", "k2", "Allies back 5%", "https://b.example/k2", None)
        polled.commit_poll(
            "a",
            T0,
            seen=[],
            articles=[],
            alerts=[],
            stories=[StoryWrite(first, new_ref="r", fingerprint="f", idents=("link:a/k1",))],
        )
        (story,) = polled.recent_stories(T0 - timedelta(hours=1))
        for _ in range(2):
            polled.commit_poll(
                "a",
                T0 + timedelta(hours=1),
                seen=[],
                articles=[],
                alerts=[],
                stories=[
                    StoryWrite(later, story_id=story.id, idents=("link:b/k2", "title:allies"))
                ],
            )
        since = T0 - timedelta(hours=47)
        idents = ["link:a/k1", "link:b/k2", "title:allies", "link:c/k3", "link:a/k1"]
        assert polled.stories_of_idents(idents, since) == {
            "link:a/k1": story.id,
            "link:b/k2": story.id,
            "title:allies": story.id,
        }  # an ident of no story is left out; a repeated one is asked once
        assert polled.stories_of_idents([], since) == {}
        # Last seen at T0 + 1h: a window starting after that finds nothing.
        assert polled.stories_of_idents(["link:a/k1"], T0 + timedelta(hours=2)) == {}

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
