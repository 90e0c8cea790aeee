"""Hostile items: long texts, surrogates; and the NEAR check against a brute-force reference."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching import Matcher
from bot.matching import text as text_module
from bot.matching.matcher import MAX_HITS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, _Item, _within
from bot.matching.text import EntryText


def test_the_word_scan_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each hit counted spaces from the start of the text: 312 KB took 5.5 s."""
    monkeypatch.setattr(text_module, "MAX_SUMMARY_CHARS", 10**7)
    text = "nato agrees " * 35_000  # 420 KB, a hit every other word: was 9 s
    matcher = Matcher.compile([("s", "nato NEAR/3 agree"), ("t", "agree*")])
    started = time.perf_counter()
    assert matcher.match_ids("", text) == ["s", "t"]
    assert time.perf_counter() - started < 4.0


def test_only_the_first_part_of_a_long_field_is_matched() -> None:
    """Past MAX_SUMMARY_CHARS / MAX_TITLE_CHARS a field is not read; the cut ends on a word."""
    matcher = Matcher.compile([("s", "nato"), ("p", '"fill nato"')])
    filler = "fill " * (MAX_SUMMARY_CHARS // 5)
    assert matcher.match_ids("", filler[:-10] + " nato") == ["s", "p"]
    assert matcher.match_ids("", filler + "nato") == []
    assert matcher.match_ids("fill " * (MAX_TITLE_CHARS // 5) + "nato") == []
    # A word cut in two by the cap is dropped, so "natoxyz" cannot be read as "nato".
    assert matcher.match_ids("", "x" * (MAX_SUMMARY_CHARS - 4) + " natoxyz") == []


def test_lone_surrogates_in_feed_text_do_not_raise() -> None:
    """Feed text with half surrogate pairs matches around them, regexes included (RE2)."""
    matcher = Matcher.compile([("s", "nato"), ("r", "/ba[sz]e/")])
    matches = matcher.match("NATO \ud800 base", "\udcff")
    assert [m.signal_id for m in matches] == ["s", "r"]
    for m in matches:
        m.snippet.encode("utf-8")  # printable: the halves became U+FFFD
        for h in m.hits:
            h.text.encode("utf-8")


spans = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 4)).map(lambda s: (s[0], s[0] + s[1])),
    max_size=12,
)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(spans, spans, st.integers(1, 10))
def test_near_check_agrees_with_brute_force(
    lefts: list[tuple[int, int]], rights: list[tuple[int, int]], distance: int
) -> None:
    """The sorted NEAR check keeps exactly the spans the all-pairs check would."""
    item = _Item(EntryText("w " * 20, "w " * 20))  # tokens 0-19 in the title, 21-40 in the summary
    expected = {
        s
        for a in lefts
        for b in rights
        if item.field_of(a[0]) == item.field_of(b[0])
        and max(a[0], b[0]) - min(a[1], b[1]) <= distance
        for s in (a, b)
    }
    found = set(_within(lefts, rights, distance, item)) | set(
        _within(rights, lefts, distance, item)
    )
    assert found == expected


def test_a_match_lists_at_most_max_hits() -> None:
    """A regex hitting every word does not make an alert with thousands of terms."""
    (match,) = Matcher.compile([("s", r"/\w+/")]).match("", " ".join(f"w{i}" for i in range(5000)))
    assert len(match.hits) == MAX_HITS
    assert match.terms[:2] == ["w0", "w1"]
