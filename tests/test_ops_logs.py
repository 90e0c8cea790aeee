"""What the operator reads: the banner, the cycle line, shortened URLs and JSON log lines."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.model import Alert
from bot.ops.banner import banner_lines, hide_password, next_poll_text
from bot.ops.logs import setup_logging, shorten_urls
from bot.ops.observe import RunObserver
from bot.pipeline.outcome import PollOutcome
from bot.store.records import SourceState

NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
GDELT = (
    "https://api.gdeltproject.org/api/v2/doc/doc?query=%28NATO%20OR%20%22North%20Atlantic%22"
    "%29%20AND%20%285%25%29&mode=artlist&format=json&maxrecords=250"
)


def test_urls_in_log_lines_are_shortened() -> None:
    """A query URL keeps its scheme, host and path; the query becomes '?…'; long paths are cut."""
    assert shorten_urls(f"retrying gdelt ({GDELT}) in 1 s") == (
        "retrying gdelt (https://api.gdeltproject.org/api/v2/doc/doc?…) in 1 s"
    )
    long = "http://h.example/" + "a" * 100
    assert shorten_urls(long) == "http://h.example/" + "a" * 40 + "…"
    assert shorten_urls("no url here") == "no url here"


def test_json_log_lines_carry_the_structured_fields() -> None:
    """SIGNALWATCH_LOG_FORMAT=json: one object per line with source / signal / alert_id."""
    stream = io.StringIO()
    handler = setup_logging("INFO", "json", stream)
    try:
        logging.getLogger("signalwatch.test").warning(
            "polled %s: failed", "wire", extra={"source": "wire", "signal": "nato"}
        )
    finally:
        logging.getLogger().removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "polled wire: failed"
    assert (line["level"], line["logger"]) == ("WARNING", "signalwatch.test")
    assert (line["source"], line["signal"]) == ("wire", "nato")
    assert "alert_id" not in line


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_one_cycle_line_a_minute_and_only_when_something_happened() -> None:
    """No line at the first turn nor in an idle minute; then at most one line a minute,
    summing what happened since the last one."""
    ticks = Ticks()
    observer = RunObserver(monotonic=ticks)
    assert observer.turn() is None
    ticks.now = 120
    assert observer.turn() is None  # nothing happened
    observer.poll_done(PollOutcome("a", "ok", entries=10, fresh=3))
    observer.poll_done(PollOutcome("b", "not-modified"))
    observer.poll_done(PollOutcome("c", "failed", error="HTTP 500"))
    observer.delivered(Alert("x", "nato", "webhook:HOOK", "t", None, "a", None, (), ""))
    ticks.now = 121
    assert observer.turn() == (
        "cycle: 3 polled (1 ok, 1 not modified, 1 failed); 3 new entries, 0 matched;"
        " 0 alerts queued, 1 delivered; failing: c"
    )
    observer.poll_done(PollOutcome("c", "ok"))
    ticks.now = 170
    assert observer.turn() is None  # not a minute since the last line yet
    ticks.now = 182
    assert observer.turn() == (
        "cycle: 1 polled (1 ok, 0 not modified, 0 failed); 0 new entries, 0 matched;"
        " 0 alerts queued, 0 delivered"
    )
    assert observer.exit_code() == 0


def test_the_exit_code_is_3_only_when_every_poll_failed() -> None:
    """Failed polls alone: 3; one ok among them: 0; nothing polled: 0."""
    observer = RunObserver()
    assert observer.exit_code() == 0
    observer.poll_done(PollOutcome("a", "failed", error="DNS"))
    assert observer.exit_code() == 3
    observer.poll_done(PollOutcome("b", "ok"))
    assert observer.exit_code() == 0


def source(sid: str, due_in: timedelta, *, enabled: bool = True) -> SourceState:
    """A stored source due `due_in` from NOW."""
    return SourceState(
        id=sid,
        url="http://x",
        type="rss",
        interval_s=600,
        configured=True,
        enabled=enabled,
        disabled_reason=None,
        etag=None,
        last_modified=None,
        next_poll_at=NOW + due_in,
        lease_until=None,
        consecutive_failures=0,
        last_attempt_at=None,
        last_success_at=None,
        last_error=None,
        last_status=None,
        entries_seen=0,
        first_fetch_done=False,
        created_at=NOW,
    )


def test_the_banner_says_where_alerts_go_and_when_the_next_poll_is() -> None:
    """Console or Discord, webhooks, database (no password), counts, next poll, http, contact."""
    sources = [source("a", timedelta(minutes=4)), source("b", timedelta(minutes=9))]
    lines = banner_lines(
        version="1.0",
        alerts_to="the console (SIGNALWATCH_DISCORD_TOKEN is not set)",
        webhooks=["OPS_HOOK"],
        database=hide_password("postgresql://sw:s3cret@db/sw"),
        watchlist=Path("watchlist.yaml"),
        signals=13,
        sources=20,
        next_poll=next_poll_text(sources, NOW),
        http_url=None,
        contact=None,
    )
    text = "\n".join(lines)
    assert (
        "alerts to   the console (SIGNALWATCH_DISCORD_TOKEN is not set); webhooks: OPS_HOOK" in text
    )
    assert "database    postgresql://sw:***@db/sw" in text and "s3cret" not in text
    assert "watchlist   watchlist.yaml: 13 signals, 20 sources" in text
    assert "next poll   in 4m (a)" in text
    assert "SIGNALWATCH_HTTP_PORT" in text and "SIGNALWATCH_CONTACT" in text
    assert next_poll_text([source("a", -timedelta(seconds=1))], NOW) == "now (1 source due)"
    assert (
        next_poll_text([source("a", timedelta(0), enabled=False)], NOW) == "never: no source is on"
    )
