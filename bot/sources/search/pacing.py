"""Politeness towards news APIs: global per-API spacing, and daily request quotas.

`Pacer` spaces requests to one API across every source that uses it (GDELT's "one request
every 5 seconds" holds per caller, not per source), as the API's server sees them:

    wait(api, spacing)       up front: reserve the next slot, `spacing + margin` after the last
                             (or, past `max_wait`, say how far off it is and reserve nothing)
    … the quota, the fetcher's queue for the host (several APIs may share one), …
    departing(api, spacing)  right before the request leaves: wait until `spacing + margin`
                             after the request that left last, then count this one as left

A request held between its slot and the wire (another API's turn at a shared host, the
quota's database) would otherwise reach the server closer to the next than the API's rule:
4.83 s apart, or 3.00 s behind a shared host's queue, where GDELT asks for 5 s. `margin`
covers what still differs between leaving and arriving (a new connection's handshake).

`QuotaLedger` counts requests per API and UTC day; the store implements it so counts
survive restarts; `MemoryQuotaLedger` is the in-memory one for tests and single runs.
`min_interval_for_quota` is the planning side: the shortest poll interval that a quota can
pay for.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Protocol

__all__ = [
    "PACING_MARGIN",
    "Departures",
    "MemoryQuotaLedger",
    "Pacer",
    "QuotaLedger",
    "SearchPacer",
    "min_interval_for_quota",
]

_DAY_SECONDS = 86_400

# Seconds added to every API's spacing: a request reaches the server some time after it
# leaves us, and not always the same time (a new connection's TCP and TLS handshakes, a DNS
# lookup, where the one before reused a connection): half a second covers those.
PACING_MARGIN = 0.5


class SearchPacer(Protocol):
    """What a search needs to be polite: a slot per request, and a hold after a 429."""

    async def wait(self, api: str, spacing: float, *, max_wait: float = math.inf) -> float:
        """Wait for the next slot of `api`; or, when it is over `max_wait` s away, return
        the seconds until it without reserving it."""
        ...

    async def hold(self, api: str, seconds: float) -> None:
        """Start no request to `api` for `seconds` from now."""
        ...

    async def departing(self, api: str, spacing: float) -> None:
        """Right before a request to `api` leaves: hold it until `spacing` (and the margin)
        after the one that left last, whatever delayed either since its slot."""
        ...


class Departures:
    """When each API's last request leaves this process; keeps departures `gap` apart.

    Like the slots, a departure time is reserved before sleeping for it, so concurrent
    requests queue one `gap` apart instead of waking together, whichever had the earlier slot.
    """

    def __init__(
        self, clock: Callable[[], float], sleep: Callable[[float], Awaitable[None]]
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._last: dict[str, float] = {}

    async def depart(self, api: str, gap: float) -> None:
        """Wait until `gap` seconds after the last departure to `api`; that is this one's."""
        now = self._clock()
        leave = max(now, self._last.get(api, -math.inf) + gap)
        self._last[api] = leave
        if leave > now:
            await self._sleep(leave - now)


class Pacer:
    """Keep requests to each API at least `spacing` seconds apart, whoever sends them.

    `clock` is monotonic seconds and `sleep` waits; tests pass fakes so nothing really waits.
    `margin` is added to every spacing (see PACING_MARGIN).
    """

    def __init__(
        self,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        margin: float = PACING_MARGIN,
    ) -> None:
        if margin < 0 or not math.isfinite(margin):
            raise ValueError(f"pacing margin must be a finite number of seconds >= 0, not {margin}")
        self._clock = clock
        self._sleep = sleep
        self.margin = margin
        self._next_start: dict[str, float] = {}
        self._departures = Departures(clock, sleep)

    async def wait(self, api: str, spacing: float, *, max_wait: float = math.inf) -> float:
        """Wait until a request to `api` may start: `spacing` s after the last one reserved.

        Returns 0.0 once the slot is ours. Where the slot is more than `max_wait` s away (the
        API asked for a long pause) nothing is reserved and no time passes: the seconds
        until the slot come back instead, so the caller can plan a later poll rather than
        hold its task, and the run loop, that long.
        """
        if spacing < 0 or not math.isfinite(spacing):
            raise ValueError(f"pacing for {api} must be a finite number of seconds >= 0")
        # Reserve the slot before sleeping, so concurrent callers queue at `spacing`
        # intervals instead of all waking at the same moment.
        now = self._clock()
        start = max(now, self._next_start.get(api, -math.inf))
        if start - now > max_wait:
            return start - now
        self._next_start[api] = start + spacing + self.margin
        if start > now:
            await self._sleep(start - now)
        return 0.0

    async def departing(self, api: str, spacing: float) -> None:
        """Right before a request to `api` leaves: at least `spacing` + margin after the last."""
        await self._departures.depart(api, spacing + self.margin)

    async def hold(self, api: str, seconds: float) -> None:
        """Start no request to `api` for `seconds` from now (after it answered 429)."""
        until = self._clock() + max(0.0, seconds)
        self._next_start[api] = max(self._next_start.get(api, -math.inf), until)


class QuotaLedger(Protocol):
    """Requests made per API and UTC day (the store keeps these so restarts do not reset them)."""

    async def calls_on(self, api: str, day: date) -> int:
        """How many requests to `api` were counted on `day`."""
        ...

    async def add_calls(self, api: str, day: date, n: int) -> None:
        """Count `n` more requests to `api` on `day`."""
        ...

    async def take_call(self, api: str, day: date, limit: int) -> bool:
        """Count one request to `api` on `day` if fewer than `limit` were; whether it was."""
        ...


class MemoryQuotaLedger:
    """A QuotaLedger in a dict: for tests and runs that need not remember across restarts."""

    def __init__(self) -> None:
        self._calls: dict[tuple[str, date], int] = {}

    async def calls_on(self, api: str, day: date) -> int:
        """How many requests to `api` were counted on `day`."""
        return self._calls.get((api, day), 0)

    async def add_calls(self, api: str, day: date, n: int) -> None:
        """Count `n` more requests to `api` on `day`."""
        self._calls[(api, day)] = self._calls.get((api, day), 0) + n

    async def take_call(self, api: str, day: date, limit: int) -> bool:
        """Count one request to `api` on `day` if fewer than `limit` were; whether it was."""
        if self._calls.get((api, day), 0) >= limit:
            return False
        await self.add_calls(api, day, 1)
        return True


def min_interval_for_quota(requests_per_poll: int, daily_quota: int) -> timedelta:
    """The shortest poll interval at which `requests_per_poll` a poll stays within the quota.

    Never more than a day: a quota too small for one whole round is spent in one poll a
    day, and the signals it did not reach go first the next day (they keep their windows).
    """
    if requests_per_poll < 1 or daily_quota < 1:
        raise ValueError(
            "requests per poll and daily quota must be 1 or more,"
            f" got {requests_per_poll} and {daily_quota}"
        )
    seconds = math.ceil(_DAY_SECONDS * requests_per_poll / daily_quota)
    return timedelta(seconds=min(seconds, _DAY_SECONDS))
