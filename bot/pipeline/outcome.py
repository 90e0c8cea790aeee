"""What one poll of one source did: for logs, tests and the loop's cycle line."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PollOutcome"]


@dataclass
class PollOutcome:
    """What one poll of one source did, for logs and tests."""

    source_id: str
    status: str  # "ok", "not-modified", "failed", "deferred" (a search the API paused),
    # "lost" (its lease ran out mid-poll: nothing committed; the next holder polls again)
    entries: int = 0
    fresh: int = 0
    alerts: int = 0
    error: str | None = None
    disabled: bool = False
