"""How far each API search reaches (issue 13, part 6): `signalwatch search-reach`, measured.

The reference readers (bot/sources/search/reference.py) read a translated query as each API
documents it; over the labelled items and the real headlines under tests/data, every shipped
signal's search must return at most 5x what the signal matches, and miss none of its matches.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli_tools import REACH_ITEMS, reach_signals
from bot.sources.search.reach import (
    AIM_RATIO,
    ReachItem,
    SignalQueries,
    format_table,
    load_items,
    measure,
)
from bot.sources.search.reference import QuerySyntaxError, matches
from bot.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parent.parent


def _items() -> list[ReachItem]:
    paths = sorted(
        p
        for pattern in REACH_ITEMS
        for p in ROOT.glob(pattern)
        if p.is_file() and p.name != "README.md"
    )
    return load_items(paths)


def test_every_shipped_search_keeps_the_aim() -> None:
    """Each API x shipped signal: returned <= 5x matched, and no match missed."""
    watchlist = load_watchlist(ROOT / "watchlist.yaml")
    signals = reach_signals(watchlist)
    items = _items()
    assert len(items) > 400  # labelled items, story pairs and feed entries, repeats once
    rows = measure(signals, items)
    assert len(rows) == 4 * len(signals) == 52
    assert [r for r in rows if r.returned is None] == []
    assert [(r.api, r.signal_id, r.missed) for r in rows if r.missed] == []
    over = [(r.api, r.signal_id, r.ratio) for r in rows if (r.ratio or 0) > AIM_RATIO]
    assert over == []
    assert all(r.matched > 0 for r in rows)  # a ratio over nothing would prove nothing


def test_a_search_that_misses_is_reported_with_the_items_origin(tmp_path: Path) -> None:
    """A `search` narrower than the query: the table names the missed item's file and line."""
    items = tmp_path / "items.jsonl"
    lines = [
        {"title": "Moscow and Washington agree an energy truce", "summary": ""},
        {"title": "Moscow weather turns cold", "summary": ""},
        {"title": "A truce in Kyiv holds", "summary": ""},
    ]
    items.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    loaded = load_items([items])
    rows = measure([SignalQueries("s", "truce AND (Kyiv OR Moscow)", "Kyiv")], loaded, ["gdelt"])
    assert rows[0].matched == 2 and rows[0].returned == 1
    assert rows[0].missed == ("items.jsonl:1",)
    table = format_table(rows, len(loaded))
    assert "gdelt s misses: items.jsonl:1" in table
    assert "with misses: 1" in table


def test_story_pairs_and_feeds_are_read_as_items(tmp_path: Path) -> None:
    """A pair's two sides are two items; a feed's entries are items; repeats count once."""
    pairs = tmp_path / "pairs.jsonl"
    side = {"title": "Gaza force mandate passes", "summary": "UN vote"}
    pairs.write_text(json.dumps({"a": side, "b": side}) + "\n", encoding="utf-8")
    feed = ROOT / "tests" / "data" / "feeds" / "bbc_world.xml"
    items = load_items([pairs, feed, tmp_path / "pairs.jsonl"])
    assert sum(1 for i in items if i.origin.startswith("pairs.jsonl")) == 1
    assert any(i.origin.startswith("bbc_world.xml#") for i in items)


@pytest.mark.parametrize(
    ("api", "query", "title", "found"),
    [
        ("gdelt", "(pact OR pacts) (chip OR chips)", "Chips pact signed", True),
        ("gdelt", "pact", "Pacts signed", False),  # exact words
        ("guardian", "pact", "Pacts signed", True),  # stems plurals
        ("newsapi", '"peace plan" AND kyiv', "Kyiv weighs the peace plan", True),
        ("newsapi", '"peace plan" AND kyiv', "Kyiv plans peace", False),  # a phrase is in order
        ("gdelt", 'near4:"gaza troops"', "Gaza will get foreign troops", True),
        ("gdelt", 'near3:"gaza troops"', "Gaza will get foreign troops", False),
        ("guardian", "gaza AND NOT troops", "Gaza aid convoy", True),
        ("google_news", "(a OR b) c", "b c", True),
    ],
)
def test_reference_readers(api: str, query: str, title: str, found: bool) -> None:
    """Each API's documented reading: exact or stemmed words, phrases, near, AND/OR/NOT."""
    assert matches(api, query, title) is found


def test_a_query_no_api_reads_is_an_error() -> None:
    """Unbalanced parentheses are a bug in a translation, not a quiet False."""
    with pytest.raises(QuerySyntaxError, match="unbalanced parentheses"):
        matches("gdelt", "(gaza OR kyiv", "Gaza")


def test_search_reach_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The command: one row per API and signal, then the aims kept or not."""
    items = tmp_path / "items.jsonl"
    items.write_text(
        json.dumps({"title": "NATO allies agree to spend 5% of GDP on defence", "summary": ""})
        + "\n",
        encoding="utf-8",
    )
    code = main(
        ["search-reach", "--watchlist", str(ROOT / "watchlist.yaml"), "--items", str(items),
         "--api", "newsapi"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].startswith("1 items; aim: a search returns at most 5x")
    rows = {line.split()[1]: line.split()[2:] for line in out.splitlines()[2:15]}
    assert rows["nato-5pct"] == ["1", "1", "1.0x", "0"]
    assert rows["ukraine-truce"] == ["0", "0", "-", "0"]
    assert "over 5x: 0 of 13; with misses: 0; not searchable: 0" in out
