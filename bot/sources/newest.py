"""The entry cap's first step: count a feed's items in the raw body, keep only the newest.

A feed of 100,000 items would hold a poll for a minute and hundreds of MB in a parser, so
`newest_items` cuts the body down before any parser sees it: items are found by their start
tags (cheap, any namespace prefix, any case), and the newest `limit` kept — the first ones in
feed order, or the last ones when the last item is dated after the first (feeds listed oldest
first). Pure, no I/O.
"""

from __future__ import annotations

import email.utils
import re
from collections import deque
from datetime import UTC, datetime

__all__ = ["newest_items", "parse_iso_utc"]

# An item or entry start tag, any namespace prefix (<item>, <rss:item>, <entry>, <atom:entry>);
# any case, because feedparser's fallback parser for broken XML lower-cases tag names.
_ITEM_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)(?=[\s/>])", re.IGNORECASE)
_ITEM_END = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\s*>", re.IGNORECASE)
_ITEM_DATE = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(?:pubDate|published|updated|date|issued|modified)[^>]*>"
    rb"\s*([^<]{1,80}?)\s*</"
)


def newest_items(body: bytes, limit: int) -> tuple[bytes, int]:
    """Return `body` with only its newest `limit` items, and how many items were cut."""
    # Only the first limit+1 and the last `limit` start positions are kept: a 10 MB body of
    # "<item/>" has over a million of them.
    count = 0
    first: list[int] = []
    last: deque[int] = deque(maxlen=limit)
    for match in _ITEM_START.finditer(body):
        count += 1
        if len(first) <= limit:
            first.append(match.start())
        last.append(match.start())
    if count <= limit:
        return body, 0
    closing = _ITEM_END.search(body, last[-1])
    end = closing.end() if closing is not None else len(body)
    # Item i runs from its start tag to the next item's (the last one to its end tag).
    newest_last = _dated_after(body[last[-1] : end], body[first[0] : first[1]])
    bounds = [*last, end] if newest_last else first
    kept = b"".join(body[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1))
    return body[: first[0]] + kept + body[end:], count - limit


def _dated_after(item: bytes, other: bytes) -> bool:
    """Whether the raw item `item` carries a date later than `other`'s (False if unknown)."""
    mine, theirs = _raw_item_date(item), _raw_item_date(other)
    return mine is not None and theirs is not None and mine > theirs


def _raw_item_date(item: bytes) -> datetime | None:
    match = _ITEM_DATE.search(item)
    if match is None:
        return None
    return _any_date(match.group(1).decode("utf-8", "replace"))


def _any_date(text: object) -> datetime | None:
    """Read an RFC 822 or ISO 8601 date as aware UTC; None if it is neither."""
    if not isinstance(text, str):
        return None
    iso = parse_iso_utc(text)
    if iso is not None:
        return iso
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def parse_iso_utc(value: object) -> datetime | None:
    """Read an ISO 8601 / RFC 3339 timestamp as UTC; None if absent or bad."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    # RFC 3339 requires an offset; a feed that leaves it out most likely means UTC.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
