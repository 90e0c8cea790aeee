"""Every signal's query compiled into one multi-pattern pass, explained on a hit.

    item ──tokenize──► " nato ally agree 5% … \\0 summary words … "   (one string, both fields)
         ──Aho-Corasick over every literal of every signal──► term hits (term, first, last word)
         ──signals owning a hit (plus the few with no literal to gate on)──► boolean/NEAR check
         ──for each signal that holds──► Match(signal, hits as written, snippet)

The scan costs the same however many signals there are; only candidates pay for the boolean
check. Words are compared in normal form (see `bot.matching.normalize`); compound words get
variants, so the literal `ceasefire` also finds `cease fire` and `cease-fire`, and `cease-fire`
also finds `ceasefire`.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick

from bot.errors import QueryError
from bot.matching.normalize import Token, tokenize
from bot.matching.query import And, Near, Node, Not, Or, Regex, Term, parse_query
from bot.matching.snippet import make_snippet
from bot.model import Hit, Match

__all__ = ["Matcher"]

# A compound word is split into two parts of at least this many letters to make variants
# ("ceasefire" → "cease fire"); shorter parts would turn "into" into "in to".
_MIN_SPLIT_PART = 4
_MIN_SPLIT_WORD = 8
_SEPARATOR = "\x00"  # a token no pattern contains: phrases cannot run from title to summary

Span = tuple[int, int]  # first and last token index (inclusive) in the joined stream


class _Item:
    """One item being matched: its tokens per field, joined, and the hits found."""

    __slots__ = ("fields", "hits", "regex_cache", "split", "texts", "tokens")

    def __init__(self, title: str, summary: str):
        self.texts = (title, summary)
        self.tokens = (tokenize(title), tokenize(summary))
        self.split = len(self.tokens[0])  # index of the separator token
        self.hits: dict[int, list[Span]] = {}
        self.regex_cache: dict[int, list[Span] | None] = {}

    def joined(self) -> str:
        """Both fields as one space-delimited string of normal forms."""
        title, summary = self.tokens
        return (
            " " + " ".join([t.text for t in title] + [_SEPARATOR] + [t.text for t in summary]) + " "
        )

    def field_of(self, index: int) -> int:
        """0 for a title token, 1 for a summary token."""
        return 0 if index < self.split else 1

    def local(self, index: int) -> tuple[int, int]:
        """(field, index within that field's tokens) of a joined-stream index."""
        return (0, index) if index < self.split else (1, index - self.split - 1)

    def to_joined(self, field: int, local_index: int) -> int:
        """Joined-stream index of a field-local token index."""
        return local_index if field == 0 else local_index + self.split + 1


_FIELD_INDEX = {"title": 0, "summary": 1}


class _Eval:
    """A compiled query node: `run` gives the spans that made it true, or None when false."""

    __slots__ = ()

    def run(self, item: _Item) -> list[Span] | None:  # pragma: no cover - abstract
        raise NotImplementedError


class _TermEval(_Eval):
    __slots__ = ("field", "tid")

    def __init__(self, tid: int, field: str | None):
        self.tid = tid
        self.field = None if field is None else _FIELD_INDEX[field]

    def run(self, item: _Item) -> list[Span] | None:
        spans = item.hits.get(self.tid)
        if spans and self.field is not None:
            spans = [s for s in spans if item.field_of(s[0]) == self.field]
        return spans or None


class _RegexEval(_Eval):
    __slots__ = ("field", "key", "regex")

    def __init__(self, key: int, regex: Any, field: str | None):
        self.key = key
        self.regex = regex
        self.field = None if field is None else _FIELD_INDEX[field]

    def run(self, item: _Item) -> list[Span] | None:
        if self.key not in item.regex_cache:
            item.regex_cache[self.key] = self._search(item)
        spans = item.regex_cache[self.key]
        if spans and self.field is not None:
            spans = [s for s in spans if item.field_of(s[0]) == self.field]
        return spans or None

    def _search(self, item: _Item) -> list[Span] | None:
        spans: list[Span] = []
        for field in (0, 1):
            tokens = item.tokens[field]
            if not tokens:
                continue
            ends = [t.end for t in tokens]
            starts = [t.start for t in tokens]
            for m in self.regex.finditer(item.texts[field]):
                a, b = m.span()
                if a == b:
                    continue
                first = min(bisect.bisect_right(ends, a), len(tokens) - 1)
                last = max(bisect.bisect_left(starts, b) - 1, first)
                spans.append((item.to_joined(field, first), item.to_joined(field, last)))
        return spans or None


class _AndEval(_Eval):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[_Eval]):
        self.children = tuple(children)

    def run(self, item: _Item) -> list[Span] | None:
        spans: list[Span] = []
        for child in self.children:
            got = child.run(item)
            if got is None:
                return None
            spans.extend(got)
        return spans


class _OrEval(_Eval):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[_Eval]):
        self.children = tuple(children)

    def run(self, item: _Item) -> list[Span] | None:
        spans: list[Span] | None = None
        for child in self.children:
            got = child.run(item)
            if got is not None:
                spans = got if spans is None else spans + got
        return spans


class _NotEval(_Eval):
    __slots__ = ("child",)

    def __init__(self, child: _Eval):
        self.child = child

    def run(self, item: _Item) -> list[Span] | None:
        return None if self.child.run(item) is not None else []


class _NearEval(_Eval):
    __slots__ = ("distance", "left", "right")

    def __init__(self, left: _Eval, right: _Eval, distance: int):
        self.left, self.right, self.distance = left, right, distance

    def run(self, item: _Item) -> list[Span] | None:
        lefts = self.left.run(item)
        if lefts is None:
            return None
        rights = self.right.run(item)
        if rights is None:
            return None
        found: list[Span] = []
        for a in lefts:
            for b in rights:
                if item.field_of(a[0]) != item.field_of(b[0]):
                    continue
                gap = max(a[0], b[0]) - min(a[1], b[1])  # ≤ 0 when the spans overlap
                if gap <= self.distance:
                    found.append(a)
                    found.append(b)
        return found or None


@dataclass(frozen=True, slots=True)
class _Signal:
    id: str
    program: _Eval
    gated: bool  # False: it can hold with no literal hit (regex-only), so always evaluate


def _variants(words: tuple[str, ...], prefix: bool) -> list[tuple[str, ...]]:
    """The word sequences a term also matches: compounds joined and split."""
    out = [words]
    if prefix:
        return out
    for i in range(len(words) - 1):  # "cease fire" → "ceasefire"
        out.append((*words[:i], words[i] + words[i + 1], *words[i + 2 :]))
    for i, word in enumerate(words):  # "ceasefire" → "cease fire"
        if len(word) >= _MIN_SPLIT_WORD and word.isalpha():
            for cut in range(_MIN_SPLIT_PART, len(word) - _MIN_SPLIT_PART + 1):
                out.append((*words[:i], word[:cut], word[cut:], *words[i + 1 :]))
    return out


def _needs_literal(node: Node) -> bool:
    """True when the node can only hold if some literal term occurs (so hits can gate it)."""
    match node:
        case Term():
            return True
        case Regex() | Not():
            return False
        case And(children):
            return any(_needs_literal(c) for c in children)
        case Or(children):
            return all(_needs_literal(c) for c in children)
        case Near(left, right):
            return _needs_literal(left) or _needs_literal(right)
    raise AssertionError(node)  # pragma: no cover


class Matcher:
    """All signals compiled into one multi-pattern pass; `match` explains every hit."""

    def __init__(self) -> None:
        self._signals: list[_Signal] = []
        self._term_ids: dict[tuple[tuple[str, ...], bool], int] = {}
        self._term_signals: list[set[int]] = []
        self._always: list[int] = []
        self._automaton: Any = None
        self._regex_count = 0

    @classmethod
    def compile(cls, signals: Iterable[tuple[str, str | Node]]) -> Matcher:
        """Compile (signal id, query text or parsed AST) pairs; QueryError names the signal."""
        matcher = cls()
        for signal_id, query in signals:
            try:
                node = parse_query(query) if isinstance(query, str) else query
            except QueryError as exc:
                raise QueryError(
                    f"signal '{signal_id}': {exc.message}", exc.column, exc.expected
                ) from None
            index = len(matcher._signals)
            program = matcher._build(node, index)
            gated = _needs_literal(node)
            matcher._signals.append(_Signal(signal_id, program, gated))
            if not gated:
                matcher._always.append(index)
        matcher._automaton = matcher._make_automaton()
        return matcher

    @property
    def signal_ids(self) -> list[str]:
        """The compiled signals' ids, in compile order."""
        return [s.id for s in self._signals]

    def _build(self, node: Node, signal: int) -> _Eval:
        match node:
            case Term(words, prefix, field):
                key = (words, prefix)
                tid = self._term_ids.get(key)
                if tid is None:
                    tid = self._term_ids[key] = len(self._term_signals)
                    self._term_signals.append(set())
                self._term_signals[tid].add(signal)
                return _TermEval(tid, field)
            case Regex(pattern, field, column):
                from bot.matching.regex import compile_regex

                self._regex_count += 1
                return _RegexEval(self._regex_count, compile_regex(pattern, column), field)
            case And(children):
                return _AndEval([self._build(c, signal) for c in children])
            case Or(children):
                return _OrEval([self._build(c, signal) for c in children])
            case Not(child):
                return _NotEval(self._build(child, signal))
            case Near(left, right, distance):
                return _NearEval(self._build(left, signal), self._build(right, signal), distance)
        raise AssertionError(node)  # pragma: no cover

    def _make_automaton(self) -> Any:
        # Each pattern carries (term id, words in this variant, pattern length in chars).
        patterns: dict[str, list[tuple[int, int, int]]] = {}
        for (words, prefix), tid in self._term_ids.items():
            for variant in _variants(words, prefix):
                key = " " + " ".join(variant) + ("" if prefix else " ")
                patterns.setdefault(key, []).append((tid, len(variant), len(key)))
        automaton = ahocorasick.Automaton()
        for key, value in patterns.items():
            automaton.add_word(key, tuple(value))
        if patterns:
            automaton.make_automaton()
        return automaton

    def _scan(self, item: _Item) -> set[int]:
        """Find every literal in one pass; return the signals worth evaluating."""
        candidates = set(self._always)
        if not self._term_ids:
            return candidates
        joined = item.joined()
        hits = item.hits
        term_signals = self._term_signals
        for end, values in self._automaton.iter(joined):
            for tid, length, key_length in values:
                # The pattern's first char is the space before its first word; the number
                # of spaces up to and including it is that word's index + 1.
                start_char = end - key_length + 1
                first = joined.count(" ", 0, start_char + 1) - 1
                hits.setdefault(tid, []).append((first, first + length - 1))
                candidates.update(term_signals[tid])
        return candidates

    def match(self, title: str, summary: str = "") -> list[Match]:
        """The signals this item matches, in compile order, each with its explanation."""
        item = _Item(title or "", summary or "")
        out: list[Match] = []
        for index in sorted(self._scan(item)):
            signal = self._signals[index]
            spans = signal.program.run(item)
            if spans is not None:
                out.append(_explain(signal.id, item, spans))
        return out

    def match_ids(self, title: str, summary: str = "") -> list[str]:
        """Only the matching signal ids (no explanation): for bulk evaluation."""
        item = _Item(title or "", summary or "")
        return [
            self._signals[i].id
            for i in sorted(self._scan(item))
            if self._signals[i].program.run(item) is not None
        ]


def _explain(signal_id: str, item: _Item, spans: list[Span]) -> Match:
    """Turn the spans that made a signal true into Hits (as written) and a snippet."""
    unique = sorted(set(spans))
    hits: list[Hit] = []
    per_field: list[list[tuple[int, int]]] = [[], []]
    for first, last in unique:
        field, a = item.local(first)
        _, b = item.local(last)
        tokens: list[Token] = item.tokens[field]
        if not tokens:
            continue
        a, b = max(0, min(a, len(tokens) - 1)), max(0, min(b, len(tokens) - 1))
        start, end = tokens[a].start, tokens[b].end
        hits.append(Hit(("title", "summary")[field], item.texts[field][start:end], start, end))
        per_field[field].append((start, end))
    field = 1 if per_field[1] else 0
    snippet = make_snippet(item.texts[field], per_field[field])
    return Match(signal_id, tuple(hits), snippet)
