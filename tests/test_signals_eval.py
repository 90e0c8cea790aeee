"""The shipped watchlist on the labelled set: CI fails when quality drops below the floor."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from bot.evaluation import evaluate_file
from bot.matching import Matcher
from bot.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "data" / "labelled"
DEV = LABELLED / "signals_dev.jsonl"
HOLDOUT = LABELLED / "signals_holdout.jsonl"

# Measured when set (issue 16: the seven seed queries reworked on the dev split only, the
# holdout scored once afterwards; tests/data/labelled/README.md has the tables):
#   macro-F1 over all 13 signals: dev 0.970, holdout 0.860, dev + holdout 0.955;
#   the weakest seed signal on dev + holdout: chip-pacts 0.902;
#   seed-signal false alerts on hard negatives, dev + holdout: 2 of 511 (0.4%).
# Each floor sits just under its measurement, so that a query edit that costs real hits fails
# CI, while rewording that trades one borderline item for another does not. The holdout floor
# is a tripwire, not a target: never tune a query against the holdout file.
MACRO_F1_FLOOR = {"all": 0.95, "dev": 0.96, "holdout": 0.85}
SEED_F1_FLOOR = 0.89
HARD_NEGATIVE_ALERT_CEILING = 0.01
SEVEN = {
    "nato-5pct", "ukraine-truce", "tariff-waivers", "chip-pacts", "gaza-troops",
    "asia-pacts", "canal-deals",
}  # fmt: skip
FILES = {"all": [DEV, HOLDOUT], "dev": [DEV], "holdout": [HOLDOUT]}


@cache
def matcher() -> Matcher:
    """The shipped watchlist, compiled (its @concepts written out as OR groups)."""
    watchlist = load_watchlist(ROOT / "watchlist.yaml")
    return Matcher.compile((s.id, watchlist.query_node(s)) for s in watchlist.enabled_signals())


def _items() -> list[dict[str, object]]:
    return [
        json.loads(line)
        for path in FILES["all"]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def test_shipped_watchlist_has_the_seven_signals_and_more() -> None:
    """watchlist.yaml ships the seven seed signals by id, plus at least five more."""
    ids = set(matcher().signal_ids)
    assert ids >= SEVEN
    assert len(ids - SEVEN) >= 5


@pytest.mark.parametrize("split", sorted(FILES))
def test_macro_f1_on_labelled_set_stays_above_floor(split: str) -> None:
    """Macro-F1 over all signals stays at or above its floor on dev, holdout and both."""
    report = evaluate_file(matcher(), FILES[split])
    assert report.items >= 300
    floor = MACRO_F1_FLOOR[split]
    assert report.macro_f1 >= floor, f"{split}: macro-F1 {report.macro_f1:.3f} < {floor}"


def test_every_seed_signal_stays_above_its_floor() -> None:
    """Each of the seven seed signals keeps F1 >= SEED_F1_FLOOR on dev + holdout."""
    report = evaluate_file(matcher(), FILES["all"])
    low = {s.signal_id: round(s.f1, 3) for s in report.scores if s.signal_id in SEVEN}
    assert set(low) == SEVEN
    assert {sid: f for sid, f in low.items() if f < SEED_F1_FLOOR} == {}


def test_hard_negatives_stay_quiet() -> None:
    """Items that share a seed signal's words without reporting it (hard_negative_for) fire
    that signal at most HARD_NEGATIVE_ALERT_CEILING of the time, dev + holdout."""
    pairs = fired = 0
    for item in _items():
        hard = {s for s in item["hard_negative_for"] if s in SEVEN} - set(item["labels"])  # type: ignore[call-overload]
        if not hard:
            continue
        got = set(matcher().match_ids(str(item["title"]), str(item["summary"] or "")))
        pairs += len(hard)
        fired += len(hard & got)
    assert pairs >= 400
    assert fired / pairs <= HARD_NEGATIVE_ALERT_CEILING, f"{fired} of {pairs} hard negatives fire"
