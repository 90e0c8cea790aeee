"""Seeded, bounded fuzzing: hostile queries, watchlists and input lines end in clean errors.

Every case must finish quickly (hypothesis' deadline) and raise nothing but the documented
error; the process's peak memory may grow only a little over the whole run.
"""

from __future__ import annotations

import contextlib
import json
import resource
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import cli
from bot.errors import QueryError, SourceError, WatchlistError
from bot.matching import Matcher, parse_query
from bot.sources.search import gdelt, google_news, guardian, newsapi
from bot.sources.search.translate import translate_for
from bot.watchlist import WatchlistReloader, parse_watchlist

DIALECTS = [gdelt.DIALECT, google_news.DIALECT, guardian.DIALECT, newsapi.DIALECT]
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
SEEDED = settings(
    derandomize=True,
    database=None,
    deadline=2000,  # ms per case; generous, as these used to take seconds to minutes
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # capsys: read and emptied by each case
    ],
)
FRAGMENTS = [
    "(", ")", "NOT ", "title:", "summary:", " NEAR/5 ", " NEAR ", " NEAR/0 ", " NEAR/x ", " OR ",
    " AND ", " ", '"', "*", "/", "\\", "nato", "a", "ceasefire", "5%", "cease-fire", "x:",
    "\ud800", "\udfff", "\ud83d\ude42", "\U0001f642", "é", "\x00", "\n", "/a+/", "/(a+)+$/",
]  # fmt: skip
TEXT = "NATO and a ceasefire: 5% cease-fire a b nato \ud800 \U0001f642 " * 20

fragments = st.lists(st.sampled_from(FRAGMENTS), max_size=80).map("".join)
nesting = st.builds(
    lambda opener, depth, core: opener * depth + core + ")" * depth,
    st.sampled_from(["(", "NOT (", "title:(", "(a OR ", "summary:(NOT "]),
    st.integers(0, 400),
    st.sampled_from(["nato", "a NEAR b", '"cease fire"', "/x/"]),
)
near_chains = st.builds(
    lambda word, distance, terms: f" NEAR/{distance} ".join([word] * terms),
    st.sampled_from(["a", "nato", "(a OR b)", '"a b"', "cease*"]),
    st.integers(1, 100),
    st.integers(2, 200),
)
long_words = st.builds(
    lambda letters, n, count: " ".join([letters * n] * count),
    st.sampled_from(["ab", "abcdefgh", "x", "é"]),
    st.integers(1, 2500),
    st.integers(1, 6),
)
hostile_queries = st.one_of(fragments, nesting, near_chains, long_words, st.text(max_size=60))


def exercise(query: str) -> None:
    """Parse, compile, match and translate `query`; only QueryError/SourceError may come out."""
    try:
        node = parse_query(query)
    except QueryError as err:
        str(err).encode("utf-8")  # the message is printable
        return
    matcher = Matcher.compile([("s", node)])
    for match in matcher.match(TEXT, TEXT):
        match.snippet.encode("utf-8")
    for dialect in DIALECTS:
        with contextlib.suppress(SourceError):
            translate_for(dialect, query)


def watchlist_with(query: str) -> str:
    """A watchlist whose one signal has `query`, written as a JSON (so YAML) string with
    \\u escapes: exactly how a surrogate pair or a lone half gets into a file."""
    return f"signals:\n  - id: s\n    title: T\n    query: {json.dumps(query)}\n"


@pytest.fixture(scope="module", autouse=True)
def bounded_memory() -> object:
    """The whole module's fuzzing may raise the peak RSS by at most 300 MB."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    yield None
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 300_000


@settings(SEEDED, max_examples=400)
@given(hostile_queries)
def test_queries_parse_or_fail_cleanly(query: str) -> None:
    """Any query text is a QueryError or a matcher and search translation, quickly."""
    exercise(query)


@settings(SEEDED, max_examples=120)
@given(hostile_queries)
def test_watchlists_validate_or_fail_cleanly(query: str) -> None:
    """Any query saved in a watchlist validates or is a WatchlistError with printable lines."""
    try:
        watchlist = parse_watchlist(watchlist_with(query))
    except WatchlistError as err:
        for problem in err.problems:
            problem.encode("utf-8")
        return
    exercise(watchlist.signals[0].query)


@settings(SEEDED, max_examples=60)
@given(st.lists(hostile_queries, min_size=1, max_size=4))
def test_hot_reload_keeps_the_last_good_watchlist(queries: list[str]) -> None:
    """However a saved file goes wrong, check() does not raise and the good watchlist stays."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "watchlist.yaml"
        path.write_text(watchlist_with("nato"), encoding="utf-8")
        reloader = WatchlistReloader(path)
        good = reloader.load(NOW)
        for query in queries:
            path.write_text(watchlist_with(query), encoding="utf-8")
            got = reloader.check(NOW)
            if got is not None:
                good = got
            assert reloader.current is good


@settings(SEEDED, max_examples=30)
@given(query=hostile_queries, text=st.text(max_size=200))
def test_check_and_match_text_end_cleanly(
    query: str, text: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signalwatch check` and `match --text` exit 0 or 1 with printable output, never raise."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "watchlist.yaml"
        path.write_text(watchlist_with(query), encoding="utf-8")
        assert cli.main(["check", "--watchlist", str(path)]) in (0, 1)
        assert cli.main(["match", "--watchlist", str(path), "--text", text]) in (0, 1)
    out, err = capsys.readouterr()
    (out + err).encode("utf-8", "backslashreplace")


json_ish = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
items = st.fixed_dictionaries(
    {"id": json_ish, "title": st.text(max_size=50) | json_ish, "summary": json_ish}
).map(lambda item: json.dumps(item).encode("utf-8"))
garbage = st.one_of(
    st.binary(max_size=100),
    items,
    st.integers(1, 50_000).map(lambda n: b"[" * n + b"]" * n),
    st.text(max_size=40).map(lambda t: t.encode("utf-8", "surrogatepass")),
    items.map(lambda line: b"\xef\xbb\xbf" + line),
)


@settings(SEEDED, max_examples=40)
@given(lines=st.lists(garbage, max_size=12))
def test_match_input_answers_every_line_with_json(
    lines: list[bytes], capsys: pytest.CaptureFixture[str]
) -> None:
    """Garbage lines through `match --input`: one valid JSON line out per non-blank line in."""
    data = b"".join(line + b"\n" for line in lines)
    expected = sum(1 for segment in data.split(b"\n")[:-1] if segment.strip())
    with tempfile.TemporaryDirectory() as folder:
        watchlist = Path(folder) / "watchlist.yaml"
        watchlist.write_text(watchlist_with("nato OR a"), encoding="utf-8")
        source = Path(folder) / "items.jsonl"
        source.write_bytes(data)
        code = cli.main(["match", "--watchlist", str(watchlist), "--input", str(source)])
    assert code in (0, 1)
    out, _ = capsys.readouterr()
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == expected
    json.dumps(answers, allow_nan=False)  # no NaN slipped through
