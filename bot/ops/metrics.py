"""Prometheus metrics of one run, in a registry of its own (prometheus-client, the `ops` extra).

Counters move as the run loop reports (see bot.ops.observe); gauges that describe the store
(outbox, sources by state, news-API quota) are read from it when /metrics is scraped.
"""

from __future__ import annotations

import logging
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.pipeline.outcome import PollOutcome
from bot.pipeline.planning import PollPlan
from bot.store import Store, source_health
from bot.watchlist import Watchlist

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# A feed answers in well under a second; a paced multi-signal news-API search in minutes.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
SOURCE_STATES = ("ok", "failing", "disabled", "removed")


class Metrics:
    """signalwatch_* metrics; implements bot.ops.observe.MetricsSink."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.polls = Counter("signalwatch_polls", "Polls by outcome.", ["outcome"], registry=r)
        self.poll_seconds = Histogram(
            "signalwatch_poll_seconds",
            "Time to fetch (or search) and store one source, retries included.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.entries = Counter("signalwatch_entries", "Entries read from sources.", registry=r)
        self.new_entries = Counter(
            "signalwatch_new_entries", "Entries not seen before.", registry=r
        )
        self.matches = Counter(
            "signalwatch_matches", "Articles matched, per signal.", ["signal"], registry=r
        )
        self.alerts_queued = Counter(
            "signalwatch_alerts_queued", "Alerts put in the outbox.", registry=r
        )
        self.alerts = Counter(
            "signalwatch_alerts",
            "Alert deliveries by sink and result (delivered, failed, given_up).",
            ["sink", "result"],
            registry=r,
        )
        self.outbox = Gauge(
            "signalwatch_outbox_alerts", "Alerts in the outbox by status.", ["status"], registry=r
        )
        self.oldest_pending = Gauge(
            "signalwatch_outbox_oldest_pending_seconds",
            "Age of the oldest alert waiting in the outbox (0 when none waits).",
            registry=r,
        )
        self.sources = Gauge("signalwatch_sources", "Sources by state.", ["state"], registry=r)
        self.quota = Gauge(
            "signalwatch_search_requests_today",
            "News-API requests made this UTC day, per API.",
            ["api"],
            registry=r,
        )
        self.rate_limits = Counter(
            "signalwatch_discord_rate_limits", "Times Discord asked us to slow down.", registry=r
        )
        self.up = Gauge("signalwatch_loop_alive", "1 while the run loop turns.", registry=r)

    # --- MetricsSink -----------------------------------------------------------------------

    def observe_poll(self, outcome: PollOutcome, seconds: float) -> None:
        """One poll finished."""
        self.polls.labels(outcome.status).inc()
        self.entries.inc(outcome.entries)
        self.new_entries.inc(outcome.fresh)
        if outcome.status != "deferred":
            self.poll_seconds.observe(seconds)

    def observe_plan(self, plan: PollPlan, queued: int) -> None:
        """One committed plan: matched articles per signal, alerts queued."""
        for article in plan.articles:
            for signal_id in article.signal_ids:
                self.matches.labels(signal_id).inc()
        self.alerts_queued.inc(queued)

    def observe_delivery(self, sink: str, result: str) -> None:
        """One delivery attempt's result."""
        self.alerts.labels(sink, result).inc()

    # --- on scrape -------------------------------------------------------------------------

    def refresh(self, store: Store, watchlist: Watchlist | None, now: datetime) -> None:
        """Read the gauges that describe the store (blocking: call it off the event loop)."""
        for status, count in store.outbox_counts().items():
            self.outbox.labels(status).set(count)
        # Not (yet) in the Store protocol: backends that have it report the age.
        oldest = store.oldest_pending_at()
        age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        self.oldest_pending.set(age)
        counts = dict.fromkeys(SOURCE_STATES, 0)
        for state in store.sources():
            health = source_health(state)
            counts[health] = counts.get(health, 0) + 1
        for name, count in counts.items():
            self.sources.labels(name).set(count)
        if watchlist is not None:
            apis = {s.type for s in watchlist.enabled_sources() if s.is_search}
            for api in sorted(apis):
                self.quota.labels(api).set(store.api_calls_on(api, now.date()))

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)

    def count_rate_limits(self) -> logging.Handler:
        """A handler for discord.py's logger that counts its rate-limit warnings."""
        return _RateLimitCounter(self.rate_limits)


class _RateLimitCounter(logging.Handler):
    """Counts discord.py's "being rate limited" records (it says so at WARNING)."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(logging.WARNING)
        self.counter = counter

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record if it is about a rate limit."""
        # discord.http logs each 429 it waits out (or gives up on) with this opening.
        if str(record.msg).startswith("We are being rate limited"):
            self.counter.inc()
