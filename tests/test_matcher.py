"""The compiled matcher: boolean logic, NEAR, fields, variants, explanations, snippets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import QueryError
from bot.matching import Matcher
from bot.matching.snippet import SNIPPET_LIMIT, escape_markdown, make_snippet


def ids(query: str, title: str, summary: str = "") -> list[str]:
    """Signal ids a one-signal matcher returns for an item."""
    return Matcher.compile([("s", query)]).match_ids(title, summary)


def hit(query: str, title: str, summary: str = "") -> bool:
    """Does the query match the item?"""
    return ids(query, title, summary) == ["s"]


def test_and_or_not() -> None:
    """Boolean operators hold."""
    assert hit("nato spending", "NATO raises spending")
    assert not hit("nato spending", "NATO holds drills")
    assert hit("drills OR spending", "NATO holds drills")
    assert not hit("nato NOT drills", "NATO holds drills")
    assert hit("nato NOT drills", "NATO meets")


@pytest.mark.parametrize(
    "title",
    ["Russia and Ukraine agree ceasefire", "Russia, Ukraine agree cease-fire",
     "Russia and Ukraine agree to a cease fire", "Russia and Ukraine agree ceasefires"],
)  # fmt: skip
@pytest.mark.parametrize("query", ["ceasefire", "cease-fire", '"cease fire"'])
def test_compound_words_meet(query: str, title: str) -> None:
    """ceasefire, cease-fire and cease fire find each other, either side."""
    assert hit(query, title)


@pytest.mark.parametrize(
    "text",
    ["to 5% of GDP", "to 5 % of GDP", "to 5 percent of GDP", "to 5 per cent of GDP",
     "to five per cent of GDP", "to 5.0% of GDP", "to 5pc of GDP"],
)  # fmt: skip
def test_percent_query_matches_every_form(text: str) -> None:
    """The query "5%" matches every spelling of five percent."""
    assert hit('"5%" NEAR/3 gdp', "NATO allies commit " + text)


def test_percent_does_not_match_other_numbers() -> None:
    """5% is not 2.5% or 35% or 5."""
    assert not hit('"5%"', "Allies meet 2.5% goal, 35% of budget, 5 ships")


def test_plural_and_prefix() -> None:
    """pact finds pacts; deploy* finds deployed/deployment; prefix is a word start."""
    assert hit("pact", "Japan and Philippines seal defence pacts")
    assert hit("deploy*", "Troops deployed to Gaza")
    assert hit("deploy*", "Gaza deployment planned")
    assert not hit("deploy*", "Redeploy forces")


def test_near_is_unordered_and_bounded() -> None:
    """NEAR/n holds either way round, up to n words apart, not further."""
    assert hit("nato NEAR/2 target", "target of NATO")
    assert hit("nato NEAR/2 target", "NATO spending target")
    assert not hit("nato NEAR/2 target", "NATO holds its annual target")
    assert hit("nato NEAR/1 target", "NATO target")


def test_near_stays_within_a_field() -> None:
    """NEAR never pairs a title word with a summary word."""
    assert not hit("nato NEAR/3 gdp", "Talks at NATO", "GDP figures out")
    assert hit("nato AND gdp", "Talks at NATO", "GDP figures out")


def test_phrase_does_not_cross_fields() -> None:
    """A phrase cannot start in the title and end in the summary."""
    assert not hit('"peace deal"', "Talks on peace", "Deal is near")


def test_field_scopes() -> None:
    """title: and summary: restrict where a term may occur."""
    assert hit("title:nato", "NATO meets", "nothing")
    assert not hit("title:nato", "Allies meet", "NATO")
    assert hit("summary:nato", "Allies meet", "NATO")
    assert not hit('nato NOT title:"quiz"', "Quiz: NATO facts")
    assert hit('nato NOT title:"quiz"', "NATO facts", "a quiz inside")


def test_regex_terms_are_linear_time_and_positional() -> None:
    """Regex terms use RE2 (no catastrophic backtracking) and work with NEAR."""
    assert hit("/stabili[sz]ation force/ gaza", "UN backs Gaza stabilization force")
    evil = "(a+)+$"
    assert not hit(f"/{evil}/ gaza", "gaza " + "a" * 5000 + "!")
    assert hit("/isf/ NEAR/3 gaza", "ISF for Gaza")


def test_regex_only_signal_is_always_evaluated() -> None:
    """A signal with no literal still gets checked (it cannot be gated by the scan)."""
    assert hit("/\\bISF\\b/", "The ISF arrives")


def test_many_signals_share_terms() -> None:
    """Signals sharing literals each evaluate independently."""
    m = Matcher.compile([("a", "nato gdp"), ("b", "nato drills"), ("c", "gdp")])
    assert m.match_ids("NATO GDP") == ["a", "c"]
    assert m.match_ids("NATO drills") == ["b"]


def test_compile_error_names_signal() -> None:
    """A bad query at compile time names its signal."""
    with pytest.raises(QueryError, match="signal 'bad': unexpected"):
        Matcher.compile([("ok", "nato"), ("bad", "nato )")])


def test_explanation_terms_as_written_and_fields() -> None:
    """Hits give the words as they appear, with their field and offsets."""
    m = Matcher.compile([("nato-5pct", '"5%" NEAR/5 GDP nato')])
    (match,) = m.match("NATO's five per cent goal", "Allies pledge 5 per cent of GDP by 2035")
    assert match.signal_id == "nato-5pct"
    assert match.terms == ["NATO's", "5 per cent", "GDP"]
    fields = {(h.field, h.text) for h in match.hits}
    assert ("title", "NATO's") in fields and ("summary", "GDP") in fields
    assert "**5 per cent** of **GDP**" in match.snippet


def test_snippet_escapes_feed_markdown_and_bolds_terms() -> None:
    """Feed markdown is escaped; only our ** markers format."""
    m = Matcher.compile([("s", "nato")])
    (match,) = m.match("*Breaking* NATO_news | `code`")
    assert match.snippet == "\\*Breaking\\* **NATO**\\_news \\| \\`code\\`"


def test_snippet_window_is_limited_and_centred() -> None:
    """Long summaries give a ≤200-char window that contains the hit."""
    summary = "Filler words here. " * 30 + "NATO agrees target. " + "More filler. " * 30
    (match,) = Matcher.compile([("s", "nato")]).match("Headline", summary)
    assert len(match.snippet) <= SNIPPET_LIMIT
    assert "**NATO**" in match.snippet
    assert match.snippet.startswith("…") and match.snippet.endswith("…")


def test_make_snippet_handles_newlines_without_shifting() -> None:
    """Whitespace is flattened one-for-one, so spans still line up."""
    text = "Line one\n\nNATO here"
    start = text.index("NATO")
    assert make_snippet(text, [(start, start + 4)]) == "Line one  **NATO** here"


def test_escape_markdown() -> None:
    """Each markdown character is backslash-escaped."""
    assert escape_markdown("a*b_c~d`e|f>g[h]i#j\\") == "a\\*b\\_c\\~d\\`e\\|f\\>g\\[h\\]i\\#j\\\\"


MATCHER = Matcher.compile(
    [("a", "nato NEAR/3 \"5%\""), ("b", "cease-fire OR truce*"), ("c", "/x+y/ gaza"),
     ("d", "title:(pact OR accord) NOT summary:trade")]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_matching_arbitrary_unicode_never_raises(title: str, summary: str) -> None:
    """Any unicode text matches or not, without raising; snippets stay in bounds."""
    for match in MATCHER.match(title, summary):
        assert len(match.snippet) <= SNIPPET_LIMIT
        for h in match.hits:
            source = title if h.field == "title" else summary
            assert source[h.start : h.end] == h.text
