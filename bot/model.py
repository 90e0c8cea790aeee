"""The value types that flow through the pipeline: Entry → Match → Alert.

All are frozen: each stage makes new values rather than editing old ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """One news item as a source gave it, already cleaned to plain text.

    `key` is the item's identity within its source (GUID, else canonical link, else content
    hash); `published` is timezone-aware UTC or None when the feed gave no date.
    """

    source_id: str
    key: str
    title: str
    summary: str = ""
    link: str | None = None
    published: datetime | None = None
    author: str | None = None
    publisher: str | None = None  # the outlet, where an aggregator names it (Google News <source>)


@dataclass(frozen=True, slots=True)
class Hit:
    """One matched term occurrence: the words as they appear in the text and where."""

    field: str  # "title" or "summary"
    text: str  # the matched words as written in the item
    start: int  # character offsets into that field's text
    end: int


@dataclass(frozen=True, slots=True)
class Match:
    """A signal that matched an item, and why."""

    signal_id: str
    hits: tuple[Hit, ...]
    snippet: str  # ≤ 200 characters, matched terms in **bold**, feed markdown escaped

    @property
    def terms(self) -> list[str]:
        """The distinct matched words in order of first appearance (title first)."""
        seen: dict[str, None] = {}
        for hit in self.hits:
            seen.setdefault(hit.text, None)
        return list(seen)


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert to deliver: one matched entry for one signal to one destination."""

    alert_id: str  # stable idempotency key: same entry + signal + destination → same id
    signal_id: str
    destination: str  # "console", "channel:<id>", "webhook:<name>", "dm:<user id>"
    title: str
    link: str | None
    source_id: str
    published: datetime | None
    terms: tuple[str, ...]
    snippet: str
    severity: str = "medium"
    publisher: str | None = None
    extra: dict[str, object] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class StoryUpdate:
    """More outlets reported a story whose alert was already delivered: tell its readers.

    `original` is the delivered alert, its `extra["also"]` listing every other outlet's copy
    so far. `edit` is the receipt of the message to edit (the original's within the edit
    window, else an earlier follow-up's); None means post one short follow-up, replying to
    `reply_to` (the original's receipt) where the sink can.
    """

    original: Alert
    edit: str | None
    reply_to: str | None

    @property
    def also(self) -> list[dict[str, object]]:
        """The other outlets' copies: dicts with outlet, title and link."""
        also = self.original.extra.get("also")
        return list(also) if isinstance(also, list) else []
