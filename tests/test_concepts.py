"""Concept lists in queries: `@name` parses to an OR group, is written out for news APIs, matches."""

from __future__ import annotations

import re

import pytest

from bot.errors import QueryError
from bot.matching import Matcher, parse_query
from bot.matching.concepts import expand_concepts, unused_concepts
from bot.matching.query import MAX_CONCEPT_TERMS, Near, Or, Term, concept_term
from bot.sources.search import gdelt, guardian
from bot.sources.search.translate import Dialect, translate_for

PACT = [
    "pact",
    "treaty",
    "accord",
    "agreement",
    "alliance",
    '"joint declaration"',
    "MoU",
    "visiting forces agreement",
]
CONCEPTS = {"pact": PACT, "deal": ["deal"], "talks": ["peace talk*", "negotiation"]}


def test_a_concept_is_an_or_group_of_its_terms() -> None:
    """`@pact` is exactly what the OR group of its terms, each as a phrase, would be."""
    node = parse_query("@pact", CONCEPTS)
    assert isinstance(node, Or) and len(node.children) == len(PACT)
    spelled = " OR ".join(f'"{t.strip(chr(34))}"' for t in PACT)
    assert node == parse_query(f"({spelled})")
    assert Term(("joint", "declaration"), False, None, "", 0) in node.children
    assert Term(("visiting", "force", "agreement"), False, None, "", 0) in node.children


def test_a_one_term_concept_is_the_term_and_prefixes_keep_their_star() -> None:
    """One entry needs no group; `peace talk*` is a phrase prefix as in quotes."""
    assert parse_query("@deal", CONCEPTS) == parse_query("deal")
    talks = parse_query("@talks", CONCEPTS)
    assert isinstance(talks, Or)
    assert talks.children[0] == Term(("peace", "talk"), True, None, "", 0)


def test_concepts_take_fields_and_near_like_any_group() -> None:
    """`title:@pact` scopes every term; `@pact NEAR/5 sign` is a NEAR of the group."""
    scoped = parse_query("title:@pact", CONCEPTS)
    assert isinstance(scoped, Or) and {c.field for c in scoped.children} == {"title"}  # type: ignore[union-attr]
    near = parse_query("@pact NEAR/5 sign", CONCEPTS)
    assert isinstance(near, Near) and isinstance(near.left, Or)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("nato AND @pacts", "unknown concept '@pacts' (did you mean '@pact'?) at column 10"),
        ("@nothing", "unknown concept '@nothing' at column 1"),
        ("@Pact", "'@Pact' is not a concept name"),
        ("@", "'@' is not a concept name"),
        ("@pact*", "'@pact*' is not a concept name"),
    ],
)
def test_bad_references_say_where(query: str, message: str) -> None:
    """An unknown or malformed reference is a QueryError at its column."""
    with pytest.raises(QueryError) as caught:
        parse_query(query, CONCEPTS)
    assert str(caught.value).startswith(message)


def test_without_concepts_every_reference_is_unknown() -> None:
    """parse_query alone (no watchlist) knows no concepts."""
    with pytest.raises(QueryError, match="unknown concept '@pact'"):
        parse_query("@pact")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("pact OR treaty", "is query syntax ('OR')"),
        ("(pact)", "is query syntax ('(')"),
        ("title:pact", "is query syntax ('title:')"),
        ("/pacts?/", "is query syntax ('/pacts?/')"),
        ("@deal", "concepts cannot hold other concepts"),
        ('say "no" now', "holds a quote inside"),
        ("", "empty phrase"),
        ("peace* talks", "'*' may only end the last word"),
        ("de*", "too short"),
    ],
)
def test_a_concept_term_is_one_word_or_phrase(entry: str, message: str) -> None:
    """Entries that are query syntax, nest concepts or do not parse are refused."""
    with pytest.raises(QueryError, match=re.escape(message)):
        concept_term(entry)
    with pytest.raises(QueryError, match="concept '@bad', term 2"):
        parse_query("x AND @bad", {"bad": ["fine", entry]})


def test_an_empty_concept_and_too_many_terms_are_refused() -> None:
    """An empty concept matches nothing; written-out terms are bounded per query."""
    with pytest.raises(QueryError, match="concept '@none' has no terms"):
        parse_query("@none", {"none": []})
    big = {"big": [f"word{n}" for n in range(MAX_CONCEPT_TERMS // 2 + 1)]}
    assert parse_query("@big", big)
    with pytest.raises(QueryError, match=f"more than {MAX_CONCEPT_TERMS} terms"):
        parse_query("@big OR @big", big)


def test_written_out_text_parses_to_the_same_query() -> None:
    """expand_concepts gives text that parses, without concepts, to the same AST."""
    for query in (
        "title:@pact AND (sign OR @deal)",
        "@pact NEAR/5 (seal OR @talks) NOT quiz",
        "no concepts here",
        '"@pact" in a phrase is a word',
    ):
        text = expand_concepts(query, CONCEPTS)
        assert parse_query(text) == parse_query(query, CONCEPTS)
    assert expand_concepts("a @deal b", CONCEPTS) == 'a ("deal") b'
    with pytest.raises(QueryError, match="unknown concept '@pacts'"):
        expand_concepts("@pacts", CONCEPTS)


def test_search_translation_sees_an_or_group() -> None:
    """News APIs get a concept as one OR group of its terms, like a written-out group."""
    text = expand_concepts("@pact AND (Japan OR Philippines)", CONCEPTS)
    plain = (
        '(pact OR treaty OR accord OR agreement OR alliance OR "joint declaration" OR MoU'
        ' OR "visiting forces agreement") AND (Japan OR Philippines)'
    )
    for translate in (gdelt.translate, guardian.translate):
        assert translate(text) == translate(plain)
    guardian_text = guardian.translate(text).text
    assert guardian_text.startswith('(pact OR treaty OR accord OR agreement OR alliance OR "joint')
    dialect = Dialect("Test", " AND ", 1500, stems_plurals=True)
    translated = translate_for(dialect, text)
    assert '"visiting forces agreement"' in translated.text and not translated.broadened


def test_the_matcher_finds_any_term_of_a_concept_and_explains_it() -> None:
    """A concept's terms go into the automaton like any term; hits are the words as written."""
    query = parse_query("(Japan OR Philippines) AND @pact NEAR/4 sign", CONCEPTS)
    matcher = Matcher.compile([("asia-pacts", query)])
    [match] = matcher.match("Philippines, Japan sign visiting forces agreement")
    assert match.terms == ["Philippines", "Japan", "sign", "visiting forces agreement", "agreement"]
    assert matcher.match_ids("Japan and the Philippines signed a joint declaration") == [
        "asia-pacts"
    ]
    assert matcher.match_ids("Japan, Philippines sign up for a marathon") == []


def test_unused_concepts_are_listed_in_order() -> None:
    """A concept no query names does nothing: listed for a warning."""
    assert unused_concepts(CONCEPTS, ["@pact AND x", "@talks", "bad ( query"]) == ["deal"]
