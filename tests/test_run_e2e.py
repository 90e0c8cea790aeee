"""The `signalwatch` command end to end: a real subprocess, a real SQLite file, local feeds.

Each test starts `python -m bot ...` against the feed server of tests/feedserver.py, with
the watchlist of tests/data/e2e/ pointed at it, the database in tmp_path, and private
addresses allowed. The only real waiting is on the subprocesses' output, always bounded.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from feedserver import FeedServer

pytest_plugins = ["feedserver"]

ROOT = Path(__file__).resolve().parent.parent
E2E = Path(__file__).parent / "data" / "e2e"
WAIT = 20.0  # seconds: the most any one subprocess step may take before the test fails

# (signal, title) of every alert that tests/data/e2e/wire.xml gives with the e2e watchlist.
EXPECTED = {
    ("nato-5pct", "NATO allies agree to spend 5% of GDP on defence by 2035"),
    ("ukraine-truce", "Zelensky says ceasefire terms with Russia are within reach"),
    ("tariff-waivers", "US grants tariff exemptions for smartphones and computer chips"),
    ("ukraine-truce", "Kremlin weighs 28-point peace plan as Kyiv sets out red lines"),
    ("nato-5pct", "Allies back 5% defence spending goal as Putin floats ceasefire in Ukraine"),
    ("ukraine-truce", "Allies back 5% defence spending goal as Putin floats ceasefire in Ukraine"),
}
# The alerts of the three items wire_update.xml adds (one matches nothing).
EXPECTED_UPDATE = {
    ("chip-pacts", "Seoul and Washington sign semiconductor supply pact"),
    ("tariff-waivers", "Trump exempts Canadian energy from new tariffs"),
}
ALERT_FIELDS = {"alert_id", "signal", "title", "link", "source", "published", "terms", "snippet"}


class Cli:
    """Runs `python -m bot` with a test environment: feeds on 127.0.0.1, a tmp database."""

    def __init__(self, tmp_path: Path, server: FeedServer) -> None:
        self.tmp_path = tmp_path
        self.server = server
        self.watchlist = tmp_path / "watchlist.yaml"
        self.write_watchlist()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWATCH_")}
        self.env.update(
            SIGNALWATCH_ALLOW_PRIVATE_URLS="1",
            SIGNALWATCH_PER_HOST_SPACING="0",
            SIGNALWATCH_DB=f"sqlite:///{tmp_path / 'db.sqlite'}",
            SIGNALWATCH_WATCHLIST=str(self.watchlist),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        self._stderr_files = 0
        server.put("/e2e/wire.xml", (E2E / "wire.xml").read_bytes())

    def write_watchlist(self, extra_sources: str = "") -> None:
        """Write the e2e watchlist, pointed at the feed server, plus `extra_sources` items."""
        text = (E2E / "watchlist.yaml").read_text(encoding="utf-8")
        text = text.replace("__FEEDS__", self.server.base_url)
        text = text.replace("\nroutes:", extra_sources + "\nroutes:")
        self.watchlist.write_text(text, encoding="utf-8")

    def command(self, *args: str) -> list[str]:
        """The argv of one signalwatch command."""
        return [sys.executable, "-m", "bot", *args]

    def run(
        self, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command to completion."""
        return subprocess.run(
            self.command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=self.tmp_path,
            timeout=WAIT,
            check=False,
        )

    def run_alerts(self, *extra: str) -> list[dict[str, Any]]:
        """`run --once --all --format json`: the alerts it printed (it must exit 0)."""
        done = self.run("run", "--once", "--all", "--format", "json", *extra)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return alerts_of(done.stdout.splitlines())

    def start(self, *args: str, env: dict[str, str] | None = None) -> Running:
        """Start a command and read its stdout as it comes."""
        self._stderr_files += 1
        stderr = self.tmp_path / f"stderr-{self._stderr_files}.log"
        return Running(self.command(*args), {**self.env, **(env or {})}, self.tmp_path, stderr)


class Running:
    """A command running in the background; its stdout lines arrive on a queue."""

    def __init__(
        self, argv: Sequence[str], env: dict[str, str], cwd: Path, stderr_path: Path
    ) -> None:
        self.stderr_path = stderr_path
        self._stderr = stderr_path.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=self._stderr, text=True, env=env, cwd=cwd
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout as out:
            for line in out:
                self.lines.put(line)
        self.lines.put(None)

    @property
    def stderr(self) -> str:
        """What the command wrote on stderr so far."""
        return self.stderr_path.read_text(encoding="utf-8")

    def next_line(self) -> str:
        """The next stdout line, waiting at most WAIT seconds for it."""
        try:
            line = self.lines.get(timeout=WAIT)
        except queue.Empty:
            self.kill()
            raise AssertionError(f"no output within {WAIT} s; stderr:\n{self.stderr}") from None
        assert line is not None, f"exited early ({self.proc.wait()}); stderr:\n{self.stderr}"
        return line

    def finish(self) -> tuple[int, list[str]]:
        """Wait for the exit; return the exit code and the stdout lines not read yet."""
        code = self.proc.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        self._stderr.close()
        rest: list[str] = []
        while (line := self.lines.get(timeout=WAIT)) is not None:
            rest.append(line)
        return code, rest

    def kill(self) -> None:
        """Stop the command for good (test clean-up)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        self._stderr.close()


def alerts_of(lines: Sequence[str]) -> list[dict[str, Any]]:
    """The JSON alerts in stdout lines; every non-empty line must be one."""
    return [json.loads(line) for line in lines if line.strip()]


def pairs(alerts: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """(signal, title) of each alert."""
    return {(a["signal"], a["title"]) for a in alerts}


@pytest.fixture
def cli(tmp_path: Path, feed_server: FeedServer) -> Cli:
    """A Cli whose watchlist reads the feed server's /e2e/wire.xml."""
    return Cli(tmp_path, feed_server)


@pytest.fixture
def running() -> Iterator[list[Running]]:
    """Background commands to kill if a test fails before they end."""
    started: list[Running] = []
    yield started
    for command in started:
        command.kill()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# --- run -------------------------------------------------------------------------------------


def test_run_once_alerts_every_match_once_then_only_new_items(cli: Cli) -> None:
    """First run prints one JSON line per alert; a rerun prints nothing; new items alert alone."""
    first = cli.run_alerts()
    assert pairs(first) == EXPECTED
    assert len(first) == len(EXPECTED)
    assert len({a["alert_id"] for a in first}) == len(first)
    for alert in first:
        assert alert.keys() >= ALERT_FIELDS
        assert alert["source"] == "wire"
        assert alert["link"].startswith("https://wire.example.org/")
        assert alert["published"].startswith("2025-06-25T")
        assert alert["terms"] and all(isinstance(t, str) for t in alert["terms"])
        assert "**" in alert["snippet"]
    nato = next(a for a in first if a["title"].startswith("NATO allies agree"))
    assert nato["link"] == "https://wire.example.org/world/nato-5-percent-deal"  # utm_ dropped
    assert nato["published"] == "2025-06-25T14:05:00+00:00"
    assert nato["severity"] == "high"
    assert {"NATO", "5%", "GDP", "defence"} <= set(nato["terms"])

    assert cli.run_alerts() == []

    cli.server.put("/e2e/wire.xml", (E2E / "wire_update.xml").read_bytes())
    update = cli.run_alerts()
    assert pairs(update) == EXPECTED_UPDATE
    assert len(update) == len(EXPECTED_UPDATE)
    assert cli.run_alerts() == []


def test_sigterm_during_delivery_exits_0_and_a_restart_delivers_the_rest_exactly_once(
    cli: Cli, running: list[Running]
) -> None:
    """SIGTERM mid-delivery: exit 0 promptly; the restart sends the rest; no alert twice."""
    run = cli.start(
        "run", "--once", "--all", "--format", "json", env={"SIGNALWATCH_DELIVERY_DELAY": "0.3"}
    )
    running.append(run)
    before = [run.next_line(), run.next_line()]
    asked = time.monotonic()
    run.proc.send_signal(signal.SIGTERM)
    code, rest = run.finish()
    assert code == 0, run.stderr
    assert time.monotonic() - asked < 3.0  # finishes the alert in hand (0.3 s), then exits
    assert "Traceback" not in run.stderr
    first = alerts_of(before + rest)
    assert len(first) < len(EXPECTED)  # it really stopped early

    second = cli.run_alerts()
    ids = Counter(a["alert_id"] for a in first + second)
    assert max(ids.values()) == 1
    assert pairs(first + second) == EXPECTED
    assert len(first + second) == len(EXPECTED)
    assert cli.run_alerts() == []


def test_sigkill_during_delivery_repeats_at_most_the_alert_in_flight(
    cli: Cli, running: list[Running]
) -> None:
    """SIGKILL mid-delivery: the restart delivers everything; only the in-flight one may repeat."""
    run = cli.start(
        "run", "--once", "--all", "--format", "json", env={"SIGNALWATCH_DELIVERY_DELAY": "0.3"}
    )
    running.append(run)
    before = [run.next_line(), run.next_line()]
    run.proc.send_signal(signal.SIGKILL)
    code, rest = run.finish()
    assert code == -signal.SIGKILL
    first = alerts_of(before + rest)
    assert len(first) < len(EXPECTED)
    in_flight = first[-1]["alert_id"]  # printed, but the outbox never heard of it

    second = cli.run_alerts()
    assert pairs(first + second) == EXPECTED  # at least once
    repeated = {
        alert_id for alert_id, n in Counter(a["alert_id"] for a in first + second).items() if n > 1
    }
    assert repeated <= {in_flight}  # at most the one in flight, under the same id
    assert len(first + second) == len(EXPECTED) + len(repeated)
    assert {a["alert_id"] for a in second}.isdisjoint({a["alert_id"] for a in first[:-1]})


# --- preview ---------------------------------------------------------------------------------


def test_preview_lists_entries_with_the_signals_they_would_alert(cli: Cli) -> None:
    """preview prints each entry with its date and signals, and stores nothing."""
    url = cli.server.url("/e2e/wire.xml")
    done = cli.run("preview", url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "E2E Wire: 9 entries, 5 would alert"
    assert lines[1:5] == [
        "  2025-06-25 14:05  NATO allies agree to spend 5% of GDP on defence by 2035",
        "      → nato-5pct",
        "  2025-06-25 13:40  Zelensky says ceasefire terms with Russia are within reach",
        "      → ukraine-truce",
    ]
    assert lines[5:7] == [
        "  2025-06-25 13:10  Heatwave grips southern Europe as wildfires spread",
        "      → -",
    ]
    assert lines[-1] == "      → nato-5pct, ukraine-truce"
    assert len(lines) == 1 + 2 * 9
    assert not (cli.tmp_path / "db.sqlite").exists()

    as_json = cli.run("preview", "--json", url)
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert len(rows) == 9
    assert {(s["id"], r["title"]) for r in rows for s in r["signals"]} == EXPECTED


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("/e2e/missing.xml", "{url}: HTTP 404 Not Found", id="404"),
        pytest.param("/feeds/not_a_feed.html", "{url}: not a feed: got an HTML page", id="html"),
        pytest.param(None, "{url}: connection refused", id="refused"),
    ],
)
def test_preview_of_a_bad_url_prints_one_line_and_exits_1(
    cli: Cli, path: str | None, message: str
) -> None:
    """A 404, an HTML page or a refused port: one line on stderr, no traceback, exit 1."""
    url = cli.server.url(path) if path else f"http://127.0.0.1:{free_port()}/feed.xml"
    done = cli.run("preview", url)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == f"signalwatch preview: {message.format(url=url)}\n"


# --- sources ---------------------------------------------------------------------------------

BROKEN_SOURCE = """
  - id: broken
    url: __FEEDS__/feeds/not_a_feed.html
"""


def test_sources_shows_health_and_enable_brings_a_disabled_source_back(cli: Cli) -> None:
    """After a run, `sources` shows each feed's state; `sources enable` re-enables one."""
    cli.write_watchlist(BROKEN_SOURCE.replace("__FEEDS__", cli.server.base_url))
    done = cli.run(
        "run", "--once", "--all", "--format", "json", env={"SIGNALWATCH_MAX_FAILURES": "1"}
    )
    assert done.returncode == 0, done.stderr
    assert pairs(alerts_of(done.stdout.splitlines())) == EXPECTED
    reason = "disabled after 1 consecutive failures; last: not a feed: got an HTML page"
    assert done.stderr.count("ADMIN NOTICE: source 'broken'") == 1
    assert reason in done.stderr

    table = cli.run("sources")
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == [
        "source",
        "state",
        "last",
        "ok",
        "fails",
        "http",
        "seen",
        "next",
        "poll",
        "last",
        "error",
    ]
    by_id = {row.split()[0]: row for row in rows}
    assert sorted(by_id) == ["broken", "wire"]
    wire = by_id["wire"].split()
    assert wire[:2] == ["wire", "ok"]
    assert wire[4:7] == ["0", "200", "9"]  # fails, http, seen
    assert by_id["broken"].split()[:6] == ["broken", "disabled", "never", "1", "200", "0"]
    assert by_id["broken"].endswith(f"  {reason}")

    enabled = cli.run("sources", "enable", "broken")
    assert (enabled.returncode, enabled.stdout, enabled.stderr) == (
        0,
        "source 'broken' enabled\n",
        "",
    )
    states = {s["id"]: s for s in map(json.loads, cli.run("sources", "--json").stdout.splitlines())}
    assert states["broken"]["enabled"] is True
    assert states["broken"]["disabled_reason"] is None
    assert states["broken"]["consecutive_failures"] == 0
    assert states["wire"]["entries_seen"] == 9

    unknown = cli.run("sources", "enable", "nope")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == "signalwatch sources: no source 'nope'\n"


def test_sources_before_any_run_says_so(cli: Cli) -> None:
    """With an empty database, `sources` explains how to fill it."""
    done = cli.run("sources")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("no sources yet")


# --- check and match -------------------------------------------------------------------------


def test_check_accepts_the_shipped_watchlist(cli: Cli) -> None:
    """`check` on the repository's watchlist.yaml exits 0 and sums it up."""
    path = ROOT / "watchlist.yaml"
    done = cli.run("check", "--watchlist", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path}: ok — ")
    assert done.stderr == ""


BROKEN_WATCHLIST = """\
version: 1
signals:
  - id: good
    title: Good
    query: NATO
  - id: Bad_Id
    title: Bad
    query: 'NATO AND ("5%" OR'
sources:
  - id: wire
    url: ftp://example.com/feed
    signals: [goood]
"""


def test_check_names_file_and_line_of_every_error(cli: Cli) -> None:
    """`check` on a broken watchlist exits 1 with one `file:line: ...` line per problem."""
    path = cli.tmp_path / "broken.yaml"
    path.write_text(BROKEN_WATCHLIST, encoding="utf-8")
    done = cli.run("check", "--watchlist", str(path))
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"{path}:6: signal 'Bad_Id': id: must be lower-case letters, digits and hyphens",
        f"{path}:8: signal 'Bad_Id': query: unexpected end of query at column 18 (expected a term after OR)",
        f"{path}:11: source 'wire': url: must start with http:// or https://",
        f"{path}:12: source 'wire': signals: unknown signal 'goood' (did you mean 'good'?)",
    ]


def test_match_answers_every_line_in_order_and_names_bad_lines(cli: Cli) -> None:
    """`match` reads JSON lines; a bad line is reported by number and the rest still answered."""
    items = "\n".join(
        [
            json.dumps(
                {
                    "id": "a",
                    "title": "NATO allies agree to spend 5% of GDP on defence",
                    "summary": "",
                }
            ),
            "{not json",
            json.dumps({"id": "c", "title": "Heatwave grips Spain", "summary": "Fires spread."}),
            json.dumps({"id": "d", "title": "Only a title"}),
            json.dumps({"id": "e", "title": "Kremlin weighs 28-point peace plan", "summary": None}),
        ]
    )
    done = cli.run("match", stdin=items + "\n")
    assert done.returncode == 1
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", None, "c", None, "e"]
    assert [[s["id"] for s in o["signals"]] for o in out] == [
        ["nato-5pct"],
        [],
        [],
        [],
        ["ukraine-truce"],
    ]
    assert out[1]["line"] == 2 and out[1]["error"].startswith("-:2: ")
    assert out[3] == {"id": None, "line": 4, "error": "-:4: missing 'summary'", "signals": []}
    assert (
        out[0]["signals"][0]["snippet"]
        == "**NATO** **allies** agree to **spend** **5%** of **GDP** on **defence**"
    )
    assert done.stderr.splitlines() == [
        "signalwatch match: " + out[1]["error"],
        "signalwatch match: -:4: missing 'summary'",
    ]
