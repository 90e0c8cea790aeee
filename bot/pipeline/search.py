"""The search poller: a news-API source searched once per signal, each from its own cursor."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

from bot.pipeline.compiled import Compiled
from bot.pipeline.outcome import PollOutcome
from bot.schedule import next_poll_after_success
from bot.sources.search.config import SearchConfig
from bot.sources.search.coverage import search_coverage
from bot.sources.search.pacing import Departures, min_interval_for_quota
from bot.sources.search.runner import SearchOutcome, run_search
from bot.store import SourceState, Store
from bot.watchlist import SourceSpec

if TYPE_CHECKING:
    from bot.pipeline.poller import Poller, PollOutcome

__all__ = [
    "PACING_MARGIN",
    "StorePacer",
    "StoreQuota",
    "poll_search",
    "search_config",
    "search_interval",
]

log = logging.getLogger("signalwatch.pipeline")

# Added to every API spacing when pacing is shared: the server must never see two requests
# closer than its rule, whatever the delay between reserving a slot and the request leaving
# (a busy host's scheduling, a DNS lookup, a connection): a second covers what we measured.
PACING_MARGIN = 1.0


class StoreQuota:
    """The store as the news-API quota ledger: request counts survive restarts."""

    def __init__(self, store: Store):
        self.store = store

    async def calls_on(self, api: str, day: date) -> int:
        """Requests made to `api` on that UTC day (read in a worker thread)."""
        return await asyncio.to_thread(self.store.api_calls_on, api, day)

    async def add_calls(self, api: str, day: date, n: int) -> None:
        """Count `n` more requests to `api` on that UTC day (written in a worker thread)."""
        await asyncio.to_thread(self.store.add_api_calls, api, day, n)

    async def take_call(self, api: str, day: date, limit: int) -> bool:
        """Count one request if the day's quota has room, atomically across processes."""
        return await asyncio.to_thread(self.store.take_api_call, api, day, limit)


class StorePacer:
    """API pacing that holds across processes: each request's slot is reserved in the store.

    Slots are wall-clock times, so the hosts' clocks must agree (NTP); `margin` is added to
    every spacing so that, as the API's server sees them, requests are never closer than its
    rule even with a little network jitter.
    """

    def __init__(
        self,
        store: Store,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        margin: float = PACING_MARGIN,
    ) -> None:
        self.store = store
        self.clock = clock
        self.sleep = sleep
        self.margin = margin
        # This process's own departures: the store's slots space the processes; these keep a
        # request held after its slot from leaving close behind another of this process.
        self._departures = Departures(lambda: self.clock().timestamp(), sleep)

    async def wait(self, api: str, spacing: float, *, max_wait: float = math.inf) -> float:
        """Wait for this process's slot of `api` (see `Pacer.wait`).

        A caller that can put its request off (a finite `max_wait`) reserves a slot only when
        it is at most two spacings away: a worker does not queue far ahead of the others (and
        one killed while waiting strands one slot at most); further off, the seconds until it
        come back and the search is put off until then.
        """
        now = self.clock()
        gap = timedelta(seconds=spacing + self.margin)
        # A caller that cannot put its request off (a retry) passes no max_wait: it waits.
        limit = (
            None
            if math.isinf(max_wait)
            else timedelta(seconds=min(max_wait, 2 * (spacing + self.margin)))
        )
        start = await asyncio.to_thread(self.store.reserve_api_slot, api, now, gap, max_wait=limit)
        delay = (start - now).total_seconds()
        if delay > max_wait:
            return delay
        if delay > 0:
            await self.sleep(delay)
        return 0.0

    async def departing(self, api: str, spacing: float) -> None:
        """Right before a request leaves: `spacing` + margin after this process's last one."""
        await self._departures.depart(api, spacing + self.margin)

    async def hold(self, api: str, seconds: float) -> None:
        """No process starts a request to `api` for `seconds` from now (after a 429)."""
        until = self.clock() + timedelta(seconds=max(0.0, seconds))
        await asyncio.to_thread(self.store.reserve_api_slot, api, until, timedelta(0))


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
        min_interval=spec.min_interval,
    )


def search_interval(spec: SourceSpec, config: SearchConfig, signals: int) -> timedelta:
    """How often a news-API source is searched: its interval, or longer where the daily quota
    cannot pay for one request per signal that often."""
    if config.quota is None or signals == 0:
        return spec.interval
    return max(spec.interval, min_interval_for_quota(signals, config.quota))


def requests_per_poll(compiled: Compiled, spec: SourceSpec) -> int:
    """Requests one round of every enabled source of this API makes: they share its quota."""
    watchlist = compiled.watchlist
    return sum(
        len(watchlist.signals_for(other))
        for other in watchlist.enabled_sources()
        if other.type == spec.type
    )


async def poll_search(
    poller: Poller, source: SourceState, spec: SourceSpec, compiled: Compiled
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
    config = search_config(spec, poller.environ)
    signals = compiled.watchlist.signals_for(spec)
    watchlist = compiled.watchlist
    # In a worker thread: the first translation loads the word lists (about a second).
    coverage = await asyncio.to_thread(
        search_coverage, spec.type, [(s.id, watchlist.search_query(s)) for s in signals]
    )
    for signal_id, reason in coverage.unsearchable.items():
        if (spec.id, signal_id, reason) not in poller.told_unsearchable:
            poller.told_unsearchable.add((spec.id, signal_id, reason))
            log.warning(
                "%s cannot search for signal '%s' (%s); give the signal a `search:`"
                " query the API can say. Its feeds still cover it.",
                config.api_name,
                signal_id,
                reason,
            )
    cursors = await asyncio.to_thread(poller.store.search_cursors, source.id)
    # A signal with no cursor yet is searched over the backfill, except on a source that
    # polled before cursors existed (no cursors at all): there its last success stands.
    legacy = source.last_success_at if source.first_fetch_done and not cursors else None
    starts = {sid: cursors.get(sid, legacy) for sid, _ in coverage.searchable}
    oldest = datetime.min.replace(tzinfo=UTC)
    queries = sorted(coverage.searchable, key=lambda q: starts[q[0]] or oldest)
    window_end = poller.clock()
    outcome: SearchOutcome = await run_search(
        config,
        queries,
        None,
        window_end,
        fetcher=poller.fetcher,
        pacer=poller.pacer,
        quota=StoreQuota(poller.store),
        since_by_signal={sid: t for sid, t in starts.items() if t is not None},
    )
    now = poller.clock()
    nothing = not (outcome.searched or outcome.errors or outcome.entries)
    if outcome.retry_in is not None and nothing:
        # Paused by a Retry-After another source was given, before anything was asked:
        # nothing to store; come back when the pause ends.
        next_at = now + timedelta(seconds=outcome.retry_in)
        await asyncio.to_thread(
            poller.store.reschedule_source,
            source.id,
            now,
            next_poll_at=next_at,
            lease=poller.lease_of(source),
        )
        log.debug(
            "%s waits for its turn at %s (paused, or other workers' requests first);"
            " next search %s",
            source.id,
            config.api_name,
            next_at.isoformat(timespec="seconds"),
        )
        return PollOutcome(source.id, "deferred")
    fresh, plan, queued = await poller.commit_off_loop(compiled, source, outcome.entries, now)
    # After the commit: a crash between the two searches a window again, never skips one.
    await asyncio.to_thread(poller.store.advance_search_cursors, source.id, outcome.searched)
    refused = outcome.status in (401, 429)
    if outcome.errors and (refused or not outcome.searched):
        error = "; ".join(outcome.errors)
        failed = await poller.failed(source, now, error, outcome.status, outcome.retry_after)
        failed.entries, failed.fresh, failed.alerts = len(outcome.entries), len(fresh), queued
        return failed
    interval = search_interval(spec, config, requests_per_poll(compiled, spec))
    next_at = next_poll_after_success(source.id, interval, now)
    if outcome.retry_in is not None:
        next_at = max(next_at, now + timedelta(seconds=outcome.retry_in))
    if outcome.quota_exhausted and outcome.next_quota_reset is not None:
        # The day's quota is spent: search again when it resets (midnight UTC), not later.
        next_at = outcome.next_quota_reset
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
    await asyncio.to_thread(
        poller.store.record_fetch_ok,
        source.id,
        now,
        status=outcome.status or 200,
        etag=None,
        last_modified=None,
        next_poll_at=next_at,
        entries_seen_delta=len(fresh),
        warning=warning,
        lease=poller.lease_of(source),
    )
    # DEBUG: the loop's cycle line sums polls up at INFO.
    log.debug(
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
