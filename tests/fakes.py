"""The test suite's own stand-ins for the clock and the admin channel: one of each.

    clock = FakeClock(NOW)        # wall time (tz-aware UTC) that moves only when told to
    clock.advance(minutes=5)      # or clock.advance(timedelta(minutes=5)); clock.now = ...
    mono = FakeMonotonic()        # monotonic seconds that move only when code sleeps on it
    await mono.sleep(2.0)         # recorded in mono.sleeps (mono.waits: the non-zero ones)
    notices = Notices()           # a Notifier that keeps each notice's text in .texts

Fakes over mocks: each implements the project's own interface (a clock callable, the
pacer's and fetcher's sleep, `Notifier`) as a small real object.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.notices import Notice, notice_text

__all__ = ["FakeClock", "FakeMonotonic", "Notices"]


class FakeClock:
    """Wall time that stands still until the test moves it (default: now, to the second)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now if now is not None else datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        """The current (test) time."""
        return self.now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move the clock forward by `delta` or by `parts` (`minutes=5`); the new time."""
        self.now += (delta or timedelta()) + timedelta(**parts)
        return self.now


class FakeMonotonic:
    """Monotonic seconds that move only when someone sleeps on it; every sleep is recorded.

    With `advance=False` time is frozen: every wait is measured from the same instant.
    """

    def __init__(self, *, advance: bool = True, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._advance = advance

    def __call__(self) -> float:
        """The current (test) monotonic time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait and move time instead of waiting; still let other tasks run."""
        self.sleeps.append(seconds)
        if self._advance:
            self.now += seconds
        await asyncio.sleep(0)

    @property
    def waits(self) -> list[float]:
        """The non-zero sleeps (zero-length backoff sleeps are just yields)."""
        return [s for s in self.sleeps if s > 0]


class Notices:
    """A Notifier that keeps each admin notice as the text it would be posted as."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def notify(self, message: str | Notice) -> None:
        """Keep one admin notice."""
        self.texts.append(message if isinstance(message, str) else notice_text(message))
