"""Run one poll of a search source: the only I/O in `bot.sources.search`.

run_search(config, [(signal id, query)], since, now, fetcher, pacer, quota, since_by_signal)
  no key where the API needs one      → refuse: one error line, no request
  for each signal (its own window: since_by_signal[signal], else since):
    quota for today used up            → stop; quota_exhausted, next_quota_reset (no error)
    build_request (translate, window)  → untranslatable: error line, next signal
    page by page, at most MAX_PAGES:
      a later page: quota used up      → stop; quota_exhausted; signal not searched
      pacer.wait(api, spacing)         → global per API, reserved slots; a slot further off
                                         than max_wait (after a 429): stop, retry_in
                                         (a later page: signal not searched)
      fetch it; each attempt, retries too, is paced and counted against the quota
        Fetched  → parse → entries     (parse errors: error line, next signal)
                   next_page(config, request, fetched), where the adapter pages:
                     a request         → fetch that page too (same window, older items)
                     a line            → full but cannot be paged past: a warning; done
                     None              → nothing left; done
                   no next_page and a full page, or still more after MAX_PAGES:
                     a warning (older items may be cut)
        a later page the plan refuses  → refuses_more(failed): a warning; done (NewsAPI 426)
        429 / rate-limit text / 401    → error line, stop this poll (retry_after)
        other failure                  → error line, next signal
      done: searched[signal] = now
  → SearchOutcome(entries deduplicated by key, errors, warnings, searched, status, …)

A signal is in `searched` only when every page asked for went through: the caller moves that
signal's window on, and every other signal is searched again from where it stood. Entries
of the pages read before a failure, a pause or the quota stopped the paging are kept; the
window is searched again next poll and the repeats are dropped downstream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from bot.errors import QueryError, SourceError
from bot.model import Entry
from bot.sources.fetch import Fetched, Fetcher, FetchFailed, FetchRequest, FetchResult
from bot.sources.search.adapters import ADAPTERS
from bot.sources.search.common import SearchRequest, unique_entries
from bot.sources.search.config import KEY_ENV_DEFAULTS, NEEDS_KEY, SearchConfig
from bot.sources.search.pacing import QuotaLedger, SearchPacer

__all__ = ["ADAPTERS", "MAX_PAGES", "SearchOutcome", "run_search"]

# Statuses after which every other signal's request would fail the same way.
_STOP_STATUSES = frozenset({401, 429})
# Longest a poll waits for its API's next slot: normal spacing is seconds; past this the API
# asked for a pause (Retry-After), and the poll stops and says when to come back.
MAX_PACER_WAIT = 60.0
# Most pages read for one signal in one poll. Each page costs a request of the daily quota
# (NewsAPI's free plan has 100) and a pacing slot (GDELT's 5 s hold every other signal back);
# five pages cover a busy day or a long gap, and past that the query itself is too broad.
MAX_PAGES = 5


@dataclass(frozen=True, slots=True)
class SearchOutcome:
    """What one poll of a search source gave: entries, one error line per failure, and state.

    `status` is the last HTTP status seen (the one that stopped the poll, if any);
    `retry_after` is seconds the API asked us to wait; `quota_exhausted` says today's quota
    stopped the poll (not an error), and `next_quota_reset` when it refills (next UTC midnight).
    """

    entries: list[Entry] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    status: int | None = None
    retry_after: float | None = None
    requests: int = 0
    quota_exhausted: bool = False
    next_quota_reset: datetime | None = None
    # signal id → end of the window searched for it (only signals whose every page went through)
    searched: dict[str, datetime] = field(default_factory=dict)
    # not errors: a window still full after paging (older items may have been cut), one a line
    warnings: list[str] = field(default_factory=list)
    # the API is paused for this many seconds more (a Retry-After elsewhere): poll again then
    retry_in: float | None = None


async def run_search(
    config: SearchConfig,
    queries: Sequence[tuple[str, str]],
    since: datetime | None,
    now: datetime,
    *,
    fetcher: Fetcher,
    pacer: SearchPacer,
    quota: QuotaLedger,
    since_by_signal: Mapping[str, datetime] | None = None,
) -> SearchOutcome:
    """Search the API for each signal (paced, within quota, paging through full answers).

    Each signal's window starts at `since_by_signal[signal]` where given, else at `since`
    (None: the backfill), and ends at `now`.
    """
    api = config.type
    name = config.api_name
    if api in NEEDS_KEY and not config.key:
        variable = KEY_ENV_DEFAULTS[api]
        return SearchOutcome(
            errors=[f"{name}: no API key for source '{config.source_id}' (set {variable})"]
        )
    adapter = ADAPTERS[api]
    limit = config.quota
    entries: list[Entry] = []
    errors: list[str] = []
    warnings: list[str] = []
    searched: dict[str, datetime] = {}
    status: int | None = None
    retry_after: float | None = None
    retry_in: float | None = None
    requests = 0
    exhausted = False
    starts = since_by_signal or {}

    async def quota_used() -> bool:
        return limit is not None and await quota.calls_on(api, _day(now)) >= limit

    async def count() -> None:
        nonlocal requests
        await quota.add_calls(api, _day(now), 1)
        requests += 1

    async def take() -> bool:
        """Count a request's first attempt, within the quota atomically (several workers)."""
        nonlocal requests
        if limit is None:
            await quota.add_calls(api, _day(now), 1)
        elif not await quota.take_call(api, _day(now), limit):
            return False
        requests += 1
        return True

    async def pace_and_count() -> None:
        # A retry is a request too: spaced like any other and counted against the quota.
        await pacer.wait(api, config.spacing)
        await count()

    async def fetch(signal_id: str, request: SearchRequest) -> FetchResult | None:
        """One page, paced and counted; None where the API is paused for long (retry_in set)
        or the day's quota was used up meanwhile (exhausted set)."""
        nonlocal retry_in, exhausted
        # Ask for the slot up front: where the API is paused for long, stop here rather than
        # hold this task (and the run loop behind it) until it may be asked again.
        wait = await pacer.wait(api, config.spacing, max_wait=MAX_PACER_WAIT)
        if wait > 0:
            retry_in = wait
            return None
        if not await take():
            exhausted = True  # another process took the day's last request meanwhile
            return None
        first = True

        async def before_attempt() -> None:
            nonlocal first
            if first:  # the slot reserved above is this attempt's
                first = False
            else:
                await pace_and_count()
            # Last, as the request leaves: whatever held it since its slot (the quota, the
            # host's queue), the server sees it no closer to the one before than the rule.
            await pacer.departing(api, config.spacing)

        return await fetcher.fetch(
            FetchRequest(
                f"{config.source_id}:{signal_id}",
                request.url,
                headers=request.headers or None,
                retry_rate_limited=False,
                before_attempt=before_attempt,
            )
        )

    async def search(signal_id: str, request: SearchRequest) -> bool:
        """Page through one signal's window; False when the whole poll must stop."""
        nonlocal status, retry_after, exhausted
        found: list[Entry] = []
        for pages in range(1, MAX_PAGES + 1):
            if pages > 1 and await quota_used():
                exhausted = True  # this signal's window is not covered: not searched
                return False
            result = await fetch(signal_id, request)
            if result is None:
                return False
            if isinstance(result, FetchFailed):
                refused = adapter.refuses_more(result) if pages > 1 else None
                if refused is not None:
                    # The plan serves no more of this search, now or on a later poll: what
                    # the earlier pages gave is all there is, so the signal moves on.
                    warnings.append(_line(name, signal_id, refused))
                    searched[signal_id] = now
                    return True
                status = result.status
                errors.append(_line(name, signal_id, adapter.describe_failure(result)))
                if result.status is None:
                    # No answer at all (DNS, refused, timed out): the next signal would get
                    # the same, so the poll stops with one error instead of one per signal.
                    return False
                if result.status in _STOP_STATUSES:
                    retry_after = result.retry_after
                    if result.status == 429:
                        await pacer.hold(
                            api,
                            retry_after if retry_after is not None else config.spacing,
                        )
                    return False
                return True
            status = result.status
            if not isinstance(result, Fetched):
                searched[signal_id] = now  # 304: we send no validators, so nothing newer exists
                return True
            try:
                page = adapter.parse(config, request, result, now)
            except SourceError as exc:
                errors.append(_line(name, signal_id, str(exc)))
                if exc.status == 429:  # GDELT's rate limit in a 200 answer
                    status = 429
                    await pacer.hold(api, config.spacing)
                    return False
                return True
            entries.extend(page)
            found.extend(page)
            more = adapter.next_page(config, request, result)
            if more is None:
                if not adapter.pages and len(page) >= adapter.page_size:
                    warnings.append(_line(name, signal_id, _cut(pages, len(found))))
                break
            if isinstance(more, str):  # full, but the API cannot be paged past it
                warnings.append(_line(name, signal_id, more))
                break
            request = more
        else:
            warnings.append(_line(name, signal_id, _cut(MAX_PAGES, len(found))))
        searched[signal_id] = now
        return True

    for signal_id, query_text in queries:
        if await quota_used():
            exhausted = True
            break
        try:
            request = adapter.build_request(
                config, signal_id, query_text, starts.get(signal_id, since), now
            )
        except (SourceError, QueryError) as exc:
            errors.append(_line(name, signal_id, str(exc)))
            continue
        if not await search(signal_id, request):
            break
    return SearchOutcome(
        entries=unique_entries(entries),
        errors=errors,
        status=status,
        retry_after=retry_after,
        requests=requests,
        quota_exhausted=exhausted,
        next_quota_reset=_next_midnight(now) if exhausted else None,
        searched=searched,
        warnings=warnings,
        retry_in=retry_in,
    )


def _cut(pages: int, items: int) -> str:
    """The warning for a window whose last page read was still full."""
    read = (
        f"a full page ({items} items) came back"
        if pages == 1
        else f"{pages} pages ({items} items) came back, the most a poll reads, the last still full"
    )
    return (
        f"{read}: items older than the oldest of them in this window may have been cut;"
        " give the signal a narrower `search:` query or poll this source more often"
    )


def _line(api: str, signal_id: str, message: str) -> str:
    """One error line naming the API and the signal (once each)."""
    text = " ".join(message.split())
    if not text.startswith(api):
        text = f"{api}: {text}"
    if f"'{signal_id}'" not in text:
        text = f"{text} (signal '{signal_id}')"
    return text


def _day(now: datetime) -> date:
    """The UTC day requests at `now` count on."""
    return now.astimezone(UTC).date()


def _next_midnight(now: datetime) -> datetime:
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=UTC)
