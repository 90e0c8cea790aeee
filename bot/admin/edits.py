"""Checking an admin's input before anything is written: ids, queries, intervals, new items.

Each function returns what the editor needs, or raises Refused with the reason to show as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from bot.admin.text import fit_lines
from bot.errors import QueryError
from bot.matching import parse_query
from bot.matching.query import Concepts
from bot.render import truncate
from bot.watchlist import SignalSpec, SourceSpec, format_duration, parse_duration
from bot.watchlist.fields import MIN_INTERVAL, SLUG_MAX

__all__ = [
    "CLEAR",
    "Refused",
    "build_signal_spec",
    "build_source_spec",
    "derive_source_id",
    "format_problems",
    "parse_interval",
    "query_problem",
    "signal_changes",
]

CLEAR = "-"  # `/watch edit description:-` removes the description


class Refused(Exception):
    """An admin's input we will not act on; the message is shown to them as written."""


def query_problem(query: str, error: QueryError) -> str:
    """The QueryError with the query and a caret under its column (a window of a long query)."""
    lines = [f"Bad query: {error}."]
    if error.column is not None:
        flat = query.replace("\n", " ").replace("`", "ˋ")
        start = max(0, min(error.column - 1 - 30, len(flat) - 60))
        window = flat[start : start + 60]
        caret = " " * max(0, error.column - 1 - start) + "^"
        lines += ["```", window, caret, "```"]
    return "\n".join(lines)


def _pydantic_problems(error: ValidationError) -> list[str]:
    """`field: message` lines of a model's validation error."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        lines.append(f"{where}: {problem['msg']}" if where else str(problem["msg"]))
    return lines


def _checked_query(query: str, concepts: Concepts | None) -> str:
    """The query, stripped, if it parses with the watchlist's `concepts`; Refused with the
    column where it does not (an unknown `@concept` included)."""
    text = query.strip()
    try:
        parse_query(text, concepts)
    except QueryError as error:
        raise Refused(query_problem(text, error)) from None
    return text


def build_signal_spec(
    signal_id: str,
    title: str,
    query: str,
    severity: str | None = None,
    description: str | None = None,
    concepts: Concepts | None = None,
) -> SignalSpec:
    """A new signal from /watch add's options; only given optional fields are set.

    `concepts` are the watchlist's, which the query may name (`@pact`).
    """
    values: dict[str, Any] = {
        "id": signal_id.strip(),
        "title": title,
        "query": _checked_query(query, concepts),
    }
    if severity is not None:
        values["severity"] = severity
    if description is not None and description.strip() not in ("", CLEAR):
        values["description"] = description.strip()
    try:
        return SignalSpec(**values)
    except ValidationError as error:
        raise Refused("Not added: " + "; ".join(_pydantic_problems(error))) from None


def signal_changes(
    title: str | None = None,
    query: str | None = None,
    severity: str | None = None,
    description: str | None = None,
    enabled: bool | None = None,
    concepts: Concepts | None = None,
) -> dict[str, Any]:
    """The fields /watch edit was given; description "-" removes it (None tells the editor so).

    A new query is checked with the watchlist's `concepts`.
    """
    changes: dict[str, Any] = {}
    if title is not None:
        if not title.strip():
            raise Refused("The title must not be empty.")
        changes["title"] = title.strip()
    if query is not None:
        changes["query"] = _checked_query(query, concepts)
    if severity is not None:
        changes["severity"] = severity
    if description is not None:
        text = description.strip()
        changes["description"] = None if text in ("", CLEAR) else text
    if enabled is not None:
        changes["enabled"] = enabled
    if not changes:
        raise Refused("Nothing to change: give a title, query, severity, description or enabled.")
    return changes


def parse_interval(text: str) -> timedelta:
    """A polling interval like "15m", "1h30m" or "900" (seconds); at least a minute."""
    try:
        interval = parse_duration(text.strip())
    except PydanticCustomError as error:
        raise Refused(f"Interval: {error.message()}.") from None
    if interval < MIN_INTERVAL:
        raise Refused(
            f"Interval {format_duration(interval)} is too short: poll at most once a minute."
        )
    return interval


_HOST_PREFIXES = ("www.", "feeds.", "feed.", "rss.")


def derive_source_id(url: str, taken: Iterable[str]) -> str:
    """A source id from the URL's host ("feeds.bbci.co.uk" → "bbci-co-uk"), unique in `taken`."""
    host = (urlsplit(url.strip()).hostname or "").lower()
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host.removeprefix(prefix)
            break
    base = re.sub(r"[^a-z0-9]+", "-", host).strip("-")[: SLUG_MAX - 3].strip("-") or "source"
    used = set(taken)
    candidate, number = base, 2
    while candidate in used:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def build_source_spec(
    url: str,
    source_id: str | None,
    interval: str | None,
    existing: Sequence[SourceSpec],
) -> SourceSpec:
    """A new source from /source add's options, its id derived from the host if not given."""
    url = url.strip()
    same_url = [s.id for s in existing if s.url == url]
    if same_url:
        raise Refused(f"Already watched as source `{same_url[0]}`.")
    taken = [s.id for s in existing]
    if source_id is not None and source_id.strip() in taken:
        raise Refused(f"There is already a source `{source_id.strip()}`: choose another id.")
    values: dict[str, Any] = {
        "id": source_id.strip() if source_id is not None else derive_source_id(url, taken),
        "url": url,
    }
    if interval is not None:
        values["interval"] = parse_interval(interval)
    try:
        return SourceSpec(**values)
    except ValidationError as error:
        raise Refused("Not added: " + "; ".join(_pydantic_problems(error))) from None


def format_problems(problems: Sequence[str], path: str, shown_as: str) -> str:
    """A refused edit's WatchlistError lines, naming the file without its directory."""
    lines = [f"• {truncate(p.replace(path, shown_as), 300)}" for p in problems]
    return fit_lines("Nothing changed: the watchlist would not be valid.", lines)
