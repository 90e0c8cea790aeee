"""The poll → match → alert flow, and delivery from the outbox.

    for source in store.claim_due_sources(now):               leased: no two workers share one
        result  = fetcher.fetch(source)                        Fetched | NotModified | FetchFailed
        entries = parse_feed(result.body)                      ParseError → a failed poll
        fresh   = store.unseen(source, entries)                by key, canonical link, title
        if first poll: fresh older than backfill → seen, silently
        matches = matcher.match(entry) for entry in fresh      the source's signals only
        story   = stories.find(entry)  of the last 48 h, indexed: link, title, near-duplicate text
        alerts  = route(matches)                               once per story, signal, route:
                    a story already announced there          → an update ("+N sources")
                    a digest route                           → a digest item, not an alert
                  | flood guard                              excess folds into one summary
        store.commit_poll(seen, articles, alerts, stories, digest items)   ONE transaction
        store.record_fetch_ok / record_not_modified / record_fetch_failed
    deliver: store.claim_alerts() → sink.send() → store.mark_delivered | mark_failed
             an alert shows the other outlets of its story; an update edits the delivered
             message (or posts one follow-up) through sink.update
    digests: when a route's digest is due → digest_alert(items) → store.commit_digest

`plan_poll` is pure (entries + matches + now → what to store); `Poller` and `Deliverer` are
the thin I/O around it. An entry becomes seen only in the transaction that enqueues its
alerts, and an alert leaves the outbox only after the sink took it, so a crash anywhere
loses nothing; alert ids are stable, so a replayed poll cannot enqueue an alert twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from bot.digest import DigestSchedule, digest_alert
from bot.errors import DeliveryError, ParseError, PermanentDeliveryError
from bot.matching import Matcher
from bot.model import Alert, Entry, Match, StoryUpdate
from bot.schedule import (
    delivery_retry_at,
    next_poll_after_failure,
    next_poll_after_success,
)
from bot.sources.entries import normalised_title
from bot.sources.feeds import parse_feed
from bot.sources.fetch import Fetched, Fetcher, FetchFailed, FetchRequest, NotModified
from bot.sources.search.config import SearchConfig
from bot.sources.search.coverage import search_coverage
from bot.sources.search.pacing import Pacer, min_interval_for_quota
from bot.sources.search.runner import SearchOutcome, run_search
from bot.store import (
    Announcement,
    ArticleRecord,
    DigestItem,
    EntryIdentity,
    KnownStory,
    SourceConfig,
    SourceState,
    Store,
    StoryCopy,
    StoryWrite,
)
from bot.stories import StoryFingerprint, StoryIndex, fingerprint, outlet_key
from bot.watchlist import SourceSpec, Watchlist, search_query

__all__ = [
    "DEFAULT_DESTINATION",
    "Compiled",
    "Deliverer",
    "GivenStories",
    "Notifier",
    "PollOutcome",
    "PollPlan",
    "Poller",
    "Route",
    "Sink",
    "StoredStories",
    "StoryBook",
    "alert_id",
    "close_due_digests",
    "identify",
    "plan_poll",
    "source_configs",
]

log = logging.getLogger("signalwatch.pipeline")

DEFAULT_DESTINATION = "default"  # the sink's default place: a Discord channel or the console
SOURCE_LEASE = timedelta(minutes=2)
ALERT_LEASE = timedelta(minutes=2)
# Copies of one story arriving within this long of its last copy join it instead of alerting.
STORY_WINDOW = timedelta(hours=48)
# A delivered alert younger than this is edited to show new outlets; an older one gets one
# short follow-up instead (readers do not see edits to messages far up the channel).
EDIT_WINDOW = timedelta(hours=6)
UPDATE_PREFIX = "upd-"


class Sink(Protocol):
    """Somewhere alerts go. `send` returns a receipt (e.g. a message id) or raises.

    DeliveryError leaves the alert pending for a retry; PermanentDeliveryError gives it up.
    """

    async def send(self, alert: Alert) -> str | None:
        """Deliver one alert."""
        ...


class UpdatingSink(Sink, Protocol):
    """A sink that can show a story's new outlets on what it delivered (edit or follow up).

    `update` returns the receipt of the message it touched: the original's when it edited
    it, `followup:<id>` when it posted or edited a follow-up. A sink without `update` gets
    the follow-up as an ordinary alert through `send`.
    """

    async def update(self, update: StoryUpdate) -> str | None:
        """Show the story's new outlets."""
        ...


class Notifier(Protocol):
    """Where admin notices go (console log now; the Discord admin channel later)."""

    async def notify(self, text: str) -> None:
        """Tell the admins something needs their attention."""
        ...


def identify(entry: Entry) -> EntryIdentity:
    """What makes an entry the same as one seen before: key, canonical link, title."""
    return EntryIdentity(
        key=entry.key,
        link=entry.link or None,
        title_norm=normalised_title(entry.title) or None,
        published=entry.published,
        # Kept with the seen record so /watch preview can try a new query on recent items.
        title=entry.title,
        summary=entry.summary,
    )


def alert_id(entry: Entry, signal_id: str, destination: str) -> str:
    """A stable id: the same entry, signal and destination always give the same alert."""
    raw = "\x1f".join((entry.source_id, entry.key, signal_id, destination))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def source_configs(watchlist: Watchlist) -> list[SourceConfig]:
    """The watchlist's enabled sources as the store wants them."""
    return [
        SourceConfig(s.id, s.url, s.type, int(s.interval.total_seconds()))
        for s in watchlist.enabled_sources()
    ]


@dataclass(frozen=True)
class Compiled:
    """A validated watchlist with its compiled matcher: what the pipeline runs on."""

    watchlist: Watchlist
    matcher: Matcher

    @classmethod
    def build(cls, watchlist: Watchlist) -> Compiled:
        """Compile the enabled signals of `watchlist`."""
        matcher = Matcher.compile((s.id, s.query) for s in watchlist.enabled_signals())
        return cls(watchlist, matcher)

    def routes(self, signal_id: str) -> list[Route]:
        """Where a signal's hits go (one by one or in a digest); no routes: the default."""
        out = []
        for route in self.watchlist.routes_for(signal_id):
            schedule = route.schedule
            if route.channel is not None:
                out.append(Route(f"channel:{route.channel}", schedule))
            if route.webhook is not None:
                out.append(Route(f"webhook:{route.webhook}", schedule))
        return out or [Route(DEFAULT_DESTINATION)]

    def destinations(self, signal_id: str) -> list[str]:
        """Where a signal's alerts go one by one (digest routes left out)."""
        return [route.destination for route in self.routes(signal_id) if route.digest is None]


@dataclass(frozen=True, slots=True)
class Route:
    """One place a signal's hits go: a destination, and the digest schedule if it has one."""

    destination: str
    digest: DigestSchedule | None = None

    @property
    def label(self) -> str:
        """The route's identity in alert ids and story announcements.

        A plain route is its destination (so alert ids stay what they always were); a digest
        route differs, so one channel can take a signal both one by one and in a digest.
        """
        if self.digest is None:
            return self.destination
        return f"digest:{self.digest.key}:{self.destination}"


@dataclass(frozen=True)
class PollPlan:
    """What one poll stores: entries to mark seen, matched articles, alerts to enqueue,
    story copies to file and digest routes' hits to collect."""

    seen: list[EntryIdentity]
    articles: list[ArticleRecord]
    alerts: list[Alert]
    backfilled: int  # fresh entries marked seen silently (first poll, older than backfill)
    matched: int  # fresh entries that matched at least one signal
    stories: list[StoryWrite] = field(default_factory=list)
    digest_items: list[DigestItem] = field(default_factory=list)
    updates: int = 0  # of `alerts`, story updates ("+N sources") rather than new alerts


def outlet(source_id: str, publisher: str | None, link: str | None) -> str:
    """Who published a copy, as a key every source spells alike (see `outlet_key`)."""
    return outlet_key(link, publisher, source_id)


@dataclass
class _Story:
    """A story as one poll sees it: known before, or started by this poll."""

    fingerprint: StoryFingerprint
    story_id: int | None  # None: new in this poll, stored under `ref`
    ref: str | None
    outlets: list[str]
    announced: dict[tuple[str, str], str]  # (signal id, route label) -> announcing alert id
    fingerprint_written: bool = False


class StoryBook(Protocol):
    """The stored stories a poll files its entries under (the store's, or given in tests)."""

    def index(self) -> StoryIndex[int]:
        """Every story of the window by id, indexed for finding the one an entry repeats."""
        ...

    def story(self, story_id: int) -> KnownStory | None:
        """One story in full: its copies and announcements."""
        ...


@dataclass(frozen=True)
class GivenStories:
    """A StoryBook of stories at hand (no store): for planning in tests and tools."""

    stories: Sequence[KnownStory] = ()

    def index(self) -> StoryIndex[int]:
        """Every story, by id, with its parsed fingerprint."""
        index: StoryIndex[int] = StoryIndex()
        for s in self.stories:
            index.add(s.id, StoryFingerprint.from_text(s.fingerprint))
        return index

    def story(self, story_id: int) -> KnownStory | None:
        """The story with this id, if given."""
        return next((s for s in self.stories if s.id == story_id), None)


class StoredStories:
    """The store's stories of the window, indexed once per process and kept up to date.

    A fingerprint never changes once stored, so each is parsed and indexed once: a poll
    reads only the stories new since the last read (by id), and asks the store again about
    the ones that seem to have left the window (a copy may have joined one since, in this
    process or another), forgetting those that did. The index keeps the few thousand
    fingerprints last used and loads others by id; copies and announcements are loaded only
    for the stories an entry joins. Set `now` before a poll reads the index.
    """

    def __init__(self, store: Store, window: timedelta = STORY_WINDOW):
        self.store = store
        self.window = window
        self.now: datetime | None = None
        self._index: StoryIndex[int] = StoryIndex(self._load)
        # A heap of (last seen, id) packed into one int each (see _pack): as true as when
        # pushed; a story is asked about again when its entry reaches the top.
        self._expiry: list[int] = []
        self._after_id = 0

    def index(self) -> StoryIndex[int]:
        """Every story seen in the window ending at `now`, by id."""
        if self.now is None:
            raise RuntimeError("StoredStories.now must be set before a poll reads stories")
        since = self.now - self.window
        for story_id, text, last_seen in self.store.recent_story_fingerprints(
            since, after_id=self._after_id
        ):
            self._index.add(story_id, StoryFingerprint.from_text(text))
            heapq.heappush(self._expiry, _pack(last_seen, story_id))
            self._after_id = max(self._after_id, story_id)
        bound = _pack(since, 0)
        leaving: list[int] = []
        while self._expiry and self._expiry[0] < bound:
            leaving.append(heapq.heappop(self._expiry) & _ID_MASK)
        if leaving:
            lately = self.store.stories_last_seen(leaving)
            for story_id in leaving:
                seen_at = lately.get(story_id)
                if seen_at is not None and seen_at >= since:
                    heapq.heappush(self._expiry, _pack(seen_at, story_id))  # a copy joined it
                else:
                    self._index.remove(story_id)
        return self._index

    def _load(self, story_ids: list[int]) -> dict[int, StoryFingerprint]:
        texts = self.store.story_fingerprints(story_ids)
        return {story_id: StoryFingerprint.from_text(text) for story_id, text in texts.items()}

    def story(self, story_id: int) -> KnownStory | None:
        """One story in full, from the store."""
        return self.store.story(story_id)


_ID_BITS = 40
_ID_MASK = (1 << _ID_BITS) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _pack(at: datetime, story_id: int) -> int:
    """(microseconds since 1970, id) as one int that sorts as the pair does (ids < 2**40)."""
    if not 0 <= story_id <= _ID_MASK:
        raise ValueError(f"story id {story_id} does not fit in {_ID_BITS} bits")
    return ((at - _EPOCH) // timedelta(microseconds=1)) << _ID_BITS | story_id


class _StoryIndex:
    """The stories of the window, read only when a poll has a match, plus this poll's new ones.

    The stored ones come first: between equal answers, a stored story wins over one this poll
    started, as it would in one list of the stored stories followed by the new ones.
    """

    def __init__(self, book: StoryBook):
        self._book = book
        self._stored: StoryIndex[int] | None = None
        self._loaded: dict[int, _Story] = {}  # stored stories a copy joined in this poll
        self._new: StoryIndex[int] = StoryIndex()  # stories this poll started, by position
        self._new_stories: list[_Story] = []

    def file(self, entry: Entry) -> _Story:
        """The story `entry` belongs to; a new one (kept for the rest of the poll) if none."""
        if self._stored is None:
            self._stored = self._book.index()
        candidate = fingerprint(entry.title, entry.summary, entry.link)
        stored = self._stored.match(candidate)
        new = self._new.match(candidate)
        if new is not None and new.beats(stored):
            return self._new_stories[new.key]
        if stored is not None:
            story = self._loaded.get(stored.key)
            if story is None:  # a stored story, read in full the first time a copy joins it
                fp = self._stored.fingerprint(stored.key)
                known = self._book.story(stored.key)
                story = _known(known, fp) if known else _Story(fp, stored.key, None, [], {})
                self._loaded[stored.key] = story
            return story
        story = _Story(candidate, None, entry.key, [], {})
        self._new.add(len(self._new_stories), candidate)
        self._new_stories.append(story)
        return story


def _known(story: KnownStory, fp: StoryFingerprint) -> _Story:
    """A stored story as a poll sees it: its outlets so far and where it was announced."""
    return _Story(
        fingerprint=fp,
        story_id=story.id,
        ref=None,
        outlets=list(dict.fromkeys(outlet(c.source_id, c.publisher, c.link) for c in story.copies)),
        announced={(a.signal_id, a.destination): a.alert_id for a in story.announced},
        fingerprint_written=True,
    )


def _alert(entry: Entry, match: Match, route: Route, severity: str) -> Alert:
    return _entry_alert(
        entry, match, route.destination, severity, alert_id(entry, match.signal_id, route.label)
    )


def _update_alert(
    entry: Entry, match: Match, destination: str, severity: str, original: str, outlets: int
) -> Alert:
    """An update to the alert `original`: its story now has `outlets` outlets.

    The id is stable (a replayed poll enqueues nothing new) and starts with UPDATE_PREFIX,
    which the flood count skips. What the update shows is read from the store when it is
    delivered, so several updates queued for one story all show its latest state.
    """
    return replace(
        _entry_alert(entry, match, destination, severity, f"{UPDATE_PREFIX}{original}-{outlets}"),
        extra={"update_of": original},
    )


def _entry_alert(
    entry: Entry, match: Match, destination: str, severity: str, alert_id: str
) -> Alert:
    """The alert that tells `destination` of `entry` matching `match`."""
    return Alert(
        alert_id=alert_id,
        signal_id=match.signal_id,
        destination=destination,
        title=entry.title,
        link=entry.link,
        source_id=entry.source_id,
        published=entry.published,
        terms=tuple(match.terms),
        snippet=match.snippet,
        severity=severity,
        publisher=entry.publisher,
    )


def _summary_alert(
    signal_id: str, destination: str, folded: Sequence[Alert], severity: str, limit: int
) -> Alert:
    """One alert standing for `folded` alerts past the flood limit."""
    digest = hashlib.sha256("\x1f".join(a.alert_id for a in folded).encode()).hexdigest()[:32]
    return Alert(
        alert_id=f"flood-{digest}",
        signal_id=signal_id,
        destination=destination,
        title=f"{len(folded)} more hits for {signal_id} (over {limit} in an hour)",
        link=None,
        source_id=folded[0].source_id,
        published=None,
        terms=tuple(dict.fromkeys(t for a in folded for t in a.terms)),
        snippet="",
        severity=severity,
        extra={
            "flood": True,
            "items": [
                {"title": a.title, "link": a.link, "source": a.source_id} for a in folded[:25]
            ],
        },
    )


def plan_poll(
    compiled: Compiled,
    source_id: str,
    fresh: Sequence[Entry],
    now: datetime,
    *,
    first_poll: bool,
    backfill: timedelta,
    sent_last_hour: Callable[[str], int],
    stories: StoryBook = GivenStories(),
) -> PollPlan:
    """Decide what a poll stores, given the entries not seen before. Pure but for the
    counter and the story book, which read the store (`stories` only when something matched).

    On a source's first poll, entries older than `backfill` (or undated) are backlog: seen,
    never alerted. A matched entry joins the story it repeats (`stories`: those of the
    window) or starts one; each story is announced once per signal and route, and a
    copy from a new outlet of a story already announced becomes an update of that alert.
    A digest route's hits are collected for its digest instead of alerting. Past
    `flood_per_hour` hits (entries) for one signal in the last hour, the rest of this poll's
    alerts for it fold into one summary alert per destination.
    """
    watchlist = compiled.watchlist
    source = _source_spec(watchlist, source_id)
    scope = None if source is None or source.signals is None else set(source.signals)
    limit = watchlist.defaults.flood_per_hour
    seen = [identify(e) for e in fresh]
    articles: list[ArticleRecord] = []
    per_signal: dict[str, list[tuple[str, Alert]]] = {}  # (entry key, alert), entry-major
    updates: list[Alert] = []
    story_writes: list[StoryWrite] = []
    digest_items: list[DigestItem] = []
    index = _StoryIndex(stories)
    backfilled = 0
    for entry in fresh:
        if first_poll and (entry.published is None or entry.published < now - backfill):
            backfilled += 1
            continue
        matches = [
            m
            for m in compiled.matcher.match(entry.title, entry.summary)
            if scope is None or m.signal_id in scope
        ]
        if not matches:
            continue
        articles.append(ArticleRecord.from_matches(entry, matches, now))
        story = index.file(entry)
        copy_outlet = outlet(entry.source_id, entry.publisher, entry.link)
        new_outlet = copy_outlet not in story.outlets
        if new_outlet:
            story.outlets.append(copy_outlet)
        announced: list[Announcement] = []
        for match in matches:
            severity = watchlist.signal(match.signal_id).severity
            for route in compiled.routes(match.signal_id):
                told = (match.signal_id, route.label)
                original = story.announced.get(told)
                if original is not None:
                    # Told already. A story known before this poll gets an update when a new
                    # outlet joins; one started in this poll shows its copies when delivered.
                    if route.digest is None and new_outlet and story.story_id is not None:
                        updates.append(
                            _update_alert(
                                entry,
                                match,
                                route.destination,
                                severity,
                                original,
                                len(story.outlets),
                            )
                        )
                    continue
                alert = _alert(entry, match, route, severity)
                story.announced[told] = alert.alert_id
                announced.append(Announcement(match.signal_id, route.label, alert.alert_id))
                if route.digest is not None:
                    digest_items.append(DigestItem(route.digest.key, alert))
                else:
                    per_signal.setdefault(match.signal_id, []).append((entry.key, alert))
        story_writes.append(_story_write(entry, story, announced))
    alerts: list[Alert] = []
    for signal_id, batch in per_signal.items():
        # The limit counts entries (hits), as the batch does: the outbox holds one alert per
        # entry per destination, so alerts sent this hour stand for that many times fewer.
        fanout = len(compiled.destinations(signal_id))
        room = max(0, limit - math.ceil(sent_last_hour(signal_id) / fanout))
        if len({key for key, _ in batch}) <= room:
            alerts.extend(alert for _, alert in batch)
            continue
        # Keep the first `room` entries whole; fold the rest, per destination.
        kept: set[str] = set()
        folded: dict[str, list[Alert]] = {}
        for key, alert in batch:
            if key in kept or len(kept) < room:
                kept.add(key)
                alerts.append(alert)
            else:
                folded.setdefault(alert.destination, []).append(alert)
        severity = watchlist.signal(signal_id).severity
        for destination, group in folded.items():
            alerts.append(_summary_alert(signal_id, destination, group, severity, limit))
    # Updates edit what was already counted against the flood limit: never folded.
    alerts.extend(updates)
    return PollPlan(
        seen,
        articles,
        alerts,
        backfilled,
        len(articles),
        stories=story_writes,
        digest_items=digest_items,
        updates=len(updates),
    )


def _story_write(entry: Entry, story: _Story, announced: list[Announcement]) -> StoryWrite:
    """How the store files `entry` under `story`; the first write of a new story carries
    its fingerprint."""
    copy = StoryCopy(entry.source_id, entry.key, entry.title, entry.link, entry.publisher)
    if story.story_id is not None:
        return StoryWrite(copy, story_id=story.story_id, announced=tuple(announced))
    first = not story.fingerprint_written
    story.fingerprint_written = True
    return StoryWrite(
        copy,
        new_ref=story.ref,
        fingerprint=story.fingerprint.to_text() if first else None,
        announced=tuple(announced),
    )


def _source_spec(watchlist: Watchlist, source_id: str) -> SourceSpec | None:
    """The watchlist's source with this id, or None (removed since the poll was claimed)."""
    try:
        return watchlist.source(source_id)
    except KeyError:
        return None


@dataclass
class PollOutcome:
    """What one poll of one source did, for logs and tests."""

    source_id: str
    status: str  # "ok", "not-modified", "failed", "deferred" (a search the API paused)
    entries: int = 0
    fresh: int = 0
    alerts: int = 0
    error: str | None = None
    disabled: bool = False


class StoreQuota:
    """The store as the news-API quota ledger: request counts survive restarts."""

    def __init__(self, store: Store):
        self.store = store

    def calls_on(self, api: str, day: date) -> int:
        """Requests made to `api` on that UTC day."""
        return self.store.api_calls_on(api, day)

    def add_calls(self, api: str, day: date, n: int) -> None:
        """Count `n` more requests to `api` on that UTC day."""
        self.store.add_api_calls(api, day, n)


def search_config(spec: SourceSpec, environ: Mapping[str, str]) -> SearchConfig:
    """A news-API source of the watchlist as the search adapters want it, key included."""
    key_env = spec.api_key_env
    key = None
    if key_env is not None:
        key = environ.get(key_env, "").strip() or None
    return SearchConfig(
        source_id=spec.id,
        type=spec.type,  # type: ignore[arg-type]  # is_search: one of the API types
        base_url=spec.url,
        key=key,
        language=spec.language,
        country=spec.country,
        daily_quota=spec.daily_quota,
        backfill=spec.backfill,
    )


def search_interval(spec: SourceSpec, config: SearchConfig, signals: int) -> timedelta:
    """How often a news-API source is searched: its interval, or longer where the daily quota
    cannot pay for one request per signal that often."""
    if config.quota is None or signals == 0:
        return spec.interval
    return max(spec.interval, min_interval_for_quota(signals, config.quota))


@dataclass
class Poller:
    """Claims due sources, fetches (or searches), parses, plans and commits each poll.

    `pacer` spaces news-API requests per API across sources; `environ` holds their keys.
    """

    store: Store
    fetcher: Fetcher
    compiled: Callable[[], Compiled]  # the live watchlist (hot reload swaps it)
    notifier: Notifier
    clock: Callable[[], datetime]
    max_failures: int = 10
    batch: int = 256
    pacer: Pacer = field(default_factory=lambda: Pacer(time.monotonic, asyncio.sleep))
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    # (source, signal, reason) already logged as unsearchable: said once, not every poll
    told_unsearchable: set[tuple[str, str, str]] = field(default_factory=set, repr=False)
    story_book: StoredStories | None = field(default=None, repr=False)
    # searches running in the background, by source id (see poll_due)
    _searching: dict[str, asyncio.Task[PollOutcome]] = field(
        default_factory=dict, init=False, repr=False
    )

    async def poll_due(
        self, *, force: bool = False, wait_for_searches: bool = True
    ) -> list[PollOutcome]:
        """Poll every due source (every enabled source with `force`) once, concurrently.

        A news-API search spends most of its time waiting for its API's pace (GDELT: 5 s a
        signal). With `wait_for_searches=False` (the run loop) searches go on in the
        background and this returns once the feeds are done, so feed alerts are delivered
        without waiting for them; a finished search's outcome comes with a later call. A
        source still being searched is not started twice.
        """
        claimed = await asyncio.to_thread(
            self.store.claim_due_sources, self.clock(), self.batch, SOURCE_LEASE, force=force
        )
        feeds: list[SourceState] = []
        for source in claimed:
            if source.type == "rss":
                feeds.append(source)
            elif source.id not in self._searching:
                self._searching[source.id] = asyncio.create_task(self._poll_guarded(source))
        results = list(await asyncio.gather(*(self._poll_guarded(s) for s in feeds)))
        if wait_for_searches and self._searching:
            await asyncio.wait(self._searching.values())
        for source_id, task in list(self._searching.items()):
            if task.done():
                del self._searching[source_id]
                results.append(task.result())
        return results

    async def cancel_searches(self) -> None:
        """Stop the searches still running: nothing of an unfinished poll was committed, and
        their sources' leases expire, so they are searched again later."""
        tasks = list(self._searching.values())
        self._searching.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll_guarded(self, source: SourceState) -> PollOutcome:
        """Poll one source; an unexpected error (our bug, the database) fails that source only.

        The poll's own transaction was not committed, so nothing of it is lost; the source is
        recorded as failing (and backs off) while every other source goes on.
        """
        try:
            return await self.poll(source)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("polling %s failed unexpectedly", source.id)
            error = f"internal error: {type(exc).__name__}: {exc}"
            try:
                return await self._failed(source, self.clock(), error, None, None)
            except Exception:  # the store itself is failing: leave the lease to expire
                log.exception("could not record the failure of %s", source.id)
                return PollOutcome(source.id, "failed", error=error)

    async def poll(self, source: SourceState) -> PollOutcome:
        """Poll one claimed source; never raises for a feed's fault."""
        compiled = self.compiled()
        spec = _source_spec(compiled.watchlist, source.id)
        if spec is not None and spec.is_search:
            return await self._search(source, spec, compiled)
        request = FetchRequest(source.id, source.url, source.etag, source.last_modified)
        result = await self.fetcher.fetch(request)
        now = self.clock()
        interval = timedelta(seconds=source.interval_s)
        if isinstance(result, NotModified):
            next_at = next_poll_after_success(source.id, interval, now, result.max_age)
            self.store.record_not_modified(source.id, now, next_poll_at=next_at)
            log.info("polled %s: not modified", source.id)
            return PollOutcome(source.id, "not-modified")
        if isinstance(result, FetchFailed):
            return await self._failed(source, now, result.error, result.status, result.retry_after)
        assert isinstance(result, Fetched)
        try:
            # `now` turns dates far in the future (feed bugs) into "undated": as backlog on a
            # first poll they must not pass for news.
            feed = parse_feed(
                source.id,
                result.body,
                url=result.final_url,
                content_type=result.content_type,
                now=now,
            )
        except ParseError as exc:
            return await self._failed(source, now, str(exc), result.status, None)
        fresh, plan, queued = self._commit(compiled, source, feed.entries, now)
        next_at = next_poll_after_success(source.id, interval, now, result.max_age)
        self.store.record_fetch_ok(
            source.id,
            now,
            status=result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            next_poll_at=next_at,
            entries_seen_delta=len(fresh),
        )
        log.info(
            "polled %s: %d entries, %d new%s, %d matched, %d alerts queued%s%s",
            source.id,
            len(feed.entries),
            len(fresh),
            f" ({plan.backfilled} backlog, not alerted)" if plan.backfilled else "",
            plan.matched,
            queued,
            f" ({plan.updates} story updates)" if plan.updates else "",
            f", {len(plan.digest_items)} kept for digests" if plan.digest_items else "",
        )
        return PollOutcome(source.id, "ok", len(feed.entries), len(fresh), queued)

    def _commit(
        self, compiled: Compiled, source: SourceState, entries: Sequence[Entry], now: datetime
    ) -> tuple[list[Entry], PollPlan, int]:
        """Plan what the entries not seen before mean and store it in one transaction."""
        fresh = self.store.unseen(source.id, entries, identify)
        plan = plan_poll(
            compiled,
            source.id,
            fresh,
            now,
            first_poll=not source.first_fetch_done,
            backfill=self._backfill(compiled, source.id),
            sent_last_hour=lambda sid: self.store.alerts_for_signal_since(
                sid, now - timedelta(hours=1)
            ),
            stories=self._stories(now),
        )
        queued = self.store.commit_poll(
            source.id,
            now,
            seen=plan.seen,
            articles=plan.articles,
            alerts=plan.alerts,
            stories=plan.stories,
            digest_items=plan.digest_items,
        )
        return fresh, plan, queued

    async def _search(
        self, source: SourceState, spec: SourceSpec, compiled: Compiled
    ) -> PollOutcome:
        """Search a news API once per signal in the source's scope, each from its own cursor.

        A signal's cursor (the end of the last window searched for it without an error) moves
        on only when its request went through, so a signal that failed, or that the daily
        quota or a pause left out, is searched next time from where it stood: nothing in
        between is missed, and what was seen is not alerted twice. Signals furthest behind go
        first, so a tight quota cannot starve the same ones every day. The poll fails (and
        the source backs off) only when nothing went through or the API refused us outright
        (401, 429); otherwise the failed signals are the source's warning.
        """
        config = search_config(spec, self.environ)
        signals = compiled.watchlist.signals_for(spec)
        coverage = search_coverage(spec.type, [(s.id, search_query(s)) for s in signals])
        for signal_id, reason in coverage.unsearchable.items():
            if (spec.id, signal_id, reason) not in self.told_unsearchable:
                self.told_unsearchable.add((spec.id, signal_id, reason))
                log.warning(
                    "%s cannot search for signal '%s' (%s); give the signal a `search:`"
                    " query the API can say. Its feeds still cover it.",
                    config.api_name,
                    signal_id,
                    reason,
                )
        cursors = self.store.search_cursors(source.id)
        # A signal with no cursor yet is searched over the backfill, except on a source that
        # polled before cursors existed (no cursors at all): there its last success stands.
        legacy = source.last_success_at if source.first_fetch_done and not cursors else None
        starts = {sid: cursors.get(sid, legacy) for sid, _ in coverage.searchable}
        oldest = datetime.min.replace(tzinfo=UTC)
        queries = sorted(coverage.searchable, key=lambda q: starts[q[0]] or oldest)
        window_end = self.clock()
        outcome: SearchOutcome = await run_search(
            config,
            queries,
            None,
            window_end,
            fetcher=self.fetcher,
            pacer=self.pacer,
            quota=StoreQuota(self.store),
            since_by_signal={sid: t for sid, t in starts.items() if t is not None},
        )
        now = self.clock()
        nothing = not (outcome.searched or outcome.errors or outcome.entries)
        if outcome.retry_in is not None and nothing:
            # Paused by a Retry-After another source was given, before anything was asked:
            # nothing to store; come back when the pause ends.
            next_at = now + timedelta(seconds=outcome.retry_in)
            self.store.reschedule_source(source.id, now, next_poll_at=next_at)
            log.info(
                "%s is paused (%s asked us to wait); next search %s",
                source.id,
                config.api_name,
                next_at.isoformat(timespec="seconds"),
            )
            return PollOutcome(source.id, "deferred")
        fresh, plan, queued = self._commit(compiled, source, outcome.entries, now)
        # After the commit: a crash between the two searches a window again, never skips one.
        self.store.advance_search_cursors(source.id, outcome.searched)
        refused = outcome.status in (401, 429)
        if outcome.errors and (refused or not outcome.searched):
            error = "; ".join(outcome.errors)
            failed = await self._failed(source, now, error, outcome.status, outcome.retry_after)
            failed.entries, failed.fresh, failed.alerts = len(outcome.entries), len(fresh), queued
            return failed
        interval = search_interval(spec, config, self._requests_per_poll(compiled, spec))
        next_at = next_poll_after_success(source.id, interval, now)
        if outcome.retry_in is not None:
            next_at = max(next_at, now + timedelta(seconds=outcome.retry_in))
        if outcome.quota_exhausted and outcome.next_quota_reset is not None:
            next_at = max(next_at, outcome.next_quota_reset)
            log.warning(
                "searched %s: daily quota of %s %s requests used; %d of %d signals searched;"
                " next search %s",
                source.id,
                config.quota,
                config.api_name,
                len(outcome.searched),
                len(queries),
                next_at.isoformat(timespec="seconds"),
            )
        warning = "; ".join([*outcome.errors, *outcome.warnings]) or None
        if warning:
            log.warning("searched %s with trouble: %s", source.id, warning)
        self.store.record_fetch_ok(
            source.id,
            now,
            status=outcome.status or 200,
            etag=None,
            last_modified=None,
            next_poll_at=next_at,
            entries_seen_delta=len(fresh),
            warning=warning,
        )
        log.info(
            "searched %s (%s, %d requests): %d entries, %d new, %d matched, %d alerts queued",
            source.id,
            config.api_name,
            outcome.requests,
            len(outcome.entries),
            len(fresh),
            plan.matched,
            queued,
        )
        return PollOutcome(source.id, "ok", len(outcome.entries), len(fresh), queued)

    @staticmethod
    def _requests_per_poll(compiled: Compiled, spec: SourceSpec) -> int:
        """Requests one round of every enabled source of this API makes: they share its quota."""
        watchlist = compiled.watchlist
        return sum(
            len(watchlist.signals_for(other))
            for other in watchlist.enabled_sources()
            if other.type == spec.type
        )

    def _stories(self, now: datetime) -> StoredStories:
        """The stored stories of the window ending now (fingerprints parsed once a process)."""
        if self.story_book is None:
            self.story_book = StoredStories(self.store)
        self.story_book.now = now
        return self.story_book

    def _backfill(self, compiled: Compiled, source_id: str) -> timedelta:
        spec = _source_spec(compiled.watchlist, source_id)
        return spec.backfill if spec is not None else compiled.watchlist.defaults.backfill

    async def _failed(
        self,
        source: SourceState,
        now: datetime,
        error: str,
        status: int | None,
        retry_after: float | None,
    ) -> PollOutcome:
        plan = next_poll_after_failure(
            timedelta(seconds=source.interval_s),
            now,
            consecutive_failures=source.consecutive_failures + 1,
            retry_after=retry_after,
            error=error,
            max_failures=self.max_failures,
        )
        self.store.record_fetch_failed(
            source.id,
            now,
            error=error,
            status=status,
            next_poll_at=plan.next_poll_at,
            disable_reason=plan.disable_reason,
        )
        log.warning(
            "polled %s: failed (%d in a row): %s; next try %s",
            source.id,
            source.consecutive_failures + 1,
            error,
            plan.next_poll_at.isoformat(timespec="seconds"),
        )
        if plan.disable_reason:
            await self.notifier.notify(
                f"source '{source.id}' ({source.url}) {plan.disable_reason}. "
                f"Re-enable it with `signalwatch sources enable {source.id}` once it is fixed."
            )
        return PollOutcome(
            source.id, "failed", error=error, disabled=plan.disable_reason is not None
        )


@dataclass
class Deliverer:
    """Moves alerts from the outbox to a sink: claim → send → mark."""

    store: Store
    sink: Sink
    notifier: Notifier
    clock: Callable[[], datetime]
    # One alert per claim: a deliverer only ever holds the lease of the alert it is sending,
    # so a stopped or killed process delays (or repeats) that one alert, not a whole batch.
    batch: int = 1
    # Called after a send and before the outbox is told; tests use it to crash right there.
    after_send: Callable[[Alert], Awaitable[None]] | None = None

    async def deliver_due(self, stop: asyncio.Event | None = None) -> int:
        """Deliver every alert due now; return how many were delivered."""
        delivered = 0
        while stop is None or not stop.is_set():
            now = self.clock()
            claimed = await asyncio.to_thread(self.store.claim_alerts, now, self.batch, ALERT_LEASE)
            if not claimed:
                break
            for pending in claimed:
                if stop is not None and stop.is_set():
                    break  # the rest (batch > 1) stay leased and come back when it ends
                if await self._deliver_one(pending.alert, pending.attempts, pending.created_at):
                    delivered += 1
        return delivered

    def with_story(self, alert: Alert) -> Alert:
        """The alert with its story's other outlets (`extra["also"]`), when it has any."""
        story = self.store.story_of_alert(alert.alert_id)
        if story is None:
            return alert
        own = outlet(alert.source_id, alert.publisher, alert.link)
        also: dict[str, dict[str, object]] = {}
        for copy in story.copies:
            key = outlet(copy.source_id, copy.publisher, copy.link)
            if key != own and key not in also:
                name = copy.publisher or copy.source_id  # the key is for comparing, not reading
                also[key] = {"outlet": name, "title": copy.title, "link": copy.link}
        if not also:
            return alert
        return replace(alert, extra={**alert.extra, "also": list(also.values())})

    async def _send(self, alert: Alert, queued_at: datetime) -> str | None:
        """Send an alert, or for a story update, edit or follow up what was delivered."""
        original_id = alert.extra.get("update_of")
        if not isinstance(original_id, str):
            return await self.sink.send(self.with_story(alert))
        record = self.store.outbox_record(original_id)
        if (
            record is None
            or record.status != "delivered"
            or (record.delivered_at is not None and record.delivered_at > queued_at)
        ):
            # Still queued: it will show every outlet when it goes; delivered after this
            # update was queued: it showed them already; given up: nothing to edit.
            return None
        original = self.with_story(record.alert)
        now = self.clock()
        edit = None
        if record.receipt and record.delivered_at and now - record.delivered_at <= EDIT_WINDOW:
            edit = record.receipt
        else:
            earlier = self.store.last_receipt_like(f"{UPDATE_PREFIX}{original_id}-")
            if earlier is not None and earlier.startswith("followup:"):
                edit = earlier
        update = StoryUpdate(original, edit=edit, reply_to=record.receipt)
        updater = getattr(self.sink, "update", None)
        if updater is not None:
            receipt: str | None = await updater(update)
            return receipt
        return await self.sink.send(followup_alert(update, alert.alert_id))

    async def _deliver_one(self, alert: Alert, attempts: int, queued_at: datetime) -> bool:
        try:
            receipt = await self._send(alert, queued_at)
        except PermanentDeliveryError as exc:
            now = self.clock()
            self.store.mark_failed(
                alert.alert_id, now, error=str(exc), next_attempt_at=now, permanent=True
            )
            log.error("alert %s to %s given up: %s", alert.alert_id, alert.destination, exc)
            await self.notifier.notify(f"alerts for {alert.destination} cannot be delivered: {exc}")
            return False
        except DeliveryError as exc:
            now = self.clock()
            retry = delivery_retry_at(now, attempts)
            self.store.mark_failed(
                alert.alert_id, now, error=str(exc), next_attempt_at=retry, permanent=False
            )
            log.warning(
                "alert %s to %s not delivered (attempt %d): %s; retry at %s",
                alert.alert_id,
                alert.destination,
                attempts,
                exc,
                retry.isoformat(timespec="seconds"),
            )
            return False
        if self.after_send is not None:
            await self.after_send(alert)
        self.store.mark_delivered(alert.alert_id, self.clock(), receipt)
        return True


def followup_alert(update: StoryUpdate, alert_id: str) -> Alert:
    """A story update as an ordinary alert, for sinks that cannot edit what they sent."""
    original = update.original
    names = [str(item.get("outlet")) for item in update.also]
    count = f"+{len(names)} source" + ("" if len(names) == 1 else "s")
    return replace(
        original,
        alert_id=alert_id,
        title=f"{count}: {original.title}",
        snippet="Also reported by " + ", ".join(names) if names else "",
        terms=(),
        extra={**original.extra, "followup": True},
    )


def close_due_digests(store: Store, compiled: Compiled, now: datetime) -> list[Alert]:
    """Enqueue every digest whose time has come; return the digests enqueued.

    A route's waiting hits go out in the digest of the first boundary after the oldest of
    them: each hit in the digest of the period it came in, and after a long stop one digest
    per period that had hits. Each hit shows how many other outlets its story has by now.
    Enqueueing a digest and marking its hits taken is one transaction, and a digest's id is
    its route and boundary, so a crash or a second worker never sends one twice.
    """
    titles = {signal.id: signal.title for signal in compiled.watchlist.signals}
    enqueued: list[Alert] = []
    for waiting in store.open_digests():
        schedule = DigestSchedule.from_key(waiting.schedule)
        boundary = schedule.next_boundary(waiting.oldest)
        left = waiting.items
        while boundary <= now and left > 0:
            items = store.digest_items(waiting.destination, waiting.schedule, boundary)
            left -= len(items)
            if items:
                shown = [_with_outlet_count(store, item) for item in items]
                digest = digest_alert(waiting.destination, schedule, boundary, shown, titles)
                if store.commit_digest(
                    waiting.destination,
                    waiting.schedule,
                    now,
                    item_ids=[item.alert_id for item in items],
                    digest=digest,
                ):
                    enqueued.append(digest)
            boundary = schedule.next_boundary(boundary)
    return enqueued


def _with_outlet_count(store: Store, item: Alert) -> Alert:
    """A digest hit with `extra["sources"]`: how many other outlets its story has."""
    story = store.story_of_alert(item.alert_id)
    if story is None:
        return item
    outlets = {outlet(c.source_id, c.publisher, c.link) for c in story.copies}
    others = len(outlets - {outlet(item.source_id, item.publisher, item.link)})
    return replace(item, extra={**item.extra, "sources": others}) if others else item
