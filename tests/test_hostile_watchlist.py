"""Hostile watchlists: surrogates, deep queries, oversized files and sections; hot reload too."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot import cli
from bot.errors import WatchlistError
from bot.matching import Matcher
from bot.watchlist import SignalSpec, WatchlistReloader, load_watchlist, parse_watchlist
from bot.watchlist import loader as loader_module
from bot.watchlist import reload as reload_module
from bot.watchlist.loader import MAX_BYTES_ENV, MAX_ITEMS, MAX_TEXT_CHARS

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
GOOD = "signals:\n  - {id: a, title: A, query: nato}\n"


def signal(query: str, title: str = "T") -> str:
    """A one-signal watchlist with `query` written verbatim inside YAML double quotes."""
    return f'signals:\n  - id: s\n    title: "{title}"\n    query: "{query}"\n'


def problems(text: str) -> list[str]:
    """The problems parse_watchlist reports for `text` (none: it validated)."""
    try:
        parse_watchlist(text)
    except WatchlistError as err:
        for problem in err.problems:
            problem.encode("utf-8")  # every message is printable
        return err.problems
    return []


def test_an_escaped_surrogate_pair_is_joined_into_its_character() -> None:
    """`"\\ud83d\\ude42"` (JSON-style escapes in YAML) is the emoji, not a UnicodeEncodeError."""
    watchlist = parse_watchlist(signal('\\"\\ud83d\\ude42 nato*\\"', "x \\ud83d\\ude42"))
    assert watchlist.signals[0].title == "x \U0001f642"
    assert problems(signal('\\"\\ud83d\\ude42*\\"')) == [
        "watchlist.yaml:4: signal 's': query: phrase \"\U0001f642*\" has no letters or digits"
        " to match at column 1 (expected a word)"
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (signal("nato \\ud800"), 4),
        (signal("nato", "x \\udcff"), 3),
        ('signals:\n  - id: s\n    title: T\n    query: nato\n    tags: ["\\ud83d"]\n', 5),
        ('signals:\n  - id: s\n    title: T\n    query: nato\n    "\\ud800": 1\n', 5),
    ],
)
def test_a_lone_surrogate_is_an_error_naming_its_line(text: str, line: int) -> None:
    """Half a surrogate pair anywhere (value, list item, key) is a problem on its own line."""
    found = problems(text)
    assert any(p.startswith(f"watchlist.yaml:{line}: ") and "surrogate" in p for p in found)


def test_check_reports_a_lone_surrogate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`signalwatch check` prints the problem and exits 1 (it raised UnicodeEncodeError)."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(signal('\\"\\ud83d\\ude42*\\" OR \\ud83d'), encoding="utf-8")
    assert cli.main(["check", "--watchlist", str(path)]) == 1
    assert "surrogate" in capsys.readouterr().err


def test_a_deep_query_is_a_problem_not_a_crash() -> None:
    """Deep nesting in a saved watchlist is a query problem naming line and column."""
    found = problems(signal("(" * 200 + "nato" + ")" * 200))
    assert found == [
        "watchlist.yaml:4: signal 's': query: nested deeper than 32 at column 33"
        " (expected a flatter query)"
    ]


def test_an_oversized_file_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over the byte limit is refused by its size, naming the limit and the override."""

    def never(*_: Any) -> None:
        raise AssertionError("parsed an oversized file")

    monkeypatch.setattr(loader_module, "load_document", never)
    path = tmp_path / "watchlist.yaml"
    path.write_bytes(b"# " + b"x" * loader_module.MAX_WATCHLIST_BYTES + b"\n")
    with pytest.raises(WatchlistError) as err:
        load_watchlist(path)
    (problem,) = err.value.problems
    assert problem.startswith(f"{path}:1: the file is ")
    assert f"over the {loader_module.MAX_WATCHLIST_BYTES:,}-byte limit" in problem
    assert MAX_BYTES_ENV in problem
    with pytest.raises(WatchlistError, match="-byte limit"):
        parse_watchlist("#" * (loader_module.MAX_WATCHLIST_BYTES + 1))


def test_the_byte_limit_can_be_raised_or_lowered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGNALWATCH_MAX_WATCHLIST_BYTES or `max_bytes` sets the limit; a bad value is an error."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(WatchlistError, match="over the 10-byte limit"):
        load_watchlist(path, max_bytes=10)
    monkeypatch.setenv(MAX_BYTES_ENV, "10")
    with pytest.raises(WatchlistError, match="over the 10-byte limit"):
        load_watchlist(path)
    monkeypatch.setenv(MAX_BYTES_ENV, "lots")
    with pytest.raises(WatchlistError, match=f"{MAX_BYTES_ENV} must be a whole number"):
        load_watchlist(path)
    monkeypatch.setenv(MAX_BYTES_ENV, str(10 * loader_module.MAX_WATCHLIST_BYTES))
    path.write_text(GOOD + "#" * loader_module.MAX_WATCHLIST_BYTES + "\n", encoding="utf-8")
    assert load_watchlist(path).signals[0].id == "a"


def test_too_many_signals_are_refused_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_ITEMS signals the file is refused before any signal is validated."""
    limit = 50  # the mechanism is the same at 2,000, only slower to show
    monkeypatch.setitem(MAX_ITEMS, "signals", limit)

    def never(*_: Any) -> None:
        raise AssertionError("validated a signal")

    monkeypatch.setattr(loader_module.Watchlist, "model_validate", never)
    text = "version: 1\nsignals:\n" + "".join(
        f"  - {{id: s{i}, title: T, query: nato}}\n" for i in range(limit + 1)
    )
    assert problems(text) == [
        f"watchlist.yaml:2: too many signals: {limit + 1} (the limit is {limit})"
    ]


def test_an_oversized_value_is_refused_with_its_length() -> None:
    """One text value over MAX_TEXT_CHARS is a problem naming the limit."""
    found = problems(
        "signals:\n  - id: s\n    title: T\n    query: nato\n"
        f"    description: {'x' * (MAX_TEXT_CHARS + 1)}\n"
    )
    assert found == [
        f"watchlist.yaml:5: signal 's': description: is {MAX_TEXT_CHARS + 1:,} characters long"
        f" (the limit is {MAX_TEXT_CHARS:,})"
    ]


@pytest.mark.parametrize(
    "bad",
    [
        signal("(" * 200 + "nato" + ")" * 200),
        signal("NOT (" * 300 + "a"),
        signal('\\"\\ud83d\\ude42*\\"'),
        signal("nato \\udfff"),
    ],
)
def test_hot_reload_keeps_the_last_good_watchlist(tmp_path: Path, bad: str) -> None:
    """A hostile edit saved under the running bot is an error; the good watchlist stays."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(GOOD, encoding="utf-8")
    reloader = WatchlistReloader(path)
    assert reloader.check(NOW) is not None
    path.write_text(bad, encoding="utf-8")
    assert reloader.check(NOW) is None
    assert reloader.last_error is not None
    assert reloader.current is not None and reloader.current.signals[0].id == "a"


def test_hot_reload_refuses_an_oversized_file_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reloader compares the file's size with the limit before reading it."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(GOOD, encoding="utf-8")
    reloader = WatchlistReloader(path, max_bytes=100)
    assert reloader.check(NOW) is not None
    reads: list[Path] = []
    monkeypatch.setattr(reload_module, "read_bytes", lambda p: reads.append(p) or b"")
    path.write_text(GOOD + "#" * 200 + "\n", encoding="utf-8")
    assert reloader.check(NOW) is None
    assert reads == []
    assert reloader.last_error is not None
    assert "over the 100-byte limit" in str(reloader.last_error)
    assert reloader.current is not None and reloader.current.signals[0].id == "a"


def test_hot_reload_survives_a_loader_bug(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anything unexpected from the loader becomes last_error; check() itself never raises."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(GOOD, encoding="utf-8")
    reloader = WatchlistReloader(path)
    reloader.check(NOW)

    def broken(*_: Any, **__: Any) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(reload_module, "parse_watchlist", broken)
    path.write_text(GOOD + "# changed\n", encoding="utf-8")
    assert reloader.check(NOW) is None
    assert reloader.last_error is not None
    assert "RecursionError" in str(reloader.last_error)
    assert reloader.current is not None


@pytest.mark.parametrize("field", [{"title": "x \ud800"}, {"tags": ["\udfff"]}])
def test_specs_built_in_code_refuse_lone_surrogates(field: dict[str, Any]) -> None:
    """A spec made from a chat command is checked too, before an editor writes it to YAML."""
    with pytest.raises(ValidationError, match="half of a surrogate pair"):
        SignalSpec.model_validate({"id": "s", "title": "T", "query": "nato", **field})


def test_regex_terms_are_limited_per_watchlist() -> None:
    """Past MAX_REGEX_TERMS regexes in all, the signal that crosses the line is named."""
    per_signal = 20
    count = loader_module.MAX_REGEX_TERMS // per_signal + 1
    query = " OR ".join(f"/a{i}/" for i in range(per_signal))
    text = "signals:\n" + "".join(
        f"  - id: s{i}\n    title: T\n    query: {json.dumps(query)}\n" for i in range(count)
    )
    assert problems(text) == [
        f"watchlist.yaml:{3 * count + 1}: signal 's{count - 1}': query: the watchlist's queries"
        f" hold more than {loader_module.MAX_REGEX_TERMS} regular expressions in all (each is"
        " run over every item)"
    ]
    # The most regexes a watchlist may hold cost well under a second per longest item.
    matcher = Matcher.compile((f"s{i}", query.replace("/a", f"/{i}b")) for i in range(count - 1))
    started = time.perf_counter()
    matcher.match("x " * 5000, "y " * 10_000)
    assert time.perf_counter() - started < 1.0


def test_thousands_of_id_items_are_refused_before_the_yaml_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """13,000 `- id:` items (half a megabyte of YAML, seconds to parse) are counted and
    refused before the parser sees them."""

    def never(*_: Any) -> None:
        raise AssertionError("parsed the YAML")

    monkeypatch.setattr(loader_module, "load_document", never)
    text = "signals:\n" + "".join(
        f"  - id: s{i}\n    title: T\n    query: nato\n" for i in range(13_000)
    )
    with pytest.raises(WatchlistError, match=r"too many signals and sources: 13,000"):
        parse_watchlist(text, max_bytes=len(text) + 1)
