"""Deciding what a poll stores: entries in, a plan out. Pure (`now` passed in) but for the
flood counter and the story book it is given."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.matching.text import EntryText
from bot.model import Alert, Entry, Match
from bot.pipeline.alerts import entry_alert_for_route, summary_alert, update_alert
from bot.pipeline.compiled import Compiled
from bot.pipeline.storybook import (
    GivenStories,
    StoryBook,
    StoryIndexInPoll,
    StoryInPoll,
    entry_fingerprint,
    outlet,
)
from bot.sources.entries import normalised_title
from bot.store import (
    Announcement,
    ArticleRecord,
    DigestItem,
    EntryIdentity,
    Identify,
    StoryCopy,
    StoryWrite,
)
from bot.stories import StoryFingerprint
from bot.watchlist import SourceSpec, Watchlist

__all__ = ["Identities", "PollPlan", "identify", "plan_poll", "source_spec"]

NO_STORIES = GivenStories()  # a poll planned with no stored stories (tests, tools)


class Identities:
    """`identify`, remembered per entry for one poll: `store.unseen` and `plan_poll` both
    need every fresh entry's identity."""

    def __init__(self) -> None:
        self._known: dict[int, tuple[Entry, EntryIdentity]] = {}  # by id(); the entry kept

    def __call__(self, entry: Entry) -> EntryIdentity:
        known = self._known.get(id(entry))
        if known is None or known[0] is not entry:
            known = self._known[id(entry)] = (entry, identify(entry))
        return known[1]


def identify(entry: Entry) -> EntryIdentity:
    """What makes an entry the same as one seen before: key, canonical link, or the same
    headline from the same outlet.

    The headline counts only with its outlet: a feed re-dating or re-GUIDing its own item is
    not new, but another outlet's copy under the same headline (an aggregator carrying two
    outlets, a search API's page) is a new copy of the story, which the story book files.
    """
    title = normalised_title(entry.title)
    return EntryIdentity(
        key=entry.key,
        link=entry.link or None,
        title_norm=f"{outlet(entry.source_id, entry.publisher, entry.link)}|{title}"
        if title
        else None,
        published=entry.published,
        # Kept with the seen record so /watch preview can try a new query on recent items.
        title=entry.title,
        summary=entry.summary,
    )


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


def plan_poll(
    compiled: Compiled,
    source_id: str,
    fresh: Sequence[Entry],
    now: datetime,
    *,
    first_poll: bool,
    backfill: timedelta,
    sent_last_hour: Callable[[str], int],
    stories: StoryBook = NO_STORIES,
    identities: Identify | None = None,
) -> PollPlan:
    """Decide what a poll stores, given the entries not seen before. Pure but for the
    counter and the story book, which read the store (`stories` only when something matched).

    On a source's first poll, entries older than `backfill` (or undated) are backlog: seen,
    never alerted. A matched entry joins the story it repeats (`stories`: those of the
    window) or starts one; each story is announced once per signal and route, and a
    copy from a new outlet of a story already announced becomes an update of that alert.
    A digest route's hits are collected for its digest instead of alerting. Past
    `flood_per_hour` hits (entries) for one signal in the last hour, the rest of this poll's
    alerts for it fold into one summary alert per destination. `identities`: `identify`, or
    one that remembers what the caller's `store.unseen` already worked out (`Identities`).
    """
    watchlist = compiled.watchlist
    source = source_spec(watchlist, source_id)
    scope = None if source is None or source.signals is None else set(source.signals)
    limit = watchlist.defaults.flood_per_hour
    seen = list(map(identities or identify, fresh))
    articles: list[ArticleRecord] = []
    per_signal: dict[str, list[tuple[str, Alert]]] = {}  # (entry key, alert), entry-major
    updates: list[Alert] = []
    story_writes: list[StoryWrite] = []
    digest_items: list[DigestItem] = []
    index = StoryIndexInPoll(stories)
    backfilled = 0
    matched: list[tuple[Entry, list[Match], StoryFingerprint]] = []
    for entry in fresh:
        if first_poll and (entry.published is None or entry.published < now - backfill):
            backfilled += 1
            continue
        text = EntryText(entry.title, entry.summary)  # normalised once: matcher and story
        matches = [m for m in compiled.matcher.match(text) if scope is None or m.signal_id in scope]
        if matches:
            matched.append((entry, matches, entry_fingerprint(entry, text)))
    if matched:  # the store is asked about every copy's link and headline at once
        index.prefetch([fp for _, _, fp in matched])
    for entry, matches, candidate in matched:
        articles.append(ArticleRecord.from_matches(entry, matches, now))
        story, idents = index.file(entry, candidate)
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
                            update_alert(
                                entry,
                                match,
                                route.destination,
                                severity,
                                original,
                                len(story.outlets),
                                story.merged_on,
                            )
                        )
                    continue
                alert = entry_alert_for_route(entry, match, route, severity)
                story.announced[told] = alert.alert_id
                announced.append(Announcement(match.signal_id, route.label, alert.alert_id))
                if route.digest is not None:
                    digest_items.append(DigestItem(route.digest.key, alert))
                else:
                    per_signal.setdefault(match.signal_id, []).append((entry.key, alert))
        story_writes.append(_story_write(entry, story, announced, idents))
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
            alerts.append(summary_alert(signal_id, destination, group, severity, limit))
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


def _story_write(
    entry: Entry, story: StoryInPoll, announced: list[Announcement], idents: tuple[str, ...]
) -> StoryWrite:
    """How the store files `entry` under `story`; the first write of a new story carries
    its fingerprint."""
    copy = StoryCopy(entry.source_id, entry.key, entry.title, entry.link, entry.publisher)
    if story.story_id is not None:
        return StoryWrite(copy, story_id=story.story_id, announced=tuple(announced), idents=idents)
    first = not story.fingerprint_written
    story.fingerprint_written = True
    return StoryWrite(
        copy,
        new_ref=story.ref,
        fingerprint=story.fingerprint.to_text() if first else None,
        announced=tuple(announced),
        idents=idents,
    )


def source_spec(watchlist: Watchlist, source_id: str) -> SourceSpec | None:
    """The watchlist's source with this id, or None (removed since the poll was claimed)."""
    try:
        return watchlist.source(source_id)
    except KeyError:
        return None
