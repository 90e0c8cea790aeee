"""The watchlist's cross-references: duplicate ids, routes and scopes naming unknown signals,
concepts a query names but the file does not define (each a `ReferenceProblem` with its
location, turned into `file:line:` messages by the loader).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.errors import QueryError
from bot.matching import parse_query
from bot.matching.query import concept_references, concept_term
from bot.watchlist.fields import ANY_CONCEPT, MAX_CONCEPT_ENTRIES, MAX_WATCHLIST_CONCEPT_TERMS

REFERENCES_ERROR = "watchlist_references"

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ReferenceProblem:
    """A problem between items (duplicate id, unknown signal); `first` is the earlier twin."""

    loc: Loc
    message: str
    first: Loc | None = None

    def describe(self) -> str:
        """The problem without line numbers, for errors raised outside the loader."""
        where = ".".join(str(part) for part in self.loc)
        return f"{where}: {self.message}"


def reference_problems(data: Mapping[str, Any]) -> list[ReferenceProblem]:
    """Duplicate ids and unknown signal references in plain watchlist data, however malformed.

    Works on the raw YAML as well as on a validated Watchlist's `model_dump()`, so the loader
    can report these next to field errors; items whose ids are not strings are skipped.
    """
    signals = _items(data.get("signals"))
    sources = _items(data.get("sources"))
    routes = _items(data.get("routes"))
    problems = _duplicates("signals", "signal", signals)
    problems += _duplicates("sources", "source", sources)
    known = [item["id"] for item in signals if isinstance(item.get("id"), str)]

    problems += _concept_problems(data.get("concepts"), signals)

    for index, source in enumerate(sources):
        scope = source.get("signals")
        if isinstance(scope, list):
            for position, ref in enumerate(scope):
                if isinstance(ref, str) and ref not in known:
                    loc: Loc = ("sources", index, "signals", position)
                    problems.append(ReferenceProblem(loc, _unknown_signal(ref, known)))

    seen_routes: dict[tuple[object, ...], int] = {}
    for index, route in enumerate(routes):
        ref = route.get("signal")
        if isinstance(ref, str) and ref != "*" and ref not in known:
            problems.append(
                ReferenceProblem(("routes", index, "signal"), _unknown_signal(ref, known))
            )
        # str(channel): the raw YAML may quote an id that validation turns into an int.
        channel = route.get("channel")
        # A digest route is a different way to deliver: it may share a plain route's target.
        key = (
            ref,
            None if channel is None else str(channel),
            route.get("webhook"),
            route.get("digest"),
            route.get("at"),
        )
        if _hashable(key) and key in seen_routes:
            # Two identical routes would post every alert twice.
            first = seen_routes[key]
            problems.append(
                ReferenceProblem(
                    ("routes", index), f"same signal and destination as route #{first + 1}"
                )
            )
        elif _hashable(key):
            seen_routes[key] = index
    return problems


def _concept_problems(concepts: Any, signals: list[Mapping[str, Any]]) -> list[ReferenceProblem]:
    """Queries that name an unknown concept, or that its terms make too large.

    A concept with problems of its own (empty, a bad term) is reported on its own line and
    stands here as a one-word concept, so its users are not reported again.
    """
    usable: dict[str, Sequence[str]] = {}
    if isinstance(concepts, Mapping):
        for name, entries in concepts.items():
            if isinstance(name, str):
                usable[name] = entries if _usable_entries(entries) else (name,)
    problems = []
    budget = MAX_WATCHLIST_CONCEPT_TERMS
    for index, signal in enumerate(signals):
        for key in ("query", "search"):
            text = signal.get(key)
            if not isinstance(text, str) or "@" not in text:
                continue
            text = text.strip()
            try:
                parse_query(text, ANY_CONCEPT)
            except QueryError:
                continue  # a syntax error, reported on the field itself
            # Counted before the query is parsed with them: that is the work to bound.
            budget -= sum(len(usable.get(name, ())) for name, _ in concept_references(text))
            if budget < 0:
                problems.append(
                    ReferenceProblem(
                        ("signals", index, key),
                        f"the watchlist's queries name more than {MAX_WATCHLIST_CONCEPT_TERMS:,}"
                        " concept terms in all (a concept counts its terms each time it is"
                        " named)",
                    )
                )
                return problems
            try:
                parse_query(text, usable)
            except QueryError as err:
                problems.append(ReferenceProblem(("signals", index, key), str(err)))
    return problems


def _usable_entries(entries: Any) -> bool:
    """Whether a concept's raw entries are a list of terms that all parse."""
    if not isinstance(entries, list) or not entries or len(entries) > MAX_CONCEPT_ENTRIES:
        return False
    try:
        for entry in entries:
            if not isinstance(entry, str):
                return False
            concept_term(entry)
    except QueryError:
        return False
    return True


def _items(value: Any) -> list[Mapping[str, Any]]:
    # Non-mapping items are kept as empty mappings so that indexes still match the file.
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item if isinstance(item, Mapping) else {} for item in value]


def _duplicates(section: str, kind: str, items: list[Mapping[str, Any]]) -> list[ReferenceProblem]:
    counts = Counter(item.get("id") for item in items if isinstance(item.get("id"), str))
    first_seen: dict[str, int] = {}
    problems = []
    for index, item in enumerate(items):
        item_id = item.get("id")
        if not isinstance(item_id, str) or counts[item_id] < 2:
            continue
        if item_id in first_seen:
            problems.append(
                ReferenceProblem(
                    (section, index, "id"),
                    f"duplicate {kind} id '{item_id}'",
                    first=(section, first_seen[item_id], "id"),
                )
            )
        else:
            first_seen[item_id] = index
    return problems


def _unknown_signal(ref: str, known: list[str]) -> str:
    return f"unknown signal '{ref}'{did_you_mean(ref, known)}"


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """ " (did you mean 'x'?)" for the closest candidate, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
