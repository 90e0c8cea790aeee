"""`signalwatch` with news-API sources, end to end: a real subprocess, a real SQLite file, one
feed on tests/feedserver.py and GDELT, NewsAPI and the Guardian on tests/apiserver.py.

The Guardian source has no key in the environment: it must be switched off with an admin
notice naming the variable while the others poll. GDELT is paced 5 s a request in real time,
so it is scoped to one signal (one request a run) to keep the test fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from apiserver import GDELT_PATH, GUARDIAN_PATH, NEWSAPI_PATH, ApiServer
from feedserver import FeedServer

from bot.cli import main

pytest_plugins = ["feedserver", "apiserver"]

ROOT = Path(__file__).resolve().parent.parent
WAIT = 30.0  # seconds: the most one subprocess may take (one GDELT request, no pacing wait)
FEED_PATH = "/search-e2e/wire.xml"

# Reuters's own feed carries the story NewsAPI also finds (same title, another link): the
# detector must file both copies under one story, so it alerts once.
FEED = """\
<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel>
<title>E2E Reuters World</title>
<link>https://www.reuters.com/world/</link>
<description>Hand-written feed for the search end-to-end test</description>
<item>
  <title>NATO allies agree to 5% spending goal at Hague summit</title>
  <link>https://www.reuters.com/world/europe/nato-allies-agree-5-spending-goal-2025-06-25/</link>
  <guid isPermaLink="false">reuters-nato-5-hague</guid>
  <description>Allies agreed at the summit in The Hague to raise defence spending to 5% of GDP
  by 2035.</description>
  <pubDate>Wed, 25 Jun 2025 14:40:00 GMT</pubDate>
</item>
<item>
  <title>Zelensky says ceasefire terms with Russia are within reach</title>
  <link>https://www.reuters.com/world/europe/zelensky-ceasefire-terms-2025-06-25/</link>
  <guid isPermaLink="false">reuters-zelensky-ceasefire</guid>
  <description>Ukraine's president said a truce could be agreed within weeks.</description>
  <pubDate>Wed, 25 Jun 2025 13:40:00 GMT</pubDate>
</item>
<item>
  <title>Heatwave grips southern Europe as wildfires spread</title>
  <link>https://www.reuters.com/world/europe/heatwave-2025-06-25/</link>
  <guid isPermaLink="false">reuters-heatwave</guid>
  <description>Temperatures passed 40C in Spain and Portugal.</description>
  <pubDate>Wed, 25 Jun 2025 13:10:00 GMT</pubDate>
</item>
</channel></rss>
"""

HAGUE = "NATO allies agree to 5% spending goal at Hague summit"
STRONGER = "' Stronger and more lethal ': NATO officially agrees 5 % defence spending"
# (signal, title) → source of every alert of the first run; the Hague story's alert comes from
# whichever of its copies was polled first. GDELT's Brussels Times headline is the same event
# as the Hague story in other words: the event score files it under that story (another outlet,
# so "+1 source"), and the story's one alert has the headline of the copy polled first.
# GDELT's "Spain reaches deal", three days older, is another story.
HAGUE_STORY = {HAGUE: {"newsapi", "wire"}, STRONGER: {"gdelt"}}
EXPECTED = {
    ("nato-5pct", "Spain reaches deal with NATO for 5 % spending target exemptions"): {"gdelt"},
    ("ukraine-truce", "Zelensky says ceasefire terms with Russia are within reach"): {"wire"},
}

WATCHLIST = """\
version: 1
defaults:
  backfill: 3650d   # the recorded answers are from June 2025: alert them on the first run
signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    query: (NATO OR allies) AND "5%" NEAR/8 (spend* OR defence OR GDP OR goal OR target)
    search: NATO AND "5%"
  - id: ukraine-truce
    title: Ukraine truce terms land
    query: (Ukrain* OR Kyiv OR Zelensk* OR Russia*) NEAR/15 (ceasefire OR truce)
sources:
  - id: wire
    url: {feed}
  - id: gdelt
    type: gdelt
    url: {gdelt}
    signals: [nato-5pct]
  - id: newsapi
    type: newsapi
    url: {newsapi}
    signals: [nato-5pct]
  - id: guardian
    type: guardian
    url: {guardian}
routes: []
"""


class SearchCli:
    """Runs `python -m bot` against the feed server and the API server, with a tmp database."""

    def __init__(self, tmp_path: Path, feeds: FeedServer, apis: ApiServer) -> None:
        self.tmp_path = tmp_path
        self.watchlist = tmp_path / "watchlist.yaml"
        self.watchlist.write_text(
            WATCHLIST.format(
                feed=feeds.url(FEED_PATH),
                gdelt=apis.url(GDELT_PATH),
                newsapi=apis.url(NEWSAPI_PATH),
                guardian=apis.url(GUARDIAN_PATH),
            ),
            encoding="utf-8",
        )
        feeds.put(FEED_PATH, FEED.encode("utf-8"))
        # No SIGNALWATCH_* from the developer's shell: in particular no Guardian key.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWATCH_")}
        self.env.update(
            SIGNALWATCH_ALLOW_PRIVATE_URLS="1",
            SIGNALWATCH_PER_HOST_SPACING="0",
            SIGNALWATCH_DB=f"sqlite:///{tmp_path / 'db.sqlite'}",
            SIGNALWATCH_WATCHLIST=str(self.watchlist),
            SIGNALWATCH_NEWSAPI_KEY=apis.newsapi_key,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run one signalwatch command to completion."""
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.tmp_path,
            timeout=WAIT,
            check=False,
        )


def json_lines(lines: Sequence[str]) -> list[dict[str, Any]]:
    """Every non-empty stdout line, each of which must be one JSON object."""
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture
def cli(tmp_path: Path, feed_server: FeedServer, api_server: ApiServer) -> SearchCli:
    """A SearchCli with the feed and the three APIs served on 127.0.0.1."""
    return SearchCli(tmp_path, feed_server, api_server)


def test_run_once_alerts_feed_and_api_hits_once_per_story(
    cli: SearchCli, api_server: ApiServer
) -> None:
    """Feed + GDELT + NewsAPI alert their hits, the shared story once; no Guardian key: it is
    off with a notice naming the variable; a second run repeats nothing."""
    done = cli.run("run", "--once", "--all", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    alerts = json_lines(done.stdout.splitlines())
    assert not [a for a in alerts if "update" in a]  # both copies came before delivery
    (hague,) = [a for a in alerts if a["title"] in HAGUE_STORY]
    others = [a for a in alerts if a is not hague]
    assert {(a["signal"], a["title"]) for a in others} == EXPECTED.keys()
    assert len(others) == len(EXPECTED)
    assert all(a["source"] in EXPECTED[a["signal"], a["title"]] for a in others)

    # The Hague story: Reuters's own feed, NewsAPI's copy of the same Reuters article (one
    # outlet) and GDELT's two sightings of the Brussels Times (one URL): one alert, two outlets.
    assert hague["signal"] == "nato-5pct" and hague["source"] in HAGUE_STORY[hague["title"]]
    (other,) = hague["also"]
    links = [hague["link"] or "", other["link"] or ""]
    assert sum("brusselstimes.com" in link for link in links) == 1
    assert sum("reuters.com" in link for link in links) == 1

    notices = [line for line in done.stderr.splitlines() if "ADMIN NOTICE" in line]
    assert len(notices) == 1, done.stderr
    assert "source 'guardian' is off" in notices[0]
    assert "SIGNALWATCH_GUARDIAN_KEY" in notices[0]
    assert api_server.requests_to(GUARDIAN_PATH) == []
    assert len(api_server.requests_to(GDELT_PATH)) == 1  # scoped to one signal
    (newsapi,) = api_server.requests_to(NEWSAPI_PATH)
    assert newsapi.headers["x-api-key"] == api_server.newsapi_key
    # Searched with the signal's `search:` (NewsAPI cannot say "5%"), not with its query.
    assert newsapi.query["q"] == "nato"

    again = cli.run("run", "--once", "--all", "--format", "json")
    assert again.returncode == 0, again.stderr
    assert json_lines(again.stdout.splitlines()) == []
    assert "ADMIN NOTICE" not in again.stderr  # told once, not at every start
    assert len(api_server.requests_to(GDELT_PATH)) == 2  # it did search again


def test_sources_lists_each_source_with_its_type(cli: SearchCli) -> None:
    """After a run, `sources` shows the API type beside each search source's id, and
    `sources --json` gives every source's type and endpoint."""
    assert cli.run("run", "--once", "--all", "--format", "json").returncode == 0

    table = cli.run("sources")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split()[:2] == ["source", "state"]
    by_id = {row.split()[0]: row for row in rows}
    assert sorted(by_id) == ["gdelt", "guardian", "newsapi", "wire"]
    assert by_id["wire"].split()[:2] == ["wire", "ok"]
    assert by_id["gdelt"].split()[:3] == ["gdelt", "(gdelt)", "ok"]
    assert by_id["newsapi"].split()[:3] == ["newsapi", "(newsapi)", "ok"]
    assert by_id["guardian"].split()[:3] == ["guardian", "(guardian)", "disabled"]
    assert "set the environment variable SIGNALWATCH_GUARDIAN_KEY" in by_id["guardian"]
    # Columns line up: every row's state starts where the header's does.
    column = header.index("state")
    assert all(row[column:].split()[0] in ("ok", "disabled") for row in rows)

    listed = cli.run("sources", "--json")
    assert listed.returncode == 0, listed.stderr
    states = {s["id"]: s for s in json_lines(listed.stdout.splitlines())}
    assert {sid: s["type"] for sid, s in states.items()} == {
        "wire": "rss",
        "gdelt": "gdelt",
        "newsapi": "newsapi",
        "guardian": "guardian",
    }
    assert states["gdelt"]["url"].endswith(GDELT_PATH)
    assert states["guardian"]["disabled_reason"].startswith("API key missing")


# --- check: what the news APIs cannot search -------------------------------------------------

PREFIXES_ONLY = """\
version: 1
signals:
  - id: truce-prefixes
    title: Truce (prefixes only)
    query: sign* NEAR seal*
  - id: truce-searchable
    title: Truce (with a search query)
    query: sign* NEAR seal*
    search: Ukraine AND truce
  - id: nato
    title: NATO
    query: NATO AND "5%"
sources:
  - id: gdelt
    type: gdelt
  - id: wire
    url: https://example.com/feed
"""


def test_check_warns_about_a_signal_a_search_source_cannot_search(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A query of prefixes only on GDELT: `check` exits 0 with one warning line on stderr
    naming source and signal; a signal with a `search:` query is not warned about."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(PREFIXES_ONLY, encoding="utf-8")
    assert main(["check", "--watchlist", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == f"{path}: ok — 3 signals (3 enabled), 2 sources, 0 routes\n"
    (warning,) = err.splitlines()
    assert warning.startswith(
        f"{path}: warning: source 'gdelt' (gdelt) cannot search for signal 'truce-prefixes': "
    )
    assert "prefix sign* (more than 12 words start so; no wildcards in GDELT)" in warning
    assert warning.endswith(" — give the signal a `search:` query")


def test_check_does_not_warn_for_a_disabled_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A search source switched off searches nothing: nothing to warn about."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(
        PREFIXES_ONLY.replace("    type: gdelt\n", "    type: gdelt\n    enabled: false\n"),
        encoding="utf-8",
    )
    assert main(["check", "--watchlist", str(path)]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("enable_keyed", [False, True], ids=["as-shipped", "every-api-on"])
def test_check_has_no_warning_for_the_shipped_watchlist(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], enable_keyed: bool
) -> None:
    """The shipped watchlist.yaml: every signal is searchable by every API it lists, also
    with the NewsAPI and Guardian sources (off as shipped) switched on."""
    text = (ROOT / "watchlist.yaml").read_text(encoding="utf-8")
    if enable_keyed:
        assert text.count("    enabled: false\n") == 2  # the two keyed APIs
        text = text.replace("    enabled: false\n", "")
    path = tmp_path / "watchlist.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check", "--watchlist", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{path}: ok — ")
    assert err == ""
