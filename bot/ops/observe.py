"""What a run did, counted as it happens: the cycle line, the exit code, metrics and health.

The run loop, the poller and the deliverer call the `RunObserver` hooks; the observer keeps
counts for the one INFO line per cycle, decides `run --once`'s exit code, feeds the metrics
(when a `MetricsSink` is attached) and answers /healthz and /readyz. No I/O here: the loop
logs the lines this module renders.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot.model import Alert
from bot.ops.cliaid import EXIT_ALL_FAILED, EXIT_OK
from bot.ops.progress import Bar
from bot.pipeline.outcome import PollOutcome
from bot.pipeline.planning import PollPlan

__all__ = ["CycleCounts", "MetricsSink", "RunObserver", "sink_of"]

CYCLE_EVERY = 60.0  # seconds between cycle lines in a long run (one when something happened)
ALIVE_FOR = 60.0  # /healthz: the loop turned within this many seconds


def sink_of(destination: str) -> str:
    """The kind of sink an alert destination goes to: console, channel, webhook, dm."""
    return destination.partition(":")[0] or "console"


class MetricsSink(Protocol):
    """Where the observer sends what it counts (bot.ops.metrics.Metrics)."""

    def observe_poll(self, outcome: PollOutcome, seconds: float) -> None:
        """One poll finished."""

    def observe_plan(self, plan: PollPlan, queued: int) -> None:
        """One poll's plan was committed, queueing `queued` alerts."""

    def observe_delivery(self, sink: str, result: str) -> None:
        """One alert to a sink: delivered, failed (will retry) or given up."""


@dataclass
class CycleCounts:
    """What happened since the last cycle line."""

    polls: Counter[str] = field(default_factory=Counter)
    entries: int = 0
    fresh: int = 0
    matched: int = 0
    queued: int = 0
    delivered: int = 0
    undelivered: int = 0

    @property
    def polled(self) -> int:
        """Polls finished, any outcome."""
        return sum(self.polls.values())

    def empty(self) -> bool:
        """Nothing happened."""
        return not (self.polled or self.delivered or self.undelivered or self.queued)


@dataclass
class RunObserver:
    """Counts one run's polls and deliveries; renders the cycle line; knows if it is healthy."""

    monotonic: Callable[[], float] = time.monotonic
    every: float = CYCLE_EVERY
    metrics: MetricsSink | None = None
    # Said in the banner: where alerts go, and the database's URL (without its password).
    alerts_to: str = "the console (SIGNALWATCH_DISCORD_TOKEN is not set)"
    database: str | None = None
    http_url: str | None = None
    # None when no Discord bot runs; else tells whether its gateway is ready (for /readyz).
    discord_ready: Callable[[], bool] | None = None
    cycle: CycleCounts = field(default_factory=CycleCounts)
    total: CycleCounts = field(default_factory=CycleCounts)
    # source id → its error, while it fails (cleared by its next good poll)
    failing: dict[str, str] = field(default_factory=dict)
    last_turn: float | None = None
    last_poll_at: datetime | None = None
    started_at: float | None = None
    _last_line: float | None = None
    # `run --once` on a terminal: a progress bar over the sources to poll (bot.ops.progress)
    progress: Bar | None = None
    poll_all: bool = False  # --all: every active source is polled, due or not

    # --- hooks ---------------------------------------------------------------------------

    def poll_done(self, outcome: PollOutcome, seconds: float = 0.0) -> None:
        """A poll finished (any outcome), taking `seconds`."""
        for counts in (self.cycle, self.total):
            counts.polls[outcome.status] += 1
            counts.entries += outcome.entries
            counts.fresh += outcome.fresh
        if self.progress is not None:
            self.progress.advance()
        if outcome.status == "failed":
            self.failing[outcome.source_id] = outcome.error or "failed"
        elif outcome.status in ("ok", "not-modified"):
            self.failing.pop(outcome.source_id, None)
        if self.metrics is not None:
            self.metrics.observe_poll(outcome, seconds)

    def plan_committed(self, plan: PollPlan, queued: int) -> None:
        """A poll's plan was committed: its matches and queued alerts."""
        for counts in (self.cycle, self.total):
            counts.matched += plan.matched
            counts.queued += queued
        if self.metrics is not None:
            self.metrics.observe_plan(plan, queued)

    def delivered(self, alert: Alert) -> None:
        """An alert reached its sink."""
        self.cycle.delivered += 1
        self.total.delivered += 1
        if self.metrics is not None:
            self.metrics.observe_delivery(sink_of(alert.destination), "delivered")

    def delivery_failed(self, alert: Alert, permanent: bool) -> None:
        """An alert did not reach its sink (retried later, or given up when `permanent`)."""
        self.cycle.undelivered += 1
        self.total.undelivered += 1
        if self.metrics is not None:
            result = "given_up" if permanent else "failed"
            self.metrics.observe_delivery(sink_of(alert.destination), result)

    def turn(self) -> str | None:
        """The loop turned; the cycle line when one is due and something happened."""
        now = self.monotonic()
        self.last_turn = now
        if self.started_at is None:
            self.started_at = now
        if self._last_line is None:
            self._last_line = now
            return None
        if now - self._last_line < self.every or self.cycle.empty():
            return None
        return self.take_line()

    def take_line(self) -> str:
        """The cycle line for what happened since the last one (and start a new cycle)."""
        self._last_line = self.monotonic()
        line = cycle_line(self.cycle, self.failing)
        self.cycle = CycleCounts()
        return line

    # --- answers -------------------------------------------------------------------------

    def exit_code(self) -> int:
        """`run --once`: 3 when every source polled failed, else 0 (see bot.ops.cliaid)."""
        polls = self.total.polls
        if polls["failed"] and polls["failed"] == self.total.polled:
            return EXIT_ALL_FAILED
        return EXIT_OK

    def alive(self, within: float = ALIVE_FOR) -> bool:
        """The loop turned within `within` seconds (/healthz)."""
        return self.last_turn is not None and self.monotonic() - self.last_turn <= within


def cycle_line(counts: CycleCounts, failing: dict[str, str]) -> str:
    """One line: polls by outcome, entries, matches, alerts queued and delivered, failing."""
    polls = counts.polls
    parts = [
        f"{polls['ok']} ok",
        f"{polls['not-modified']} not modified",
        f"{polls['failed']} failed",
    ]
    if polls["deferred"]:
        parts.append(f"{polls['deferred']} paused")
    line = (
        f"cycle: {counts.polled} polled ({', '.join(parts)}); {counts.fresh} new entries,"
        f" {counts.matched} matched; {counts.queued} alerts queued, {counts.delivered} delivered"
    )
    if counts.undelivered:
        line += f", {counts.undelivered} not delivered"
    if failing:
        names = sorted(failing)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        line += f"; failing: {shown}"
    return line
