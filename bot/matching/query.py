"""The signal query language: text → AST, with errors that say where and what was expected.

    query    := or_expr
    or_expr  := and_expr ("OR" and_expr)*
    and_expr := not_expr (["AND"] not_expr)*          juxtaposition is AND
    not_expr := "NOT" not_expr | near_expr            so "a NOT b" reads "a AND NOT b"
    near_expr:= primary ("NEAR" ["/" n] primary)*     unordered, at most n words apart (default 10)
    primary  := [field ":"] ( "(" or_expr ")" | term | concept )
    term     := word | word "*" | '"phrase"' | "/regex/"
    concept  := "@" name                              a named list of terms: an OR group
    field    := "title" | "summary"

Precedence, loosest first: OR, AND, NOT, NEAR. Operators are upper-case; a lower-case
`and` is a word. Words and phrases are normalised with `bot.matching.normalize`, so the
AST already holds the normal form the matcher looks for.

A concept (`@pact`) is a named list of words and phrases defined once in the watchlist
(`concepts:`); the parser writes it out as an OR group of its terms, so nothing after the
parser knows concepts exist. Each entry is one word or phrase, read as if in quotes
(`joint declaration` is the phrase), with `*` at its end for a prefix; concepts do not nest.

Hostile input ends in a QueryError, never in a RecursionError or a slow match: a query is at
most MAX_QUERY_LENGTH characters, nests (groups, NOTs, NEAR chains) at most MAX_DEPTH deep,
holds at most MAX_REGEX_TERMS regexes and, with its concepts written out, MAX_CONCEPT_TERMS
terms from concepts, and no lone surrogate.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field

from bot.errors import QueryError
from bot.matching.normalize import tokenize

__all__ = [
    "CONCEPT_NAME",
    "FIELDS",
    "And",
    "Concepts",
    "Near",
    "Node",
    "Not",
    "Or",
    "Regex",
    "Term",
    "concept_entries",
    "concept_references",
    "concept_term",
    "parse_query",
    "regex_terms",
]

FIELDS = ("title", "summary")
DEFAULT_NEAR = 10
MAX_NEAR = 100
MIN_PREFIX = 3
MAX_QUERY_LENGTH = 4000
MAX_REGEX_LENGTH = 500
# Every regex term is run over every item's text (regexes have no literal to gate on), so
# their number is what an item costs: a query may hold this many.
MAX_REGEX_TERMS = 20
# Parentheses, NOTs and NEARs nest the AST; every pass over it (matcher, search translation)
# recurses, so the parser refuses depth far below Python's recursion limit.
MAX_DEPTH = 32
# Concepts multiply: a query of 4,000 characters could name a 500-term concept 1,000 times.
# Real queries name a few concepts of tens of terms.
MAX_CONCEPT_TERMS = 2000
# A concept's name, as written after "@": the same rule as signal ids.
CONCEPT_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

# A concept name → its entries (words and phrases, as written in the watchlist).
Concepts = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class Term:
    """Normalised words to find in sequence; `prefix` lets the last word be a word start."""

    words: tuple[str, ...]
    prefix: bool
    field: str | None
    # Where the term came from, for messages; not part of its meaning.
    source: str = dc_field(compare=False)
    column: int = dc_field(compare=False)


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular expression (RE2 syntax, linear time) over the field's case-folded text."""

    pattern: str
    field: str | None
    column: int = dc_field(compare=False)


@dataclass(frozen=True, slots=True)
class And:
    """All children must match."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one child must match."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The child must not match."""

    child: Node


@dataclass(frozen=True, slots=True)
class Near:
    """Both sides match, in the same field, at most `distance` words apart, in either order."""

    left: Node
    right: Node
    distance: int
    column: int = dc_field(compare=False)


Node = Term | Regex | And | Or | Not | Near


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # WORD PHRASE REGEX CONCEPT LPAREN RPAREN AND OR NOT NEAR FIELD EOF
    value: str
    column: int  # 1-based
    distance: int = 0  # for NEAR


_OPERATORS = {"AND", "OR", "NOT"}
_SURROGATE = re.compile("[\ud800-\udfff]")
_NEAR = re.compile(r"NEAR(?:/(\S*))?$")
_FIELD = re.compile(r"([A-Za-z]+):(?=\S)")
_WORD_END = re.compile(r'[\s()"]')


def _lex(text: str) -> list[_Tok]:
    """Split a query into tokens, each with its 1-based column."""
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        col = i + 1
        if c.isspace():
            i += 1
        elif c == "(":
            toks.append(_Tok("LPAREN", c, col))
            i += 1
        elif c == ")":
            toks.append(_Tok("RPAREN", c, col))
            i += 1
        elif c == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise QueryError("unterminated phrase", col, "a closing '\"'")
            toks.append(_Tok("PHRASE", text[i + 1 : close], col))
            i = close + 1
        elif c == "/" and (not toks or toks[-1].kind != "NEAR"):
            j = i + 1
            while j < n and text[j] != "/":
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise QueryError("unterminated regular expression", col, "a closing '/'")
            toks.append(_Tok("REGEX", text[i + 1 : j], col))
            i = j + 1
        else:
            field = _FIELD.match(text, i)
            if field:
                toks.append(_Tok("FIELD", field.group(1), col))
                i = field.end()
                continue
            m = _WORD_END.search(text, i)
            j = m.start() if m else n
            word = text[i:j]
            near = _NEAR.match(word)
            if word in _OPERATORS:
                toks.append(_Tok(word, word, col))
            elif word.startswith("@"):
                toks.append(_Tok("CONCEPT", _concept_name(word, col), col))
            elif near:
                toks.append(_Tok("NEAR", word, col, _near_distance(near.group(1), col)))
            else:
                toks.append(_Tok("WORD", word, col))
            i = j
    toks.append(_Tok("EOF", "", n + 1))
    return toks


def _near_distance(raw: str | None, column: int) -> int:
    """The n of NEAR/n; NEAR alone means DEFAULT_NEAR."""
    if raw is None:
        return DEFAULT_NEAR
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_NEAR:
        raise QueryError(
            f"NEAR distance must be a whole number from 1 to {MAX_NEAR}, got {raw!r}",
            column,
            "NEAR/n",
        )
    return int(raw)


def _concept_name(word: str, column: int) -> str:
    """The name in a concept reference `@name`; QueryError when it is not a valid name."""
    name = word[1:]
    if CONCEPT_NAME.fullmatch(name):
        return name
    raise QueryError(
        f"{word!r} is not a concept name: write '@' and the name, in lower-case letters,"
        " digits and hyphens",
        column,
        "@name",
    )


def _describe(tok: _Tok) -> str:
    """How a token reads in an error message."""
    if tok.kind == "EOF":
        return "end of query"
    if tok.kind == "PHRASE":
        return f'"{tok.value}"'
    if tok.kind == "FIELD":
        return f"'{tok.value}:'"
    if tok.kind == "CONCEPT":
        return f"'@{tok.value}'"
    return f"'{tok.value}'"


class _Parser:
    def __init__(self, text: str, concepts: Concepts | None = None):
        self.text = text
        self.toks = _lex(text)
        self.pos = 0
        self.depth = 0  # open parentheses and NOTs around the current position
        self.regexes = 0
        self.concepts: Concepts = {} if concepts is None else concepts
        self.concept_terms = 0  # terms written out from concepts so far

    def deeper(self, tok: _Tok) -> None:
        """Refuse nesting past MAX_DEPTH before recursing any further."""
        if self.depth >= MAX_DEPTH:
            raise QueryError(f"nested deeper than {MAX_DEPTH}", tok.column, "a flatter query")

    def peek(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def fail(self, tok: _Tok, expected: str, after: str | None = None) -> QueryError:
        if after:
            expected = f"{expected} after {after}"
        return QueryError(f"unexpected {_describe(tok)}", tok.column, expected)

    def parse(self) -> Node:
        if self.peek().kind == "EOF":
            raise QueryError("empty query", 1, "a term")
        node = self.or_expr()
        tok = self.peek()
        if tok.kind != "EOF":
            # Only a stray ")" can stop the grammar early.
            raise self.fail(tok, "an operator or end of query")
        return node

    def or_expr(self) -> Node:
        children = [self.and_expr()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.and_expr("OR"))
        return children[0] if len(children) == 1 else Or(tuple(children))

    _STARTS = frozenset({"WORD", "PHRASE", "REGEX", "CONCEPT", "LPAREN", "NOT", "FIELD"})

    def and_expr(self, after: str | None = None) -> Node:
        children = [self.not_expr(after)]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
                children.append(self.not_expr("AND"))
            elif kind in self._STARTS:
                children.append(self.not_expr())
            else:
                break
        return children[0] if len(children) == 1 else And(tuple(children))

    def not_expr(self, after: str | None = None) -> Node:
        if self.peek().kind == "NOT":
            tok = self.take()
            self.deeper(tok)
            self.depth += 1
            node = Not(self.not_expr("NOT"))
            self.depth -= 1
            return node
        return self.near_expr(after)

    def near_expr(self, after: str | None) -> Node:
        node = self.primary(after, None)
        while self.peek().kind == "NEAR":
            op = self.take()
            right = self.primary("NEAR", None)
            # A NEAR chain nests leftwards, Near(Near(a, b), c), without any parentheses.
            if max(_height(node), _height(right)) >= MAX_DEPTH:
                raise QueryError(f"nested deeper than {MAX_DEPTH}", op.column, "a shorter chain")
            for side in (node, right):
                if not _positional(side):
                    raise QueryError(
                        "NEAR needs a term, phrase or OR-group of those on each side",
                        op.column,
                        "words or phrases around NEAR",
                    )
            node = Near(node, right, op.distance, op.column)
        return node

    def primary(self, after: str | None, field: str | None) -> Node:
        tok = self.take()
        if tok.kind == "FIELD":
            name = tok.value.lower()
            if name not in FIELDS:
                raise QueryError(f"unknown field '{tok.value}'", tok.column, "title: or summary:")
            if field is not None:
                raise QueryError("a field inside a field", tok.column, "a term")
            return self._scoped(self.primary(f"{tok.value}:", name), name)
        if tok.kind == "LPAREN":
            if self.peek().kind == "RPAREN":
                raise self.fail(self.peek(), "a term", "'('")
            self.deeper(tok)
            self.depth += 1
            node = self.or_expr()
            self.depth -= 1
            close = self.peek()
            if close.kind != "RPAREN":
                raise QueryError(
                    f"missing ')' for the '(' at column {tok.column}", close.column, "')'"
                )
            self.take()
            return node
        if tok.kind == "WORD":
            return self.word(tok, field)
        if tok.kind == "PHRASE":
            return self.phrase(tok, field)
        if tok.kind == "REGEX":
            return self.regex(tok, field)
        if tok.kind == "CONCEPT":
            return self.concept(tok, field)
        raise self.fail(tok, "a term", after)

    def _scoped(self, node: Node, field: str) -> Node:
        """Apply a field scope to every term under a group: title:(a OR b)."""
        match node:
            case Term():
                return Term(node.words, node.prefix, field, node.source, node.column)
            case Regex():
                return Regex(node.pattern, field, node.column)
            case And(children):
                return And(tuple(self._scoped(c, field) for c in children))
            case Or(children):
                return Or(tuple(self._scoped(c, field) for c in children))
            case Not(child):
                return Not(self._scoped(child, field))
            case Near(left, right, distance, column):
                return Near(self._scoped(left, field), self._scoped(right, field), distance, column)
        raise AssertionError(node)  # pragma: no cover

    def word(self, tok: _Tok, field: str | None) -> Term:
        raw = tok.value
        prefix = raw.endswith("*")
        body = raw.rstrip("*") if prefix else raw
        if "*" in body:
            raise QueryError(
                f"'*' may only end a word, in {raw!r}", tok.column + body.index("*"), "prefix*"
            )
        words = tuple(t.text for t in tokenize(body, plural=not prefix))
        if not words:
            raise QueryError(f"{raw!r} has no letters or digits to match", tok.column, "a word")
        if prefix and len(words[-1]) < MIN_PREFIX:
            raise QueryError(
                f"prefix {raw!r} is too short: give at least {MIN_PREFIX} letters",
                tok.column,
                "a longer prefix",
            )
        return Term(words, prefix, field, raw, tok.column)

    def phrase(self, tok: _Tok, field: str | None) -> Term:
        body = tok.value
        if not body.strip():
            raise QueryError("empty phrase", tok.column, "words inside the quotes")
        stars = [m.start() for m in re.finditer(r"\*", body)]
        prefix = body.rstrip().endswith("*")
        if stars and (len(stars) > 1 or not prefix):
            raise QueryError(
                "'*' may only end the last word of a phrase",
                tok.column + 1 + stars[0],
                "prefix* as the last word",
            )
        words = tuple(t.text for t in tokenize(body.rstrip().rstrip("*"), plural=True))
        if prefix and words:
            last = tokenize(body.rstrip().rstrip("*"), plural=False)[-1].text
            words = (*words[:-1], last)
        if not words:
            raise QueryError(
                f'phrase "{body}" has no letters or digits to match', tok.column, "a word"
            )
        if prefix and len(words[-1]) < MIN_PREFIX:
            raise QueryError(
                f"prefix in {body!r} is too short: give at least {MIN_PREFIX} letters",
                tok.column,
                "a longer prefix",
            )
        return Term(words, prefix, field, f'"{body}"', tok.column)

    def concept(self, tok: _Tok, field: str | None) -> Node:
        """`@name` written out: an OR group of the concept's terms (one term: the term)."""
        name = tok.value
        entries = concept_entries(self.concepts, name, tok.column)
        self.concept_terms += len(entries)
        if self.concept_terms > MAX_CONCEPT_TERMS:
            raise QueryError(
                f"with its concepts written out the query holds more than {MAX_CONCEPT_TERMS}"
                " terms",
                tok.column,
                "fewer or smaller concepts",
            )
        terms: list[Node] = []
        for position, entry in enumerate(entries, 1):
            try:
                terms.append(concept_term(entry, tok.column, field))
            except QueryError as err:
                raise QueryError(
                    f"concept '@{name}', term {position}: {err.message}", tok.column, err.expected
                ) from None
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def regex(self, tok: _Tok, field: str | None) -> Regex:
        pattern = tok.value
        self.regexes += 1
        if self.regexes > MAX_REGEX_TERMS:
            raise QueryError(
                f"more than {MAX_REGEX_TERMS} regular expressions in one query", tok.column
            )
        if not pattern:
            raise QueryError("empty regular expression", tok.column, "a pattern between / /")
        if len(pattern) > MAX_REGEX_LENGTH:
            raise QueryError(
                f"regular expression longer than {MAX_REGEX_LENGTH} characters", tok.column
            )
        from bot.matching.regex import compile_regex  # RE2 is only needed by regex terms

        compile_regex(pattern, tok.column)  # validate now; the matcher compiles its own
        return Regex(pattern, field, tok.column)


def concept_entries(concepts: Concepts, name: str, column: int) -> Sequence[str]:
    """The entries of concept `name`; QueryError (at `column`) when it is unknown or empty."""
    entries = concepts.get(name)
    if entries is None:
        hint = difflib.get_close_matches(name, list(concepts), n=1, cutoff=0.6)
        known = f" (did you mean '@{hint[0]}'?)" if hint else ""
        raise QueryError(
            f"unknown concept '@{name}'{known}", column, "a concept defined under concepts:"
        )
    if not entries:
        raise QueryError(f"concept '@{name}' has no terms", column, "a concept with terms")
    return entries


def concept_references(text: str) -> list[tuple[str, int]]:
    """Each `@name` in a query as (name, 1-based column); QueryError where it does not lex."""
    return [(tok.value, tok.column) for tok in _lex(text) if tok.kind == "CONCEPT"]


def concept_term(entry: str, column: int = 1, field: str | None = None) -> Term:
    """One entry of a concept as a Term: a word or phrase, read as if in quotes.

    `joint declaration` is the phrase; quotes around the whole entry are allowed (YAML drops
    the ones written in a list); `*` ends a prefix. An entry that is query syntax (an
    operator, parentheses, a field, a regex, another concept) raises QueryError: each
    alternative is its own entry, and concepts do not nest.
    """
    try:
        words, prefix, source = _concept_words(entry)
    except QueryError as err:
        raise QueryError(err.message, column, err.expected) from None
    return Term(words, prefix, field, source, column)


@functools.lru_cache(maxsize=65_536)
def _concept_words(entry: str) -> tuple[tuple[str, ...], bool, str]:
    """(words, prefix, source) of a concept entry; cached: a concept is read by every query
    that names it, at every validation and compile."""
    column = 1
    body = entry.strip()
    if len(body) >= 2 and body[0] == body[-1] == '"':
        body = body[1:-1].strip()
    if '"' in body:
        raise QueryError(f"{entry!r} holds a quote inside: a term is one word or phrase", column)
    try:
        toks = _lex(body)
    except QueryError as err:
        raise QueryError(f"{entry!r} is not a word or phrase ({err.message})", column) from None
    for tok in toks[:-1]:
        if tok.kind == "CONCEPT":
            raise QueryError(
                f"{entry!r} names a concept: concepts cannot hold other concepts", column
            )
        if tok.kind != "WORD":
            shown = f"'/{tok.value}/'" if tok.kind == "REGEX" else _describe(tok)
            raise QueryError(
                f"{entry!r} is query syntax ({shown}), not a word or phrase: give each"
                " alternative as its own term",
                column,
            )
    term = _Parser("").phrase(_Tok("PHRASE", body, column), None)
    return term.words, term.prefix, term.source


def regex_terms(node: Node) -> int:
    """How many regex terms `node` holds (each one is run over every item)."""
    count = 0
    stack = [node]
    while stack:
        current = stack.pop()
        match current:
            case Regex():
                count += 1
            case And(children) | Or(children):
                stack.extend(children)
            case Not(child):
                stack.append(child)
            case Near(left, right):
                stack += [left, right]
    return count


def _height(node: Node) -> int:
    """Levels of the AST under `node` (1 for a leaf), without recursing."""
    best = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        best = max(best, level)
        match current:
            case And(children) | Or(children):
                stack.extend((child, level + 1) for child in children)
            case Not(child):
                stack.append((child, level + 1))
            case Near(left, right):
                stack += [(left, level + 1), (right, level + 1)]
    return best


def _positional(node: Node) -> bool:
    """True where a node yields word positions NEAR can measure."""
    match node:
        case Term() | Regex() | Near():
            return True
        case Or(children):
            return all(_positional(c) for c in children)
    return False


def _matches_nothing_positive(node: Node) -> bool:
    """True when the query would match an item in which no term occurs (only NOTs)."""
    match node:
        case Term() | Regex() | Near():
            return False
        case And(children):
            return all(_matches_nothing_positive(c) for c in children)
        case Or(children):
            return any(_matches_nothing_positive(c) for c in children)
        case Not(child):
            return not _matches_nothing_positive(child)
    raise AssertionError(node)  # pragma: no cover


def parse_query(text: str, concepts: Concepts | None = None) -> Node:
    """Parse a query; raise QueryError (with the column and what was expected) on bad input.

    `concepts` are the watchlist's named term lists that `@name` refers to (none by default:
    a reference is then an unknown concept).
    """
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"query longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH + 1)
    lone = _SURROGATE.search(text)
    if lone:
        # "\ud83d" escapes that were not joined into a character; UTF-8 (RE2, the store,
        # Discord) cannot hold them.
        raise QueryError(
            f"'\\u{ord(lone.group()):04x}' is half of a surrogate pair, not a character",
            lone.start() + 1,
            "the character itself",
        )
    node = _Parser(text, concepts).parse()
    if _matches_nothing_positive(node):
        raise QueryError(
            "query would match every item: it needs at least one term that must be present",
            1,
            "a term outside NOT",
        )
    return node
