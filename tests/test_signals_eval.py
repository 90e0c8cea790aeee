"""The shipped watchlist on the labelled set: CI fails when quality drops below the floor."""

from __future__ import annotations

from pathlib import Path

from bot.evaluation import evaluate_file
from bot.matching import Matcher
from bot.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parent.parent
LABELLED = ROOT / "tests" / "data" / "labelled"

# Measured when set: 0.957 on dev + holdout (0.923 on the holdout alone). The floor sits under
# it so that a query edit that costs real hits fails CI, while rewording that trades one
# borderline item for another does not.
MACRO_F1_FLOOR = 0.90
SEVEN = {
    "nato-5pct", "ukraine-truce", "tariff-waivers", "chip-pacts", "gaza-troops",
    "asia-pacts", "canal-deals",
}  # fmt: skip


def matcher() -> Matcher:
    """The shipped watchlist, compiled."""
    watchlist = load_watchlist(ROOT / "watchlist.yaml")
    return Matcher.compile((s.id, watchlist.query_node(s)) for s in watchlist.enabled_signals())


def test_shipped_watchlist_has_the_seven_signals_and_more() -> None:
    """watchlist.yaml ships the seven seed signals by id, plus at least five more."""
    ids = set(matcher().signal_ids)
    assert ids >= SEVEN
    assert len(ids - SEVEN) >= 5


def test_macro_f1_on_labelled_set_stays_above_floor() -> None:
    """Macro-F1 over dev + holdout stays at or above MACRO_F1_FLOOR."""
    report = evaluate_file(matcher(), sorted(LABELLED.glob("*.jsonl")))
    assert report.items >= 150
    assert report.macro_f1 >= MACRO_F1_FLOOR, f"macro-F1 {report.macro_f1:.3f}"
