"""The status page in a real headless browser (the distribution's Chromium, via Playwright).

Skipped, saying why, where no Chromium or no Playwright is installed (`.ci/run` installs
both). Playwright drives /usr/bin/chromium; it never downloads a browser of its own.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import Wiring
from bot.model import Alert, Entry
from bot.ops.http import HttpServer
from bot.pipeline.compiled import Compiled
from bot.pipeline.planning import identify
from bot.settings import Settings
from bot.store import SourceConfig, Store
from bot.store.records import ArticleMatch, ArticleRecord
from bot.watchlist import load_watchlist

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install -e '.[test]')"
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium installed (apt-get install chromium; .ci/run does)"
)

HOSTILE = '<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'
WATCHLIST = """\
version: 1
signals:
  - id: nato
    title: NATO moves
    query: NATO
  - id: quiet
    title: Nothing yet
    query: zebra
sources:
  - id: wire
    url: https://wire.example.org/feed.xml
  - id: down
    url: https://down.example.org/feed.xml
"""


def seed(store: Store, now: datetime) -> None:
    """Two sources (one failing), three matched articles (one hostile), one delivered alert."""
    store.sync_sources(
        [
            SourceConfig("wire", "https://wire.example.org/feed.xml", "rss", 600),
            SourceConfig("down", "https://down.example.org/feed.xml", "rss", 600),
        ],
        now,
    )
    titles = ["NATO summit opens", "NATO budget agreed", f"NATO {HOSTILE}"]
    links = ["https://wire.example.org/1", "https://wire.example.org/2", "javascript:alert(1)"]
    for n, (title, link) in enumerate(zip(titles, links, strict=True)):
        when = now - timedelta(days=n * 3, minutes=5)
        entry = Entry("wire", f"k{n}", title, "", link)
        match = ArticleMatch("nato", ("NATO",), "**NATO**")
        record = ArticleRecord("wire", entry.key, title, "", link, None, None, (match,), when)
        alert = Alert(f"a{n}", "nato", "console", title, link, "wire", None, ("NATO",), "")
        store.commit_poll("wire", when, seen=[identify(entry)], articles=[record], alerts=[alert])
    for pending in store.claim_alerts(now, 10, timedelta(minutes=2)):
        store.mark_delivered(pending.alert.alert_id, now, None)
    store.record_fetch_failed(
        "down",
        now,
        error=f"HTTP 500 {HOSTILE}",
        status=500,
        next_poll_at=now + timedelta(minutes=10),
        disable_reason=None,
    )


@pytest.fixture
def status_url(tmp_path: Path, store: Store) -> Iterator[str]:
    """The status page of a seeded store, served from a thread with its own event loop."""
    now = datetime.now(UTC)
    seed(store, now)
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    wiring = Wiring(Settings(), path, store)
    wiring.live.set(Compiled.build(load_watchlist(path)))
    loop = asyncio.new_event_loop()
    server = HttpServer(wiring, None)
    url = loop.run_until_complete(server.start("127.0.0.1", 0))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield url
    finally:
        asyncio.run_coroutine_threadsafe(server.aclose(), loop).result(10)
        asyncio.run_coroutine_threadsafe(wiring.aclose(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_the_status_page_renders_in_chromium_and_runs_nothing_from_feeds(status_url: str) -> None:
    """Signals with hits and a 30-bar chart, sources with state, outbox, alerts with links;
    markup in feed titles and errors shows as text and never runs."""
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            response = page.goto(status_url)
            assert response is not None and response.status == 200
            assert page.title() == "signalwatch status"  # no onerror / script rewrote it
            assert page.locator("script").count() == 0 and page.locator("img").count() == 0
            nato = page.locator("#signal-nato")
            assert "NATO moves" in nato.inner_text()
            assert HOSTILE in nato.inner_text()  # shown as the text it is
            assert nato.locator("svg.chart rect").count() == 30
            box = nato.locator("svg.chart").bounding_box()
            assert box is not None and box["width"] > 100
            assert "no hits yet" in page.locator("#signal-quiet").inner_text()
            down = page.locator("#source-down")
            assert "failing" in down.inner_text() and HOSTILE in down.inner_text()
            assert "ok" in page.locator("#source-wire").inner_text()
            hrefs = page.locator("#alerts a").evaluate_all("(links) => links.map(a => a.href)")
            assert sorted(hrefs) == ["https://wire.example.org/1", "https://wire.example.org/2"]
            assert "delivered" in page.locator("#outbox").inner_text()
            assert errors == []
        finally:
            browser.close()
