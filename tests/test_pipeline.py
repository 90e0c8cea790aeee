"""The poll → match → alert pipeline: `plan_poll` alone, then Poller and Deliverer for real.

The first half feeds `plan_poll` entries and a time and checks what it would store. The
second half runs the Poller against the local feed server (tests/feedserver.py) and a real
SQLite store in tmp_path, with a fake clock that only moves when a test moves it, a fake
sink and a fake notifier: the only I/O is HTTP on 127.0.0.1 and the database file.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from fakes import FakeClock, Notices
from feedserver import FeedServer, LiveFeed, Reply

from bot.errors import DeliveryError, PermanentDeliveryError
from bot.model import Alert, Entry, FloodSummary, FoldedItem
from bot.pipeline import (
    DEFAULT_DESTINATION,
    SOURCE_LEASE,
    Compiled,
    Deliverer,
    Poller,
    PollOutcome,
    PollPlan,
    alert_id,
    plan_poll,
    source_configs,
)
from bot.sources.fetch import Fetcher, FetchRequest, FetchResult, FetchSettings
from bot.store import SourceConfig, SourceState, Store
from bot.store.sqlite import SQLiteStore
from bot.watchlist import parse_watchlist

pytest_plugins = ["feedserver"]

T = TypeVar("T")
NOW = datetime(2025, 6, 25, 13, 0, tzinfo=UTC)  # an hour after the LiveFeed epoch
INTERVAL = timedelta(minutes=10)
FETCH = FetchSettings(allow_private=True, per_host_spacing=0, retries=0, max_bytes=1024 * 1024)

SIGNALS = """
signals:
  - id: nato
    title: NATO moves
    query: NATO
    severity: high
  - id: truce
    title: Truce terms land
    query: truce OR ceasefire
  - id: chips
    title: Chip pacts seal
    query: semiconductor* AND pact
"""


def watchlist_text(
    sources: dict[str, str],
    *,
    flood_per_hour: int = 10,
    backfill: str = "24h",
    routes: str = "",
    scope: dict[str, list[str]] | None = None,
    signals: str = SIGNALS,
) -> str:
    """A watchlist with the test signals and one source per (id, url)."""
    lines = [
        "version: 1",
        "defaults:",
        f"  backfill: {backfill}",
        f"  flood_per_hour: {flood_per_hour}",
        signals.strip(),
        "sources:",
    ]
    for source_id, url in sources.items():
        lines += [f"  - id: {source_id}", f"    url: {url}"]
        if scope and source_id in scope:
            lines.append(f"    signals: [{', '.join(scope[source_id])}]")
    lines.append(routes.strip() or "routes: []")
    return "\n".join(lines) + "\n"


def compiled_for(sources: dict[str, str], **options: Any) -> Compiled:
    """The compiled watchlist of `watchlist_text(sources, **options)`."""
    return Compiled.build(parse_watchlist(watchlist_text(sources, **options)))


def entry(
    n: int,
    title: str,
    *,
    source_id: str = "wire",
    published: datetime | None = NOW - timedelta(minutes=5),
    summary: str = "",
) -> Entry:
    """An entry numbered `n` with its own key and link."""
    return Entry(
        source_id=source_id,
        key=f"guid:item-{n}",
        title=title,
        summary=summary,
        link=f"https://wire.example.com/story/{n}",
        published=published,
    )


def no_alerts_sent(_signal_id: str) -> int:
    """The flood counter of a quiet hour."""
    return 0


def plan(
    compiled: Compiled,
    fresh: list[Entry],
    *,
    source_id: str = "wire",
    first_poll: bool = False,
    sent: Callable[[str], int] = no_alerts_sent,
) -> PollPlan:
    """plan_poll at NOW with a 24-hour backfill."""
    return plan_poll(
        compiled,
        source_id,
        fresh,
        NOW,
        first_poll=first_poll,
        backfill=timedelta(hours=24),
        sent_last_hour=sent,
    )


WIRE = {"wire": "https://wire.example.com/rss"}


# --- plan_poll: pure -------------------------------------------------------------------------


def test_first_poll_backfills_old_and_undated_entries_silently() -> None:
    """On a first poll, entries older than backfill or undated are seen but never alerted."""
    fresh = [
        entry(1, "Ceasefire talks resume", published=NOW - timedelta(hours=1)),
        entry(2, "Truce declared in the east", published=NOW - timedelta(days=3)),
        entry(3, "Ceasefire monitors arrive", published=None),
        entry(4, "Truce holds overnight", published=NOW - timedelta(hours=23, minutes=59)),
    ]
    result = plan(compiled_for(WIRE), fresh, first_poll=True)
    assert [s.key for s in result.seen] == [e.key for e in fresh]
    assert [(a.title, a.signal_id) for a in result.alerts] == [
        ("Ceasefire talks resume", "truce"),
        ("Truce holds overnight", "truce"),
    ]
    assert result.backfilled == 2
    assert result.matched == 2
    assert [a.title for a in result.articles] == ["Ceasefire talks resume", "Truce holds overnight"]


def test_later_polls_alert_old_and_undated_entries_too() -> None:
    """After the first poll an entry is new whatever its date: old and undated ones alert."""
    fresh = [
        entry(2, "Truce declared in the east", published=NOW - timedelta(days=3)),
        entry(3, "Ceasefire monitors arrive", published=None),
    ]
    result = plan(compiled_for(WIRE), fresh, first_poll=False)
    assert [a.title for a in result.alerts] == [e.title for e in fresh]
    assert result.backfilled == 0


def test_entries_that_match_nothing_are_seen_without_articles_or_alerts() -> None:
    """Non-matching entries are marked seen and nothing else."""
    fresh = [entry(1, "Heatwave grips southern Europe"), entry(2, "Cup final draws record crowd")]
    result = plan(compiled_for(WIRE), fresh)
    assert [s.key for s in result.seen] == ["guid:item-1", "guid:item-2"]
    assert result.seen[0].link == "https://wire.example.com/story/1"
    assert result.seen[0].title_norm == "example|heatwave grips southern europe"  # outlet|title
    assert (result.articles, result.alerts, result.matched) == ([], [], 0)


def test_source_signal_scope_limits_the_signals_matched() -> None:
    """A source with `signals: [nato]` alerts only nato, even when truce also matches."""
    sources = {"wire": "https://wire.example.com/rss", "nato-desk": "https://nato.example.com/"}
    compiled = compiled_for(sources, scope={"nato-desk": ["nato"]})
    both = "NATO backs ceasefire plan"
    scoped = plan(compiled, [entry(1, both, source_id="nato-desk")], source_id="nato-desk")
    assert [a.signal_id for a in scoped.alerts] == ["nato"]
    assert [m.signal_id for m in scoped.articles[0].matches] == ["nato"]
    unscoped = plan(compiled, [entry(1, both)], source_id="wire")
    assert [a.signal_id for a in unscoped.alerts] == ["nato", "truce"]


def test_routes_send_each_alert_to_every_destination() -> None:
    """nato goes to its channel and its webhook; an unrouted signal to the default place."""
    routes = """
routes:
  - signal: nato
    channel: 111
  - signal: nato
    webhook: NATO_HOOK
  - signal: chips
    channel: 222
"""
    compiled = compiled_for(WIRE, routes=routes)
    result = plan(compiled, [entry(1, "NATO backs ceasefire plan")])
    assert sorted((a.signal_id, a.destination) for a in result.alerts) == [
        ("nato", "channel:111"),
        ("nato", "webhook:NATO_HOOK"),
        ("truce", DEFAULT_DESTINATION),
    ]
    assert len({a.alert_id for a in result.alerts}) == 3
    assert compiled.destinations("chips") == ["channel:222"]


def test_alert_carries_the_why() -> None:
    """An alert has the entry's title, link, source, date, the matched words and a snippet."""
    e = entry(7, "NATO allies meet", summary="The NATO summit opens in The Hague.")
    (alert,) = plan(compiled_for(WIRE), [e]).alerts
    assert alert == Alert(
        alert_id=alert_id(e, "nato", DEFAULT_DESTINATION),
        signal_id="nato",
        destination=DEFAULT_DESTINATION,
        title="NATO allies meet",
        link="https://wire.example.com/story/7",
        source_id="wire",
        published=e.published,
        terms=("NATO",),
        snippet="The **NATO** summit opens in The Hague.",
        severity="high",
    )


def test_alert_ids_are_stable_and_distinct() -> None:
    """Planning the same entries twice gives the same ids; entry, signal, destination differ."""
    compiled = compiled_for(WIRE)
    # Two different stories: one story from two entries would alert once (one alert per story).
    fresh = [
        entry(1, "NATO backs ceasefire plan"),
        entry(2, "Ceasefire collapses; NATO envoys leave"),
    ]
    first = [a.alert_id for a in plan(compiled, fresh).alerts]
    again = [a.alert_id for a in plan(compiled, fresh).alerts]
    assert first == again
    assert len(set(first)) == 4
    assert first[0] == alert_id(fresh[0], "nato", DEFAULT_DESTINATION)
    assert alert_id(fresh[0], "nato", "channel:1") != alert_id(fresh[0], "nato", "channel:2")
    moved = Entry("other", fresh[0].key, fresh[0].title, link=fresh[0].link)
    assert alert_id(moved, "nato", DEFAULT_DESTINATION) != first[0]


def test_flood_guard_keeps_the_first_room_and_folds_the_rest_into_one_summary() -> None:
    """With flood_per_hour 3 and 5 hits in a quiet hour: 3 alerts, then one summary of 2."""
    compiled = compiled_for(WIRE, flood_per_hour=3)
    fresh = [entry(n, f"Ceasefire update {n}") for n in range(1, 6)]
    result = plan(compiled, fresh)
    assert [a.title for a in result.alerts] == [
        "Ceasefire update 1",
        "Ceasefire update 2",
        "Ceasefire update 3",
        "2 more hits for truce (over 3 in an hour)",
    ]
    summary = result.alerts[-1]
    assert summary.alert_id.startswith("flood-")
    assert (summary.signal_id, summary.destination, summary.link) == ("truce", "default", None)
    assert isinstance(summary, FloodSummary)
    assert summary.items == tuple(
        FoldedItem(f"Ceasefire update {n}", f"https://wire.example.com/story/{n}", "wire")
        for n in (4, 5)
    )
    # every fresh entry is still seen, and every match still kept as an article
    assert len(result.seen) == 5 and len(result.articles) == 5
    assert plan(compiled, fresh).alerts[-1].alert_id == summary.alert_id  # stable on replay


def test_flood_guard_counts_the_alerts_already_sent_this_hour() -> None:
    """2 alerts already sent with a limit of 3 leave room for one; a full hour for none."""
    compiled = compiled_for(WIRE, flood_per_hour=3)
    fresh = [entry(n, f"Ceasefire update {n}") for n in range(1, 5)]
    asked: list[str] = []

    def two_sent(signal_id: str) -> int:
        asked.append(signal_id)
        return 2

    result = plan(compiled, fresh, sent=two_sent)
    assert [a.title for a in result.alerts] == [
        "Ceasefire update 1",
        "3 more hits for truce (over 3 in an hour)",
    ]
    assert asked == ["truce"]
    full = plan(compiled, fresh, sent=lambda _s: 7)
    assert [a.title for a in full.alerts] == ["4 more hits for truce (over 3 in an hour)"]


def test_flood_guard_is_per_signal() -> None:
    """Hits of a quiet signal are not folded because another signal floods."""
    compiled = compiled_for(WIRE, flood_per_hour=2)
    fresh = [entry(n, f"Ceasefire update {n}") for n in range(1, 5)]
    fresh.append(entry(9, "NATO summit opens"))
    result = plan(compiled, fresh)
    assert [(a.signal_id, a.title) for a in result.alerts] == [
        ("truce", "Ceasefire update 1"),
        ("truce", "Ceasefire update 2"),
        ("truce", "2 more hits for truce (over 2 in an hour)"),
        ("nato", "NATO summit opens"),
    ]


def test_flood_summary_is_one_per_destination() -> None:
    """A routed signal over the limit keeps whole entries and folds the rest per destination."""
    routes = """
routes:
  - signal: truce
    channel: 111
  - signal: truce
    webhook: TRUCE_HOOK
"""
    compiled = compiled_for(WIRE, flood_per_hour=2, routes=routes)
    fresh = [entry(n, f"Ceasefire update {n}") for n in range(1, 6)]
    result = plan(compiled, fresh)
    kept = [(a.title, a.destination) for a in result.alerts if not isinstance(a, FloodSummary)]
    assert kept == [
        ("Ceasefire update 1", "channel:111"),
        ("Ceasefire update 1", "webhook:TRUCE_HOOK"),
        ("Ceasefire update 2", "channel:111"),
        ("Ceasefire update 2", "webhook:TRUCE_HOOK"),
    ]
    summaries = [a for a in result.alerts if isinstance(a, FloodSummary)]
    assert sorted(a.destination for a in summaries) == ["channel:111", "webhook:TRUCE_HOOK"]
    assert {a.title for a in summaries} == {"3 more hits for truce (over 2 in an hour)"}
    assert len({a.alert_id for a in summaries}) == 2


def test_flood_guard_counts_entries_not_deliveries_of_a_routed_signal() -> None:
    """With two destinations, 2 entries sent this hour (4 alerts) leave room for 1 of 3."""
    routes = """
routes:
  - signal: truce
    channel: 111
  - signal: truce
    webhook: TRUCE_HOOK
"""
    compiled = compiled_for(WIRE, flood_per_hour=3, routes=routes)
    fresh = [entry(n, f"Ceasefire update {n}") for n in range(1, 4)]
    result = plan(compiled, fresh, sent=lambda _s: 4)
    assert [(a.title, a.destination) for a in result.alerts] == [
        ("Ceasefire update 1", "channel:111"),
        ("Ceasefire update 1", "webhook:TRUCE_HOOK"),
        ("2 more hits for truce (over 3 in an hour)", "channel:111"),
        ("2 more hits for truce (over 3 in an hour)", "webhook:TRUCE_HOOK"),
    ]


def test_flood_guard_tells_untitled_entries_apart() -> None:
    """Two entries without a title are two hits: with room for one, the second is folded."""
    compiled = compiled_for(WIRE, flood_per_hour=1)
    fresh = [
        entry(1, "", summary="Ceasefire agreed in the north"),
        entry(2, "", summary="Truce holds in the south"),
    ]
    result = plan(compiled, fresh)
    assert [(a.title, a.snippet) for a in result.alerts] == [
        ("", "**Ceasefire** agreed in the north"),
        ("1 more hits for truce (over 1 in an hour)", ""),
    ]
    summary = result.alerts[1]
    assert isinstance(summary, FloodSummary)
    assert summary.items == (FoldedItem("", "https://wire.example.com/story/2", "wire"),)


# --- Poller and Deliverer against the feed server ------------------------------------------


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


class CollectingSink:
    """A Sink that keeps every alert it accepts; `failures` are raised first, one per send."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []
        self.failures: list[Exception] = []
        self.attempts = 0

    async def send(self, alert: Alert) -> str | None:
        """Accept the alert, unless a failure is queued."""
        self.attempts += 1
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(alert)
        return f"receipt-{len(self.sent)}"

    @property
    def titles(self) -> list[str]:
        """The titles delivered, in order."""
        return [a.title for a in self.sent]


class Rig:
    """A store, a watchlist of feed-server sources, a fake clock, notifier and sink."""

    def __init__(
        self,
        store: Store,
        server: FeedServer,
        paths: dict[str, str],
        *,
        max_failures: int = 10,
        poll_budget: float = 90.0,
        **options: Any,
    ) -> None:
        self.store = store
        self.poll_budget = poll_budget
        self.server = server
        self.clock = FakeClock(NOW)
        self.notices = Notices()
        self.sink = CollectingSink()
        self.max_failures = max_failures
        urls = {source_id: server.url(path) for source_id, path in paths.items()}
        self.compiled = compiled_for(urls, **options)
        store.sync_sources(source_configs(self.compiled.watchlist), self.clock())

    def poll(self, *, force: bool = False) -> list[PollOutcome]:
        """Poll the due sources once, as the run loop does."""

        async def go() -> list[PollOutcome]:
            async with Fetcher(FETCH) as fetcher:
                poller = Poller(
                    self.store,
                    fetcher,
                    lambda: self.compiled,
                    self.notices,
                    self.clock,
                    self.max_failures,
                    poll_budget=self.poll_budget,
                )
                return await poller.poll_due(force=force)

        return run(go())

    def poll_one(self) -> PollOutcome:
        """Poll the due sources and return the only outcome."""
        (outcome,) = self.poll()
        return outcome

    def deliver(self) -> int:
        """Deliver the alerts due now."""
        deliverer = Deliverer(self.store, self.sink, self.notices, self.clock)
        return run(deliverer.deliver_due())

    def next_poll(self, source_id: str = "wire") -> None:
        """Move the clock to the source's next planned poll."""
        state = self.store.source(source_id)
        assert state is not None
        self.clock.now = max(self.clock.now, state.next_poll_at)


@pytest.fixture
def live(feed_server: FeedServer) -> LiveFeed:
    """A LiveFeed at /wire.xml with two NATO items and one that matches nothing."""
    feed = feed_server.live("/wire.xml")
    feed.add_items(1, title="Central bank holds rates")
    feed.add_items(2, title="NATO summit")
    return feed


@pytest.fixture
def rig(store: Store, feed_server: FeedServer, live: LiveFeed) -> Rig:
    """A rig with one source, `wire`, on the LiveFeed."""
    return Rig(store, feed_server, {"wire": "/wire.xml"})


def test_first_poll_alerts_the_matching_entries_and_delivers_them(rig: Rig) -> None:
    """The first poll queues one alert per matching entry; delivery sends them once."""
    outcome = rig.poll_one()
    assert outcome == PollOutcome("wire", "ok", entries=3, fresh=3, alerts=2)
    assert rig.store.outbox_counts() == {"pending": 2, "delivered": 0, "failed": 0}
    assert rig.deliver() == 2
    assert sorted(rig.sink.titles) == ["NATO summit 2", "NATO summit 3"]
    assert rig.store.outbox_counts() == {"pending": 0, "delivered": 2, "failed": 0}
    state = rig.store.source("wire")
    assert state is not None
    assert (state.first_fetch_done, state.entries_seen, state.last_status) == (True, 3, 200)
    assert state.etag is not None and state.etag.startswith('"live-')
    assert state.next_poll_at >= NOW + INTERVAL / 2
    assert rig.deliver() == 0


def test_backlog_older_than_backfill_is_not_alerted_on_the_first_poll(
    store: Store, feed_server: FeedServer, live: LiveFeed
) -> None:
    """A first poll a week after the items were published alerts none of them."""
    rig = Rig(store, feed_server, {"wire": "/wire.xml"})
    rig.clock.advance(timedelta(days=7))
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=3, fresh=3, alerts=0)
    live.add_items(1, title="NATO ministers meet")
    rig.next_poll()
    assert rig.poll_one().alerts == 1  # not a first poll any more: new items alert
    rig.deliver()
    assert rig.sink.titles == ["NATO ministers meet 4"]


def test_a_second_full_fetch_of_the_same_feed_repeats_nothing(rig: Rig, live: LiveFeed) -> None:
    """Fetching the same items again (a 200 without validators) queues no alert."""
    rig.poll_one()
    rig.deliver()
    rig.server.script("/wire.xml", Reply(body=live.render()))  # no ETag: a full body
    rig.next_poll()
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=3, fresh=0, alerts=0)
    assert rig.deliver() == 0
    assert len(rig.sink.sent) == 2


def test_only_new_items_alert(rig: Rig, live: LiveFeed) -> None:
    """Items added between polls alert; the ones already seen do not."""
    rig.poll_one()
    rig.deliver()
    first = {a.alert_id for a in rig.sink.sent}
    live.add_items(2, title="Ceasefire talks")
    live.add_items(1, title="Weather outlook")
    rig.next_poll()
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=6, fresh=3, alerts=2)
    rig.deliver()
    assert sorted(rig.sink.titles[2:]) == ["Ceasefire talks 4", "Ceasefire talks 5"]
    assert len({a.alert_id for a in rig.sink.sent}) == 4
    assert first < {a.alert_id for a in rig.sink.sent}


def test_changed_guids_and_new_dates_repeat_nothing(rig: Rig, live: LiveFeed) -> None:
    """A CMS that re-issues every GUID and re-dates every item causes no new alert."""
    rig.poll_one()
    rig.deliver()
    live.change_guids()
    rig.next_poll()
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=3, fresh=0, alerts=0)
    live.redate(timedelta(hours=2))
    rig.next_poll()
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=3, fresh=0, alerts=0)
    assert rig.deliver() == 0
    assert len(rig.sink.sent) == 2


def test_same_story_under_a_new_link_or_a_retouched_title_repeats_nothing(
    rig: Rig, live: LiveFeed
) -> None:
    """Identity is also the canonical link and the normalised title, not just the GUID."""
    rig.poll_one()
    rig.deliver()
    newest, older = live.items[0], live.items[1]
    # New GUID and tracking parameters on the same link: the canonical link is unchanged.
    newest.guid, newest.link = "moved-1", newest.link + "?utm_source=rss&utm_medium=feed"
    # New GUID and a new link, but the same title up to case and punctuation.
    older.guid, older.link = "moved-2", "https://live.example.com/2025/06/nato-summit-2"
    older.title = "NATO Summit — 2"
    live.version += 1
    rig.next_poll()
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=3, fresh=0, alerts=0)
    assert rig.deliver() == 0


def test_unchanged_feed_is_a_304_sent_with_if_none_match(rig: Rig) -> None:
    """The second poll sends the ETag back, gets 304 and records not-modified."""
    rig.poll_one()
    first = rig.store.source("wire")
    assert first is not None and first.etag is not None
    etag = first.etag
    rig.next_poll()
    polled_at = rig.clock()
    assert rig.poll_one() == PollOutcome("wire", "not-modified")
    requests = rig.server.requests_to("/wire.xml")
    assert len(requests) == 2
    assert "if-none-match" not in requests[0].headers
    assert requests[1].headers["if-none-match"] == etag
    state = rig.store.source("wire")
    assert state is not None
    assert (state.last_status, state.etag, state.last_success_at) == (304, etag, polled_at)
    assert polled_at + INTERVAL / 2 <= state.next_poll_at < polled_at + INTERVAL * 3 / 2
    assert rig.store.outbox_counts()["pending"] == 2  # from the first poll only


def test_max_age_holds_the_source_off(store: Store, feed_server: FeedServer) -> None:
    """Cache-Control max-age of 2 hours on a 10-minute source puts the next poll 2 h out."""
    feed_server.live("/cached.xml", max_age=7200).add_items(1, title="NATO summit")
    rig = Rig(store, feed_server, {"wire": "/cached.xml"})
    rig.poll_one()
    state = store.source("wire")
    assert state is not None
    assert NOW + timedelta(hours=2) <= state.next_poll_at < NOW + timedelta(hours=2) + INTERVAL


FAILURES = [
    pytest.param("/status/500", "HTTP 500 Internal Server Error", 500, id="http-500"),
    pytest.param(
        "/feeds/malformed.xml", "XML error at line 3: mismatched tag", 200, id="malformed"
    ),
    pytest.param("/feeds/not_a_feed.html", "not a feed: got an HTML page", 200, id="html"),
    pytest.param("/big?size=2097152", "body larger than 1 MB", 200, id="oversized"),
]


@pytest.mark.parametrize(("path", "error", "status"), FAILURES)
def test_failing_source_records_a_readable_error_and_backs_off(
    store: Store, feed_server: FeedServer, path: str, error: str, status: int
) -> None:
    """A feed that fails records its one-line error and waits one, then two intervals."""
    rig = Rig(store, feed_server, {"wire": path})
    assert rig.poll_one() == PollOutcome("wire", "failed", error=error)
    state = store.source("wire")
    assert state is not None
    assert (state.last_error, state.last_status, state.consecutive_failures) == (error, status, 1)
    assert state.next_poll_at == NOW + INTERVAL
    assert (state.first_fetch_done, state.lease_until, state.disabled_reason) == (False, None, None)
    rig.clock.advance(INTERVAL)
    assert rig.poll_one().status == "failed"
    state = store.source("wire")
    assert state is not None
    assert state.next_poll_at == NOW + INTERVAL + 2 * INTERVAL
    assert state.consecutive_failures == 2
    assert rig.notices.texts == []


def test_retry_after_puts_the_next_poll_off(store: Store, feed_server: FeedServer) -> None:
    """503 with Retry-After: 7200 is not retried now and is polled again in two hours."""
    rig = Rig(store, feed_server, {"wire": "/status/503?retry_after=7200"})
    assert rig.poll_one().error == "HTTP 503 Service Unavailable"
    state = store.source("wire")
    assert state is not None
    assert state.next_poll_at == NOW + timedelta(hours=2)
    assert len(feed_server.requests) == 1


def test_one_failing_source_does_not_stop_the_others(
    store: Store, feed_server: FeedServer, live: LiveFeed
) -> None:
    """A broken feed fails alone: the good one in the same pass still alerts."""
    rig = Rig(store, feed_server, {"broken": "/feeds/not_a_feed.html", "wire": "/wire.xml"})
    outcomes = {o.source_id: o for o in rig.poll()}
    assert outcomes["broken"].status == "failed"
    assert outcomes["wire"] == PollOutcome("wire", "ok", entries=3, fresh=3, alerts=2)


def test_source_is_disabled_after_max_failures_with_exactly_one_notice(
    store: Store, feed_server: FeedServer, live: LiveFeed
) -> None:
    """Three failures in a row disable the source, tell the admins once, and stop polling."""
    feed_server.script("/wire.xml", *[Reply(status=500)] * 3)
    rig = Rig(store, feed_server, {"wire": "/wire.xml"}, max_failures=3)
    outcomes = []
    for _ in range(3):
        rig.next_poll()
        outcomes.append(rig.poll_one())
    assert [o.disabled for o in outcomes] == [False, False, True]
    state = store.source("wire")
    assert state is not None
    assert state.disabled_reason == (
        "disabled after 3 consecutive failures; last: HTTP 500 Internal Server Error"
    )
    assert rig.notices.texts == [
        f"source 'wire' ({feed_server.url('/wire.xml')}) disabled after 3 consecutive failures;"
        " last: HTTP 500 Internal Server Error. Re-enable it with"
        " `signalwatch sources enable wire` once it is fixed."
    ]
    for _ in range(3):  # a disabled source is never claimed, however late it gets
        rig.clock.advance(timedelta(days=2))
        assert rig.poll() == []
    assert rig.poll(force=True) == []
    assert len(rig.notices.texts) == 1
    assert len(feed_server.requests_to("/wire.xml")) == 3

    store.set_source_enabled("wire", True, rig.clock())
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=3, fresh=3, alerts=0)
    state = store.source("wire")
    assert state is not None
    assert (state.disabled_reason, state.consecutive_failures, state.last_error) == (None, 0, None)
    assert len(rig.notices.texts) == 1


def test_re_enabled_source_alerts_new_items(
    store: Store, feed_server: FeedServer, live: LiveFeed
) -> None:
    """After re-enabling, the source is due at once and its fresh items alert as usual."""
    feed_server.script("/wire.xml", Reply(status=500))
    rig = Rig(store, feed_server, {"wire": "/wire.xml"}, max_failures=1)
    assert rig.poll_one().disabled is True
    store.set_source_enabled("wire", True, rig.clock())
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=3, fresh=3, alerts=2)
    rig.deliver()
    assert sorted(rig.sink.titles) == ["NATO summit 2", "NATO summit 3"]
    assert rig.notices.texts[0].startswith("source 'wire' (")


def test_future_dated_backlog_is_treated_as_undated(store: Store, feed_server: FeedServer) -> None:
    """A first poll does not alert an old item whose feed claims it is from 2031."""
    feed_server.put(
        "/future.xml",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>NATO summit ends</title><link>https://x.example.com/1</link>"
        b"<guid>f-1</guid><pubDate>Mon, 01 Jan 2031 00:00:00 GMT</pubDate></item>"
        b"</channel></rss>",
    )
    rig = Rig(store, feed_server, {"wire": "/future.xml"})
    assert rig.poll_one() == PollOutcome("wire", "ok", entries=1, fresh=1, alerts=0)


def test_flood_guard_across_polls_uses_the_outbox(
    store: Store, feed_server: FeedServer, live: LiveFeed
) -> None:
    """flood_per_hour 3: a first poll of 5 hits gives 3 + a summary; the next poll folds all."""
    live.add_items(3, title="NATO ministers")  # 5 NATO items in all
    rig = Rig(store, feed_server, {"wire": "/wire.xml"}, flood_per_hour=3)
    assert rig.poll_one().alerts == 4
    rig.deliver()
    assert len(rig.sink.sent) == 4
    summary = rig.sink.sent[-1]
    assert summary.title == "2 more hits for nato (over 3 in an hour)"
    kept = {a.title for a in rig.sink.sent[:3]}
    assert isinstance(summary, FloodSummary)
    folded = {item.title for item in summary.items}
    assert kept | folded == {f"NATO summit {n}" for n in (2, 3)} | {
        f"NATO ministers {n}" for n in (4, 5, 6)
    }
    assert not kept & folded
    live.add_items(1, title="NATO envoys")
    rig.next_poll()  # within the hour
    assert rig.poll_one().alerts == 1
    rig.deliver()
    assert rig.sink.titles[-1] == "1 more hits for nato (over 3 in an hour)"
    last = rig.sink.sent[-1]
    assert isinstance(last, FloodSummary)
    assert last.items == (FoldedItem("NATO envoys 7", "https://live.example.com/story/7", "wire"),)


def test_delivery_failure_keeps_the_alert_and_delivers_it_later_once(rig: Rig) -> None:
    """A sink error leaves the alert pending, and the alert queued behind it for the same
    destination waits with it (order kept); after the retry delay both go, once, in order."""
    rig.sink.failures = [DeliveryError("discord is down (HTTP 502)")]
    rig.poll_one()
    assert rig.deliver() == 0  # the first failed; the second waits behind it
    assert rig.store.outbox_counts() == {"pending": 2, "delivered": 0, "failed": 0}
    assert rig.deliver() == 0  # not due again yet
    rig.clock.advance(timedelta(seconds=9))
    assert rig.deliver() == 0
    rig.clock.advance(timedelta(seconds=1))  # 10 s after the first attempt
    assert rig.deliver() == 2
    assert rig.store.outbox_counts() == {"pending": 0, "delivered": 2, "failed": 0}
    assert sorted(rig.sink.titles) == ["NATO summit 2", "NATO summit 3"]
    assert len({a.alert_id for a in rig.sink.sent}) == 2
    assert rig.sink.attempts == 3
    assert rig.notices.texts == []


def test_permanent_delivery_failure_gives_up_and_tells_the_admins(rig: Rig) -> None:
    """PermanentDeliveryError marks the alert failed, notifies, and is never retried."""
    rig.sink.failures = [PermanentDeliveryError("channel 111 was deleted")]
    rig.poll_one()
    rig.deliver()
    assert rig.store.outbox_counts() == {"pending": 0, "delivered": 1, "failed": 1}
    (notice,) = rig.notices.texts
    assert notice.startswith("Cannot deliver to the default channel: channel 111 was deleted.")
    assert "1 alert not delivered" in notice and "`nato`" in notice and "NATO summit" in notice
    rig.clock.advance(timedelta(days=1))
    assert rig.deliver() == 0
    assert rig.sink.attempts == 2


def test_crash_between_send_and_mark_repeats_only_that_alert_after_the_lease(rig: Rig) -> None:
    """A crash right after a send leaves that alert leased; it comes back once, same id."""
    rig.poll_one()

    class Crash(Exception):
        """The process dying between the sink and the outbox."""

    async def crash(_alert: Alert) -> None:
        raise Crash

    deliverer = Deliverer(rig.store, rig.sink, rig.notices, rig.clock, after_send=crash)
    with pytest.raises(Crash):
        run(deliverer.deliver_due())
    (crashed,) = rig.sink.sent
    # The other alert, for the same destination, waits behind the crashed one: order is kept.
    assert rig.deliver() == 0
    assert rig.store.outbox_counts() == {"pending": 2, "delivered": 0, "failed": 0}
    rig.clock.advance(timedelta(minutes=3))  # the crashed deliverer's lease runs out
    assert rig.deliver() == 2
    assert rig.sink.sent[1].alert_id == crashed.alert_id  # the repeat first, then the other
    counts = Counter(a.alert_id for a in rig.sink.sent)
    (other,) = set(counts) - {crashed.alert_id}
    assert counts == {crashed.alert_id: 2, other: 1}
    assert rig.store.outbox_counts() == {"pending": 0, "delivered": 2, "failed": 0}


class StuckFetcher:
    """A fetcher whose requests never finish; `started` is set once one is under way."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def fetch(self, request: FetchRequest) -> FetchResult:
        """Hang until cancelled."""
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


def test_interrupted_forced_poll_leases_its_source_only_briefly(rig: Rig) -> None:
    """`run --all` stopped mid-fetch leaves the source leased for SOURCE_LEASE, not years."""

    async def interrupted() -> None:
        fetcher = StuckFetcher()  # stands in for a Fetcher: the Poller only calls fetch()
        poller = Poller(rig.store, fetcher, lambda: rig.compiled, rig.notices, rig.clock)
        task = asyncio.create_task(poller.poll_due(force=True))
        await asyncio.wait_for(fetcher.started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(interrupted())
    state = rig.store.source("wire")
    assert state is not None and state.lease_until is not None
    assert state.lease_until <= NOW + SOURCE_LEASE
    rig.clock.advance(SOURCE_LEASE + timedelta(seconds=1))
    claimed = rig.store.claim_due_sources(rig.clock(), 10, SOURCE_LEASE)
    assert [s.id for s in claimed] == ["wire"]


def test_unexpected_error_in_one_source_fails_only_that_source(tmp_path: Path) -> None:
    """A bug or store error while polling one source is recorded; the others still poll."""

    class Boom(Poller):
        async def poll(self, source: SourceState) -> PollOutcome:
            if source.id == "bad":
                raise RuntimeError("kaboom")
            return PollOutcome(source.id, "ok")

    store = SQLiteStore(tmp_path / "db.sqlite")
    store.migrate()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    store.sync_sources(
        [
            SourceConfig("bad", "http://x/a", "rss", 600),
            SourceConfig("good", "http://x/b", "rss", 600),
        ],
        now,
    )

    poller = Boom(store, None, lambda: None, Notices(), lambda: now)  # type: ignore[arg-type]
    outcomes = asyncio.run(poller.poll_due())
    by_id = {o.source_id: o for o in outcomes}
    assert by_id["good"].status == "ok"
    assert by_id["bad"].status == "failed"
    assert by_id["bad"].error == "internal error: RuntimeError: kaboom"
    bad = store.source("bad")
    assert bad is not None and bad.consecutive_failures == 1
    assert bad.last_error == "internal error: RuntimeError: kaboom"


def test_a_poll_has_a_time_budget_across_its_retries(store: Store, feed_server: FeedServer) -> None:
    """A server that answers too slowly fails its poll when the budget is spent, retries
    included, instead of holding the source (and its lease) for minutes."""
    rig = Rig(store, feed_server, {"wire": "/slow?delay=5"}, poll_budget=0.3)
    started = time.monotonic()
    outcome = rig.poll_one()
    assert time.monotonic() - started < 4  # well before the server's 5 s
    assert outcome.status == "failed"
    assert outcome.error == "no whole answer within 0.3 s (retries included)"


def test_one_pass_polls_every_source_however_small_the_claim(
    store: Store, feed_server: FeedServer
) -> None:
    """`--once --all` is one pass over every source even when a claim takes fewer (here 1 of
    3 a claim): each is polled, and once."""
    rig = Rig(store, feed_server, {"wire": "/wire.xml", "w2": "/wire.xml", "w3": "/wire.xml"})

    async def go() -> list[PollOutcome]:
        async with Fetcher(FETCH) as fetcher:
            poller = Poller(store, fetcher, lambda: rig.compiled, rig.notices, rig.clock)
            poller.batch = 1
            return await poller.poll_pass(force=True)

    outcomes = run(go())
    assert sorted(o.source_id for o in outcomes) == ["w2", "w3", "wire"]
