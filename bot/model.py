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
class OutletCopy:
    """Another outlet's copy of an alert's story: who, what headline, where."""

    outlet: str
    title: str
    link: str | None


@dataclass(frozen=True, slots=True)
class FoldedItem:
    """One hit a flood summary stands for."""

    title: str
    link: str | None
    source: str


@dataclass(frozen=True, slots=True)
class DigestLine:
    """One story in a digest: its headline, link, outlet and how many other outlets had it."""

    title: str
    link: str | None
    source: str
    publisher: str | None
    published: datetime | None
    sources: int = 0  # other outlets that carried the story


@dataclass(frozen=True, slots=True)
class DigestGroup:
    """One signal's part of a digest, newest first."""

    signal_id: str
    signal_title: str
    severity: str
    items: tuple[DigestLine, ...]


@dataclass(frozen=True, slots=True)
class Digest:
    """What a digest covers: the period (period_start, period_end] and its groups."""

    schedule: str  # the schedule's key, "daily@08:00"
    label: str  # "Daily digest at 08:00 UTC"
    period_start: datetime
    period_end: datetime
    groups: tuple[DigestGroup, ...]


@dataclass(frozen=True, slots=True)
class Alert:
    """A new story for a signal, to one destination: the message most alerts are.

    Every message the outbox carries is an `Alert` or one of its subclasses, one type per
    kind: `StoryUpdateAlert`, `FollowUpAlert`, `FloodSummary`, `DigestAlert`. Renderers and
    sinks dispatch on the type; nothing reads the kind from an id or a signal id.
    """

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
    # The story's other outlets, filled in when it is delivered (or digested).
    also: tuple[OutletCopy, ...] = field(default=(), compare=False)


@dataclass(frozen=True, slots=True)
class StoryUpdateAlert(Alert):
    """Queued when a new outlet joins a story already announced: "+N sources" for the alert
    `update_of`. Delivered as an edit of that alert or one follow-up, never a new alert."""

    update_of: str = field(kw_only=True)
    # What the new copy shares with the story, rarest first ("nato", "hague", "5%"), or the
    # rule that joined it ("same link"): so an admin can see a wrong merge. Empty in rows
    # queued before it was recorded.
    merged_on: tuple[str, ...] = field(default=(), kw_only=True)
    # How many outlets the story had with this copy (0 in rows from before it was recorded).
    outlets: int = field(default=0, kw_only=True)


@dataclass(frozen=True, slots=True)
class FollowUpAlert(Alert):
    """A story update as a short message of its own, for sinks that cannot edit ("+N sources:
    headline" and the outlets): sent, never pinging anyone."""


@dataclass(frozen=True, slots=True)
class FloodSummary(Alert):
    """One message standing for a signal's hits past the flood limit."""

    items: tuple[FoldedItem, ...] = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class DigestAlert(Alert):
    """A route's hits of one period, as one message; it pings no one."""

    digest: Digest = field(kw_only=True)


ALERT_KINDS: dict[str, type[Alert]] = {
    "story": Alert,
    "update": StoryUpdateAlert,
    "followup": FollowUpAlert,
    "flood": FloodSummary,
    "digest": DigestAlert,
}


def alert_kind(alert: Alert) -> str:
    """The outbox's name for the alert's type (stored beside it, for queries and old rows)."""
    for name, cls in ALERT_KINDS.items():
        if type(alert) is cls:
            return name
    raise TypeError(f"not an alert type the outbox knows: {type(alert).__name__}")


@dataclass(frozen=True, slots=True)
class StoryUpdate:
    """More outlets reported a story whose alert was already delivered: tell its readers.

    `original` is the delivered alert, its `also` listing every other outlet's copy so far.
    `edit` is the receipt of the message to edit (the original's within the edit window,
    else an earlier follow-up's); None means post one short follow-up, replying to
    `reply_to` (the original's receipt) where the sink can.
    """

    original: Alert
    edit: str | None
    reply_to: str | None
    # What the copy behind this update shared with the story (StoryUpdateAlert.merged_on).
    merged_on: tuple[str, ...] = ()

    @property
    def also(self) -> tuple[OutletCopy, ...]:
        """The other outlets' copies."""
        return self.original.also
