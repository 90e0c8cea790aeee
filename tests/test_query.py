"""The query parser: the AST it builds and every error message it gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.errors import QueryError
from bot.matching.query import And, Near, Not, Or, Regex, Term, parse_query


def words(node: object) -> tuple[str, ...]:
    """The normalised words of a Term."""
    assert isinstance(node, Term)
    return node.words


def test_single_word_is_a_term() -> None:
    """A bare word becomes a Term in normal form."""
    node = parse_query("Pacts")
    assert isinstance(node, Term) and node.words == ("pact",) and not node.prefix


def test_implicit_and_explicit_and_are_the_same() -> None:
    """Juxtaposition means AND."""
    assert parse_query("nato spending") == parse_query("nato AND spending")


def test_and_binds_tighter_than_or() -> None:
    """`a b OR c` is `(a AND b) OR c`."""
    node = parse_query("a1 b1 OR c1")
    assert isinstance(node, Or)
    assert isinstance(node.children[0], And)


def test_binary_not_reads_as_and_not() -> None:
    """`a NOT b` is `a AND NOT b`."""
    node = parse_query("nato NOT quiz")
    assert isinstance(node, And)
    assert isinstance(node.children[1], Not)


def test_near_with_distance_and_default() -> None:
    """NEAR/n keeps n; bare NEAR defaults to 10."""
    node = parse_query("nato NEAR/3 gdp")
    assert isinstance(node, Near) and node.distance == 3
    bare = parse_query("nato NEAR gdp")
    assert isinstance(bare, Near) and bare.distance == 10


def test_near_binds_tighter_than_and() -> None:
    """`a AND b NEAR/2 c` is `a AND (b NEAR/2 c)`."""
    node = parse_query("nato AND target NEAR/2 gdp")
    assert isinstance(node, And) and isinstance(node.children[1], Near)


def test_phrase_and_prefix() -> None:
    """Phrases keep word order; a trailing * marks a prefix (not plural-folded)."""
    assert words(parse_query('"five per cent"')) == ("5%",)
    node = parse_query("deploys*")
    assert isinstance(node, Term) and node.prefix and node.words == ("deploys",)
    phrase = parse_query('"peace talk*"')
    assert isinstance(phrase, Term) and phrase.prefix and phrase.words == ("peace", "talk")


def test_field_scope_applies_to_groups() -> None:
    """title:(a OR b) scopes every term inside."""
    node = parse_query("title:(nato OR alliance) spending")
    assert isinstance(node, And)
    group = node.children[0]
    assert isinstance(group, Or)
    assert all(isinstance(c, Term) and c.field == "title" for c in group.children)
    assert isinstance(node.children[1], Term) and node.children[1].field is None


def test_regex_term() -> None:
    """/…/ makes a Regex term."""
    node = parse_query("/stabili[sz]ation/ gaza")
    assert isinstance(node, And) and isinstance(node.children[0], Regex)


def test_hyphenated_word_becomes_phrase() -> None:
    """`cease-fire` is the two-word sequence cease fire."""
    assert words(parse_query("cease-fire")) == ("cease", "fire")


ERRORS = [
    ("", "empty query at column 1 (expected a term)"),
    ("   ", "empty query at column 1 (expected a term)"),
    ("nato )", "unexpected ')' at column 6 (expected an operator or end of query)"),
    ("(nato OR gdp", "missing ')' for the '(' at column 1 at column 13 (expected ')')"),
    ("nato AND", "unexpected end of query at column 9 (expected a term after AND)"),
    ("nato OR OR gdp", "unexpected 'OR' at column 9 (expected a term after OR)"),
    ("AND nato", "unexpected 'AND' at column 1 (expected a term)"),
    ("()", "unexpected ')' at column 2 (expected a term after '(')"),
    ('"five per cent', "unterminated phrase at column 1 (expected a closing '\"')"),
    ('""', "empty phrase at column 1 (expected words inside the quotes)"),
    ("/abc", "unterminated regular expression at column 1 (expected a closing '/')"),
    ("/(a/", "bad regular expression /(a/: missing ): (a at column 1"),
    ("nato NEAR/0 gdp", "NEAR distance must be a whole number from 1 to 100, got '0' at column 6 (expected NEAR/n)"),
    ("nato NEAR/x gdp", "NEAR distance must be a whole number from 1 to 100, got 'x' at column 6 (expected NEAR/n)"),
    ("nato NEAR/5", "unexpected end of query at column 12 (expected a term after NEAR)"),
    ("(a1 b1) NEAR/5 gdp", "NEAR needs a term, phrase or OR-group of those on each side at column 9 (expected words or phrases around NEAR)"),
    ("body:nato", "unknown field 'body' at column 1 (expected title: or summary:)"),
    ("de*", "prefix 'de*' is too short: give at least 3 letters at column 1 (expected a longer prefix)"),
    ("na*to", "'*' may only end a word, in 'na*to' at column 3 (expected prefix*)"),
    ('"na* to"', "'*' may only end the last word of a phrase at column 4 (expected prefix* as the last word)"),
    ("&&", "'&&' has no letters or digits to match at column 1 (expected a word)"),
    ("NOT nato", "query would match every item: it needs at least one term that must be present at column 1 (expected a term outside NOT)"),
    ("nato OR NOT gdp", "query would match every item: it needs at least one term that must be present at column 1 (expected a term outside NOT)"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "message"), ERRORS)
def test_error_messages(query: str, message: str) -> None:
    """Each malformed query gets its exact message, column and expectation."""
    with pytest.raises(QueryError) as info:
        parse_query(query)
    assert str(info.value) == message


def test_error_carries_column_and_expected() -> None:
    """QueryError exposes column and expected as attributes."""
    with pytest.raises(QueryError) as info:
        parse_query("nato AND (gdp OR )")
    assert info.value.column == 18
    assert info.value.expected == "a term after OR"


def test_overlong_query_rejected() -> None:
    """Queries have a length limit."""
    with pytest.raises(QueryError, match="longer than"):
        parse_query("nato " * 1000)


QUERY_ALPHABET = st.sampled_from(
    ["nato", "gdp", "5%", "AND", "OR", "NOT", "NEAR/3", "NEAR", "(", ")", '"', "*", "/",
     "title:", "summary:", "x:", " ", "-", "é", "per cent", "\\", "[", "\x00"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(QUERY_ALPHABET, max_size=14).map("".join) | st.text(max_size=40))
def test_random_queries_parse_or_raise_query_error(text: str) -> None:
    """Any string either parses or raises our QueryError, never anything else."""
    try:
        parse_query(text)
    except QueryError as exc:
        assert str(exc)
