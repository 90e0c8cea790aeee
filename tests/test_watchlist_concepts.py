"""Concepts in the watchlist: loaded, checked with lines and columns, kept by every path that
carries a watchlist (the editor, the store's live watchlist, admin checks, news-API search)."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from fakes import FakeClock
from pydantic import ValidationError

from bot import cli
from bot.admin import (
    PreviewItem,
    Refused,
    build_signal_spec,
    preview_edit,
    preview_query,
    signal_changes,
)
from bot.errors import WatchlistError
from bot.matching.query import Or
from bot.pipeline.compiled import Compiled
from bot.pipeline.live_source import WatchlistSource
from bot.store import Store
from bot.watchlist import SignalSpec, Watchlist, WatchlistEditor, parse_watchlist

WATCHLIST = """\
# Concepts are defined once and named in queries with @.
version: 1

concepts:
  # Words news uses for a security agreement.
  pact: [pact, treaty, accord, "joint declaration", visiting forces agreement]
  asia:
    - Japan
    - Philippines
    - Australia

signals:
  - id: asia-pacts
    title: Asia pacts form
    query: "@asia AND @pact NEAR/6 sign"   # kept by every edit
    search: "@asia AND @pact"

sources:
  - id: gdelt
    type: gdelt
"""
NOW_TITLE = "Japan and the Philippines signed a visiting forces agreement"


def problems(text: str) -> list[str]:
    """What parse_watchlist reports for `text` (dedented); fails when it accepts it."""
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(dedent(text), "watchlist.yaml")
    return caught.value.problems


def test_concepts_load_and_expand_for_matching_and_search() -> None:
    """The loaded watchlist keeps its concepts; queries and searches are written out."""
    watchlist = parse_watchlist(WATCHLIST)
    assert watchlist.concepts["pact"][3] == "joint declaration"
    signal = watchlist.signal("asia-pacts")
    assert signal.query == "@asia AND @pact NEAR/6 sign"  # as written, for the editor
    node = watchlist.query_node(signal)
    assert isinstance(node.children[0], Or)  # type: ignore[union-attr]
    assert watchlist.search_query(signal) == (
        '("Japan" OR "Philippines" OR "Australia") AND ("pact" OR "treaty" OR "accord"'
        ' OR "joint declaration" OR "visiting forces agreement")'
    )
    compiled = Compiled.build(watchlist)
    assert compiled.matcher.match_ids(NOW_TITLE) == ["asia-pacts"]
    assert watchlist.unused_concepts() == []


def test_an_unknown_concept_is_reported_at_its_line_and_column() -> None:
    """As any query error: file:line: signal 'id': query: ... at column C."""
    found = problems(
        """\
        concepts:
          pact: [pact, treaty]
        signals:
          - id: a
            title: A
            query: nato AND @pacts
          - id: b
            title: B
            query: x
            search: x OR @nope
        """
    )
    assert found == [
        "watchlist.yaml:6: signal 'a': query: unknown concept '@pacts' (did you mean '@pact'?)"
        " at column 10 (expected a concept defined under concepts:)",
        "watchlist.yaml:10: signal 'b': search: unknown concept '@nope' at column 6"
        " (expected a concept defined under concepts:)",
    ]


def test_bad_concepts_are_reported_once_on_their_own_lines() -> None:
    """Empty, badly named, non-list and unparsable concepts; their users are not reported."""
    found = problems(
        """\
        concepts:
          empty:
          Bad-Name: [x]
          words: pact treaty
          mixed:
            - pact
            - pact OR treaty
            - "@empty"
        signals:
          - id: a
            title: A
            query: "@empty OR @mixed OR @words"
        """
    )
    assert found == [
        "watchlist.yaml:2: concept 'empty': has no terms: give it at least one word or phrase",
        "watchlist.yaml:3: concept 'Bad-Name': concept name 'Bad-Name' must be lower-case"
        " letters, digits and hyphens (at most 63), as it is written after '@' in queries",
        "watchlist.yaml:4: concept 'words': must be a list (got 'pact treaty')",
        "watchlist.yaml:7: concept 'mixed': 'pact OR treaty' is query syntax ('OR'), not a word"
        " or phrase: give each alternative as its own term",
        "watchlist.yaml:8: concept 'mixed': '@empty' names a concept: concepts cannot hold"
        " other concepts",
    ]


def test_concepts_must_be_a_mapping() -> None:
    """A list under concepts: is one clear error on its line."""
    assert problems(
        """\
        concepts: [pact, treaty]
        signals:
          - {id: a, title: A, query: x}
        """
    ) == ["watchlist.yaml:1: concepts: must be a mapping of keys to values (got a list)"]


def test_a_signal_alone_checks_syntax_the_watchlist_checks_names() -> None:
    """SignalSpec accepts any @name; a Watchlist refuses one it does not define."""
    spec = SignalSpec(id="a", title="A", query="@anything AND x")
    with pytest.raises(ValidationError, match="unknown concept '@anything'"):
        Watchlist(signals=[spec])
    assert Watchlist(concepts={"anything": ["x"]}, signals=[spec]).concepts == {"anything": ["x"]}
    with pytest.raises(ValidationError, match="not a concept name"):
        SignalSpec(id="a", title="A", query="@Any")


def test_check_warns_of_unused_concepts_and_fails_on_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signalwatch check`: an unused concept is a warning (exit 0); an unknown one, exit 1."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST.replace("  asia:\n", "  spare: [x]\n  asia:\n"), encoding="utf-8")
    assert cli.main(["check", "--watchlist", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "1 signals (1 enabled), 3 concepts, 1 sources" in out
    assert err == f"{path}: warning: concept 'spare' is not named by any query (@spare)\n"
    path.write_text(WATCHLIST.replace("@pact NEAR", "@pacts NEAR"), encoding="utf-8")
    assert cli.main(["check", "--watchlist", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:15: signal 'asia-pacts': query: unknown concept '@pacts'" in err
    assert "at column 11" in err


def test_editor_round_trip_keeps_concepts_and_checks_new_queries(tmp_path: Path) -> None:
    """Edits keep the concepts section byte for byte and validate queries against it."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    editor = WatchlistEditor(path)
    change = editor.add_signal(SignalSpec(id="treaty-watch", title="T", query="@pact AND ratif*"))
    text = path.read_text(encoding="utf-8")
    assert text.startswith(WATCHLIST.split("\nsources:")[0])
    assert change.watchlist.concepts == parse_watchlist(WATCHLIST).concepts
    assert Compiled.build(change.watchlist).matcher.match_ids("Senate ratifies accord") == [
        "treaty-watch"
    ]
    editor.update_signal("treaty-watch", query="@asia AND @pact")
    with pytest.raises(WatchlistError, match=r"unknown concept '@pacts'.* at column 1"):
        editor.update_signal("treaty-watch", query="@pacts")
    with pytest.raises(WatchlistError, match="unknown concept '@nope'"):
        editor.add_signal(SignalSpec(id="x", title="X", query="@nope"))
    assert "query: '@asia AND @pact'" in path.read_text(encoding="utf-8")
    assert "id: x\n" not in path.read_text(encoding="utf-8")


def test_the_store_s_live_watchlist_carries_concepts(tmp_path: Path, store: Store) -> None:
    """The gateway publishes the file; a worker following the store compiles its concepts,
    and a concept edited in the file reaches it."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    clock = FakeClock()
    gateway = WatchlistSource(path, store, clock, publish=True)
    worker = WatchlistSource(tmp_path / "missing.yaml", store, clock, follow_store=True)
    gateway.load()
    live = worker.load()
    assert live.concepts == parse_watchlist(WATCHLIST).concepts
    assert Compiled.build(live).matcher.match_ids(NOW_TITLE) == ["asia-pacts"]
    korea = "South Korea signed a joint declaration"
    assert Compiled.build(live).matcher.match_ids(korea) == []
    path.write_text(WATCHLIST.replace("    - Australia\n", "    - Australia\n    - Korea\n"))
    clock.advance(minutes=1)
    assert gateway.check() is not None
    fresh = worker.check()
    assert fresh is not None and "Korea" in fresh.concepts["asia"]
    assert Compiled.build(fresh).matcher.match_ids(korea) == ["asia-pacts"]


def test_admin_checks_use_the_watchlist_s_concepts() -> None:
    """/watch add, edit and preview check a query against the current concepts."""
    concepts = parse_watchlist(WATCHLIST).concepts
    spec = build_signal_spec("t", "T", " @pact AND sign ", concepts=concepts)
    assert spec.query == "@pact AND sign"
    with pytest.raises(Refused, match=r"unknown concept '@pacts'.*column 1"):
        build_signal_spec("t", "T", "@pacts AND sign", concepts=concepts)
    with pytest.raises(Refused, match="unknown concept '@pact'"):
        build_signal_spec("t", "T", "@pact AND sign")
    assert signal_changes(query="@asia", concepts=concepts) == {"query": "@asia"}
    item = PreviewItem("s", "k", "Philippines signs treaty", "", None)
    assert preview_query("@asia AND @pact", [item], concepts=concepts).matched == 1
    edit = preview_edit("@asia AND sign", "@asia AND @pact", [item], 7, concepts=concepts)
    assert (edit.kept, edit.newly, edit.stopped) == (1, (), ())


def test_concepts_cannot_make_a_watchlist_that_takes_minutes_to_check() -> None:
    """A concept of 500 terms named over and over is refused by its written-out size, fast
    (before the budget, 2,000 signals naming it 4 times took over 5 minutes to validate)."""
    words = ", ".join(f"w{n}x" for n in range(500))
    signals = "".join(
        f"  - {{id: s{i}, title: S, query: '@a OR @a OR @a OR @a'}}\n" for i in range(2000)
    )
    text = f"concepts:\n  a: [{words}]\nsignals:\n{signals}"
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(text, max_bytes=1 << 20)
    [problem] = caught.value.problems
    assert problem.startswith("watchlist.yaml:29: signal 's25': query: the watchlist's queries")
    assert "more than 50,000 concept terms in all" in problem


def test_a_plain_yaml_value_cannot_start_with_at_and_the_error_says_so() -> None:
    """YAML reserves '@': the syntax error tells how to write a query that starts with one."""
    assert problems(
        """\
        concepts:
          pact: [pact]
        signals:
          - id: a
            title: A
            query: @pact AND sign
        """
    ) == [
        "watchlist.yaml:6: YAML syntax error: found character '@' that cannot start any token"
        " (put a value that starts with @ in quotes: query: '@pact AND sign')"
    ]
