"""Our query language → a news API's query syntax, searching broader where it must: pure.

    parse_query(text) ─► AST ─► clauses: AND of (OR of literals)  ─► fit the length limit ─► text

Every API here can say "all of these groups, each one of these words or phrases", so we
translate to that shape (conjunctive normal form, one level deep) and drop what an API cannot
say, always towards a BROADER query: our own matcher runs on whatever comes back, so a broader
search only costs bandwidth, while a narrower one would hide items we should alert on.

What is dropped (each drop is listed in `Translation.dropped`):
- NOT parts and /regexes/: matched as "anything" (the API returns more, our matcher filters);
- prefix* terms: no API here has wildcards; the term matches "anything";
- terms with numbers or percentages: our matcher folds "5%", "5 per cent", "five percent",
  "5.0 %" into one token and no API does; the term matches "anything";
- title:/summary: scopes: searched everywhere instead;
- NEAR/n: becomes AND, except GDELT's near<n+1>:"a b" between two single words (one
  near per pair of spellings: near6:"ally pact" OR near6:"allies pact" OR …);
- an OR with an AND inside (a OR (b AND c)) is distributed, exactly: (a OR b) AND (a OR c);
  where that would make more than MAX_DISTRIBUTED_CLAUSES groups, each AND keeps only its
  smallest group instead, because a AND b is never more than a alone;
- words GDELT rejects as too short (under 3 letters): "anything"; a too-short plural spelling
  of a longer word ("ax" for "axes") is left out, though that is narrower: GDELT cannot
  search for it in any query;
- groups that do not fit the API's length limit: the longest groups go first (an AND of fewer
  groups matches more). If even the shortest required group does not fit, we refuse.
"Anything" spreads: an OR with an "anything" member is itself "anything" and drops out of the
AND around it. A query left with nothing to search is refused with a clear message.

Spelling: words go out as the query wrote them (case and accents folded). Our matcher folds
plurals on every word (pacts = pact, "weapons shipments" = "weapon shipment"); for APIs that
match exact words (GDELT, NewsAPI) each term is also sent in every combination of its words'
spellings that fold to the same ("weapon shipment" OR "weapons shipment" OR …); the Guardian
and Google stem words themselves. Past `max_spellings` combinations, or where the query would
not fit the length limit otherwise, only the last word gets its plurals (English plurals
mostly inflect it: "peace talks"); that is narrower, so the combinations not sent are noted.
Two-word phrases also get their closed-up compound ("cease fire" → ceasefire, ceasefires),
which our matcher also accepts. The other way round is not sent: our matcher finds the query
word `ceasefire` in "cease fire" by trying every split of the word (it cannot know where the
parts meet), and sending every split would spend the API's length on nonsense ("ceas efire");
write the phrase "cease fire" to have both sent.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.errors import SourceError
from bot.matching.normalize import fold_word, tokenize
from bot.matching.query import And, Near, Node, Not, Or, Regex, Term, parse_query
from bot.sources.search.forms import MAX_PREFIX_FORMS, group_share, inflections, prefix_forms, zipf

__all__ = [
    "Dialect",
    "NearPair",
    "Phrase",
    "Translation",
    "clause_share",
    "translate_for",
]

_OPERATOR_WORDS = frozenset({"and", "or", "not", "near", "to"})
# An OR of ANDs is distributed into at most this many groups; past it, each AND keeps only its
# smallest group (broader, never narrower). The length limit then trims the longest groups.
MAX_DISTRIBUTED_CLAUSES = 16


@dataclass(frozen=True, slots=True)
class Translation:
    """A query in an API's syntax; `broadened` when parts were dropped, and which (`dropped`)."""

    text: str
    broadened: bool
    dropped: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Phrase:
    """Words that must appear in this order (one word: a keyword)."""

    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NearPair:
    """Two words within `distance` words of each other (GDELT's near<n>:"a b")."""

    left: str
    right: str
    distance: int


Literal = Phrase | NearPair
Clause = tuple[Literal, ...]  # at least one of these


@dataclass(frozen=True, slots=True)
class Dialect:
    """What one API's query syntax can say, and how it writes it."""

    name: str  # as messages show it
    and_separator: str  # " " where juxtaposition is AND, " AND " where AND must be written
    max_length: int  # characters of the query text
    stems_plurals: bool  # the API folds plurals itself; else we send each plural spelling
    near: bool = False  # near<n>:"a b" between two words (GDELT)
    min_word_length: int = 1  # shorter single keywords are rejected by the API
    max_spellings: int = 8  # most spellings (plural/compound variants) sent for one term


_Clauses = list[Clause] | None  # None: "anything" (the part could not be said and is dropped)


def translate_for(dialect: Dialect, query_text: str, *, reserve: int = 0) -> Translation:
    """Translate `query_text` to `dialect`, no narrower than ours, within its length limit.

    `reserve` characters of the limit are kept free for operators the caller appends
    (GDELT's sourcelang:, Google's when:). Raise SourceError when nothing can be searched.
    """
    node = parse_query(query_text)
    limit = dialect.max_length - reserve
    try:
        return _translate(dialect, node, limit, every_word=True, cut=False)
    except _OverLimit:
        pass
    if not dialect.stems_plurals:
        # The plurals of every word of every phrase make the longest queries; with only the
        # last word's (English plurals mostly inflect it: "peace talks") the query may fit.
        # Narrower, and noted, but only in spellings rarely written.
        try:
            return _translate(dialect, node, limit, every_word=False, cut=False)
        except _OverLimit:
            pass
    # Still too long: leave out whole groups, the least selective first (broader).
    return _translate(dialect, node, limit, every_word=dialect.stems_plurals, cut=True)


class _OverLimit(SourceError):
    """The query is longer than the API's limit (even its smallest group, when `cut`)."""


def _translate(
    dialect: Dialect, node: Node, limit: int, *, every_word: bool, cut: bool
) -> Translation:
    dropped: list[str] = []
    last_word_only = None if every_word else f"to fit {limit} characters"
    clauses = _Translator(dialect, dropped.append, last_word_only).clauses(node)
    if not clauses:
        raise SourceError(
            f"{dialect.name} cannot search for this query: no part of it can be said in its"
            f" syntax ({'; '.join(dropped) or 'nothing to search'})"
        )
    clauses = _unique(clauses)
    if not cut and len(render(dialect, clauses)) > limit:
        raise _OverLimit(f"{dialect.name}: the query is over the {limit}-character limit")
    while len(render(dialect, clauses)) > limit and len(clauses) > 1:
        # The group most items hold narrows the search least: leaving it out costs least.
        broadest = max(clauses, key=lambda c: (clause_share(c), len(_clause_text(c))))
        clauses.remove(broadest)
        dropped.append(
            f"group {_clause_text(broadest)} (the least selective, to fit {limit} characters)"
        )
    text = render(dialect, clauses)
    if len(text) > limit:
        raise _OverLimit(
            f"{dialect.name} cannot search for this query: its smallest required group is"
            f" {len(text)} characters, over the {limit}-character limit"
        )
    # A term tried as one side of a NEAR and again on its own notes its drops twice.
    dropped = list(dict.fromkeys(dropped))
    return Translation(text=text, broadened=bool(dropped), dropped=dropped)


def clause_share(clause: Clause) -> float:
    """About what share of news items hold one of the group's words or phrases (wordfreq)."""
    phrases = [lit.words if isinstance(lit, Phrase) else (lit.left, lit.right) for lit in clause]
    return group_share(phrases)


def render(dialect: Dialect, clauses: list[Clause]) -> str:
    """Write AND-of-OR clauses in the dialect's syntax."""
    return dialect.and_separator.join(_clause_text(c) for c in clauses)


def _clause_text(clause: Clause) -> str:
    parts = [_literal_text(lit) for lit in clause]
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _literal_text(literal: Literal) -> str:
    if isinstance(literal, NearPair):
        return f'near{literal.distance}:"{literal.left} {literal.right}"'
    words = literal.words
    if len(words) == 1 and words[0].isalnum() and words[0] not in _OPERATOR_WORDS:
        return words[0]
    return '"' + " ".join(words) + '"'


def _absorb(clauses: list[Clause]) -> list[Clause]:
    """Drop each clause that holds all of another's literals: (a OR b) AND a is just a."""
    sets = [frozenset(c) for c in clauses]
    kept: list[Clause] = []
    for i, clause in enumerate(clauses):
        absorbed = any(
            (other < sets[i]) or (other == sets[i] and j < i) for j, other in enumerate(sets)
        )
        if not absorbed:
            kept.append(clause)
    return kept


def _unique(clauses: list[Clause]) -> list[Clause]:
    seen: set[Clause] = set()
    out = []
    for clause in clauses:
        if clause not in seen:
            seen.add(clause)
            out.append(clause)
    return out


class _Translator:
    """One translation: AST → clauses, noting every part it had to drop."""

    def __init__(
        self, dialect: Dialect, note: Callable[[str], None], last_word_only: str | None = None
    ) -> None:
        self.dialect = dialect
        self.note = note
        # Why only the last word of a phrase gets its plural spellings (None: every word does).
        self.last_word_only = last_word_only

    def clauses(self, node: Node) -> _Clauses:
        match node:
            case Term():
                literals = self.term(node)
                return None if literals is None else [literals]
            case Regex(pattern):
                self.note(f"regex /{pattern}/ (no regexes in {self.dialect.name})")
                return None
            case Not():
                self.note("NOT part (searched without it; our matcher applies it)")
                return None
            case And(children):
                return self.conjunction(children)
            case Or(children):
                return self.disjunction(children)
            case Near(left, right, distance):
                pairs = self.near_pair(left, right, distance)
                if pairs is not None:
                    return [pairs]
                self.note(f"NEAR/{distance} (searched as AND)")
                return self.conjunction((left, right))
        raise AssertionError(node)  # pragma: no cover

    def conjunction(self, children: tuple[Node, ...]) -> _Clauses:
        out: list[Clause] = []
        for child in children:
            out.extend(self.clauses(child) or ())
        return out or None

    def disjunction(self, children: tuple[Node, ...]) -> _Clauses:
        members: list[list[Clause]] = []
        for child in children:
            clauses = self.clauses(child)
            if clauses is None:
                return None  # one member matches anything, so the whole OR does
            members.append(clauses)
        # (a AND b) OR c is exactly (a OR c) AND (b OR c): distribute while the product stays
        # small, so the API is asked what we mean rather than something much broader.
        product = math.prod(len(m) for m in members)
        if product > MAX_DISTRIBUTED_CLAUSES:
            members = [self._smallest(m) for m in members]
        out: list[Clause] = [()]
        for member in members:
            out = [(*left, *right) for left in out for right in member]
        return _absorb([tuple(dict.fromkeys(clause)) for clause in out])

    def _smallest(self, clauses: list[Clause]) -> list[Clause]:
        """One group of an AND, the one that says least: a AND b is never more than a alone."""
        if len(clauses) == 1:
            return clauses
        kept = min(clauses, key=lambda c: (len(c), len(_clause_text(c))))
        others = [_clause_text(c) for c in clauses if c is not kept]
        self.note(f"AND inside OR: kept {_clause_text(kept)}, dropped {', '.join(others)}")
        return [kept]

    def near_pair(self, left: Node, right: Node, distance: int) -> Clause | None:
        """GDELT's near<n>:"a b" for two single words (one per pair of spellings), or None."""
        if not self.dialect.near:
            return None
        sides: list[list[str]] = []
        for side in (left, right):
            if not isinstance(side, Term) or len(side.words) != 1 or side.prefix:
                return None
            spellings = self.term(side)
            if spellings is None:
                return None
            sides.append([lit.words[0] for lit in spellings if isinstance(lit, Phrase)])
        pairs = [(a, b) for a in sides[0] for b in sides[1]]
        if len(pairs) > self.dialect.max_spellings:
            return None
        # Our NEAR/n allows n words between the two; GDELT's near<n> counts positions apart.
        return tuple(NearPair(a, b, distance + 1) for a, b in pairs)

    def term(self, term: Term) -> Clause | None:
        """The spellings to send for a term, or None when it cannot be said."""
        name = self.dialect.name
        if any(any(ch.isdigit() for ch in w) or "%" in w for w in term.words):
            self.note(f"number {term.source} (its spellings are ours to fold)")
            return None
        if term.prefix:
            return self.prefix_term(term)
        if term.field is not None:
            self.note(f"{term.field}: scope of {term.source} (searched everywhere)")
        # Send the words as written (case and accents folded), not our plural-folded form:
        # "Trans-Pacific" must stay "trans pacific", not our "tran pacific".
        words = tuple(t.text for t in tokenize(term.source.strip('"'), plural=False))
        if not words:
            words = term.words
        if len(words) == 1 and len(words[0]) < self.dialect.min_word_length:
            self.note(f"{term.source} (too short for {name})")
            return None
        spellings = self.spellings(term.source, words)
        return None if spellings is None else tuple(Phrase(s) for s in spellings)

    def prefix_term(self, term: Term) -> Clause | None:
        """A prefix* term as the words it stands for (wordfreq), or None ("anything")."""
        name = self.dialect.name
        words = tuple(t.text for t in tokenize(term.source.strip('"*'), plural=False))
        if term.field is not None:
            self.note(f"{term.field}: scope of {term.source} (searched everywhere)")
        forms = prefix_forms(words[-1]) if words else None
        if not forms:
            many = f"more than {MAX_PREFIX_FORMS} words" if forms is None else "no word we know"
            self.note(f"prefix {term.source} ({many} start so; no wildcards in {name})")
            return None
        if self.dialect.stems_plurals:
            # The API folds plurals itself: one spelling of each folded word is enough.
            first: dict[str, str] = {}
            for form in forms:
                first.setdefault(fold_word(form), form)
            forms = tuple(first.values())
        spellings = self.sendable(term.source, [(*words[:-1], f) for f in forms])
        return tuple(Phrase(s) for s in spellings) or None

    def spellings(self, source: str, words: tuple[str, ...]) -> list[tuple[str, ...]] | None:
        """Every spelling of a phrase that our matcher finds and the API can search, or None."""
        limit = self.dialect.max_spellings
        compounds = self.compounds(words)
        if self.dialect.stems_plurals:
            spellings = self.sendable(source, [words, *compounds])
        else:
            # Our matcher folds plurals on every word of a phrase ("weapons shipments" is
            # "weapon shipment"), so every combination of each word's spellings is sent.
            options = [list(inflections(w)) for w in words]
            every = list(itertools.product(*options))
            spellings = self.sendable(source, [*every, *compounds])
            reason = self.last_word_only
            if reason is None and len(spellings) > limit:
                reason = f"over {limit} spellings"
            if reason is not None:
                # English plurals mostly inflect the last word ("peace talks"), so only its
                # spellings go, with the compound as written; the ones left out are named.
                fewer = [(*words[:-1], w) for w in options[-1]] + compounds[:1]
                kept = self.sendable(source, fewer)
                missing = [_literal_text(Phrase(s)) for s in spellings if s not in kept]
                spellings = kept
                if missing:
                    self.note(
                        f"{source}: not sent {', '.join(missing)} ({reason}; only the last"
                        " word's plurals go)"
                    )
        if len(spellings) > limit:
            self.note(f"{source} (more than {limit} spellings)")
            return None
        return spellings

    def compounds(self, words: tuple[str, ...]) -> list[tuple[str, ...]]:
        """The closed-up spellings of a two-word phrase that occur ("cease fire" → ceasefire,
        ceasefires); none where the closed-up word is not one ("peacetalks")."""
        # Longer phrases are rarely closed up, and each spelling costs length.
        if len(words) != 2:
            return []
        # Our matcher joins its plural-folded words ("arms sale" → armsale) and folds the
        # text's word too, so "armsales" is found: a stemming API needs that join, an
        # exact-word API every spelling of it that occurs.
        joins = [words[0] + words[1], fold_word(words[0]) + fold_word(words[1])]
        real = [j for j in dict.fromkeys(joins) if zipf(j) > 0]
        if self.dialect.stems_plurals:
            return [(j,) for j in real]
        return list(dict.fromkeys((f,) for j in real for f in inflections(j)))

    def sendable(self, source: str, spellings: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        """`spellings` without repeats and without single words the API rejects as too short."""
        minimum = self.dialect.min_word_length
        unique = list(dict.fromkeys(spellings))
        short = [s[0] for s in unique if len(s) == 1 and len(s[0]) < minimum]
        if short:
            # The term itself is sent (its written form is long enough); texts that say only
            # the short spelling ("ax" for "axes") cannot be searched on this API at all.
            self.note(
                f"{' OR '.join(short)}, a spelling of {source} (too short for"
                f" {self.dialect.name}; texts saying only that are not searched)"
            )
        return [s for s in unique if not (len(s) == 1 and len(s[0]) < minimum)]
