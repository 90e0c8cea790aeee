"""Run one poll of a search source: the only I/O in `bot.sources.search`.

run_search(config, [(signal id, query)], since, now, fetcher, pacer, quota)
  no key where the API needs one      → refuse: one error line, no request
  for each signal:
    quota for today used up            → stop; quota_exhausted, next_quota_reset (no error)
    build_request (translate, window)  → untranslatable: error line, next signal
    pacer.wait(api, spacing)           → global per API, reserved slots
    count the request, fetch it        (the Fetcher retries 5xx; never a 429)
      Fetched    → parse → entries     (parse errors: error line, next signal)
      429 / rate-limit text / 401      → error line, stop this poll (retry_after)
      other failure                    → error line, next signal
  → SearchOutcome(entries deduplicated by key, errors, status, retry_after, requests, …)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from types import ModuleType

from bot.errors import QueryError, SourceError
from bot.model import Entry
from bot.sources.fetch import Fetched, Fetcher, FetchFailed, FetchRequest
from bot.sources.search import gdelt, google_news, guardian, newsapi
from bot.sources.search.common import SearchRequest, unique_entries
from bot.sources.search.config import KEY_ENV_DEFAULTS, NEEDS_KEY, SearchConfig
from bot.sources.search.pacing import Pacer, QuotaLedger

__all__ = ["ADAPTERS", "SearchOutcome", "run_search"]

ADAPTERS: dict[str, ModuleType] = {
    "gdelt": gdelt,
    "google_news": google_news,
    "newsapi": newsapi,
    "guardian": guardian,
}

# Statuses after which every other signal's request would fail the same way.
_STOP_STATUSES = frozenset({401, 429})


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


async def run_search(
    config: SearchConfig,
    queries: Sequence[tuple[str, str]],
    since: datetime | None,
    now: datetime,
    *,
    fetcher: Fetcher,
    pacer: Pacer,
    quota: QuotaLedger,
) -> SearchOutcome:
    """Search the API once per signal (paced, within quota) and return entries and errors."""
    api = config.type
    name = config.api_name
    if api in NEEDS_KEY and not config.key:
        variable = KEY_ENV_DEFAULTS[api]
        return SearchOutcome(
            errors=[f"{name}: no API key for source '{config.source_id}' (set {variable})"]
        )
    adapter = ADAPTERS[api]
    build: Callable[..., SearchRequest] = adapter.build_request
    day = now.astimezone(UTC).date()
    limit = config.quota
    entries: list[Entry] = []
    errors: list[str] = []
    status: int | None = None
    retry_after: float | None = None
    requests = 0
    exhausted = False
    for signal_id, query_text in queries:
        if limit is not None and quota.calls_on(api, day) >= limit:
            exhausted = True
            break
        try:
            request = build(config, signal_id, query_text, since, now)
        except (SourceError, QueryError) as exc:
            errors.append(_line(name, signal_id, str(exc)))
            continue
        await pacer.wait(api, config.spacing)
        # Counted before sending: a request the API saw counts even if its answer is lost.
        quota.add_calls(api, day, 1)
        requests += 1
        result = await fetcher.fetch(
            FetchRequest(
                f"{config.source_id}:{signal_id}",
                request.url,
                headers=request.headers or None,
                retry_rate_limited=False,
            )
        )
        if isinstance(result, FetchFailed):
            status = result.status
            errors.append(_line(name, signal_id, adapter.describe_failure(result)))
            if result.status in _STOP_STATUSES:
                retry_after = result.retry_after
                if result.status == 429:
                    pacer.hold(api, retry_after if retry_after is not None else config.spacing)
                break
            continue
        status = result.status
        if not isinstance(result, Fetched):
            continue  # 304: we send no validators, so the API has nothing newer to say
        try:
            entries.extend(adapter.parse(config, request, result, now))
        except SourceError as exc:
            errors.append(_line(name, signal_id, str(exc)))
            if exc.status == 429:  # GDELT's rate limit in a 200 answer
                status = 429
                pacer.hold(api, config.spacing)
                break
    return SearchOutcome(
        entries=unique_entries(entries),
        errors=errors,
        status=status,
        retry_after=retry_after,
        requests=requests,
        quota_exhausted=exhausted,
        next_quota_reset=_next_midnight(now) if exhausted else None,
    )


def _line(api: str, signal_id: str, message: str) -> str:
    """One error line naming the API and the signal (once each)."""
    text = " ".join(message.split())
    if not text.startswith(api):
        text = f"{api}: {text}"
    if f"'{signal_id}'" not in text:
        text = f"{text} (signal '{signal_id}')"
    return text


def _next_midnight(now: datetime) -> datetime:
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=UTC)
