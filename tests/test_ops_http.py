"""Metrics, health and the status page over HTTP; `run --once` exit codes and --timeout.

The run goes against local feeds (tests/feedserver.py); /metrics is scraped afterwards and
its counts are checked against what the store says happened.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from feedserver import FeedServer
from prometheus_client.parser import text_string_to_metric_families

from bot.app import Wiring
from bot.model import Alert
from bot.ops.http import HttpServer, probe_health
from bot.ops.metrics import Metrics
from bot.ops.status import SignalStatus, StatusData, render_status
from bot.pipeline import loop as runner
from bot.pipeline.loop import RunOptions
from bot.settings import Settings
from bot.store import Store
from bot.store.records import ArticleMatch, ArticleRecord, PendingAlert

pytest_plugins = ["feedserver"]

ROOT = Path(__file__).resolve().parent.parent
E2E = Path(__file__).parent / "data" / "e2e"
SETTINGS = Settings(allow_private_urls=True, per_host_spacing=0, heartbeat_file=None)
WAIT = 20.0


def e2e_watchlist(server: FeedServer, extra: str = "") -> str:
    """The e2e watchlist pointed at the feed server, with `extra` source items."""
    text = (E2E / "watchlist.yaml").read_text(encoding="utf-8")
    text = text.replace("__FEEDS__", server.base_url)
    return text.replace("\nroutes:", extra + "\nroutes:")


BROKEN = """
  - id: broken
    url: {url}
"""


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.fixture(autouse=True)
def short_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """Idle turns of the loop last 10 ms instead of a second."""
    monkeypatch.setattr(runner, "TICK", 0.01)


def test_metrics_after_a_run_count_what_happened(
    tmp_path: Path, store: Store, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """One pass over a good feed and a broken one; /metrics agrees with the store."""
    feed_server.put("/e2e/wire.xml", (E2E / "wire.xml").read_bytes())
    path = tmp_path / "watchlist.yaml"
    broken = BROKEN.format(url=feed_server.url("/status/500"))
    path.write_text(e2e_watchlist(feed_server, broken), encoding="utf-8")

    async def scenario() -> tuple[str, dict[str, httpx.Response]]:
        wiring = Wiring(SETTINGS, path, store, "json")
        metrics = Metrics()
        wiring.observer.metrics = metrics
        server = HttpServer(wiring, metrics)
        url = await server.start("127.0.0.1", 0)
        try:
            options = RunOptions(once=True, force=True)
            code = await wiring.run(wiring.sink(), wiring.notifier(), options, asyncio.Event())
            assert code == 0  # one source answered
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
                scraped = (await client.get("/metrics")).text
                others = {p: await client.get(p) for p in ("/healthz", "/readyz", "/", "/nope")}
                others["POST /"] = await client.post("/")
            port = int(url.rsplit(":", 1)[1].strip("/"))
            probe = await asyncio.to_thread(probe_health, "127.0.0.1", port)
            assert probe == (True, "ok: the run loop is turning")
        finally:
            await server.aclose()
            await wiring.aclose()
        return scraped, others

    scraped, others = asyncio.run(scenario())
    got = samples(scraped)
    outbox = store.outbox_counts()
    queued = sum(outbox.values())
    assert queued == 6 and outbox["delivered"] == 6
    assert got[("signalwatch_polls_total", (("outcome", "ok"),))] == 1
    assert got[("signalwatch_polls_total", (("outcome", "failed"),))] == 1
    assert got[("signalwatch_poll_seconds_count", ())] == 2
    assert got[("signalwatch_entries_total", ())] == 9  # the items of wire.xml
    assert got[("signalwatch_new_entries_total", ())] == 9
    assert got[("signalwatch_alerts_queued_total", ())] == queued
    delivered = sum(
        v
        for (name, labels), v in got.items()
        if name == "signalwatch_alerts_total" and ("result", "delivered") in labels
    )
    assert delivered == outbox["delivered"]
    per_signal = Counter(sid for a in store.recent_articles(100) for sid in a.signal_ids)
    matched = {
        dict(labels)["signal"]: v
        for (name, labels), v in got.items()
        if name == "signalwatch_matches_total"
    }
    assert matched == per_signal and sum(matched.values()) >= 6
    assert got[("signalwatch_outbox_alerts", (("status", "delivered"),))] == 6
    assert got[("signalwatch_sources", (("state", "ok"),))] == 1
    assert got[("signalwatch_sources", (("state", "failing"),))] == 1
    assert others["/healthz"].status_code == 200
    assert others["/readyz"].status_code == 200
    page = others["/"]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "NATO spending hits 5%" in page.text and 'id="source-broken"' in page.text
    assert others["/nope"].status_code == 404
    assert others["POST /"].status_code == 405


def test_health_is_503_before_the_loop_turns(tmp_path: Path, store: Store) -> None:
    """/healthz says unhealthy while the loop has not turned, /readyz waits for Discord."""

    async def scenario() -> tuple[int, int]:
        wiring = Wiring(SETTINGS, tmp_path / "w.yaml", store)
        wiring.observer.discord_ready = lambda: False
        server = HttpServer(wiring, None)
        url = await server.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=url, timeout=WAIT) as client:
                health = (await client.get("/healthz")).status_code
                ready = (await client.get("/readyz")).status_code
                metrics = await client.get("/metrics")
                assert metrics.status_code == 503 and "signalwatch[ops]" in metrics.text
            port = int(url.rsplit(":", 1)[1].strip("/"))
            healthy, why = await asyncio.to_thread(probe_health, "127.0.0.1", port)
            assert not healthy and "has not turned" in why
        finally:
            await server.aclose()
            await wiring.aclose()
        return health, ready

    assert asyncio.run(scenario()) == (503, 503)


NOW = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def hostile_status() -> StatusData:
    """A snapshot whose every feed-given string is an attempt at markup."""
    article = ArticleRecord(
        "wire",
        "k1",
        HOSTILE,
        "",
        "javascript:alert(1)",
        None,
        None,
        (ArticleMatch("nato", ("NATO",), "**NATO**"),),
        NOW - timedelta(minutes=5),
    )
    alert = Alert(
        "a1", "nato", "console", HOSTILE, 'https://example.org/"><script>', "wire", None, (), ""
    )
    pending = PendingAlert(alert, "delivered", 1, NOW, None, NOW - timedelta(minutes=4))
    days = [(date(2026, 1, 2) - timedelta(days=29 - i), i % 3) for i in range(30)]
    return StatusData(
        now=NOW,
        signals=[SignalStatus("nato", HOSTILE, True, [article], days, 30)],
        outbox={"pending": 0, "delivered": 1, "failed": 0},
        alerts=[(pending, None)],
    )


def test_the_status_page_escapes_everything_from_feeds() -> None:
    """Titles, links and ids with markup in them come out as text; javascript: links as text."""
    html = render_status(hostile_status())
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'href="javascript' not in html
    assert 'href="https://example.org/&quot;&gt;&lt;script&gt;"' in html
    assert html.count("<rect") == 30


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def command_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a `python -m bot` subprocess against the feed server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWATCH_")}
    env.update(
        SIGNALWATCH_ALLOW_PRIVATE_URLS="1",
        SIGNALWATCH_PER_HOST_SPACING="0",
        SIGNALWATCH_DB=f"sqlite:///{tmp_path / 'db.sqlite'}",
        SIGNALWATCH_WATCHLIST=str(tmp_path / "watchlist.yaml"),
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def test_run_once_exits_3_when_every_source_fails(tmp_path: Path, feed_server: FeedServer) -> None:
    """Every polled source failed: exit 3, and the cycle line names them."""
    text = e2e_watchlist(feed_server).replace("/e2e/wire.xml", "/status/404")
    (tmp_path / "watchlist.yaml").write_text(text, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--once"],
        capture_output=True,
        text=True,
        env=command_env(tmp_path),
        cwd=tmp_path,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert "cycle: 1 polled (0 ok, 0 not modified, 1 failed)" in done.stderr
    assert "signalwatch 0.1.0 started" in done.stderr


def test_run_once_timeout_stops_cleanly_with_exit_4(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """A feed that answers in 30 s, --timeout 1: stops within seconds, exit 4, no traceback."""
    text = e2e_watchlist(feed_server).replace("/e2e/wire.xml", "/slow?delay=30")
    (tmp_path / "watchlist.yaml").write_text(text, encoding="utf-8")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--once", "--timeout", "1"],
        capture_output=True,
        text=True,
        env=command_env(tmp_path),
        cwd=tmp_path,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 4, done.stderr
    assert time.monotonic() - started < 15  # generous: it used to wait for the feed
    assert "--timeout 1 s reached" in done.stderr and "Traceback" not in done.stderr


def test_a_long_run_serves_health_metrics_and_logs_json(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """`run` with SIGNALWATCH_HTTP_PORT: the banner names the URL, /healthz and /metrics answer;
    SIGNALWATCH_LOG_FORMAT=json gives JSON lines."""
    import json

    feed_server.put("/e2e/wire.xml", (E2E / "wire.xml").read_bytes())
    (tmp_path / "watchlist.yaml").write_text(e2e_watchlist(feed_server), encoding="utf-8")
    port = free_port()
    env = command_env(tmp_path, SIGNALWATCH_HTTP_PORT=str(port), SIGNALWATCH_LOG_FORMAT="json")
    stderr = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + WAIT
        polls = 0.0
        while time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                metrics = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            polls = metrics.get(("signalwatch_polls_total", (("outcome", "ok"),)), 0)
            if health.status_code == 200 and polls >= 1:
                break
            time.sleep(0.1)
        assert polls == 1
    finally:
        proc.terminate()
        proc.wait(timeout=WAIT)
        stderr.close()
    lines = [json.loads(line) for line in (tmp_path / "stderr.log").read_text().splitlines()]
    messages = [line["message"] for line in lines]
    assert any(f"http://127.0.0.1:{port}/" in m for m in messages)
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    assert all(line["logger"].startswith("signalwatch.") for line in lines)


def test_the_oldest_pending_alert_age_is_a_gauge(store: Store) -> None:
    """An alert queued 90 s ago and not delivered: the gauge says 90; delivered: 0."""
    from bot.model import Entry
    from bot.pipeline.planning import identify
    from bot.store import SourceConfig

    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    store.sync_sources([SourceConfig("wire", "https://wire.example.org/", "rss", 600)], now)
    alert = Alert("a1", "nato", "console", "NATO", None, "wire", None, (), "")
    entry = Entry("wire", "k1", "NATO", "", None)
    queued = now - timedelta(seconds=90)
    store.commit_poll("wire", queued, seen=[identify(entry)], articles=[], alerts=[alert])
    metrics = Metrics()
    metrics.refresh(store, None, now)
    assert (
        samples(metrics.render().decode())[("signalwatch_outbox_oldest_pending_seconds", ())] == 90
    )
    store.mark_delivered("a1", now, None)
    metrics.refresh(store, None, now)
    assert (
        samples(metrics.render().decode())[("signalwatch_outbox_oldest_pending_seconds", ())] == 0
    )
