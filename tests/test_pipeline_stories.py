"""One alert per story, and digests, through the pipeline: `plan_poll` alone, then the Poller,
the Deliverer and `close_due_digests` on a real SQLite store with feeds on 127.0.0.1.

The story detector itself (bot/stories.py) is tested on labelled pairs in test_stories*.py;
here the question is what the pipeline does with its answer: the first copy of a story
alerts, a copy from a new outlet updates that alert ("+N sources"), a digest route collects.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import FeedServer, LiveFeed
from test_pipeline import (
    NOW,
    CollectingSink,
    Rig,
    compiled_for,
    no_alerts_sent,
)

from bot.model import Alert, DigestAlert, Entry, OutletCopy, StoryUpdate, StoryUpdateAlert
from bot.pipeline import (
    DEFAULT_DESTINATION,
    EDIT_WINDOW,
    Compiled,
    GivenStories,
    PollPlan,
    close_due_digests,
    plan_poll,
)
from bot.store import Announcement, KnownStory, Store, StoryCopy, open_store
from bot.stories import StoryIndex, fingerprint

pytest_plugins = ["feedserver"]

HEADLINE = "NATO allies agree to spend 5% of GDP on defence by 2035"
# The same story as other outlets wrote it (one of the labelled duplicate pairs' shapes).
REWRITE = "NATO allies agree to spend 5% of GDP on defence by 2035, summit says"
OTHER = "Ceasefire talks resume in Geneva as Russia and Ukraine swap prisoners"


def entry(key: str, title: str, *, source_id: str = "wire", publisher: str | None = None) -> Entry:
    """An entry of `source_id` on its own site, or behind Google's redirect if it names an outlet."""
    # The link's host is the outlet (bot.stories.outlet_key): one site per source, and an
    # aggregator's copy links to its redirect, so the publisher it names is the outlet.
    site = f"https://{source_id}.example" if publisher is None else "https://news.google.com/rss"
    return Entry(
        source_id=source_id,
        key=key,
        title=title,
        link=f"{site}/{key}",
        published=NOW - timedelta(minutes=5),
        publisher=publisher,
    )


def plan(
    compiled: Compiled,
    fresh: Sequence[Entry],
    known: Sequence[KnownStory] = (),
    source_id: str = "wire",
) -> PollPlan:
    """plan_poll at NOW, not a first poll, knowing these stories."""
    return plan_poll(
        compiled,
        source_id,
        fresh,
        NOW,
        first_poll=False,
        backfill=timedelta(hours=24),
        sent_last_hour=no_alerts_sent,
        stories=GivenStories(known),
    )


def known(story_id: int, first: Entry, *announced: Alert) -> KnownStory:
    """A stored story whose first copy is `first`, announced by `announced`."""
    return KnownStory(
        id=story_id,
        fingerprint=fingerprint(first.title, first.summary, first.link).to_text(),
        title=first.title,
        first_seen_at=NOW - timedelta(hours=1),
        last_seen_at=NOW - timedelta(hours=1),
        copies=(StoryCopy(first.source_id, first.key, first.title, first.link, first.publisher),),
        announced=tuple(Announcement(a.signal_id, a.destination, a.alert_id) for a in announced),
    )


SOURCES = {"wire": "https://wire.example.com/rss", "gnews": "https://news.google.com/rss"}


# --- plan_poll: pure -------------------------------------------------------------------------


def test_two_copies_in_one_poll_alert_once_and_file_one_story() -> None:
    """Google News gives the story from two outlets at once: one alert, one story of two."""
    compiled = compiled_for(SOURCES)
    fresh = [
        entry("a", HEADLINE, source_id="gnews", publisher="Reuters"),
        entry("b", REWRITE, source_id="gnews", publisher="AP"),
    ]
    result = plan(compiled, fresh, source_id="gnews")
    assert [a.title for a in result.alerts] == [HEADLINE]
    assert len(result.articles) == 2  # both copies are kept for lookups
    refs = {w.new_ref for w in result.stories}
    assert len(result.stories) == 2 and len(refs) == 1
    assert result.stories[0].fingerprint is not None and result.stories[1].fingerprint is None
    (announced,) = result.stories[0].announced
    assert announced == Announcement("nato", DEFAULT_DESTINATION, result.alerts[0].alert_id)
    assert result.updates == 0


def test_a_copy_from_a_new_outlet_updates_the_announced_alert() -> None:
    """A story alerted an hour ago: another outlet's copy queues an update, not an alert."""
    compiled = compiled_for(SOURCES)
    first = entry("a", HEADLINE)
    (original,) = plan(compiled, [first]).alerts
    story = known(7, first, original)
    result = plan(compiled, [entry("z", REWRITE, source_id="gnews", publisher="AP")], [story])
    (update,) = result.alerts
    assert update.alert_id == f"upd-{original.alert_id}-2"  # the story's second outlet
    assert isinstance(update, StoryUpdateAlert) and update.update_of == original.alert_id
    assert (update.signal_id, update.destination) == ("nato", DEFAULT_DESTINATION)
    assert result.updates == 1
    (write,) = result.stories
    assert write.story_id == 7 and write.announced == () and write.copy.publisher == "AP"


def test_a_copy_from_an_outlet_already_counted_changes_nothing() -> None:
    """The same outlet re-running its story under a new link is filed but not announced again."""
    compiled = compiled_for(SOURCES)
    first = entry("a", HEADLINE)
    (original,) = plan(compiled, [first]).alerts
    result = plan(compiled, [entry("a2", REWRITE)], [known(7, first, original)])
    assert result.alerts == [] and [w.story_id for w in result.stories] == [7]


# One Reuters article as three news APIs give it: GDELT names the outlet by its domain,
# NewsAPI by its name, Google News by its name behind a redirect link.
REUTERS_LINK = "https://www.reuters.com/world/europe/nato-allies-agree-5-2025-06-25/"


def api_copy(source_id: str, publisher: str, link: str = REUTERS_LINK) -> Entry:
    """The Reuters article (or another outlet's) as the news API `source_id` found it."""
    return Entry(
        source_id=source_id,
        key=f"link:{link}",
        title=HEADLINE,
        link=link,
        published=NOW - timedelta(minutes=5),
        publisher=publisher,
    )


def test_the_same_article_through_another_api_is_not_a_new_outlet() -> None:
    """GDELT's copy alerted; NewsAPI's and Google's copies of that article update nothing."""
    compiled = compiled_for(SOURCES)
    first = api_copy("gdelt", "reuters.com")
    (original,) = plan(compiled, [first], source_id="gdelt").alerts
    story = known(7, first, original)
    for copy in (
        api_copy("newsapi", "Reuters"),
        api_copy("gnews", "Reuters", "https://news.google.com/rss/articles/CBMiABC?oc=5"),
    ):
        result = plan(compiled, [copy], [story], source_id=copy.source_id)
        assert (result.alerts, result.updates) == ([], 0), copy.source_id
        assert [w.story_id for w in result.stories] == [7]  # still filed with its story


def test_another_outlet_of_that_article_s_story_still_updates_the_alert() -> None:
    """AP's copy through the same API is a second outlet: "+1 source"."""
    compiled = compiled_for(SOURCES)
    first = api_copy("gdelt", "reuters.com")
    (original,) = plan(compiled, [first], source_id="gdelt").alerts
    ap = api_copy("newsapi", "Associated Press", "https://apnews.com/article/nato-5-2025")
    result = plan(compiled, [ap], [known(7, first, original)], source_id="newsapi")
    assert [a.alert_id for a in result.alerts] == [f"upd-{original.alert_id}-2"]


def test_a_new_signal_on_a_known_story_alerts_for_that_signal_only() -> None:
    """The copy also matches `truce`, which the story never alerted: a new alert for truce."""
    compiled = compiled_for(SOURCES)
    first = entry("a", "NATO allies back Ukraine ceasefire plan at Hague summit")
    (original,) = [a for a in plan(compiled, [first]).alerts if a.signal_id == "nato"]
    story = known(7, first, original)  # announced for nato only
    copy = entry(
        "z", "NATO allies back Ukraine ceasefire plan at Hague summit - AP", source_id="gnews"
    )
    result = plan(compiled, [copy], [story])
    assert sorted((a.signal_id, a.alert_id.startswith("upd-")) for a in result.alerts) == [
        ("nato", True),
        ("truce", False),
    ]
    (write,) = result.stories
    assert [a.signal_id for a in write.announced] == ["truce"]


def test_different_stories_alert_separately_and_stories_load_only_on_a_match() -> None:
    """An unrelated headline is its own story; a poll with no match never reads the stories."""
    compiled = compiled_for(SOURCES)
    first = entry("a", HEADLINE)
    (original,) = plan(compiled, [first]).alerts
    result = plan(compiled, [entry("b", OTHER)], [known(7, first, original)])
    assert [a.title for a in result.alerts] == [OTHER]

    class Never(GivenStories):
        def index(self) -> StoryIndex[int]:
            raise AssertionError("stories read for a poll without matches")

    quiet = plan_poll(
        compiled,
        "wire",
        [entry("c", "Central bank holds rates")],
        NOW,
        first_poll=False,
        backfill=timedelta(hours=24),
        sent_last_hour=no_alerts_sent,
        stories=Never(),
    )
    assert quiet.alerts == [] and quiet.stories == []


def test_updates_are_never_folded_by_the_flood_guard() -> None:
    """A signal over its hourly limit still gets its story updates."""
    compiled = compiled_for(SOURCES, flood_per_hour=1)
    first = entry("a", HEADLINE)
    (original,) = plan(compiled, [first]).alerts
    result = plan_poll(
        compiled,
        "gnews",
        [entry("z", REWRITE, source_id="gnews", publisher="AP")],
        NOW,
        first_poll=False,
        backfill=timedelta(hours=24),
        sent_last_hour=lambda _s: 99,
        stories=GivenStories([known(7, first, original)]),
    )
    assert [a.alert_id for a in result.alerts] == [f"upd-{original.alert_id}-2"]


DIGEST_ROUTES = """
routes:
  - signal: nato
    channel: 111
    digest: daily
    at: "08:00"
  - signal: nato
    channel: 111
"""


def test_a_digest_route_collects_hits_instead_of_alerting() -> None:
    """nato goes to channel 111 one by one and in its daily digest: one alert, one item."""
    compiled = compiled_for(SOURCES, routes=DIGEST_ROUTES)
    result = plan(compiled, [entry("a", HEADLINE)])
    assert [(a.destination, a.title) for a in result.alerts] == [("channel:111", HEADLINE)]
    (item,) = result.digest_items
    assert item.schedule == "daily@08:00" and item.alert.destination == "channel:111"
    assert item.alert.alert_id != result.alerts[0].alert_id
    assert compiled.destinations("nato") == ["channel:111"]
    labels = sorted(a.destination for a in result.stories[0].announced)
    assert labels == ["channel:111", "digest:daily@08:00:channel:111"]


# --- Poller, Deliverer and digests on a real store -----------------------------------------


class UpdatingSink(CollectingSink):
    """A sink that edits or follows up like the Discord sink, keeping every update."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[StoryUpdate] = []

    async def update(self, update: StoryUpdate) -> str | None:
        """Keep the update; answer as Discord's sink does (the edited or posted message)."""
        self.updates.append(update)
        if update.edit is not None:
            return update.edit
        return f"followup:{len(self.updates)}"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """A migrated SQLite store in a file of its own."""
    return open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")


FEEDS: dict[str, LiveFeed] = {}  # this test's live feeds by path (story_rig fills it)


def story_rig(store: Store, server: FeedServer, **options: object) -> Rig:
    """Two live feeds, `wire` and `agency`, with nothing in them yet, polled once already."""
    for name in ("wire", "agency", "gnews"):
        # each outlet links to its own site: copies meet by their words, not by one URL
        FEEDS[f"/{name}.xml"] = server.live(
            f"/{name}.xml", LiveFeed(link=f"https://{name}.example/")
        )
    rig = Rig(store, server, {"wire": "/wire.xml", "agency": "/agency.xml"}, **options)
    rig.sink = UpdatingSink()
    rig.poll()  # the first poll: baseline, nothing to alert
    return rig


def publish(server: FeedServer, path: str, title: str, rig: Rig) -> None:
    """Put one item in a live feed, published just now by the rig's clock."""
    rig.clock.advance(timedelta(minutes=2))  # news takes time: polls and deliveries apart
    feed = FEEDS[path]
    (item,) = feed.add_items(1, title=title)
    item.title = title  # exactly this headline, without the feed's serial number
    item.published = rig.clock() - timedelta(minutes=1)
    feed.version += 1


def poll_all(rig: Rig) -> None:
    """Poll every source now, due or not."""
    rig.poll(force=True)


def test_a_later_copy_edits_the_delivered_alert_then_follows_up_once(
    store: Store, feed_server: FeedServer
) -> None:
    """Delivered alert + a copy within the edit window: an edit; past it: one follow-up, edited."""
    rig = story_rig(store, feed_server)
    sink = rig.sink
    assert isinstance(sink, UpdatingSink)
    publish(feed_server, "/wire.xml", HEADLINE, rig)
    poll_all(rig)
    assert rig.deliver() == 1 and sink.titles == [HEADLINE]

    publish(feed_server, "/agency.xml", REWRITE, rig)
    poll_all(rig)
    assert rig.deliver() == 1
    (first,) = sink.updates
    assert first.edit == "receipt-1" and first.reply_to == "receipt-1"
    assert [a.outlet for a in first.also] == ["agency"]
    assert first.original.title == HEADLINE and len(sink.sent) == 1  # nothing new posted

    rig.clock.advance(EDIT_WINDOW + timedelta(minutes=1))
    gnews = compiled_for({s: rig.server.url(f"/{s}.xml") for s in ("wire", "agency", "gnews")})
    rig.compiled = gnews
    store.sync_sources([*_configs(gnews)], rig.clock())
    rig.poll(force=True)  # gnews's first poll: its baseline
    publish(feed_server, "/gnews.xml", HEADLINE + " - BBC", rig)
    poll_all(rig)
    assert rig.deliver() == 1
    second = sink.updates[-1]
    assert second.edit is None and second.reply_to == "receipt-1"  # too old to edit: follow up
    assert [a.outlet for a in second.also] == ["agency", "gnews"]
    assert store.outbox_counts()["pending"] == 0


def _configs(compiled: Compiled) -> list[object]:
    from bot.pipeline import source_configs

    return list(source_configs(compiled.watchlist))


def test_a_copy_before_delivery_shows_in_the_alert_and_its_update_is_dropped(
    store: Store, feed_server: FeedServer
) -> None:
    """The original is still queued when the copy comes: it goes out listing both outlets."""
    rig = story_rig(store, feed_server)
    sink = rig.sink
    assert isinstance(sink, UpdatingSink)
    publish(feed_server, "/wire.xml", HEADLINE, rig)
    poll_all(rig)
    publish(feed_server, "/agency.xml", REWRITE, rig)
    poll_all(rig)
    rig.clock.advance(timedelta(seconds=1))
    assert rig.deliver() == 2  # the alert, and the update (taken as done: nothing to edit)
    (alert,) = sink.sent
    assert alert.also == (OutletCopy("agency", REWRITE, alert.also[0].link),)
    assert sink.updates == []
    assert store.outbox_counts() == {"pending": 0, "delivered": 2, "failed": 0}


def test_a_sink_without_update_gets_a_follow_up_alert(
    store: Store, feed_server: FeedServer
) -> None:
    """A sink that can only send gets the update as a short '+N sources' alert."""
    rig = story_rig(store, feed_server)
    rig.sink = CollectingSink()
    publish(feed_server, "/wire.xml", HEADLINE, rig)
    poll_all(rig)
    rig.deliver()
    publish(feed_server, "/agency.xml", REWRITE, rig)
    poll_all(rig)
    rig.deliver()
    original, followup = rig.sink.sent
    assert followup.title == f"+1 source: {HEADLINE}"
    # ... and why the copy joined the story, so an admin can judge the merge.
    assert followup.snippet.startswith("Also reported by agency (merged on: ")
    for term in ("nato", "gdp", "5%", "2035"):
        assert term in followup.snippet
    assert followup.alert_id.startswith(f"upd-{original.alert_id}-")


DIGEST_ONLY = """
routes:
  - signal: nato
    channel: 111
    digest: daily
    at: "08:00"
"""


def test_digest_goes_out_once_at_its_time_with_the_hits_of_its_period(
    store: Store, feed_server: FeedServer
) -> None:
    """Hits wait for 08:00 UTC; the digest lists them per signal, once, with outlet counts."""
    rig = story_rig(store, feed_server, routes=DIGEST_ONLY)
    publish(feed_server, "/wire.xml", HEADLINE, rig)
    poll_all(rig)
    publish(feed_server, "/agency.xml", REWRITE, rig)
    publish(feed_server, "/wire.xml", "NATO ministers meet in Brussels to plan Arctic patrols", rig)
    poll_all(rig)
    assert rig.deliver() == 0  # nothing goes out one by one
    assert close_due_digests(store, rig.compiled, rig.clock()) == []  # 13:00: not yet 08:00

    tomorrow = datetime(2025, 6, 26, 8, 0, tzinfo=UTC)
    rig.clock.now = tomorrow
    (digest,) = close_due_digests(store, rig.compiled, rig.clock())
    assert close_due_digests(store, rig.compiled, rig.clock()) == []  # once only
    assert digest.destination == "channel:111" and digest.published == tomorrow
    assert isinstance(digest, DigestAlert)
    (group,) = digest.digest.groups
    items = {item.title: item.sources for item in group.items}
    assert items[HEADLINE] == 1  # agency's copy joined the story: +1 source, not a line
    assert len(items) == 2
    assert rig.deliver() == 1 and rig.sink.sent == [digest]


def test_after_a_long_stop_each_period_with_hits_gets_its_own_digest(store: Store) -> None:
    """Hits from 13:xx and 15:xx, closed at 19:00: two hourly digests, none for 14:00."""
    compiled = compiled_for(
        SOURCES, routes=DIGEST_ONLY.replace("daily", "hourly").replace('    at: "08:00"\n', "")
    )
    store.sync_sources([*_configs(compiled)], NOW)
    hit = plan(compiled, [entry("a", HEADLINE)]).digest_items
    later = plan(compiled, [entry("b", OTHER.replace("Ceasefire", "NATO"))]).digest_items
    store.commit_poll(
        "wire", NOW + timedelta(minutes=10), seen=[], articles=[], alerts=[], digest_items=hit
    )
    store.commit_poll(
        "wire",
        NOW + timedelta(hours=2, minutes=5),
        seen=[],
        articles=[],
        alerts=[],
        digest_items=later,
    )
    digests = close_due_digests(store, compiled, NOW + timedelta(hours=6))
    assert [d.published for d in digests] == [NOW + timedelta(hours=1), NOW + timedelta(hours=3)]
    assert [len(d.digest.groups[0].items) for d in digests if isinstance(d, DigestAlert)] == [1, 1]
    assert store.open_digests() == []


# --- StoredStories: the window's index, kept across polls -------------------------------------


def test_stored_stories_follow_the_window_reading_only_what_changed(store: Store) -> None:
    """New stories appear, stories leave 48 h after their last copy, and a late copy keeps one."""
    from store_contract import cfg

    from bot.pipeline import StoredStories
    from bot.store import StoryWrite

    store.sync_sources([cfg("wire")], NOW)

    def file(at: datetime, key: str, title: str, story_id: int | None = None) -> None:
        copy = StoryCopy("wire", key, title, f"https://wire.example/{key}", None)
        fp = fingerprint(title, "", copy.link).to_text()
        write = (
            StoryWrite(copy, story_id=story_id)
            if story_id is not None
            else StoryWrite(copy, new_ref=key, fingerprint=fp)
        )
        store.commit_poll("wire", at, seen=[], articles=[], alerts=[], stories=[write])

    def ids(book: StoredStories, at: datetime) -> list[int]:
        book.now = at
        return book.index().keys()

    book = StoredStories(store)
    with pytest.raises(RuntimeError, match="now must be set"):
        book.index()
    file(NOW, "k1", HEADLINE)
    file(NOW, "k2", OTHER)
    (s1, s2) = (s.id for s in store.recent_stories(NOW - timedelta(hours=1)))
    assert ids(book, NOW) == [s1, s2]
    # a copy joins the first story a day later, written by another process: only the store knows
    file(NOW + timedelta(hours=24), "k3", REWRITE, story_id=s1)
    file(NOW + timedelta(hours=30), "k4", "Panama Canal ports deal closes after months of talks")
    s3 = max(s.id for s in store.recent_stories(NOW))
    assert ids(book, NOW + timedelta(hours=30)) == [s1, s2, s3]
    # 48 h after the first copies: the second story leaves, the first stays (its copy is newer)
    assert ids(book, NOW + timedelta(hours=49)) == [s1, s3]
    # what a fresh reader of the store sees is what the kept index holds
    assert ids(StoredStories(store), NOW + timedelta(hours=49)) == [s1, s3]
    assert book.index().find(fingerprint(OTHER, "", None)) is None
    assert book.index().find(fingerprint(HEADLINE, "", None)) == s1
    assert ids(book, NOW + timedelta(hours=73)) == [s3]
    assert ids(book, NOW + timedelta(hours=79)) == []


def test_a_poll_asks_the_store_about_its_copies_idents_once() -> None:
    """Every matched copy's link and headline go to the store in one question per poll, and
    a copy of a stored story is still found by its link (one query, not one per copy)."""
    compiled = compiled_for(SOURCES)
    first = entry("a", HEADLINE)
    (original,) = plan(compiled, [first]).alerts
    asked: list[list[str]] = []

    class Counting(GivenStories):
        def stories_of_idents(self, idents: Sequence[str]) -> dict[str, int]:
            asked.append(list(idents))
            return super().stories_of_idents(idents)

    words = ["alpha", "bravo", "charlie"]
    fresh = [entry("a", HEADLINE)] + [entry(f"n{i}", f"{OTHER} {w}") for i, w in enumerate(words)]
    result = plan_poll(
        compiled,
        "wire",
        fresh,
        NOW,
        first_poll=False,
        backfill=timedelta(hours=24),
        sent_last_hour=no_alerts_sent,
        stories=Counting((known(7, first, original),)),
    )
    assert len(asked) == 1 and len(asked[0]) >= len(fresh)  # a link (and headline) each
    assert [w.story_id for w in result.stories][:1] == [7]  # the repeat joined its story
