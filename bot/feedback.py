"""Subscribers' feedback on alerts, decided: the share judged wrong, and labelled items.

    store.feedback_tallies(signal, since) → [(👍, 👎)]    per item, counted by the store
    | share_of_tallies(tallies)           → FeedbackShare  /signal's "judged wrong: 1 of 3 (33%)"
    store.feedback_since(since, signal)  → [Judgement]   one per user and alert (bot/store)
    | labelled_items(judgements)         → FeedbackExport `signalwatch feedback export`, JSON lines
                                                          in the labelled-set schema that
                                                          `signalwatch eval` reads

An item is judged per signal by the majority of its verdicts, over every alert of it (one
alert per destination: the same article posted in two channels is one item). A tie decides
nothing: the share counts the item as judged but not wrong; the export leaves it out and
counts it. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.records import JudgedItem, Judgement

__all__ = [
    "FEEDBACK_WINDOW_DAYS",
    "NO_FEEDBACK",
    "PROVENANCE",
    "FeedbackExport",
    "FeedbackShare",
    "ItemVerdict",
    "feedback_field",
    "feedback_share",
    "item_verdicts",
    "labelled_items",
    "share_line",
    "share_of_tallies",
]

FEEDBACK_WINDOW_DAYS = 30  # the window /signal's "judged wrong" share covers
PROVENANCE = "feedback"  # the labelled-set `provenance` of items made from feedback


@dataclass(frozen=True, slots=True)
class ItemVerdict:
    """One item's verdicts on one signal: how many said right and wrong."""

    signal_id: str
    item: JudgedItem
    up: int
    down: int

    @property
    def outcome(self) -> int:
        """1: judged right, -1: judged wrong, 0: a tie (decides nothing)."""
        return (self.up > self.down) - (self.down > self.up)


def _item_key(item: JudgedItem) -> tuple[str, str]:
    return (item.source_id, item.key)


def item_verdicts(judgements: Iterable[Judgement]) -> list[ItemVerdict]:
    """The verdicts summed per (signal, item), in the order each was first judged."""
    counts: dict[tuple[str, str, str], list[int]] = {}
    items: dict[tuple[str, str, str], JudgedItem] = {}
    for j in judgements:
        key = (j.signal_id, *_item_key(j.item))
        tally = counts.setdefault(key, [0, 0])
        tally[0 if j.verdict > 0 else 1] += 1
        items.setdefault(key, j.item)
    return [ItemVerdict(key[0], items[key], up, down) for key, (up, down) in counts.items()]


@dataclass(frozen=True, slots=True)
class FeedbackShare:
    """How many items of a signal were judged, and how many of them judged wrong."""

    judged: int
    wrong: int

    @property
    def percent(self) -> int:
        """The wrong share, rounded to a whole percent (0 when nothing was judged)."""
        return round(100 * self.wrong / self.judged) if self.judged else 0


NO_FEEDBACK = FeedbackShare(0, 0)


def share_of_tallies(tallies: Iterable[tuple[int, int]]) -> FeedbackShare:
    """From (right, wrong) verdict counts per item (`Store.feedback_tallies`): the items
    judged, and those whose majority said wrong (a tie is not)."""
    counted = [(up, down) for up, down in tallies if up or down]
    return FeedbackShare(len(counted), sum(1 for up, down in counted if down > up))


def feedback_share(judgements: Iterable[Judgement]) -> FeedbackShare:
    """`share_of_tallies` of these judgements, summed per item."""
    return share_of_tallies((v.up, v.down) for v in item_verdicts(judgements))


def share_line(share: FeedbackShare, days: int = FEEDBACK_WINDOW_DAYS) -> str:
    """`judged wrong: 1 of 3 (33%) in the last 30 days`, or that nobody judged any."""
    if not share.judged:
        return f"no alert judged in the last {days} days"
    return (
        f"judged wrong: {share.wrong} of {share.judged} ({share.percent}%) in the last {days} days"
    )


@dataclass(frozen=True, slots=True)
class FeedbackExport:
    """Labelled items made from feedback, and the (item, signal) ties left out."""

    items: list[dict[str, Any]]
    ties: int


def labelled_items(judgements: Sequence[Judgement]) -> FeedbackExport:
    """One labelled-set item per judged item: 👍 majority on S → S in `labels`, 👎 majority →
    S in `hard_negative_for`, and every decided S in `judged`; ties left out (an item with
    nothing decided is left out too)."""
    by_item: dict[tuple[str, str], list[ItemVerdict]] = {}
    for verdict in item_verdicts(judgements):
        by_item.setdefault(_item_key(verdict.item), []).append(verdict)
    items: list[dict[str, Any]] = []
    ties = 0
    for (source_id, key), verdicts in by_item.items():
        decided = [v for v in verdicts if v.outcome != 0]
        ties += len(verdicts) - len(decided)
        if not decided:
            continue
        item = decided[0].item
        items.append(
            {
                "id": "feedback-"
                + hashlib.sha256(f"{source_id}\x1f{key}".encode()).hexdigest()[:16],
                "title": item.title,
                "summary": item.summary,
                "source": _source_name(item),
                "url": item.link,
                "published": item.published.date().isoformat() if item.published else None,
                "labels": [v.signal_id for v in decided if v.outcome > 0],
                "hard_negative_for": [v.signal_id for v in decided if v.outcome < 0],
                # Only these signals were judged: `eval` scores no other signal on the item
                # (another signal matching it is not a false positive nobody reported).
                "judged": [v.signal_id for v in decided],
                "provenance": PROVENANCE,
                "note": "; ".join(f"{v.signal_id}: 👍 {v.up}, 👎 {v.down}" for v in decided),
            }
        )
    return FeedbackExport(items, ties)


def _source_name(item: JudgedItem) -> str:
    """The outlet, "X (via source)" when an aggregator named it, as the labelled set writes."""
    if item.publisher and item.publisher != item.source_id:
        return f"{item.publisher} (via {item.source_id})"
    return item.source_id


def feedback_field(share: FeedbackShare, days: int = FEEDBACK_WINDOW_DAYS) -> dict[str, Any]:
    """/signal's embed field for the share judged wrong."""
    return {"name": "Feedback", "value": share_line(share, days)}
