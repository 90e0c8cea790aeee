"""/watch preview: run a draft query over recent items and describe what it would match."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.admin.text import code_span, fit_lines
from bot.matching import Matcher, parse_query
from bot.matching.query import Concepts
from bot.render import digest_safe, truncate
from bot.store import ArticleRecord, SeenText

__all__ = [
    "PREVIEW_ARTICLE_LIMIT",
    "PREVIEW_SEEN_LIMIT",
    "PreviewItem",
    "PreviewResult",
    "format_preview",
    "preview_items",
    "preview_query",
]

PREVIEW_SEEN_LIMIT = 500  # recent seen entries a preview scans
PREVIEW_ARTICLE_LIMIT = 200  # recent matched articles a preview adds
PREVIEW_SAMPLES = 5


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
