"""When to poll a source next, and when to retry a delivery: pure functions of `now`.

Spreading: every source polls at its own phase within its interval, derived from its id, so
two thousand sources with a 10-minute interval poll at about three a second, not all at once,
and keep doing so across restarts (no thundering herd).

Failing sources back off exponentially from their interval, capped at 24 h, and never sooner
than the server's Retry-After; after `max_failures` in a row they are disabled until an admin
re-enables them.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "MAX_BACKOFF",
    "FailurePlan",
    "delivery_retry_at",
    "next_poll_after_failure",
    "next_poll_after_success",
    "phase_of",
]

MAX_BACKOFF = timedelta(hours=24)
MAX_CACHE_DELAY = timedelta(hours=6)  # a server's max-age never holds a source off longer
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def phase_of(source_id: str, interval: timedelta) -> timedelta:
    """A stable offset in [0, interval) for this source: its slot within every interval."""
    digest = hashlib.blake2b(source_id.encode(), digest_size=8).digest()
    seconds = max(1, int(interval.total_seconds()))
    return timedelta(seconds=int.from_bytes(digest, "big") % seconds)


def _next_slot(source_id: str, interval: timedelta, earliest: datetime) -> datetime:
    """The first time at or after `earliest` that falls on this source's phase."""
    period = max(1.0, interval.total_seconds())
    phase = phase_of(source_id, interval).total_seconds()
    since = (earliest - _EPOCH).total_seconds() - phase
    slot = math.ceil(since / period) * period + phase
    return _EPOCH + timedelta(seconds=slot)


def next_poll_after_success(
    source_id: str, interval: timedelta, now: datetime, max_age: float | None = None
) -> datetime:
    """Next poll after a fetch that worked (200 or 304).

    At least half an interval from now, on the source's phase; later when the server's
    Cache-Control max-age asks for it (up to MAX_CACHE_DELAY).
    """
    earliest = now + interval / 2
    if max_age is not None and max_age > 0:
        earliest = max(earliest, now + min(timedelta(seconds=max_age), MAX_CACHE_DELAY))
    return _next_slot(source_id, interval, earliest)


@dataclass(frozen=True, slots=True)
class FailurePlan:
    """What to do with a source after a failed poll."""

    next_poll_at: datetime
    disable_reason: str | None  # set when this failure disables the source


def next_poll_after_failure(
    interval: timedelta,
    now: datetime,
    *,
    consecutive_failures: int,
    retry_after: float | None,
    error: str,
    max_failures: int,
) -> FailurePlan:
    """Back off exponentially (interval × 2^(failures-1), ≤ 24 h); disable after max_failures.

    `consecutive_failures` counts this failure too.
    """
    failures = max(1, consecutive_failures)
    backoff = min(interval * (2 ** min(failures - 1, 20)), MAX_BACKOFF)
    if retry_after is not None and retry_after > 0:
        backoff = max(backoff, min(timedelta(seconds=retry_after), MAX_BACKOFF))
    reason = None
    if failures >= max_failures:
        reason = f"disabled after {failures} consecutive failures; last: {error}"
    return FailurePlan(now + backoff, reason)


def delivery_retry_at(now: datetime, attempts: int) -> datetime:
    """When to try a failed delivery again: 10 s doubling per attempt, at most 1 h."""
    seconds = min(10 * 2 ** min(max(attempts - 1, 0), 12), 3600)
    return now + timedelta(seconds=seconds)
