"""Every signal's query compiled into one multi-pattern pass, explained on a hit.

    item ──tokenize──► " nato ally agree 5% … \\0 summary words … "   (one string, both fields)
         ──Aho-Corasick over every literal of every signal──► term hits (term, first, last word)
         ──signals owning a hit (plus the few with no literal to gate on)──► boolean/NEAR check
         ──for each signal that holds──► Match(signal, hits as written, snippet)

The scan costs the same however many signals there are; only candidates pay for the boolean
check. Words are compared in normal form (see `bot.matching.normalize`); compound words get
variants, so the literal `ceasefire` also finds `cease fire` and `cease-fire`, and `cease-fire`
also finds `ceasefire`; words get their inflections (`bot.matching.inflect`), so `agree` also
finds `agreed` and `agreeing`. Both are more patterns in the automaton, made once at compile
time: the text of an item is never lemmatised.

Bounded for hostile input: a field is read up to MAX_TITLE_CHARS / MAX_SUMMARY_CHARS, the scan
is linear in that, NEAR keeps each span once (polynomial in query and text), compound variants
and inflected spellings are capped per term and per matcher, and lone surrogates in feed text
become U+FFFD.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ahocorasick

from bot.errors import QueryError
from bot.matching.inflect import MAX_TERM_FORMS, term_forms
from bot.matching.normalize import Token
from bot.matching.query import And, Near, Node, Not, Or, Regex, Term, parse_query
from bot.matching.snippet import make_snippet, prepare
from bot.matching.text import MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, EntryText
from bot.model import Hit, Match

__all__ = ["MAX_HITS", "MAX_SUMMARY_CHARS", "MAX_TITLE_CHARS", "Matcher"]

# A match explains itself with at most this many hits (a regex like /\w+/ hits every word).
MAX_HITS = 100

# A compound word is split into two parts of at least this many letters to make variants
# ("ceasefire" → "cease fire"); shorter parts would turn "into" into "in to".
_MIN_SPLIT_PART = 4
_MIN_SPLIT_WORD = 8
# Longer words are not compounds anyone writes apart, and each split point of a word is one
# more automaton pattern: a 4,000-letter word would otherwise add 4,000 patterns of 4,000 chars.
_MAX_SPLIT_WORD = 30
# Variants are for short phrases ("cease fire talks"); each one of a long phrase is a pattern
# as long as the phrase, and a few hundred of those would fill memory.
_MAX_VARIANT_WORDS = 8
_MAX_VARIANTS = 64
# Each split variant adds a branch of up to 30 automaton nodes (about 100 bytes each). Real
# watchlists need a few thousand; past this many, in compile order, words are not split.
_MAX_SPLIT_PATTERNS = 20_000
# Inflected spellings: a few per word of a query (agreed, agreeing). The 5,000 generated signals
# of bench_inflect add 3,027 patterns and the shipped watchlist 241; past this many, in
# compile order, words are taken as written.
_MAX_INFLECTED_PATTERNS = 100_000
_SEPARATOR = "\x00"  # a token no pattern contains: phrases cannot run from title to summary

Span = tuple[int, int]  # first and last token index (inclusive) in the joined stream


class _Item:
    """One item being matched: its fields' normal forms joined, and the hits found.

    Scanning needs only the joined normal form (cheap); word spans in the source text come
    from the item's `EntryText` tokens, computed on first use, for the few items that match.
    """

    __slots__ = (
        "_prepared",
        "_spaces",
        "hits",
        "joined",
        "located",
        "regex_cache",
        "split",
        "text",
    )

    def __init__(self, text: EntryText):
        self.text = text
        norm_title, norm_summary = text.normal(0), text.normal(1)
        self.split = norm_title.count(" ") + 1 if norm_title else 0  # the separator's index
        # " title words \0 summary words ": every token, the separator included, sits
        # between single spaces, so a word's index is the count of spaces before it.
        self.joined = " " + " ".join(filter(None, (norm_title, _SEPARATOR, norm_summary))) + " "
        self.hits: dict[int, list[Span]] = {}
        self.regex_cache: dict[int, list[Span] | None] = {}
        self.located: dict[Span, _Located] = {}  # `_locate`'s answers, per span
        self._spaces: list[int] | None = None
        self._prepared: list[tuple[str, bool] | None] = [None, None]

    def prepared(self, field: int) -> tuple[str, bool]:
        """The field made ready for snippets (`snippet.prepare`), once for all its matches."""
        ready = self._prepared[field]
        if ready is None:
            ready = self._prepared[field] = prepare(self.text.fields[field])
        return ready

    def word_index(self, offset: int) -> int:
        """The index of the token whose leading space is at `offset` in `joined`."""
        if self._spaces is None:
            # Once per item, so that each hit costs a bisection, not a count from the start.
            self._spaces = [m.start() for m in _SPACE.finditer(self.joined)]
        return bisect.bisect_right(self._spaces, offset) - 1

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
_SPACE = re.compile(" ")


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
            tokens = item.text.tokens(field)
            if not tokens:
                continue
            ends = [t.end for t in tokens]
            starts = [t.start for t in tokens]
            for m in self.regex.finditer(item.text.fields[field]):
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


class _AnyTermEval(_Eval):
    """An OR of plain terms (a concept, a list of synonyms): the item's hits are looked up
    among the group's terms in one set operation rather than term by term."""

    __slots__ = ("tids",)

    def __init__(self, tids: Iterable[int]):
        self.tids = frozenset(tids)

    def run(self, item: _Item) -> list[Span] | None:
        hits = item.hits
        found = self.tids.intersection(hits)
        if not found:
            return None
        if len(found) == 1:
            return hits[next(iter(found))]
        # In no particular order: every reader of spans sorts them (or only asks if any).
        return [span for tid in found for span in hits[tid]]


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
        # Each side's spans that have a partner on the other side, each span once: a chain
        # `a NEAR a NEAR a …` then stays as small as the text instead of doubling per NEAR.
        found = _within(lefts, rights, self.distance, item) + _within(
            rights, lefts, self.distance, item
        )
        return sorted(set(found)) or None


def _within(spans: list[Span], others: list[Span], distance: int, item: _Item) -> list[Span]:
    """The spans with some span of `others` in the same field at most `distance` words away.

    Two spans a, b are near when max(a0, b0) - min(a1, b1) <= distance, which is
    b0 <= a1 + distance and b1 >= a0 - distance: with `others` sorted by start, the first
    holds for a prefix, and the prefix's largest end settles the second. O((n + m) log m).
    """
    ordered = sorted(set(others))
    cut = bisect.bisect_left(ordered, (item.split,))  # the first summary span
    by_field: list[tuple[list[int], list[int]]] = []
    for mine in (ordered[:cut], ordered[cut:]):
        # reach[i]: the largest end among mine[: i + 1]
        by_field.append(
            ([s[0] for s in mine], list(itertools.accumulate((s[1] for s in mine), max)))
        )
    kept: list[Span] = []
    split = item.split
    for span in spans:
        starts, reach = by_field[0 if span[0] < split else 1]
        count = bisect.bisect_right(starts, span[1] + distance)
        if count and reach[count - 1] >= span[0] - distance:
            kept.append(span)
    return kept


@dataclass(frozen=True, slots=True)
class _Signal:
    id: str
    program: _Eval
    gated: bool  # False: it can hold with no literal hit (regex-only), so always evaluate


def _variants(
    words: tuple[str, ...], prefix: bool, max_splits: int = _MAX_VARIANTS
) -> list[tuple[str, ...]]:
    """The word sequences a term also matches: compounds joined, and at most `max_splits` split."""
    out = [words]
    if prefix or len(words) > _MAX_VARIANT_WORDS:
        return out
    for i in range(len(words) - 1):  # "cease fire" → "ceasefire"
        out.append((*words[:i], words[i] + words[i + 1], *words[i + 2 :]))
    splits = 0
    for i, word in enumerate(words):  # "ceasefire" → "cease fire"
        if _MIN_SPLIT_WORD <= len(word) <= _MAX_SPLIT_WORD and word.isalpha():
            for cut in range(_MIN_SPLIT_PART, len(word) - _MIN_SPLIT_PART + 1):
                if splits >= max_splits or len(out) >= _MAX_VARIANTS:
                    return out
                out.append((*words[:i], word[:cut], word[cut:], *words[i + 1 :]))
                splits += 1
    return out


def _gate(node: Node) -> frozenset[tuple[tuple[str, ...], bool]] | None:
    """A set of literal terms at least one of which must occur for `node` to hold.

    None when no such set exists (a regex-only or NOT-only branch). For AND and NEAR any one
    child's gate will do, so we keep the cheapest: fewest terms, then longest words (short
    words are common words). Signals are only evaluated when their gate fires, so a query
    like `tariff* NEAR exempt* AND US` is not woken by every item that says "US".
    """
    match node:
        case Term(words, prefix):
            return frozenset({(words, prefix)})
        case Regex() | Not():
            return None
        case Or(children):
            gates = [_gate(c) for c in children]
            if any(g is None for g in gates):
                return None
            return frozenset().union(*(g for g in gates if g is not None))
        case And(children):
            options = [g for g in (_gate(c) for c in children) if g is not None]
            return min(options, key=_gate_cost) if options else None
        case Near(left, right):
            options = [g for g in (_gate(left), _gate(right)) if g is not None]
            return min(options, key=_gate_cost) if options else None
    raise AssertionError(node)  # pragma: no cover


def _gate_cost(gate: frozenset[tuple[tuple[str, ...], bool]]) -> float:
    """Rough odds that a gate fires: more terms and shorter words fire more often."""
    cost = 0.0
    for words, prefix in gate:
        longest = max(len(w) for w in words)
        cost += (3.0 if longest <= 3 else 1.0) * (0.5 if len(words) > 1 else 1.0)
        cost += 0.5 if prefix else 0.0
    return cost


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
            program = matcher._build(node)
            gate = _gate(node)
            matcher._signals.append(_Signal(signal_id, program, gate is not None))
            if gate is None:
                matcher._always.append(index)
            else:
                for key in gate:
                    matcher._term_signals[matcher._term_ids[key]].add(index)
        matcher._automaton = matcher._make_automaton()
        return matcher

    @property
    def signal_ids(self) -> list[str]:
        """The compiled signals' ids, in compile order."""
        return [s.id for s in self._signals]

    def _build(self, node: Node) -> _Eval:
        match node:
            case Term(words, prefix, field):
                key = (words, prefix)
                tid = self._term_ids.get(key)
                if tid is None:
                    tid = self._term_ids[key] = len(self._term_signals)
                    self._term_signals.append(set())
                return _TermEval(tid, field)
            case Regex(pattern, field, column):
                from bot.matching.regex import compile_regex

                self._regex_count += 1
                return _RegexEval(self._regex_count, compile_regex(pattern, column), field)
            case And(children):
                return _AndEval([self._build(c) for c in children])
            case Or(children):
                built = [self._build(c) for c in children]
                if all(isinstance(c, _TermEval) and c.field is None for c in built):
                    return _AnyTermEval(c.tid for c in built if isinstance(c, _TermEval))
                return _OrEval(built)
            case Not(child):
                return _NotEval(self._build(child))
            case Near(left, right, distance):
                return _NearEval(self._build(left), self._build(right), distance)
        raise AssertionError(node)  # pragma: no cover

    def _make_automaton(self) -> Any:
        # One key per distinct pattern; its value: (signals it gates, term ids it stands for,
        # words in the pattern, pattern length in chars). Terms sharing a key share a length.
        patterns: dict[str, tuple[set[int], list[int], int]] = {}
        splits_left = _MAX_SPLIT_PATTERNS
        inflections_left = _MAX_INFLECTED_PATTERNS
        for (words, prefix), tid in self._term_ids.items():
            variants = _variants(words, prefix, splits_left)
            splits_left -= sum(len(v) > len(words) for v in variants)
            if not prefix and inflections_left > 0:
                inflected = term_forms(words, min(MAX_TERM_FORMS, inflections_left))
                inflections_left -= len(inflected)
                variants += inflected
            for variant in dict.fromkeys(variants):
                key = " " + " ".join(variant) + ("" if prefix else " ")
                gate, tids, _ = patterns.setdefault(key, (set(), [], len(variant)))
                gate.update(self._term_signals[tid])
                tids.append(tid)
        automaton = ahocorasick.Automaton()
        for key, (gate, tids, length) in patterns.items():
            automaton.add_word(key, (frozenset(gate), tuple(tids), length, len(key)))
        if patterns:
            automaton.make_automaton()
        return automaton

    def _scan(self, item: _Item) -> set[int]:
        """Find every literal in one pass; return the signals worth evaluating."""
        candidates = set(self._always)
        if not self._term_ids:
            return candidates
        joined = item.joined
        hits = item.hits
        for end, (gate, tids, length, key_length) in self._automaton.iter(joined):
            if gate:
                candidates |= gate
            # The pattern's first char is the space before its first word; the number of
            # spaces up to and including it is that word's index + 1.
            first = item.word_index(end - key_length + 1)
            span = (first, first + length - 1)
            for tid in tids:
                if tid in hits:
                    hits[tid].append(span)
                else:
                    hits[tid] = [span]
        return candidates

    def match(self, title: str | EntryText, summary: str = "") -> list[Match]:
        """The signals this item matches, in compile order, each with its explanation.

        Given an `EntryText` (and no summary), its normal forms are used and kept: the
        caller's story fingerprint then reads the same tokens.
        """
        item = _Item(_entry_text(title, summary))
        out: list[Match] = []
        for index in sorted(self._scan(item)):
            signal = self._signals[index]
            spans = signal.program.run(item)
            if spans is not None:
                out.append(_explain(signal.id, item, spans))
        return out

    def match_ids(self, title: str | EntryText, summary: str = "") -> list[str]:
        """Only the matching signal ids (no explanation): for bulk evaluation."""
        item = _Item(_entry_text(title, summary))
        return [
            self._signals[i].id
            for i in sorted(self._scan(item))
            if self._signals[i].program.run(item) is not None
        ]


def _entry_text(title: str | EntryText, summary: str) -> EntryText:
    if isinstance(title, EntryText):
        if summary:
            raise TypeError("match(EntryText, summary): the summary is the EntryText's own")
        return title
    return EntryText(title, summary)


def _explain(signal_id: str, item: _Item, spans: list[Span]) -> Match:
    """Turn the spans that made a signal true into Hits (as written) and a snippet."""
    hits: list[Hit] = []
    per_field: tuple[list[tuple[int, int]], list[tuple[int, int]]] = ([], [])
    located = item.located
    for span in sorted(set(spans)):
        found = located.get(span)
        if found is None:
            found = located[span] = _locate(item, span)
        if found is _NOWHERE:
            continue
        field, start, end, hit = found
        if len(hits) < MAX_HITS:
            hits.append(hit)
        per_field[field].append((start, end))
    field = 1 if per_field[1] else 0
    snippet = make_snippet(item.text.fields[field], per_field[field], prepared=item.prepared(field))
    return Match(signal_id, tuple(hits), snippet)


_Located = tuple[int, int, int, Hit]
_NOWHERE: _Located = (-1, -1, -1, Hit("title", "", 0, 0))  # a span in an empty field


def _locate(item: _Item, span: Span) -> _Located:
    """Where a span of the joined stream lies in its field's text, and its Hit: worked out
    once per item, since the signals an item matches often share their terms' hits."""
    first, last = span
    field, a = item.local(first)
    _, b = item.local(last)
    tokens: list[Token] = item.text.tokens(field)
    if not tokens:
        return _NOWHERE
    top = len(tokens) - 1
    a, b = max(0, min(a, top)), max(0, min(b, top))
    start, end = tokens[a].start, tokens[b].end
    text = item.text.fields[field]
    return field, start, end, Hit(("title", "summary")[field], text[start:end], start, end)
