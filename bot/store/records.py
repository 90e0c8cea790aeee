"""The records the store takes and gives back, and the constants of its contract.

Plain frozen values, no I/O: `bot.store.base` (the `Store` protocol) re-exports every name here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal, NamedTuple

from bot.model import Alert, Entry, Match
from bot.store.leases import Lease

OutboxStatus = Literal["pending", "delivered", "failed"]
OUTBOX_STATUSES: tuple[OutboxStatus, ...] = ("pending", "delivered", "failed")

SubscriptionMode = Literal["mention", "dm"]
SUBSCRIPTION_MODES: tuple[SubscriptionMode, ...] = ("mention", "dm")

Verdict = Literal[1, -1]  # a subscriber's judgement of an alert: right (👍) or wrong (👎)
VERDICTS: tuple[Verdict, ...] = (1, -1)

SourceHealth = Literal["ok", "failing", "disabled", "removed"]
SOURCE_HEALTHS: tuple[SourceHealth, ...] = ("ok", "failing", "disabled", "removed")

# Seen entries keep at most this much of their summary: enough to preview a query against,
# small enough that the seen table stays a dedupe index rather than an archive.
SEEN_SUMMARY_MAX_CHARS = 1000


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """A source as the watchlist configures it; `sync_sources` makes the store agree."""

    id: str
    url: str
    type: str  # "rss", "gdelt", "newsapi", ... — chooses the adapter
    interval_s: int

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("source id must not be empty")
        if not self.url:
            raise ValueError(f"source {self.id!r}: url must not be empty")
        if self.interval_s <= 0:
            raise ValueError(f"source {self.id!r}: interval_s must be positive")


@dataclass(frozen=True, slots=True)
class SourceState:
    """A source's polling state and health, as the store keeps it."""

    id: str
    url: str
    type: str
    interval_s: int
    configured: bool  # false once the watchlist no longer lists it (kept for its history)
    enabled: bool  # the admin/operator switch
    disabled_reason: str | None  # set when auto-disabled after repeated failures
    etag: str | None
    last_modified: str | None
    next_poll_at: datetime
    lease_until: datetime | None
    consecutive_failures: int
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_status: int | None
    entries_seen: int
    first_fetch_done: bool
    created_at: datetime
    lease_holder: str | None = None  # who took the current (or last) lease
    lease_token: int = 0  # counts the leases taken, so a later holder's token is greater


def source_health(state: SourceState) -> SourceHealth:
    """How `signalwatch sources` and /status classify a source, first rule that applies.

    removed: no longer configured; disabled: switched off or auto-disabled (any reason set);
    failing: at least one consecutive failure; ok: everything else.
    """
    if not state.configured:
        return "removed"
    if not state.enabled or state.disabled_reason is not None:
        return "disabled"
    if state.consecutive_failures > 0:
        return "failing"
    return "ok"


@dataclass(frozen=True, slots=True)
class NotModifiedRecord:
    """A 304 Not Modified to record: when, the next poll, and the lease the poll held."""

    source_id: str
    now: datetime
    next_poll_at: datetime
    lease: Lease | None = None


@dataclass(frozen=True, slots=True)
class EntryIdentity:
    """What makes an entry "the same" as one seen before, computed by the caller.

    An entry was seen when any one of these equals a seen record of the same source: `key`,
    `link` (canonical), or `title_norm` (the outlet and the normalised title, so that one
    outlet's headline repeated is seen but another outlet's copy is not). An empty or None
    link or title never matches anything. `published` is kept for inspection only.

    `title` and `summary` are the entry's plain text, kept for `recent_seen` (the summary
    cut to SEEN_SUMMARY_MAX_CHARS); they never take part in deciding what was seen.
    """

    key: str
    link: str | None
    title_norm: str | None
    published: datetime | None = None
    title: str | None = None
    summary: str | None = None


Identify = Callable[[Entry], EntryIdentity]


@dataclass(frozen=True, slots=True)
class ArticleMatch:
    """One signal that matched an article: the words that hit and the snippet shown."""

    signal_id: str
    terms: tuple[str, ...]
    snippet: str


@dataclass(frozen=True, slots=True)
class ArticleRecord:
    """A matched article kept for lookups, with every signal that matched it."""

    source_id: str
    key: str
    title: str
    summary: str
    link: str | None
    published: datetime | None
    publisher: str | None
    matches: tuple[ArticleMatch, ...]
    matched_at: datetime

    @property
    def signal_ids(self) -> tuple[str, ...]:
        """The ids of the signals that matched, in match order."""
        return tuple(m.signal_id for m in self.matches)

    @classmethod
    def from_matches(
        cls, entry: Entry, matches: Sequence[Match], matched_at: datetime
    ) -> ArticleRecord:
        """Build the record for an entry and the signals that matched it."""
        return cls(
            source_id=entry.source_id,
            key=entry.key,
            title=entry.title,
            summary=entry.summary,
            link=entry.link,
            published=entry.published,
            publisher=entry.publisher,
            matches=tuple(ArticleMatch(m.signal_id, tuple(m.terms), m.snippet) for m in matches),
            matched_at=matched_at,
        )


@dataclass(frozen=True, slots=True)
class PendingAlert:
    """An alert in the outbox with its delivery bookkeeping."""

    alert: Alert
    status: OutboxStatus
    attempts: int  # claims so far, including the one that returned this value
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime
    lease_holder: str | None = None  # who took the current (or last) lease
    lease_token: int = 0  # counts the leases taken, so a later holder's token is greater


@dataclass(frozen=True, slots=True)
class SeenText:
    """A recently seen entry's text, for previewing a draft query against recent news.

    `title` or `summary` is "" when only the other was stored; `summary` holds at most
    SEEN_SUMMARY_MAX_CHARS characters.
    """

    source_id: str
    key: str
    title: str
    summary: str
    link: str | None
    published: datetime | None
    first_seen_at: datetime


@dataclass(frozen=True, slots=True)
class Subscription:
    """A Discord user following a signal: pinged in the alert's channel, or sent a DM.

    `guild_id` is the server the user subscribed from (None from a DM); `created_at` is when
    they first subscribed, kept when they later change the mode.
    """

    user_id: int
    signal_id: str
    mode: SubscriptionMode
    guild_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class JudgedItem:
    """The news item an alert told of, as a judgement keeps it (labelled data outlives the
    outbox row and the seen record). `summary` is the matched article's, "" when the store
    had none; `key` falls back to the link, else the title, when no article was found."""

    source_id: str
    key: str
    title: str
    summary: str
    link: str | None
    publisher: str | None
    published: datetime | None


@dataclass(frozen=True, slots=True)
class Judgement:
    """One subscriber's latest verdict on one alert: was it right to fire for its signal?

    `message_id` is the Discord message the verdict was given on (None when unknown).
    """

    alert_id: str
    user_id: int
    signal_id: str
    verdict: Verdict
    at: datetime
    item: JudgedItem
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One admin edit: who did what to which target, with the state before and after.

    `actor_id` is the admin's Discord id, None for edits made outside Discord (the CLI).
    `before` is None when the edit created the target, `after` when it deleted it. They are
    JSON objects: string keys; lists, numbers, strings, booleans, None, nested objects and
    tz-aware datetimes (which come back in UTC) inside; tuples come back as lists.
    """

    id: int
    at: datetime
    actor_id: int | None
    actor_name: str
    action: str  # e.g. "signal.edit", "source.disable"
    target: str  # e.g. "signal:nato"
    # compared, but left out of the hash, which a dict cannot join
    before: dict[str, object] | None = field(hash=False)
    after: dict[str, object] | None = field(hash=False)


@dataclass(frozen=True, slots=True)
class StoryCopy:
    """One outlet's copy of a story: the entry it came as."""

    source_id: str
    key: str
    title: str
    link: str | None
    publisher: str | None


@dataclass(frozen=True, slots=True)
class Announcement:
    """The alert that announced a story for one signal at one destination."""

    signal_id: str
    destination: str
    alert_id: str


@dataclass(frozen=True, slots=True)
class KnownStory:
    """A story as stored: its fingerprint, every copy so far, and where it was announced."""

    id: int
    fingerprint: str  # bot.stories.StoryFingerprint.to_text()
    title: str
    first_seen_at: datetime
    last_seen_at: datetime
    copies: tuple[StoryCopy, ...]  # in the order they came; the first is the announced one
    announced: tuple[Announcement, ...]


@dataclass(frozen=True, slots=True)
class StoryWrite:
    """A copy that a poll files under a story: an existing one (`story_id`) or a new one.

    Writes with the same `new_ref` in one `commit_poll` share the story it creates; the first
    of them gives its `fingerprint` and title. `announced` records the alerts this poll
    enqueues for the story (new signals or destinations), so later copies update them.
    `idents` are the copy's canonical link and identifying headline ("link:…", "title:…"),
    by which `stories_of_idents` finds the story again.
    """

    copy: StoryCopy
    story_id: int | None = None
    new_ref: str | None = None
    fingerprint: str | None = None
    announced: tuple[Announcement, ...] = ()
    idents: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (self.story_id is None) == (self.new_ref is None):
            raise ValueError("a StoryWrite names an existing story_id or a new_ref, not both")

    def rows(
        self, story_id: int, at: object
    ) -> tuple[tuple[object, ...], list[tuple[str, int]], list[tuple[int, str, str, str]]]:
        """What filing this copy under `story_id` at `at` adds, as each backend's statements
        take it: the story_copies values (story_id, source_id, key, title, link, publisher,
        added_at, story_id again for the position's subquery), the story_idents rows and the
        story_alerts rows."""
        copy = self.copy
        return (
            (story_id, copy.source_id, copy.key, copy.title, copy.link, copy.publisher, at,
             story_id),
            [(ident, story_id) for ident in self.idents],
            [(story_id, a.signal_id, a.destination, a.alert_id) for a in self.announced],
        )  # fmt: skip


class StoryRows(NamedTuple):
    """What a poll's story writes add, row by row in write order (see `StoryWrite.rows`)."""

    copies: list[tuple[object, ...]]
    idents: list[tuple[str, int]]
    announcements: list[tuple[int, str, str, str]]


def story_rows(
    writes: Sequence[StoryWrite],
    at: object,
    create: Callable[[StoryWrite], int],
    touch: Callable[[int], None],
) -> StoryRows:
    """Each write's story id, then the rows filing its copy there: `create` makes the story
    of a write's `new_ref` (once per ref, given the first write, which carries the
    fingerprint) and returns its id; `touch` marks a known story seen again (once each)."""
    created: dict[str, int] = {}
    touched: set[int] = set()
    rows = StoryRows([], [], [])
    for write in writes:
        story_id = write.story_id
        if story_id is None:
            assert write.new_ref is not None  # __post_init__ checks one of the two is set
            story_id = created.get(write.new_ref)
            if story_id is None:
                if write.fingerprint is None:
                    raise ValueError(f"new story {write.new_ref!r} needs a fingerprint")
                story_id = created[write.new_ref] = create(write)
        elif story_id not in touched:
            touched.add(story_id)
            touch(story_id)
        copy_row, ident_rows, announced_rows = write.rows(story_id, at)
        rows.copies.append(copy_row)
        rows.idents.extend(ident_rows)
        rows.announcements.extend(announced_rows)
    return rows


@dataclass(frozen=True, slots=True)
class DigestItem:
    """A hit waiting for its route's next digest: the alert it would have been alone."""

    schedule: str  # bot.digest.DigestSchedule.key
    alert: Alert


@dataclass(frozen=True, slots=True)
class OpenDigest:
    """Hits collected for one digest route that no digest has taken yet."""

    destination: str
    schedule: str
    oldest: datetime  # when the oldest waiting hit was collected
    items: int


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One outbox row as stored, with its receipt (e.g. the Discord message id)."""

    alert: Alert
    status: OutboxStatus
    attempts: int
    receipt: str | None
    created_at: datetime
    delivered_at: datetime | None


class SignalStats(NamedTuple):
    """When a signal last matched an article, and how many it matched in the last 7 days."""

    last_hit: datetime | None
    hits_7d: int


@dataclass(frozen=True, slots=True)
class SignalTimeline:
    """A signal's hits over time: first and last hit and total ever, and hits per UTC day.

    `days` has one entry per UTC day of the window, oldest first, zeros included; the window
    ends with the UTC day of `now` and counts hits up to `now`. A hit is one story on one UTC
    day: the same article found by several sources, or several outlets' copies of one story,
    count once (an article whose story was pruned counts by its link).
    """

    signal_id: str
    first_hit: datetime | None
    last_hit: datetime | None
    total: int
    days: tuple[tuple[date, int], ...]

    @property
    def window_total(self) -> int:
        """The hits inside the window (the sum of `days`)."""
        return sum(count for _, count in self.days)

    @property
    def busiest_day(self) -> tuple[date, int] | None:
        """The window's day with the most hits (the latest of equals), or None if it had none."""
        best = max(reversed(self.days), key=lambda day: day[1], default=None)
        return best if best is not None and best[1] > 0 else None

    @staticmethod
    def window(now: datetime, days: int) -> tuple[date, ...]:
        """The UTC days of a `days`-day window ending with the UTC day of `now`, oldest first."""
        if days < 1:
            raise ValueError(f"a signal timeline needs at least 1 day, not {days}")
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now must be timezone-aware (UTC), got naive {now.isoformat()}")
        today = now.astimezone(UTC).date()
        return tuple(today - timedelta(days=back) for back in range(days - 1, -1, -1))
