"""The store's contract: everything the pipeline and the bot may ask of durable state.

    sources        configured feeds and their polling bookkeeping (lease, ETag, failures,
                   health), summed up for /status by `source_counts` and `last_poll_at`
    seen           what each source already gave us, by key, canonical link and normalised
                   title; also its title and summary text (summary capped at
                   SEEN_SUMMARY_MAX_CHARS) when the caller gives them, so a draft query can be
                   previewed against recent entries (`recent_seen`)
    articles       matched articles, kept for /recent, /search and signal stats
    outbox         alerts waiting for delivery; enqueued in the same transaction that marks
                   their entries seen, and left only once a sink accepted them. A delivered
                   alert keeps its receipt (e.g. the Discord message id) until pruned, so the
                   posted message can be edited later (`delivered_alerts_since`)
    subscriptions  Discord users following a signal, by mention or by DM
    audit log      admin edits with the state before and after, as JSON objects

Discord ids (users, guilds) are snowflakes: integers in 0 .. 2**63 - 1, stored as 64-bit
integers; an id outside that range raises `ValueError`.

Every backend passes the one contract suite in `tests/store_contract.py`. All times are
timezone-aware UTC and passed in as `now`: a store never reads the clock. Methods are
synchronous; async callers wrap them in `asyncio.to_thread`. Failures of the database itself
raise `StoreError`; a naive datetime or an impossible argument raises `ValueError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Literal, NamedTuple, Protocol, Self

from bot.model import Alert, Entry, Match

OutboxStatus = Literal["pending", "delivered", "failed"]
OUTBOX_STATUSES: tuple[OutboxStatus, ...] = ("pending", "delivered", "failed")

SubscriptionMode = Literal["mention", "dm"]
SUBSCRIPTION_MODES: tuple[SubscriptionMode, ...] = ("mention", "dm")

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
class EntryIdentity:
    """What makes an entry "the same" as one seen before, computed by the caller.

    An entry was seen when any one of these equals a seen record of the same source: `key`,
    `link` (canonical), or `title_norm` (the normalised title). An empty or None link or
    title never matches anything. `published` is kept for inspection only.

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
    """

    copy: StoryCopy
    story_id: int | None = None
    new_ref: str | None = None
    fingerprint: str | None = None
    announced: tuple[Announcement, ...] = ()

    def __post_init__(self) -> None:
        if (self.story_id is None) == (self.new_ref is None):
            raise ValueError("a StoryWrite names an existing story_id or a new_ref, not both")


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


class Store(Protocol):
    """Durable state of signalwatch; one contract, several backends."""

    def migrate(self) -> int:
        """Apply the schema migrations not applied yet; return how many ran (0 when current)."""
        ...

    def sync_sources(self, sources: Sequence[SourceConfig], now: datetime) -> None:
        """Make the stored sources match the configured ones.

        New sources are due at `now`; a changed URL forgets the ETag, Last-Modified, failures
        and first fetch and makes the source due at `now`; sources no longer configured are
        kept (with their history) but marked unconfigured and never claimed.
        """
        ...

    def claim_due_sources(
        self, now: datetime, limit: int, lease: timedelta, *, force: bool = False
    ) -> list[SourceState]:
        """Lease up to `limit` due sources (oldest `next_poll_at` first) until `now + lease`.

        Due: configured, enabled, not auto-disabled, `next_poll_at <= now`, and not leased
        (no lease or one that ended before `now`). Two claimers never get the same source.
        `force` drops only the `next_poll_at` test (`run --all`): leases still hold.
        """
        ...

    def record_fetch_ok(
        self,
        source_id: str,
        now: datetime,
        *,
        status: int,
        etag: str | None,
        last_modified: str | None,
        next_poll_at: datetime,
        entries_seen_delta: int,
        warning: str | None = None,
    ) -> None:
        """Record a successful fetch: new validators, failures reset, lease released.

        `warning` (a search poll where some signal failed while others went through) is kept
        as the source's last error, for `signalwatch sources`, without counting a failure.
        """
        ...

    def record_not_modified(self, source_id: str, now: datetime, *, next_poll_at: datetime) -> None:
        """Record a 304 Not Modified: a success that keeps the validators; lease released."""
        ...

    def record_fetch_failed(
        self,
        source_id: str,
        now: datetime,
        *,
        error: str,
        status: int | None,
        next_poll_at: datetime,
        disable_reason: str | None,
    ) -> None:
        """Record a failed fetch: one more consecutive failure, lease released.

        A `disable_reason` auto-disables the source until an admin re-enables it.
        """
        ...

    def set_source_enabled(self, source_id: str, enabled: bool, now: datetime) -> None:
        """Switch a source on or off; switching on also clears auto-disable and makes it due."""
        ...

    def sources(self) -> list[SourceState]:
        """Every stored source, configured or not, by id (the health table)."""
        ...

    def source(self, source_id: str) -> SourceState | None:
        """One source's state, or None when the store has no such source."""
        ...

    def unseen(self, source_id: str, entries: Sequence[Entry], identify: Identify) -> list[Entry]:
        """The entries this source has not given us before, in their order.

        Also drops an entry that repeats (by key, link or title) an earlier one in the batch.
        Read-only: entries become seen only through `commit_poll`.
        """
        ...

    def commit_poll(
        self,
        source_id: str,
        now: datetime,
        *,
        seen: Sequence[EntryIdentity],
        articles: Sequence[ArticleRecord],
        alerts: Sequence[Alert],
        stories: Sequence[StoryWrite] = (),
        digest_items: Sequence[DigestItem] = (),
    ) -> int:
        """In one transaction: mark entries seen, keep matched articles, enqueue alerts.

        Also files story copies (`stories`) and collects digest routes' hits (`digest_items`,
        each once by its alert id).

        Also marks the source's first fetch done. An alert whose id is already in the outbox
        is not enqueued again. Returns the number of alerts newly enqueued. If anything
        fails, nothing is written.

        A seen identity's `title` and `summary` are kept (the summary cut to
        SEEN_SUMMARY_MAX_CHARS; empty text as none) for `recent_seen`. An entry already seen
        keeps the text it was first seen with.
        """
        ...

    def claim_alerts(self, now: datetime, limit: int, lease: timedelta) -> list[PendingAlert]:
        """Lease up to `limit` pending alerts that are due, oldest first, counting an attempt."""
        ...

    def outbox_record(self, alert_id: str) -> OutboxRecord | None:
        """One outbox row with its status and receipt, or None when there is no such alert."""
        ...

    def last_receipt_like(self, alert_id_prefix: str) -> str | None:
        """The receipt of the latest delivered alert whose id starts with the prefix, if any.

        Story updates are ids `upd-<announcing alert id>-<n>`: this finds the follow-up
        message an earlier update posted, so the next one edits it instead of posting again.
        """
        ...

    # -- stories: one alert per story ---------------------------------------------------------

    def recent_stories(self, since: datetime) -> list[KnownStory]:
        """Stories with a copy seen at or after `since`, oldest first, with copies and alerts."""
        ...

    def recent_story_fingerprints(
        self, since: datetime, *, after_id: int = 0
    ) -> list[tuple[int, str, datetime]]:
        """(id, fingerprint, last seen) of the stories `recent_stories` would give, in the same
        order: what a poll compares its entries with, without loading every copy.

        With `after_id`, only the stories with a greater id: what a process that read the
        window before needs to catch up (ids follow commit order).
        """
        ...

    def stories_last_seen(self, story_ids: Iterable[int]) -> dict[int, datetime]:
        """When each of these stories was last seen (a copy joined); unknown ids are left out."""
        ...

    def story_fingerprints(self, story_ids: Iterable[int]) -> dict[int, str]:
        """The stored fingerprint of each of these stories; unknown ids are left out."""
        ...

    def story(self, story_id: int) -> KnownStory | None:
        """One story with its copies and announcements, or None."""
        ...

    def story_of_alert(self, alert_id: str) -> KnownStory | None:
        """The story an alert announced (see `StoryWrite.announced`), or None."""
        ...

    # -- digests ------------------------------------------------------------------------------

    def open_digests(self) -> list[OpenDigest]:
        """Every (destination, schedule) with hits waiting for a digest."""
        ...

    def digest_items(self, destination: str, schedule: str, before: datetime) -> list[Alert]:
        """The waiting hits of one digest route collected before `before`, oldest first."""
        ...

    def commit_digest(
        self,
        destination: str,
        schedule: str,
        now: datetime,
        *,
        item_ids: Sequence[str],
        digest: Alert,
    ) -> bool:
        """In one transaction: enqueue the digest alert and mark its items as taken by it.

        Returns False (and writes nothing) when the digest id is already in the outbox.
        """
        ...

    # -- news-API quotas ------------------------------------------------------------------------

    def api_calls_on(self, api: str, day: date) -> int:
        """How many requests were made to `api` on that UTC day."""
        ...

    def add_api_calls(self, api: str, day: date, calls: int) -> None:
        """Count `calls` more requests to `api` on that UTC day."""
        ...

    def search_cursors(self, source_id: str) -> dict[str, datetime]:
        """Per signal id: the end of the last window `source_id` searched without an error."""
        ...

    def advance_search_cursors(self, source_id: str, until: Mapping[str, datetime]) -> None:
        """Move each signal's cursor of `source_id` to its time in `until`; never backwards."""
        ...

    def reschedule_source(self, source_id: str, now: datetime, *, next_poll_at: datetime) -> None:
        """Release the lease and poll again at `next_poll_at`: neither a success nor a failure
        (the API asked us to wait before it was asked anything)."""
        ...

    def mark_delivered(self, alert_id: str, now: datetime, receipt: str | None) -> None:
        """Record that a sink accepted the alert (`receipt`: e.g. the message id); terminal."""
        ...

    def mark_failed(
        self,
        alert_id: str,
        now: datetime,
        *,
        error: str,
        next_attempt_at: datetime,
        permanent: bool,
    ) -> None:
        """Record a failed delivery: retry at `next_attempt_at`, or keep as 'failed' if permanent.

        Does nothing to an alert already delivered.
        """
        ...

    def alerts_for_signal_since(self, signal_id: str, since: datetime) -> int:
        """How many alerts for this signal were enqueued at or after `since`, any status.

        Story updates (ids starting `upd-`) edit an alert already counted: they do not count.
        """
        ...

    def outbox_counts(self) -> dict[str, int]:
        """The number of alerts per outbox status: pending, delivered, failed."""
        ...

    def delivered_alerts_since(
        self, signal_id: str | None, since: datetime, limit: int
    ) -> list[tuple[PendingAlert, str | None]]:
        """Alerts delivered at or after `since`, each with its receipt, newest delivery first.

        Optionally for one signal; at most `limit`. The receipt is what `mark_delivered` was
        given (None if nothing). `prune` removes old delivered alerts and their receipts.
        """
        ...

    def recent_articles(self, limit: int, signal_id: str | None = None) -> list[ArticleRecord]:
        """The most recently matched articles, newest first, optionally for one signal."""
        ...

    def articles_matching(self, since: datetime, limit: int) -> list[ArticleRecord]:
        """Up to `limit` articles first matched at or after `since`, newest first."""
        ...

    def recent_seen(self, limit: int) -> list[SeenText]:
        """The text of the `limit` most recently seen entries that have some, newest first.

        Newest by first seen, then by published (undated last), then source and key. Entries
        seen without text (before schema 3, or from a caller that gave none) are skipped, so
        every item returned has a title or a summary to match against.
        """
        ...

    def search_articles(self, words: str, limit: int) -> list[ArticleRecord]:
        """Matched articles whose title or summary holds every word (prefixes), newest first."""
        ...

    def signal_stats(self, signal_id: str, now: datetime) -> SignalStats:
        """When the signal last matched, and how many articles it matched in the 7 days to now."""
        ...

    def signal_timeline(self, signal_id: str, now: datetime, days: int = 30) -> SignalTimeline:
        """The signal's first and last hit and total over all time, and hits per UTC day.

        The window is the `days` UTC days ending with the day of `now` (see `SignalTimeline`),
        counting hits from the start of its first day up to `now`. An unknown signal has no
        hits; `days < 1` or a naive `now` is a ValueError.
        """
        ...

    def source_counts(self) -> dict[str, int]:
        """How many stored sources are ok, failing, disabled and removed (see `source_health`).

        Every key is present, zero when no source is in that state.
        """
        ...

    def last_poll_at(self) -> datetime | None:
        """When any source was last fetched (its latest attempt), or None before the first."""
        ...

    def subscribe(
        self,
        user_id: int,
        signal_id: str,
        mode: SubscriptionMode,
        guild_id: int | None,
        now: datetime,
    ) -> bool:
        """Make the user follow the signal in `mode`; True when new or the mode changed.

        Subscribing again keeps `created_at` and takes the new `guild_id`; a new guild alone
        is not a change. An unknown mode, an empty signal id or an id out of range is a
        ValueError.
        """
        ...

    def unsubscribe(self, user_id: int, signal_id: str) -> bool:
        """Stop the user following the signal; True if they were following it."""
        ...

    def subscriptions_of(self, user_id: int) -> list[Subscription]:
        """The signals a user follows, by signal id."""
        ...

    def subscribers(self, signal_id: str) -> list[Subscription]:
        """The users following a signal, oldest subscription first (then by user id)."""
        ...

    def record_audit(
        self,
        now: datetime,
        *,
        actor_id: int | None,
        actor_name: str,
        action: str,
        target: str,
        before: dict[str, object] | None,
        after: dict[str, object] | None,
    ) -> int:
        """Append an admin edit to the audit log; return its id (ids only ever increase).

        An empty action or target, or a before/after JSON cannot hold exactly (a non-string
        key, NaN, an object), is a ValueError and records nothing.
        """
        ...

    def audit_history(self, limit: int, target: str | None = None) -> list[AuditEntry]:
        """The latest `limit` audit entries, newest first (by time, then id).

        With `target`, only the entries about that target.
        """
        ...

    def prune(
        self, now: datetime, *, seen_older_than: timedelta, delivered_older_than: timedelta
    ) -> int:
        """Delete seen records first seen, and delivered alerts delivered, before the cutoffs.

        Also deletes stories last seen, digest items taken, and API call counts dated before
        the seen cutoff. Never deletes pending or failed alerts, sources, articles,
        subscriptions or audit entries. Returns rows deleted.
        Keep `seen_older_than` longer than any feed keeps an item, or the item alerts again.
        """
        ...

    def close(self) -> None:
        """Release the database connection; further calls raise StoreError. Idempotent."""
        ...

    def __enter__(self) -> Self:
        """Use the store as a context manager that closes it."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        ...
