"""Subscribers' feedback, decided (bot/feedback.py) and exported (`signalwatch feedback export`).

The items are real ones of the labelled set (tests/data/labelled/signals_dev.jsonl, which keeps
each one's origin); the verdicts on them are the test's.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import cli
from bot.feedback import feedback_share, labelled_items, share_line
from bot.model import Alert
from bot.store import JudgedItem, Judgement, Verdict
from bot.store.sqlite import SQLiteStore

LABELLED = Path(__file__).parent / "data" / "labelled" / "signals_dev.jsonl"
MISFIRE = "nato-guardian-carney-2pct-by-march"  # a nato-5pct hard negative (the 2% goal)
SPAIN = "nato-aa-spain-exemption-deal"  # a nato-5pct hit
ADOPT = "nato-particle-set-to-adopt-june"  # a nato-5pct hit
T0 = datetime(2025, 6, 24, 9, 0, tzinfo=UTC)
LOOSE_WATCHLIST = """\
version: 1
signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    query: NATO AND (spending OR defence OR defense)
"""


def labelled(item_id: str) -> dict[str, Any]:
    """One real item of the labelled set, by id."""
    with LABELLED.open(encoding="utf-8") as handle:
        for line in handle:
            item: dict[str, Any] = json.loads(line)
            if item["id"] == item_id:
                return item
    raise KeyError(item_id)


def judged_item(item_id: str) -> JudgedItem:
    """A labelled item as a judgement keeps it."""
    item = labelled(item_id)
    return JudgedItem("wire", item_id, item["title"], item["summary"], item["url"], None, None)


def verdict(
    item_id: str, user: int, v: Verdict, *, signal: str = "nato-5pct", alert: str | None = None
) -> Judgement:
    """One user's verdict on an item's alert (one alert per item unless `alert` says)."""
    return Judgement(alert or f"a-{item_id}", user, signal, v, T0, judged_item(item_id))


def test_the_share_judged_wrong_is_by_item_majority() -> None:
    """An item counts once however many alerts and verdicts it has; a tie is not wrong."""
    judgements = [
        verdict(MISFIRE, 1, -1),
        verdict(MISFIRE, 2, -1, alert="a-other-channel"),  # the same item in another channel
        verdict(MISFIRE, 3, 1),
        verdict(SPAIN, 1, 1),
        verdict(ADOPT, 1, 1),
        verdict(ADOPT, 2, -1),
    ]
    share = feedback_share(judgements)
    assert (share.judged, share.wrong, share.percent) == (3, 1, 33)
    assert share_line(share) == "judged wrong: 1 of 3 (33%) in the last 30 days"
    assert share_line(feedback_share([])) == "no alert judged in the last 30 days"


def test_labelled_items_follow_the_majority_and_count_ties() -> None:
    """👍 majority → labels, 👎 majority → hard_negative_for, per signal; ties are left out."""
    export = labelled_items(
        [
            verdict(MISFIRE, 1, -1),
            verdict(MISFIRE, 2, -1),
            verdict(MISFIRE, 3, 1),
            verdict(MISFIRE, 1, 1, signal="canada-budget"),
            verdict(SPAIN, 1, 1),
            verdict(ADOPT, 1, 1),
            verdict(ADOPT, 2, -1),
        ]
    )
    assert export.ties == 1
    by_title = {item["title"]: item for item in export.items}
    misfire = by_title[labelled(MISFIRE)["title"]]
    assert misfire["labels"] == ["canada-budget"]
    assert misfire["hard_negative_for"] == ["nato-5pct"]
    assert misfire["summary"] == labelled(MISFIRE)["summary"]
    assert misfire["provenance"] == "feedback"
    assert misfire["note"] == "nato-5pct: 👍 1, 👎 2; canada-budget: 👍 1, 👎 0"
    assert by_title[labelled(SPAIN)["title"]]["labels"] == ["nato-5pct"]
    assert labelled(ADOPT)["title"] not in by_title  # its only verdicts tied


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No SIGNALWATCH_* variable from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("SIGNALWATCH_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)
    return monkeypatch


def _judge(
    store: SQLiteStore, item_id: str, votes: list[tuple[int, Verdict]], at: datetime
) -> None:
    """Queue a nato-5pct alert for a labelled item and record the users' verdicts on it."""
    item = labelled(item_id)
    alert = Alert(
        alert_id=f"alert-{item_id}"[:32],
        signal_id="nato-5pct",
        destination="console",
        title=item["title"],
        link=item["url"],
        source_id="wire",
        published=None,
        terms=("NATO",),
        snippet="",
        publisher=item["source"],
    )
    store.commit_poll("wire", at, seen=[], articles=[], alerts=[alert])
    for user, v in votes:
        store.record_feedback(alert.alert_id, user, v, at)


def test_export_writes_labelled_lines_that_eval_reads(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`feedback export --since 30 --out F` writes the window's decided items; `eval F`
    scores the watchlist on them: the misfire is a false positive, the hit a true one."""
    from bot.store import SourceConfig

    db = tmp_path / "signalwatch.db"
    now = datetime.now(UTC)
    with SQLiteStore(db) as store:
        store.migrate()
        store.sync_sources([SourceConfig("wire", "https://wire.example/rss", "rss", 600)], now)
        _judge(store, MISFIRE, [(1, -1), (2, -1), (3, 1)], now - timedelta(days=2))
        _judge(store, SPAIN, [(1, 1)], now - timedelta(days=1))
        _judge(store, ADOPT, [(1, 1), (2, -1)], now - timedelta(days=1))
        _judge(
            store,
            "nato-astroawani-spain-rejects-no-consequences",
            [(1, 1)],
            now - timedelta(days=40),
        )
    out = tmp_path / "feedback.jsonl"
    code = cli.main(
        ["feedback", "export", "--since", "30", "--out", str(out), "--db", f"sqlite:///{db}"]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert err.startswith(
        "signalwatch feedback export: 2 items (1 with a label, 1 hard negatives only) from 6"
        " verdicts of the last 30 days; 1 tied (item, signal) verdicts left out"
    )
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["title"], x["labels"], x["hard_negative_for"]) for x in lines] == [
        (labelled(MISFIRE)["title"], [], ["nato-5pct"]),
        (labelled(SPAIN)["title"], ["nato-5pct"], []),
    ]
    assert [x["judged"] for x in lines] == [["nato-5pct"], ["nato-5pct"]]
    assert lines[0]["source"] == f"{labelled(MISFIRE)['source']} (via wire)"
    assert lines[0]["provenance"] == "feedback" and lines[0]["url"] == labelled(MISFIRE)["url"]

    watchlist = tmp_path / "watchlist.yaml"
    watchlist.write_text(LOOSE_WATCHLIST, encoding="utf-8")
    assert cli.main(["eval", str(out), "--watchlist", str(watchlist)]) == 0
    table = capsys.readouterr().out.splitlines()
    row = next(line for line in table if line.startswith("nato-5pct"))
    assert row.split()[1:4] == ["1", "1", "0"]  # tp, fp, fn

    assert cli.main(["feedback", "export", "--db", f"sqlite:///{db}"]) == 0
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 3  # all time: the 40-day-old hit too


def test_eval_scores_an_exported_item_only_on_the_signals_judged() -> None:
    """A 👎 on nato-5pct says nothing about another signal matching the same headline: with
    `judged`, that signal is not charged a false positive (without it, it would be)."""
    from bot.evaluation import evaluate
    from bot.matching import Matcher

    matcher = Matcher.compile([("nato-5pct", "nato AND spending"), ("spending", "spending")])
    item = {"title": "NATO spending row", "labels": [], "hard_negative_for": ["nato-5pct"]}
    plain = {s.signal_id: (s.tp, s.fp, s.fn) for s in evaluate(matcher, [item]).scores}
    assert plain == {"nato-5pct": (0, 1, 0), "spending": (0, 1, 0)}
    judged = {**item, "judged": ["nato-5pct"]}
    scoped = {s.signal_id: (s.tp, s.fp, s.fn) for s in evaluate(matcher, [judged]).scores}
    assert scoped == {"nato-5pct": (0, 1, 0), "spending": (0, 0, 0)}
