"""Part of the Store contract: seen entries and commit_poll."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_contract_data import (
    LEASE,
    T0,
    ContractBase,
    alert,
    article,
    at,
    commit,
    entry,
    identify,
    identify_text,
    seen_keys,
)

from bot.errors import StoreError
from bot.model import Entry
from bot.store.base import SEEN_SUMMARY_MAX_CHARS, EntryIdentity, SeenText, Store


class PollContract(ContractBase):
    """Seen entries and commit_poll."""

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
