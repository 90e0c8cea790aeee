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
    feedback       subscribers' verdicts (+1 right, -1 wrong) on alerts, one per user and
                   alert, with a copy of the item judged; never pruned (labelled data)
    audit log      admin edits with the state before and after, as JSON objects

Discord ids (users, guilds) are snowflakes: integers in 0 .. 2**63 - 1, stored as 64-bit
integers; an id outside that range raises `ValueError`.

Every backend passes the one contract suite in `tests/store_contract.py`. All times are
timezone-aware UTC and passed in as `now`: a store never reads the clock. Methods are
synchronous; async callers wrap them in `asyncio.to_thread`. Failures of the database itself
raise `StoreError`; a naive datetime or an impossible argument raises `ValueError`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timedelta
from types import TracebackType
from typing import Protocol, Self

from bot.model import Alert, Entry, StoryUpdateAlert
from bot.store.leases import DEFAULT_HOLDER, Lease
from bot.store.records import (
    OUTBOX_STATUSES,
    SEEN_SUMMARY_MAX_CHARS,
    SOURCE_HEALTHS,
    SUBSCRIPTION_MODES,
    VERDICTS,
    Announcement,
    ArticleMatch,
    ArticleRecord,
    AuditEntry,
    DigestItem,
    EntryIdentity,
    Identify,
    JudgedItem,
    Judgement,
    KnownStory,
    NotModifiedRecord,
    OpenDigest,
    OutboxRecord,
    OutboxStatus,
    PendingAlert,
    SeenText,
    SignalStats,
    SignalTimeline,
    SourceConfig,
    SourceHealth,
    SourceState,
    StoryCopy,
    StoryWrite,
    Subscription,
    SubscriptionMode,
    Verdict,
    source_health,
)

# The records live in bot.store.records; importing them from here keeps working.
__all__ = [
    "OUTBOX_STATUSES",
    "SEEN_SUMMARY_MAX_CHARS",
    "SOURCE_HEALTHS",
    "SUBSCRIPTION_MODES",
    "VERDICTS",
    "Announcement",
    "ArticleMatch",
    "ArticleRecord",
    "AuditEntry",
    "DigestItem",
    "EntryIdentity",
    "Identify",
    "JudgedItem",
    "Judgement",
    "KnownStory",
    "NotModifiedRecord",
    "OpenDigest",
    "OutboxRecord",
    "OutboxStatus",
    "PendingAlert",
    "SeenText",
    "SignalStats",
    "SignalTimeline",
    "SourceConfig",
    "SourceHealth",
    "SourceState",
    "Store",
    "StoryCopy",
    "StoryWrite",
    "Subscription",
    "SubscriptionMode",
    "Verdict",
    "distinct_updates",
    "source_health",
]


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
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        *,
        force: bool = False,
        holder: str = DEFAULT_HOLDER,
        skip: Collection[str] = (),
    ) -> list[SourceState]:
        """Lease up to `limit` due sources (oldest `next_poll_at` first) until `now + lease`.

        Due: configured, enabled, not auto-disabled, `next_poll_at <= now`, and not leased
        (no lease or one that ended before `now`). Two claimers never get the same source.
        `force` drops only the `next_poll_at` test (`run --all`): leases still hold.
        `skip` names sources the caller is still polling (not claimed again, lease or not).
        The lease records `holder` (see `release_leases`) and one more `lease_token`.
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
        lease: Lease | None = None,
    ) -> None:
        """Record a successful fetch: new validators, failures reset, lease released.

        `warning` (a search poll where some signal failed while others went through) is kept
        as the source's last error, for `signalwatch sources`, without counting a failure.
        """
        ...

    def record_not_modified(
        self, source_id: str, now: datetime, *, next_poll_at: datetime, lease: Lease | None = None
    ) -> None:
        """Record a 304 Not Modified: a success that keeps the validators; lease released."""
        ...

    def record_not_modified_many(self, records: Sequence[NotModifiedRecord]) -> list[str]:
        """Record several 304s in one transaction (as `record_not_modified` each); the ids of
        the sources not recorded because their lease was lost (or they are gone), in order."""
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
        lease: Lease | None = None,
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
        lease: Lease | None = None,
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

    def claim_alerts(
        self,
        now: datetime,
        limit: int,
        lease: timedelta,
        *,
        holder: str = DEFAULT_HOLDER,
        heads_only: bool = False,
        skip_destinations: Collection[str] = (),
    ) -> list[PendingAlert]:
        """Lease up to `limit` pending alerts that are due, oldest first, counting an attempt.

        The lease records `holder` (see `release_leases`) and one more `lease_token`.
        `heads_only`: at most one alert per destination, and only its oldest pending one
        (due, not leased): a destination's alerts go out in order, one at a time, and one
        whose head waits for a retry holds back only its own. `skip_destinations` are left
        out (the caller is delivering to them).
        """
        ...

    def renew_source_lease(
        self, source_id: str, lease: Lease, now: datetime, until: datetime
    ) -> bool:
        """Extend a source lease still held until `until` (a long search); False if lost.

        Every write for a claimed source may carry its `Lease`: `commit_poll` and the fetch
        outcomes then commit only while it is the source's current, unexpired lease, and
        raise `LeaseLost` otherwise (rolled back; the next holder polls again, and gets the
        same alert ids).
        """
        ...

    def save_watchlist(self, text: str, now: datetime) -> int:
        """Keep `text` as the live watchlist unless it already is; return its version."""
        ...

    def latest_watchlist(self, after: int = 0) -> tuple[int, str] | None:
        """The live watchlist's (version, text) if newer than version `after`, else None."""
        ...

    def story_lock(self) -> AbstractContextManager[None]:
        """A lock held while one poll plans which stories its new entries join and commits
        that plan, across every process on the store, so that two processes filing copies of
        one story at the same time make one story (and one alert, and one "+1 source")."""
        ...

    def queue_notice(self, payload: str, now: datetime) -> None:
        """Queue an admin notice (JSON, see `bot.notices`) for the process that posts them."""
        ...

    def take_notices(self, limit: int) -> list[str]:
        """Remove and return up to `limit` queued admin notices, oldest first."""
        ...

    def reserve_api_slot(
        self, api: str, now: datetime, spacing: timedelta, *, max_wait: timedelta | None = None
    ) -> datetime:
        """When this caller may send its next request to `api`: never closer than `spacing`
        to the slot reserved before it by any process; the slot is taken on return, unless
        it is more than `max_wait` away (then nothing is reserved)."""
        ...

    def release_leases(self, holder: str) -> tuple[int, int]:
        """End every source and alert lease `holder` holds; return (sources, alerts) released.

        For start-up: what this process's previous incarnation leased (it was killed before
        recording an outcome) is claimable at once instead of when the lease runs out. An alert
        comes back as it was, same alert id, so a kill repeats at most the alerts in flight.
        Leases a later claimer took over (after they ran out) are that claimer's, not released.
        """
        ...

    def outbox_record(self, alert_id: str) -> OutboxRecord | None:
        """One outbox row with its status and receipt, or None when there is no such alert."""
        ...

    def last_update_receipt(self, original_id: str) -> str | None:
        """The receipt of the latest delivered story update of the alert `original_id`."""
        ...

    def recent_story_updates(self, signal_id: str, limit: int) -> list[StoryUpdateAlert]:
        """The signal's latest story updates (a copy from a new outlet joined an announced
        story), newest first, one per story and copy headline: what /signal shows merged."""
        ...

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

    def stories_of_idents(self, idents: Sequence[str], since: datetime) -> dict[str, int]:
        """For each of these link or headline idents ("link:…", "title:…", see
        `StoryWrite.idents`) that a copy of a story seen at or after `since` was filed
        under, that story (the oldest if several); idents of no such story are left out.
        One query for a poll's idents, however many."""
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

    def take_api_call(self, api: str, day: date, limit: int) -> bool:
        """Count one request to `api` on that UTC day if fewer than `limit` were counted;
        whether it was. Check and count are atomic: callers in several processes never pass
        the limit together."""
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

    def reschedule_source(
        self, source_id: str, now: datetime, *, next_poll_at: datetime, lease: Lease | None = None
    ) -> None:
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

    def alerts_for_signal_since(
        self, signal_id: str, since: datetime, *, limit: int | None = None
    ) -> int:
        """How many alerts for this signal were enqueued at or after `since`, any status;
        counting stops at `limit` (the flood guard needs to know only "more than the limit",
        so its count costs the same however many alerts the store holds).

        Story updates edit an alert already counted: they do not count.
        """
        ...

    def oldest_pending_at(self) -> datetime | None:
        """When the oldest alert still waiting in the outbox was queued (None: none waits)."""
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

    # -- subscribers' feedback ------------------------------------------------------------------

    def record_feedback(
        self,
        alert_id: str,
        user_id: int,
        verdict: Verdict,
        now: datetime,
        *,
        message_id: int | None = None,
    ) -> Judgement | None:
        """Record the user's verdict on an alert, replacing theirs before; return it as stored.

        Only a story alert (not an update, flood summary or digest) can be judged: for any
        other id, or one the outbox no longer holds (pruned), nothing is written and the
        answer is None. The item judged is copied from the alert and its matched article
        (found by source and link, else source and title), so the judgement outlives both.
        A verdict other than 1 or -1, or an id out of range, is a ValueError.
        """
        ...

    def withdraw_feedback(self, alert_id: str, user_id: int) -> bool:
        """Remove the user's verdict on the alert; True if there was one."""
        ...

    def feedback_verdict(self, alert_id: str, user_id: int) -> Verdict | None:
        """The user's current verdict on the alert, or None."""
        ...

    def feedback_since(self, since: datetime, signal_id: str | None = None) -> list[Judgement]:
        """Every current verdict given at or after `since` (optionally on one signal's
        alerts), oldest first (then by alert id and user id)."""
        ...

    def feedback_tallies(self, signal_id: str, since: datetime) -> list[tuple[int, int]]:
        """Per item judged on the signal at or after `since` (one item however many alerts
        told of it, by source and item key): (verdicts right, verdicts wrong), in no order."""
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
        subscriptions, feedback or audit entries. Returns rows deleted.
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


def distinct_updates(alerts: Iterable[Alert], limit: int) -> list[StoryUpdateAlert]:
    """The story updates among `alerts` (newest first), one per copy (a copy that joined a
    story announced on several routes is one update per route), at most `limit`."""
    seen: set[tuple[str, str]] = set()  # (headline, link) of each copy shown
    out: list[StoryUpdateAlert] = []
    for alert in alerts:
        if not isinstance(alert, StoryUpdateAlert) or (alert.title, alert.link or "") in seen:
            continue
        seen.add((alert.title, alert.link or ""))
        out.append(alert)
        if len(out) >= limit:
            break
    return out
