"""Hostile queries: nesting, NEAR chains and long words end in a clear error or a quick match."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import tracemalloc

import pytest

from bot.errors import QueryError, SourceError
from bot.matching import Matcher, parse_query
from bot.matching.query import MAX_DEPTH, MAX_REGEX_TERMS
from bot.sources.search import gdelt, google_news, guardian, newsapi
from bot.sources.search.translate import translate_for

DIALECTS = [gdelt.DIALECT, google_news.DIALECT, guardian.DIALECT, newsapi.DIALECT]


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("(" * 200 + "nato" + ")" * 200, MAX_DEPTH + 1),
        ("NOT (" * 300 + "a", None),
        ("title:(" * 300 + "a", None),
        ("NOT " * 900 + "a b", None),
        (" NEAR/5 ".join(["a"] * 300), None),
    ],
)
def test_deep_nesting_is_a_clear_error(query: str, column: int | None) -> None:
    """Nesting past MAX_DEPTH is a QueryError naming the limit and column, not RecursionError."""
    with pytest.raises(QueryError, match=f"nested deeper than {MAX_DEPTH} at column") as err:
        parse_query(query)
    if column is not None:
        assert err.value.column == column


def test_nesting_up_to_the_limit_parses() -> None:
    """A query just inside the limit is still a query."""
    depth = MAX_DEPTH - 1
    assert parse_query("(" * depth + "nato" + ")" * depth)
    assert parse_query(" NEAR/5 ".join(["a"] * MAX_DEPTH))


def deepest_queries() -> list[str]:
    """Queries as deep as the parser allows, in each way a query can nest."""
    chain = " NEAR/5 ".join(["nato"] * (MAX_DEPTH - 1))
    inner = "(" * (MAX_DEPTH - 2) + f"({chain}) OR b" + ")" * (MAX_DEPTH - 2)
    return [
        "(" * (MAX_DEPTH - 1) + "nato b" + ")" * (MAX_DEPTH - 1),
        "NOT " * (MAX_DEPTH - 1) + "nato AND b",
        "title:(" * (MAX_DEPTH - 1) + "nato" + ")" * (MAX_DEPTH - 1),
        chain,
        inner,
        "(" * 20 + " NEAR/5 ".join(["(nato OR b)"] * 20) + ")" * 20,
    ]


@pytest.mark.parametrize("query", deepest_queries())
def test_every_pass_over_the_deepest_ast_survives(query: str) -> None:
    """Compiling, matching and translating the deepest allowed ASTs recurse safely."""
    node = parse_query(query)
    matcher = Matcher.compile([("s", node)])
    matcher.match("nato b nato b", "nato")
    for dialect in DIALECTS:
        # "cannot search for this query" (SourceError) is a fine answer.
        with contextlib.suppress(SourceError):
            translate_for(dialect, query)


def test_lone_surrogate_in_a_query_is_a_query_error() -> None:
    """A half surrogate pair is refused with its column, never passed to RE2 or UTF-8."""
    with pytest.raises(QueryError, match=r"\\ud800' is half of a surrogate pair") as err:
        parse_query("nato /\ud800/")
    assert err.value.column == 7


@pytest.mark.parametrize("terms", [24, 26, 60])
def test_near_chains_are_polynomial(terms: int) -> None:
    """`a NEAR/5 a NEAR/5 …` used to double its spans per NEAR (24 terms: 8 s, 26: 30 s)."""
    depth = min(terms, MAX_DEPTH)
    matcher = Matcher.compile([("s", " NEAR/5 ".join(["a"] * depth))])
    started = time.perf_counter()
    matches = matcher.match("a b nato", "a " * 2000)
    assert time.perf_counter() - started < 2.0
    assert [m.signal_id for m in matches] == ["s"]
    assert len(matches[0].hits) == len(set(matches[0].hits))


def test_one_long_word_is_cheap() -> None:
    """A 4,000-letter word made ~4,000 compound variants (3.4 s and 450 MB per signal)."""
    word = "abcdefgh" * 500
    tracemalloc.start()
    started = time.perf_counter()
    try:
        matcher = Matcher.compile([(f"s{i}", word) for i in range(6)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 2.0
    assert peak < 30_000_000
    assert matcher.match_ids(word) == [f"s{i}" for i in range(6)]


def test_compound_variants_still_cover_real_compounds() -> None:
    """Bounding the variants keeps what they are for: counterinsurgency / counter insurgency."""
    assert Matcher.compile([("s", "counterinsurgency")]).match_ids("a counter insurgency push")
    assert Matcher.compile([("s", "cease-fire")]).match_ids("ceasefire holds")


MEMORY_PROBE = """
import random, string
from bot.matching import Matcher
random.seed(0)
def word():
    return "".join(random.choice(string.ascii_lowercase) for _ in range(28))
phrases = [f'"z{i} ' + " ".join(["abcdefghijk"] * 330) + '"' for i in range(20)]
words = [" ".join(word() for _ in range(137)) for _ in range(40)]
Matcher.compile([(f"s{i}", q) for i, q in enumerate(phrases + words)])
# VmHWM is this program's own peak: ru_maxrss would carry over the parent's from before exec.
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]))
"""


def test_compound_variants_stay_small_in_memory() -> None:
    """Long phrases and many long words made one automaton pattern per split (60 queries: 450 MB)."""
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert int(done.stdout) < 150_000  # KB of peak RSS, imports included


def test_regex_terms_are_limited_per_query() -> None:
    """Each regex runs over every item, so a query holds at most MAX_REGEX_TERMS of them."""
    assert parse_query(" OR ".join(f"/a{i}/" for i in range(MAX_REGEX_TERMS)))
    with pytest.raises(QueryError, match=f"more than {MAX_REGEX_TERMS} regular expressions"):
        parse_query(" OR ".join(f"/a{i}/" for i in range(MAX_REGEX_TERMS + 1)))
