"""Part of the Store contract: matched articles, search, signal stats and timelines."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from store_contract_data import T0, ContractBase, article, at, cfg, commit

from bot.store.base import ArticleRecord, SignalStats, SignalTimeline, Store, StoryCopy, StoryWrite


class ArticlesContract(ContractBase):
    """Matched articles, search, signal stats and timelines."""

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
