"""Reference readers of each news API's query syntax: would the API return this item? Pure.

    matches(api, query_text, title, summary) → bool

They model what each API documents about its search, on an item's title and summary, so
tests and `signalwatch search-reach` can measure our translations without the network:

    GDELT        words exact (case, accents folded)  "a b"  a space is AND, (a OR b), near<n>:"a b"
    NewsAPI      words exact (no stemming documented) "a b"  AND, OR, NOT, parentheses
    Guardian     words stemmed (plurals fold)         "a b"  AND, OR, NOT, parentheses
    Google News  words stemmed (plurals fold)         "a b"  a space is AND, (a OR b)

Words are split at punctuation as our own tokenizer splits them. AND binds tighter than OR
(the translations put every OR in parentheses, so nothing rests on it). An API's index holds
the article's whole text, which we do not have: the title and summary stand in for it, the
same for every API, so the counts compare like with like.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from bot.matching.normalize import tokenize

__all__ = ["READERS", "ApiReader", "matches"]

_TOKENS = re.compile(r'near\d+:"[^"]*"|"[^"]*"|\(|\)|[^\s()"]+')
_NEAR = re.compile(r'near(\d+):"([^"]*)"')


class QuerySyntaxError(ValueError):
    """The query text is not one the API's syntax reads (a bug in a translation)."""


@dataclass(frozen=True, slots=True)
class ApiReader:
    """How one API reads a query and an item: exact words, or with plurals folded."""

    stems: bool

    def words(self, text: str) -> list[str]:
        """Text as the API's index holds it."""
        return [t.text for t in tokenize(text, plural=self.stems)]

    def matches(self, query: str, title: str, summary: str = "") -> bool:
        """Whether the API would return an item with this title and summary for `query`."""
        return self.matches_fields(query, self.fields(title, summary))

    def fields(self, title: str, summary: str = "") -> tuple[list[str], ...]:
        """An item's title and summary as the index holds them (read once, asked many times)."""
        return (self.words(title), self.words(summary))

    def matches_fields(self, query: str, fields: tuple[list[str], ...]) -> bool:
        """`matches`, on an item already read by `fields`."""
        return self.compile(query)(fields)

    def compile(self, query: str) -> _Test:
        """The query read once, as a test of an item's fields (a query is asked of many)."""
        tokens = _TOKENS.findall(query)
        if not tokens:
            raise QuerySyntaxError("empty query")
        test, rest = self._or(tokens)
        if rest:
            raise QuerySyntaxError(f"unparsed {' '.join(rest)!r} in {query!r}")
        return test

    def _or(self, tokens: list[str]) -> tuple[_Test, list[str]]:
        tests = []
        test, tokens = self._and(tokens)
        tests.append(test)
        while tokens and tokens[0] == "OR":
            test, tokens = self._and(tokens[1:])
            tests.append(test)
        return (tests[0] if len(tests) == 1 else _any_of(tests)), tokens

    def _and(self, tokens: list[str]) -> tuple[_Test, list[str]]:
        tests = []
        test, tokens = self._atom(tokens)
        tests.append(test)
        while tokens and tokens[0] not in ("OR", ")"):
            if tokens[0] == "AND":
                tokens = tokens[1:]
            if tokens and tokens[0] == "NOT":
                test, tokens = self._atom(tokens[1:])
                tests.append(_none_of(test))
            else:
                test, tokens = self._atom(tokens)
                tests.append(test)
        return (tests[0] if len(tests) == 1 else _all_of(tests)), tokens

    def _atom(self, tokens: list[str]) -> tuple[_Test, list[str]]:
        if not tokens:
            raise QuerySyntaxError("a term is missing at the end")
        head, rest = tokens[0], tokens[1:]
        if head in ("AND", "OR", "NOT", ")"):
            raise QuerySyntaxError(f"operator {head} where a term belongs")
        if head == "(":
            test, rest = self._or(rest)
            if not rest or rest[0] != ")":
                raise QuerySyntaxError("unbalanced parentheses")
            return test, rest[1:]
        near = _NEAR.fullmatch(head)
        if near:
            pair = self.words(near.group(2))
            if len(pair) != 2:
                raise QuerySyntaxError(f"{head}: near takes two words")
            a, b, distance = pair[0], pair[1], int(near.group(1))
            return (lambda fields: any(_near(f, a, b, distance) for f in fields)), rest
        phrase = self.words(head.strip('"'))
        return (lambda fields: bool(phrase) and any(_contains(f, phrase) for f in fields)), rest


_Test = Callable[[tuple[list[str], ...]], bool]


def _any_of(tests: list[_Test]) -> _Test:
    return lambda fields: any(t(fields) for t in tests)


def _all_of(tests: list[_Test]) -> _Test:
    return lambda fields: all(t(fields) for t in tests)


def _none_of(test: _Test) -> _Test:
    return lambda fields: not test(fields)


def _near(field: list[str], a: str, b: str, distance: int) -> bool:
    at = [i for i, w in enumerate(field) if w == a]
    bt = [j for j, w in enumerate(field) if w == b]
    return any(abs(i - j) <= distance for i in at for j in bt)


def _contains(field: list[str], phrase: list[str]) -> bool:
    if len(phrase) == 1:
        return phrase[0] in field
    n = len(phrase)
    return any(field[i : i + n] == phrase for i in range(len(field) - n + 1))


READERS: Final = {
    "gdelt": ApiReader(stems=False),
    "newsapi": ApiReader(stems=False),
    "guardian": ApiReader(stems=True),
    "google_news": ApiReader(stems=True),
}


def matches(api: str, query: str, title: str, summary: str = "") -> bool:
    """Whether `api` returns an item with this title and summary for the query text `query`."""
    return READERS[api].matches(query, title, summary)
