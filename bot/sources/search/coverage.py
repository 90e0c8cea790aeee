"""Which signals a news API can be searched for: the translation tried up front, no I/O.

A signal whose query (or `search` query) leaves nothing an API can say is not sent to that
API at all: its poll would fail the same way every time. The Poller skips it (saying so once),
and `signalwatch check` lists it, so the admin can give the signal a `search:` query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.errors import QueryError, SourceError
from bot.sources.search.adapters import ADAPTERS

__all__ = ["Coverage", "search_coverage"]


@dataclass(frozen=True, slots=True)
class Coverage:
    """The (signal id, query) pairs an API can search, and why it cannot search the others."""

    searchable: list[tuple[str, str]]
    unsearchable: dict[str, str]  # signal id -> the reason, one line


def search_coverage(api: str, queries: Sequence[tuple[str, str]]) -> Coverage:
    """Split `queries` by whether `api` can be asked for them."""
    adapter = ADAPTERS[api]
    searchable: list[tuple[str, str]] = []
    unsearchable: dict[str, str] = {}
    for signal_id, text in queries:
        try:
            adapter.translate(text)
        except (SourceError, QueryError) as exc:
            unsearchable[signal_id] = str(exc)
        else:
            searchable.append((signal_id, text))
    return Coverage(searchable, unsearchable)
