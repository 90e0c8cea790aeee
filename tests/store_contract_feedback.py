"""Part of the Store contract: subscribers' feedback on alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from store_contract_data import MAX_ID, T0, USER, ContractBase, alert, article, at, commit, update

from bot.store.base import JudgedItem, Store

# A real hard negative of the labelled set (tests/data/labelled/signals_dev.jsonl): NATO and a
# spending goal, but the 2% one, so a 👎 on nato-5pct is the right verdict.
HARD_NEGATIVE_TITLE = "NATO says all countries to hit spending goal"
HARD_NEGATIVE_LINK = "https://a.example/nato-all-hit-2pct"


class FeedbackContract(ContractBase):
    """One verdict per user and alert, with a copy of the item judged."""

    @pytest.fixture
    def judged(self, polled: Store) -> Store:
        """A store with story alert 'x1' (and its matched article) and update 'u1' of it."""
        commit(
            polled,
            T0,
            articles=[article("k1", HARD_NEGATIVE_TITLE, "Allies are set to meet the 2% target.")],
            alerts=[
                alert("x1", title=HARD_NEGATIVE_TITLE, link=HARD_NEGATIVE_LINK, publisher=None),
                update("u1", "x1"),
            ],
        )
        return polled

    def test_a_verdict_keeps_the_item_its_article_and_who(self, judged: Store) -> None:
        """record_feedback stores the verdict with the alert's item and its article's key and
        summary (found by source and title when the link differs), and returns it."""
        got = judged.record_feedback("x1", USER, -1, at(5), message_id=MAX_ID)
        assert got is not None
        assert (got.alert_id, got.user_id, got.signal_id, got.verdict, got.at) == (
            "x1",
            USER,
            "nato",
            -1,
            at(5),
        )
        assert got.message_id == MAX_ID
        assert got.item == JudgedItem(
            source_id="a",
            key="k1",
            title=HARD_NEGATIVE_TITLE,
            summary="Allies are set to meet the 2% target.",
            link=HARD_NEGATIVE_LINK,
            publisher="Reuters",
            published=T0 - timedelta(hours=1),
        )
        assert judged.feedback_since(T0) == [got]
        assert judged.feedback_verdict("x1", USER) == -1

    def test_the_article_is_found_by_link(self, polled: Store) -> None:
        """An alert whose link is its article's finds the article by it, title aside."""
        record = article("k2", "Allies agree 5% of GDP")
        commit(polled, T0, articles=[record], alerts=[alert("x2", link=record.link)])
        got = polled.record_feedback("x2", USER, 1, at(1))
        assert got is not None and got.item.key == "k2"

    def test_without_an_article_the_key_is_the_link(self, polled: Store) -> None:
        """No matched article stored: the link stands in for the key, the summary is empty."""
        commit(polled, T0, alerts=[alert("x3")])
        got = polled.record_feedback("x3", USER, 1, at(1))
        assert got is not None
        assert (got.item.key, got.item.summary) == ("https://a.example/x3", "")

    def test_a_new_verdict_replaces_and_a_withdrawal_removes(self, judged: Store) -> None:
        """A user's latest verdict counts; withdrawing removes it; other users are their own."""
        judged.record_feedback("x1", USER, 1, at(1), message_id=7)
        judged.record_feedback("x1", USER + 1, 1, at(2))
        judged.record_feedback("x1", USER, -1, at(3))
        rows = judged.feedback_since(T0)
        assert [(j.user_id, j.verdict, j.at) for j in rows] == [
            (USER + 1, 1, at(2)),
            (USER, -1, at(3)),
        ]
        assert rows[1].message_id == 7  # a verdict without a message id keeps the known one
        assert judged.withdraw_feedback("x1", USER)
        assert not judged.withdraw_feedback("x1", USER)
        assert judged.feedback_verdict("x1", USER) is None
        assert [j.user_id for j in judged.feedback_since(T0)] == [USER + 1]

    def test_only_story_alerts_the_outbox_holds_can_be_judged(self, judged: Store) -> None:
        """An update, or an alert the outbox does not hold, records nothing."""
        assert judged.record_feedback("u1", USER, -1, at(1)) is None
        assert judged.record_feedback("gone", USER, -1, at(1)) is None
        assert judged.feedback_since(T0) == []

    def test_feedback_since_filters_by_time_and_signal(self, polled: Store) -> None:
        """Verdicts come oldest first, from `since` on, optionally for one signal."""
        commit(polled, T0, alerts=[alert("n1"), alert("n2"), alert("e1", signal_id="eu")])
        polled.record_feedback("n2", USER, -1, at(10))
        polled.record_feedback("e1", USER, 1, at(20))
        polled.record_feedback("n1", USER, 1, at(30))
        assert [j.alert_id for j in polled.feedback_since(T0)] == ["n2", "e1", "n1"]
        assert [j.alert_id for j in polled.feedback_since(at(15))] == ["e1", "n1"]
        assert [j.alert_id for j in polled.feedback_since(T0, "nato")] == ["n2", "n1"]
        assert polled.feedback_since(T0, "never") == []

    def test_tallies_count_each_item_once_across_its_alerts(self, polled: Store) -> None:
        """feedback_tallies sums the verdicts per item (source and key), over every alert of
        it (one per destination), per signal, from `since` on."""
        record = article("k1", HARD_NEGATIVE_TITLE)
        other = article("k2", "Allies agree 5% of GDP")
        commit(
            polled,
            T0,
            articles=[record, other],
            alerts=[
                alert("x1", link=record.link),
                alert("x1-general", link=record.link, destination="channel:1"),
                alert("x2", link=other.link),
                alert("e1", signal_id="eu", link=other.link),
            ],
        )
        polled.record_feedback("x1", USER, -1, at(1))
        polled.record_feedback("x1-general", USER + 1, -1, at(2))
        polled.record_feedback("x1-general", USER + 2, 1, at(3))
        polled.record_feedback("x2", USER, 1, at(4))
        polled.record_feedback("e1", USER, -1, at(5))
        assert sorted(polled.feedback_tallies("nato", T0)) == [(1, 0), (1, 2)]
        assert sorted(polled.feedback_tallies("nato", at(3))) == [(1, 0), (1, 0)]
        assert polled.feedback_tallies("eu", T0) == [(0, 1)]
        assert polled.feedback_tallies("never", T0) == []

    def test_feedback_outlives_pruning(self, judged: Store) -> None:
        """Pruning delivered alerts and old seen records leaves the verdicts (labelled data)."""
        judged.record_feedback("x1", USER, -1, at(1))
        judged.mark_delivered("x1", at(1), "123")
        judged.prune(
            at(60 * 24 * 400),
            seen_older_than=timedelta(days=1),
            delivered_older_than=timedelta(days=1),
        )
        assert judged.outbox_record("x1") is None
        assert [j.alert_id for j in judged.feedback_since(T0)] == ["x1"]

    @pytest.mark.parametrize("verdict", [0, 2, -2])
    def test_a_verdict_is_one_or_minus_one(self, judged: Store, verdict: int) -> None:
        """Anything but 1 or -1 is a ValueError and records nothing."""
        with pytest.raises(ValueError, match="verdict"):
            judged.record_feedback("x1", USER, verdict, at(1))  # type: ignore[arg-type]
        assert judged.feedback_since(T0) == []

    def test_ids_out_of_range_are_refused(self, judged: Store) -> None:
        """A user or message id outside 0 .. 2**63 - 1 is a ValueError."""
        with pytest.raises(ValueError):
            judged.record_feedback("x1", MAX_ID + 1, 1, at(1))
        with pytest.raises(ValueError):
            judged.record_feedback("x1", USER, 1, at(1), message_id=-1)
