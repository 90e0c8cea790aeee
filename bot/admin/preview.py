"""/watch preview: run a draft query over recent items and describe what it would match; and
/watch edit's preview of a changed query: over the last N days, which items would newly alert
and which would stop, before the admin saves it."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.admin.text import code_span, fit_lines
from bot.matching import Matcher, parse_query
from bot.matching.query import Concepts
from bot.render import digest_safe, truncate
from bot.store import ArticleRecord, SeenText

__all__ = [
    "EDIT_PREVIEW_DAYS",
    "EDIT_PREVIEW_LIMIT",
    "PREVIEW_ARTICLE_LIMIT",
    "PREVIEW_SEEN_LIMIT",
    "EditPreview",
    "PreviewItem",
    "PreviewResult",
    "format_edit_preview",
    "format_preview",
    "preview_edit",
    "preview_items",
    "preview_query",
    "recent_items",
]

PREVIEW_SEEN_LIMIT = 500  # recent seen entries a preview scans
PREVIEW_ARTICLE_LIMIT = 200  # recent matched articles a preview adds
PREVIEW_SAMPLES = 5
EDIT_PREVIEW_DAYS = 7  # /watch edit previews a new query over this many days by default
EDIT_PREVIEW_LIMIT = 5000  # the most recent seen entries (and matched articles) it reads
EDIT_PREVIEW_SHOWN = 5  # items listed under "would newly alert" and under "would stop"


@dataclass(frozen=True, slots=True)
class PreviewItem:
    """A recent item a preview matches against."""

    source_id: str
    key: str
    title: str
    summary: str
    link: str | None


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """How many items a query matched out of how many, with a few (title, terms) samples."""

    scanned: int
    matched: int
    samples: tuple[tuple[PreviewItem, tuple[str, ...]], ...]


def preview_items(seen: Sequence[SeenText], articles: Sequence[ArticleRecord]) -> list[PreviewItem]:
    """Recent seen entries, then matched articles not among them (by source and key)."""
    items: dict[tuple[str, str], PreviewItem] = {}
    for s in seen:
        items.setdefault(
            (s.source_id, s.key), PreviewItem(s.source_id, s.key, s.title, s.summary, s.link)
        )
    for a in articles:
        items.setdefault(
            (a.source_id, a.key), PreviewItem(a.source_id, a.key, a.title, a.summary, a.link)
        )
    return list(items.values())


def preview_query(
    query: str,
    items: Sequence[PreviewItem],
    samples: int = PREVIEW_SAMPLES,
    concepts: Concepts | None = None,
) -> PreviewResult:
    """Run a draft query (which may name the watchlist's `concepts`) over `items`; raises
    QueryError when it does not parse."""
    matcher = Matcher.compile([("preview", parse_query(query, concepts))])
    matched = 0
    found: list[tuple[PreviewItem, tuple[str, ...]]] = []
    for item in items:
        hits = matcher.match(item.title, item.summary)
        if hits:
            matched += 1
            if len(found) < samples:
                found.append((item, tuple(hits[0].terms)))
    return PreviewResult(len(items), matched, tuple(found))


def _plain_link(link: str | None) -> bool:
    """Whether a feed's link can sit in markdown link syntax without breaking out of it."""
    return bool(link) and re.fullmatch(r"https?://[^\s<>()\[\]]+", link or "") is not None


def format_preview(query: str, result: PreviewResult) -> str:
    """The preview's answer: the count and up to five samples, feed text made safe."""
    head = (
        f"{code_span(query, 200)} would have matched **{result.matched}** of {result.scanned} "
        "recent items."
    )
    if not result.scanned:
        head = "No recent items stored yet: nothing to preview against."
    lines = []
    for item, terms in result.samples:
        title = truncate(digest_safe(item.title or item.summary or "(untitled)"), 150)
        shown = f"[{title}](<{item.link}>)" if _plain_link(item.link) else title
        lines.append(f"• {shown} — {', '.join(code_span(t, 30) for t in terms)} ({item.source_id})")
    return fit_lines(head, lines)


def recent_items(
    seen: Sequence[SeenText], articles: Sequence[ArticleRecord], since: datetime
) -> list[PreviewItem]:
    """`preview_items` of the entries first seen, and the articles matched, at or after `since`."""
    return preview_items(
        [s for s in seen if s.first_seen_at >= since],
        [a for a in articles if a.matched_at >= since],
    )


@dataclass(frozen=True, slots=True)
class EditPreview:
    """What a changed query would have done over the stored items of the last `days` days.

    `newly`: items the draft matches and the current query does not (they would have alerted);
    `stopped`: items the current query matches and the draft does not; `kept`: matched by both.
    A query that is None alerts nothing (a disabled signal). `capped`: the store gave as many
    items as asked for, so older ones in the window were not read.
    """

    days: int
    scanned: int
    newly: tuple[PreviewItem, ...]
    stopped: tuple[PreviewItem, ...]
    kept: int
    capped: bool = False


def preview_edit(
    current: str | None,
    draft: str | None,
    items: Sequence[PreviewItem],
    days: int,
    *,
    out_of_scope: Collection[str] = (),
    capped: bool = False,
    concepts: Concepts | None = None,
) -> EditPreview:
    """Run the current and the draft query over `items` and compare; QueryError if one does
    not parse (with the watchlist's `concepts`, which either may name). Items of sources in
    `out_of_scope` (whose `signals` leave the signal out) could not alert under either query
    and are not counted."""
    # Both queries in one matcher: each item is normalised and scanned once, not twice.
    pairs = (("current", current), ("draft", draft))
    queries = [(name, parse_query(q, concepts)) for name, q in pairs if q]
    matcher = Matcher.compile(queries)
    newly: list[PreviewItem] = []
    stopped: list[PreviewItem] = []
    kept = scanned = 0
    for item in items:
        if item.source_id in out_of_scope:
            continue
        scanned += 1
        hits = matcher.match_ids(item.title, item.summary) if queries else []
        before, after = "current" in hits, "draft" in hits
        if after and not before:
            newly.append(item)
        elif before and not after:
            stopped.append(item)
        elif before:
            kept += 1
    return EditPreview(days, scanned, tuple(newly), tuple(stopped), kept, capped)


def _item_line(item: PreviewItem) -> str:
    title = truncate(digest_safe(item.title or item.summary or "(untitled)"), 120)
    shown = f"[{title}](<{item.link}>)" if _plain_link(item.link) else title
    return f"• {shown} ({item.source_id})"


def format_edit_preview(signal_id: str, draft: str, preview: EditPreview) -> str:
    """The preview /watch edit shows before saving a new query: counts, then a few items of
    each side; feed text made safe."""
    window = f"the last {preview.days} day{'s' if preview.days != 1 else ''}"
    head = (
        f"Preview of `{signal_id}` with {code_span(draft, 300)} over {window}"
        f" ({preview.scanned} stored items"
        + (f", the newest {EDIT_PREVIEW_LIMIT} only" if preview.capped else "")
        + f"): **{len(preview.newly)}** would newly alert, **{len(preview.stopped)}** would stop,"
        f" {preview.kept} unchanged."
    )
    if not preview.scanned:
        head = f"No stored items in {window} to preview `{signal_id}`'s new query against."
    lines: list[str] = []
    for label, items in (("Would newly alert:", preview.newly), ("Would stop:", preview.stopped)):
        if items:
            lines.append(label)
            lines += [_item_line(item) for item in items[:EDIT_PREVIEW_SHOWN]]
            if len(items) > EDIT_PREVIEW_SHOWN:
                lines.append(f"  … and {len(items) - EDIT_PREVIEW_SHOWN} more")
    lines.append("Save the new query, or cancel?")
    return fit_lines(head, lines, limit=1900)
