"""How far each API search reaches: items it would return against items the signal matches.

    load_items(paths)                      JSON lines (labelled items, story pairs) and feeds
                                           → [ReachItem], repeats dropped
    measure(signals, items)                per API x signal, PURE:
        our matcher on the signal's `query`            → matched
        the API's translation of its `search`/`query`  → returned (reference.matches)
        → [ReachRow(api, signal, matched, returned, missed, ratio)]
    format_table(rows)                     → the text `signalwatch search-reach` prints

A search that returns no more than a few times what the signal matches spends little of the
API's quota and pages on items we throw away; one that misses a match hides an alert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import QueryError, SourceError
from bot.matching.matcher import Matcher
from bot.sources.search.adapters import ADAPTERS
from bot.sources.search.config import API_TYPES
from bot.sources.search.reference import READERS

__all__ = ["ReachItem", "ReachRow", "SignalQueries", "format_table", "load_items", "measure"]

# The aim: a search returns at most this many times what the signal matches.
AIM_RATIO = 5.0


@dataclass(frozen=True, slots=True)
class ReachItem:
    """A news item's text, and where it came from (file:line or file#entry)."""

    title: str
    summary: str
    origin: str


@dataclass(frozen=True, slots=True)
class SignalQueries:
    """A signal's own query (what alerts) and what the APIs are searched with."""

    signal_id: str
    query: str
    search: str


@dataclass(frozen=True, slots=True)
class ReachRow:
    """One API and signal: how many items each side finds, and which matches the API misses."""

    api: str
    signal_id: str
    matched: int
    returned: int | None  # None: the API cannot search for the signal (`reason`)
    missed: tuple[str, ...] = ()
    reason: str = ""

    @property
    def ratio(self) -> float | None:
        """Items returned per item matched (None where nothing matched or nothing is sent)."""
        if self.returned is None or self.matched == 0:
            return None
        return self.returned / self.matched


def measure(
    signals: Sequence[SignalQueries], items: Sequence[ReachItem], apis: Iterable[str] = API_TYPES
) -> list[ReachRow]:
    """Per API and signal: items the signal matches, items the translated search returns."""
    rows: list[ReachRow] = []
    matched_by: dict[str, list[ReachItem]] = {}
    for signal in signals:
        matcher = Matcher.compile([(signal.signal_id, signal.query)])
        matched_by[signal.signal_id] = [i for i in items if matcher.match_ids(i.title, i.summary)]
    for api in apis:
        reader = READERS[api]
        adapter = ADAPTERS[api]
        fields = [reader.fields(i.title, i.summary) for i in items]
        for signal in signals:
            matched = matched_by[signal.signal_id]
            try:
                text = adapter.translate(signal.search).text
            except (SourceError, QueryError) as exc:
                rows.append(ReachRow(api, signal.signal_id, len(matched), None, reason=str(exc)))
                continue
            test = reader.compile(text)
            returned = {id(i) for i, f in zip(items, fields, strict=True) if test(f)}
            missed = tuple(i.origin for i in matched if id(i) not in returned)
            rows.append(ReachRow(api, signal.signal_id, len(matched), len(returned), missed))
    return rows


def format_table(rows: Sequence[ReachRow], items: int) -> str:
    """The table: API, signal, matched, returned, ratio, misses; then the aims kept or not."""
    lines = [
        f"{items} items; aim: a search returns at most {AIM_RATIO:g}x what its signal matches"
        " and misses none",
        f"{'api':<12} {'signal':<24} {'matched':>7} {'returned':>8} {'ratio':>7} {'missed':>6}",
    ]
    for row in rows:
        returned = "-" if row.returned is None else str(row.returned)
        ratio = "-" if row.ratio is None else f"{row.ratio:.1f}x"
        lines.append(
            f"{row.api:<12} {row.signal_id:<24} {row.matched:>7} {returned:>8} {ratio:>7}"
            f" {len(row.missed):>6}"
        )
    over = [r for r in rows if r.ratio is not None and r.ratio > AIM_RATIO]
    missed = [r for r in rows if r.missed]
    refused = [r for r in rows if r.returned is None]
    lines.append(
        f"over {AIM_RATIO:g}x: {len(over)} of {len(rows)}; with misses: {len(missed)};"
        f" not searchable: {len(refused)}"
    )
    for row in missed:
        lines.append(f"  {row.api} {row.signal_id} misses: {', '.join(row.missed)}")
    for row in refused:
        lines.append(f"  {row.api} {row.signal_id}: {row.reason}")
    return "\n".join(lines)


def load_items(paths: Iterable[Path]) -> list[ReachItem]:
    """Items from JSON lines (an item, or a pair under "a" and "b") and from feed files.

    A file that is neither is skipped; an item repeated (same title and summary) counts once.
    """
    items: dict[tuple[str, str], ReachItem] = {}
    for path in paths:
        for item in _items_of(path):
            items.setdefault((item.title, item.summary), item)
    return list(items.values())


def _items_of(path: Path) -> list[ReachItem]:
    body = path.read_bytes()
    if path.suffix == ".jsonl":
        out: list[ReachItem] = []
        for number, line in enumerate(body.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            record = json.loads(line)
            parts = [record[k] for k in ("a", "b") if isinstance(record.get(k), dict)] or [record]
            for part in parts:
                title = str(part.get("title") or "")
                summary = str(part.get("summary") or "")
                if title or summary:
                    out.append(ReachItem(title, summary, f"{path.name}:{number}"))
        return out
    from bot.errors import ParseError
    from bot.sources.feeds import parse_feed

    try:
        feed = parse_feed(path.name, body, url=f"file://{path.name}")
    except ParseError:
        return []
    return [
        ReachItem(e.title, e.summary, f"{path.name}#{n}")
        for n, e in enumerate(feed.entries, 1)
        if e.title or e.summary
    ]
