"""Copies of one story across outlets and search APIs, end to end: `signalwatch run --once`
in a subprocess, a real SQLite file, NewsAPI and GDELT on tests/apiserver.py.

Two bugs a subscriber saw at once:
1. an article that joined a story by similar text (NewsAPI's trtworld copy of a Reuters
   story) alerted again when GDELT later returned it under the same link: a story was found
   only by its first copy's link and headline;
2. another outlet's copy under an identical headline was dropped as "seen" (`2 entries,
   0 new`), because a repeated headline counted as seen whatever its outlet.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from apiserver import GDELT_PATH, NEWSAPI_PATH, ApiServer

pytest_plugins = ["apiserver"]

ROOT = Path(__file__).resolve().parent.parent
WAIT = 30.0

WATCHLIST = """\
version: 1
defaults:
  backfill: 3650d
signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    query: (NATO OR allies) AND "5%" NEAR/8 (spend* OR defence OR GDP OR goal OR target)
    search: NATO AND "5%"
sources:
  - id: newsapi
    type: newsapi
    url: {newsapi}
  - id: gdelt
    type: gdelt
    url: {gdelt}
routes: []
"""

REUTERS_LINK = "https://www.reuters.com/world/europe/nato-allies-agree-5-spending-hague-2025-06-25/"
TRT_LINK = "https://www.trtworld.com/europe/nato-allies-agree-5-percent-spending-hague-18231"


def newsapi(*articles: tuple[str, str, str, str]) -> bytes:
    """A NewsAPI /everything answer with these (outlet, title, description, url) articles."""
    return json.dumps(
        {
            "status": "ok",
            "totalResults": len(articles),
            "articles": [
                {
                    "source": {"id": None, "name": name},
                    "author": None,
                    "title": title,
                    "description": description,
                    "url": url,
                    "publishedAt": "2025-06-25T14:30:00Z",
                    "content": None,
                }
                for name, title, description, url in articles
            ],
        }
    ).encode()


def gdelt(*articles: tuple[str, str, str]) -> bytes:
    """A GDELT artlist answer with these (domain, title, url) articles."""
    return json.dumps(
        {
            "articles": [
                {
                    "url": url,
                    "url_mobile": "",
                    "title": title,
                    "seendate": "20250625T150000Z",
                    "socialimage": "",
                    "domain": domain,
                    "language": "English",
                    "sourcecountry": "",
                }
                for domain, title, url in articles
            ]
        }
    ).encode()


class Cli:
    """`python -m bot` against the API server, with a database in tmp_path."""

    def __init__(self, tmp_path: Path, apis: ApiServer) -> None:
        watchlist = tmp_path / "watchlist.yaml"
        watchlist.write_text(
            WATCHLIST.format(newsapi=apis.url(NEWSAPI_PATH), gdelt=apis.url(GDELT_PATH)),
            encoding="utf-8",
        )
        self.tmp_path = tmp_path
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWATCH_")}
        self.env.update(
            SIGNALWATCH_ALLOW_PRIVATE_URLS="1",
            SIGNALWATCH_PER_HOST_SPACING="0",
            SIGNALWATCH_DB=f"sqlite:///{tmp_path / 'db.sqlite'}",
            SIGNALWATCH_WATCHLIST=str(watchlist),
            SIGNALWATCH_NEWSAPI_KEY=apis.newsapi_key,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )

    def matches(self, title: str) -> bool:
        """Whether `signalwatch match` finds a signal in this headline."""
        done = subprocess.run(
            [sys.executable, "-m", "bot", "match", "--input", "-"],
            input=json.dumps({"id": "x", "title": title, "summary": ""}) + "\n",
            capture_output=True,
            text=True,
            env=self.env,
            timeout=WAIT,
            check=True,
        )
        (line,) = done.stdout.splitlines()
        return bool(json.loads(line)["signals"])

    def run_once(self) -> tuple[list[dict[str, Any]], str]:
        """One `run --once --all`: its JSON lines and its stderr."""
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run", "--once", "--all", "--format", "json"],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.tmp_path,
            timeout=WAIT,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
        return lines, done.stderr


@pytest.fixture
def cli(tmp_path: Path, api_server: ApiServer) -> Cli:
    """Nothing found by either API until a test says what they return."""
    api_server.results[NEWSAPI_PATH] = newsapi()
    api_server.results[GDELT_PATH] = gdelt()
    return Cli(tmp_path, api_server)


def test_a_copy_that_joined_by_text_is_found_again_by_its_own_link(
    cli: Cli, api_server: ApiServer
) -> None:
    """NewsAPI brings two outlets' versions of one story: one alert, also reported by
    trtworld. GDELT then returns the trtworld article under its link with a headline of its
    own (no shared words to find it by): it is the story's copy, so nothing new is said."""
    api_server.results[NEWSAPI_PATH] = newsapi(
        (
            "Reuters",
            "NATO allies agree to raise defence spending to 5% of GDP at Hague summit",
            "NATO leaders agreed on Wednesday to raise their defence spending target.",
            REUTERS_LINK,
        ),
        (
            "TRT World",
            "NATO allies agree to raise defence spending to 5% of GDP, Rutte says",
            "Allies backed the new 5% target at the summit in The Hague.",
            TRT_LINK,
        ),
    )
    first, _ = cli.run_once()
    assert len(first) == 1, first
    (alert,) = first
    assert alert["link"] == REUTERS_LINK
    assert [copy["link"] for copy in alert["also"]] == [TRT_LINK]

    api_server.results[GDELT_PATH] = gdelt(
        ("trtworld.com", "NATO backs 5 % budget goal for members in The Hague", TRT_LINK)
    )
    second, _ = cli.run_once()
    assert second == []
    assert len(api_server.requests_to(GDELT_PATH)) == 2  # GDELT was asked and answered
    # GDELT's headline does match the signal: as a first sighting it would have alerted.
    assert cli.matches("NATO backs 5 % budget goal for members in The Hague")


def test_another_outlets_identical_headline_is_a_new_copy_not_seen(
    cli: Cli, api_server: ApiServer
) -> None:
    """a-wire's headline alerts; b-paper's copy under the very same headline, found by the
    same search later, becomes "+1 source" of that alert instead of vanishing as seen."""
    headline = "NATO allies agree to raise defence spending to 5% of GDP by 2035"
    a_wire = ("A Wire", headline, "Allies agreed in The Hague.", "https://a-wire.com/nato-5")
    b_paper = ("B Paper", headline, "The alliance set its target.", "https://b-paper.com/n/77")
    api_server.results[NEWSAPI_PATH] = newsapi(a_wire)
    first, _ = cli.run_once()
    assert [a["link"] for a in first] == ["https://a-wire.com/nato-5"]

    api_server.results[NEWSAPI_PATH] = newsapi(a_wire, b_paper)
    second, _ = cli.run_once()
    assert len(second) == 1, second
    (update,) = second
    assert update["update"] == first[0]["alert_id"]
    assert [copy["link"] for copy in update["also"]] == ["https://b-paper.com/n/77"]

    # The same outlet giving its own headline again (re-dated, re-linked) is still seen.
    moved = ("A Wire", headline, "Allies agreed in The Hague.", "https://a-wire.com/nato-5?v=2")
    api_server.results[NEWSAPI_PATH] = newsapi(moved, b_paper)
    third, _ = cli.run_once()
    assert third == []
