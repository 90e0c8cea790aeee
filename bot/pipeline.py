"""The poll → match → alert flow, and delivery from the outbox.

    for source in store.claim_due_sources(now):               leased: no two workers share one
        result  = fetcher.fetch(source)                        Fetched | NotModified | FetchFailed
        entries = parse_feed(result.body)                      ParseError → a failed poll
        fresh   = store.unseen(source, entries)                by key, canonical link, title
        if first poll: fresh older than backfill → seen, silently
        matches = matcher.match(entry) for entry in fresh      the source's signals only
        alerts  = route(matches) | flood guard                 excess folds into one summary
        store.commit_poll(seen=fresh, articles, alerts)        ONE transaction (the outbox)
        store.record_fetch_ok / record_not_modified / record_fetch_failed
    deliver: store.claim_alerts() → sink.send() → store.mark_delivered | mark_failed

`plan_poll` is pure (entries + matches + now → what to store); `Poller` and `Deliverer` are
the thin I/O around it. An entry becomes seen only in the transaction that enqueues its
alerts, and an alert leaves the outbox only after the sink took it, so a crash anywhere
loses nothing; alert ids are stable, so a replayed poll cannot enqueue an alert twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.errors import DeliveryError, ParseError, PermanentDeliveryError
from bot.matching import Matcher
from bot.model import Alert, Entry, Match
from bot.schedule import (
    delivery_retry_at,
    next_poll_after_failure,
    next_poll_after_success,
)
from bot.sources.entries import normalised_title
from bot.sources.feeds import parse_feed
from bot.sources.fetch import Fetched, Fetcher, FetchFailed, FetchRequest, NotModified
from bot.store import ArticleRecord, EntryIdentity, SourceConfig, SourceState, Store
from bot.watchlist import Watchlist

__all__ = [
    "DEFAULT_DESTINATION",
    "Compiled",
    "Deliverer",
    "Notifier",
    "PollOutcome",
    "PollPlan",
    "Poller",
    "Sink",
    "alert_id",
    "identify",
    "plan_poll",
    "source_configs",
]

log = logging.getLogger("signalwatch.pipeline")

DEFAULT_DESTINATION = "default"  # the sink's default place: a Discord channel or the console
SOURCE_LEASE = timedelta(minutes=2)
ALERT_LEASE = timedelta(minutes=2)


class Sink(Protocol):
    """Somewhere alerts go. `send` returns a receipt (e.g. a message id) or raises.

    DeliveryError leaves the alert pending for a retry; PermanentDeliveryError gives it up.
    """

    async def send(self, alert: Alert) -> str | None:
        """Deliver one alert."""
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

    def destinations(self, signal_id: str) -> list[str]:
        """Where a signal's alerts go: its routes, else the default destination."""
        out = []
        for route in self.watchlist.routes_for(signal_id):
            if route.channel is not None:
                out.append(f"channel:{route.channel}")
            if route.webhook is not None:
                out.append(f"webhook:{route.webhook}")
        return out or [DEFAULT_DESTINATION]


@dataclass(frozen=True)
class PollPlan:
    """What one poll stores: entries to mark seen, matched articles, alerts to enqueue."""

    seen: list[EntryIdentity]
    articles: list[ArticleRecord]
    alerts: list[Alert]
    backfilled: int  # fresh entries marked seen silently (first poll, older than backfill)
    matched: int  # fresh entries that matched at least one signal


def _alert(entry: Entry, match: Match, destination: str, severity: str) -> Alert:
    return Alert(
        alert_id=alert_id(entry, match.signal_id, destination),
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
) -> PollPlan:
    """Decide what a poll stores, given the entries not seen before. Pure but for the counter.

    On a source's first poll, entries older than `backfill` (or undated) are backlog: seen,
    never alerted. Past `flood_per_hour` hits (entries) for one signal in the last hour, the
    rest of this poll's alerts for it fold into one summary alert per destination.
    """
    watchlist = compiled.watchlist
    source = watchlist.source(source_id) if _has_source(watchlist, source_id) else None
    scope = None if source is None or source.signals is None else set(source.signals)
    limit = watchlist.defaults.flood_per_hour
    seen = [identify(e) for e in fresh]
    articles: list[ArticleRecord] = []
    per_signal: dict[str, list[tuple[str, Alert]]] = {}  # (entry key, alert), entry-major
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
        for match in matches:
            severity = watchlist.signal(match.signal_id).severity
            for destination in compiled.destinations(match.signal_id):
                per_signal.setdefault(match.signal_id, []).append(
                    (entry.key, _alert(entry, match, destination, severity))
                )
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
    return PollPlan(seen, articles, alerts, backfilled, len(articles))


def _has_source(watchlist: Watchlist, source_id: str) -> bool:
    try:
        watchlist.source(source_id)
    except KeyError:
        return False
    return True


@dataclass
class PollOutcome:
    """What one poll of one source did, for logs and tests."""

    source_id: str
    status: str  # "ok", "not-modified", "failed"
    entries: int = 0
    fresh: int = 0
    alerts: int = 0
    error: str | None = None
    disabled: bool = False


@dataclass
class Poller:
    """Claims due sources, fetches, parses, plans and commits each poll."""

    store: Store
    fetcher: Fetcher
    compiled: Callable[[], Compiled]  # the live watchlist (hot reload swaps it)
    notifier: Notifier
    clock: Callable[[], datetime]
    max_failures: int = 10
    batch: int = 256

    async def poll_due(self, *, force: bool = False) -> list[PollOutcome]:
        """Poll every due source (every enabled source with `force`) once, concurrently."""
        claimed = await asyncio.to_thread(
            self.store.claim_due_sources, self.clock(), self.batch, SOURCE_LEASE, force=force
        )
        if not claimed:
            return []
        results = await asyncio.gather(*(self._poll_guarded(source) for source in claimed))
        return list(results)

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
        fresh = self.store.unseen(source.id, feed.entries, identify)
        backfill = self._backfill(compiled, source.id)
        plan = plan_poll(
            compiled,
            source.id,
            fresh,
            now,
            first_poll=not source.first_fetch_done,
            backfill=backfill,
            sent_last_hour=lambda sid: self.store.alerts_for_signal_since(
                sid, now - timedelta(hours=1)
            ),
        )
        queued = self.store.commit_poll(
            source.id, now, seen=plan.seen, articles=plan.articles, alerts=plan.alerts
        )
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
            "polled %s: %d entries, %d new%s, %d matched, %d alerts queued",
            source.id,
            len(feed.entries),
            len(fresh),
            f" ({plan.backfilled} backlog, not alerted)" if plan.backfilled else "",
            plan.matched,
            queued,
        )
        return PollOutcome(source.id, "ok", len(feed.entries), len(fresh), queued)

    def _backfill(self, compiled: Compiled, source_id: str) -> timedelta:
        if _has_source(compiled.watchlist, source_id):
            return compiled.watchlist.source(source_id).backfill
        return compiled.watchlist.defaults.backfill

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
                if await self._deliver_one(pending.alert, pending.attempts):
                    delivered += 1
        return delivered

    async def _deliver_one(self, alert: Alert, attempts: int) -> bool:
        try:
            receipt = await self.sink.send(alert)
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
