"""The alerts a poll builds: pure constructors, stable ids."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from bot.model import (
    Alert,
    Entry,
    FloodSummary,
    FoldedItem,
    FollowUpAlert,
    Match,
    StoryUpdate,
    StoryUpdateAlert,
)

if TYPE_CHECKING:
    from bot.pipeline.compiled import Route

__all__ = ["UPDATE_PREFIX", "alert_id", "followup_alert"]

UPDATE_PREFIX = "upd-"


def alert_id(entry: Entry, signal_id: str, destination: str) -> str:
    """A stable id: the same entry, signal and destination always give the same alert."""
    raw = "\x1f".join((entry.source_id, entry.key, signal_id, destination))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def entry_alert_for_route(entry: Entry, match: Match, route: Route, severity: str) -> Alert:
    return entry_alert(
        entry, match, route.destination, severity, alert_id(entry, match.signal_id, route.label)
    )


def update_alert(
    entry: Entry,
    match: Match,
    destination: str,
    severity: str,
    original: str,
    outlets: int,
    merged_on: tuple[str, ...] = (),
) -> StoryUpdateAlert:
    """An update to the alert `original`: its story now has `outlets` outlets; `merged_on`
    is what the entry shared with the story (`MergeReason.shared`).

    The id is stable, so a replayed poll enqueues nothing new. What the update shows is read
    from the store when it is delivered, so several updates queued for one story all show its
    latest state.
    """
    base = entry_alert(entry, match, destination, severity, f"{UPDATE_PREFIX}{original}-{outlets}")
    return StoryUpdateAlert(
        **_fields(base), update_of=original, merged_on=merged_on, outlets=outlets
    )


def entry_alert(
    entry: Entry, match: Match, destination: str, severity: str, alert_id: str
) -> Alert:
    """The alert that tells `destination` of `entry` matching `match`."""
    return Alert(
        alert_id=alert_id,
        signal_id=match.signal_id,
        destination=destination,
        title=entry.title,
        link=entry.link,
        source_id=entry.source_id,
        published=entry.published,
        terms=tuple(match.terms),
        snippet=match.snippet,
        severity=severity,
        publisher=entry.publisher,
    )


def summary_alert(
    signal_id: str, destination: str, folded: Sequence[Alert], severity: str, limit: int
) -> FloodSummary:
    """One alert standing for `folded` alerts past the flood limit."""
    digest = hashlib.sha256("\x1f".join(a.alert_id for a in folded).encode()).hexdigest()[:32]
    return FloodSummary(
        alert_id=f"flood-{digest}",
        signal_id=signal_id,
        destination=destination,
        title=f"{len(folded)} more hits for {signal_id} (over {limit} in an hour)",
        link=None,
        source_id=folded[0].source_id,
        published=None,
        terms=tuple(dict.fromkeys(t for a in folded for t in a.terms)),
        snippet="",
        severity=severity,
        items=tuple(FoldedItem(a.title, a.link, a.source_id) for a in folded[:25]),
    )


def followup_alert(update: StoryUpdate, alert_id: str) -> FollowUpAlert:
    """A story update as an ordinary alert, for sinks that cannot edit what they sent."""
    original = update.original
    names = [copy.outlet for copy in update.also]
    count = f"+{len(names)} source" + ("" if len(names) == 1 else "s")
    return FollowUpAlert(
        **{
            **_fields(original),
            "alert_id": alert_id,
            "title": f"{count}: {original.title}",
            "snippet": _also_snippet(names, update.merged_on),
            "terms": (),
        }
    )


def _also_snippet(names: Sequence[str], merged_on: Sequence[str]) -> str:
    """ "Also reported by A, B (merged on: nato, hague)"; "" without outlets."""
    if not names:
        return ""
    why = f" (merged on: {', '.join(merged_on)})" if merged_on else ""
    return "Also reported by " + ", ".join(names) + why


def _fields(alert: Alert) -> dict[str, Any]:
    """The fields every alert has, to build an alert of another kind from it."""
    return {f.name: getattr(alert, f.name) for f in fields(Alert)}
