"""Scheduling: per-source phases, next poll after success and failure, delivery retries.

Everything in `bot.schedule` is a pure function of `now`, so these tests pass times in.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from bot.schedule import (
    MAX_BACKOFF,
    MAX_CACHE_DELAY,
    delivery_retry_at,
    next_poll_after_failure,
    next_poll_after_success,
    phase_of,
)

NOW = datetime(2025, 6, 25, 12, 3, 17, 250_000, tzinfo=UTC)
TEN_MIN = timedelta(minutes=10)
# The reference point of every phase (bot.schedule._EPOCH): slots are EPOCH + phase + k·interval.
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def offset_in_interval(when: datetime, interval: timedelta) -> timedelta:
    """Where `when` falls within its interval, counted from the phases' reference point."""
    return (when - EPOCH) % interval


def fail(
    failures: int,
    *,
    interval: timedelta = TEN_MIN,
    retry_after: float | None = None,
    max_failures: int = 10,
) -> tuple[timedelta, str | None]:
    """The backoff and disable reason after `failures` consecutive failures."""
    plan = next_poll_after_failure(
        interval,
        NOW,
        consecutive_failures=failures,
        retry_after=retry_after,
        error="HTTP 500 Internal Server Error",
        max_failures=max_failures,
    )
    return plan.next_poll_at - NOW, plan.disable_reason


def test_phases_of_many_sources_spread_evenly_over_the_interval() -> None:
    """2,000 sources on a 10-minute interval: no 10-second bucket holds over 3× its share."""
    ids = [f"source-{i}" for i in range(2000)]
    buckets = Counter(int(phase_of(i, TEN_MIN).total_seconds()) // 10 for i in ids)
    share = len(ids) / 60
    assert len(buckets) == 60  # every bucket is used
    assert max(buckets.values()) <= 3 * share
    assert min(buckets.values()) >= share / 3


def test_phase_is_stable_and_within_the_interval() -> None:
    """A source keeps its phase across calls (and restarts), always in [0, interval)."""
    phases = {phase_of("bbc-world", TEN_MIN) for _ in range(5)}
    assert len(phases) == 1
    (phase,) = phases
    assert timedelta(0) <= phase < TEN_MIN
    assert phase_of("bbc-world", TEN_MIN) != phase_of("guardian-world", TEN_MIN)


@pytest.mark.parametrize("interval_min", [1, 10, 20, 60, 24 * 60])
@pytest.mark.parametrize("source_id", ["bbc-world", "dw-world", "un-news"])
def test_next_poll_is_at_least_half_an_interval_ahead_and_on_the_phase(
    source_id: str, interval_min: int
) -> None:
    """After a success the next poll is in [now + interval/2, now + 1.5·interval), on phase."""
    interval = timedelta(minutes=interval_min)
    phase = phase_of(source_id, interval)
    for step in range(0, 4 * interval_min * 60, 37 * interval_min):
        now = NOW + timedelta(seconds=step)
        at = next_poll_after_success(source_id, interval, now)
        assert now + interval / 2 <= at < now + interval / 2 + interval
        assert offset_in_interval(at, interval) == phase


def test_consecutive_polls_keep_the_phase_and_the_interval() -> None:
    """Polling at each planned time lands on the same phase exactly one interval apart."""
    at = next_poll_after_success("politico-europe", TEN_MIN, NOW)
    times = [at]
    for _ in range(5):
        times.append(next_poll_after_success("politico-europe", TEN_MIN, times[-1]))
    assert [b - a for a, b in pairwise(times)] == [TEN_MIN] * 5


def test_max_age_longer_than_the_interval_is_honoured() -> None:
    """Cache-Control max-age of an hour holds a 10-minute source off for that hour, on phase."""
    at = next_poll_after_success("bbc-world", TEN_MIN, NOW, max_age=3600)
    assert NOW + timedelta(hours=1) <= at < NOW + timedelta(hours=1) + TEN_MIN
    assert offset_in_interval(at, TEN_MIN) == phase_of("bbc-world", TEN_MIN)


def test_max_age_shorter_than_half_an_interval_changes_nothing() -> None:
    """A short (or zero) max-age never makes a source poll sooner than its schedule."""
    plain = next_poll_after_success("bbc-world", TEN_MIN, NOW)
    assert next_poll_after_success("bbc-world", TEN_MIN, NOW, max_age=60) == plain
    assert next_poll_after_success("bbc-world", TEN_MIN, NOW, max_age=0) == plain


def test_max_age_is_capped() -> None:
    """A year-long max-age holds the source off at most MAX_CACHE_DELAY (plus one slot)."""
    assert timedelta(hours=6) == MAX_CACHE_DELAY
    at = next_poll_after_success("bbc-world", TEN_MIN, NOW, max_age=365 * 86400)
    assert NOW + MAX_CACHE_DELAY <= at < NOW + MAX_CACHE_DELAY + TEN_MIN


def test_failure_backoff_doubles_from_the_interval() -> None:
    """Failure n waits interval × 2^(n-1): 10, 20, 40, 80, 160 minutes."""
    waits = [fail(n)[0] for n in range(1, 6)]
    assert waits == [timedelta(minutes=m) for m in (10, 20, 40, 80, 160)]


def test_failure_backoff_caps_at_24_hours() -> None:
    """From the 9th failure of a 10-minute source on, the wait stays at 24 hours."""
    assert timedelta(hours=24) == MAX_BACKOFF
    assert fail(8, max_failures=100)[0] == timedelta(minutes=10 * 128)
    for n in (9, 10, 30, 1000):
        assert fail(n, max_failures=10_000)[0] == timedelta(hours=24)
    assert fail(1, interval=timedelta(days=2))[0] == timedelta(hours=24)


def test_retry_after_longer_than_the_backoff_is_respected() -> None:
    """A Retry-After of two hours on the first failure waits two hours, not ten minutes."""
    assert fail(1, retry_after=7200)[0] == timedelta(hours=2)


def test_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    """Retry-After: 30 on the third failure still waits the 40-minute backoff."""
    assert fail(3, retry_after=30)[0] == timedelta(minutes=40)
    assert fail(3, retry_after=0)[0] == timedelta(minutes=40)


def test_retry_after_is_capped_at_24_hours() -> None:
    """A Retry-After of a week waits 24 hours."""
    assert fail(1, retry_after=7 * 86400)[0] == timedelta(hours=24)


def test_source_is_disabled_at_max_failures_with_the_reason() -> None:
    """Failures below max_failures only back off; the max_failures-th disables, naming why."""
    for n in range(1, 5):
        assert fail(n, max_failures=5)[1] is None
    _, reason = fail(5, max_failures=5)
    assert reason == ("disabled after 5 consecutive failures; last: HTTP 500 Internal Server Error")
    assert fail(1, max_failures=1)[1] is not None


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [(0, 10), (1, 10), (2, 20), (3, 40), (4, 80), (8, 1280), (9, 2560), (10, 3600), (50, 3600)],
)
def test_delivery_retry_backoff(attempts: int, seconds: int) -> None:
    """A failed delivery is retried after 10 s, doubling per attempt, at most an hour."""
    assert delivery_retry_at(NOW, attempts) == NOW + timedelta(seconds=seconds)
