"""Turn a fetched feed body into entries: pure, no I/O.

    body ─┬─ JSON Feed 1.0/1.1 (content type or first byte says JSON) ─ json ───────────┐
          └─ RSS 0.9x/1.0/2.0, RDF, Atom ─┬─ well-formed, usual ─────── fastfeed (expat) ─┤
                                          └─ anything else (Unusual) ─── feedparser ──────┴─►
                                                                                ParsedFeed
The fast path (`fastfeed.py`) reproduces what feedparser keeps of the elements feeds use, and
declines ("Unusual") whatever it does not reproduce; `ParsedFeed.parser` says which path read
a body, and a debug log line says why feedparser did.

Every entry comes out as plain text (HTML stripped), with a canonical http(s) link, a
timezone-aware UTC date or None, and a key from `entry_key`. A body that is not a feed raises
`ParseError` with a one-line reason; a feed with small XML faults that still yields entries is
accepted, as readers do, because outlets ship broken XML for weeks.

Decisions:
- Dates more than a day after `now` (when the caller passes it) become None rather than now:
  a date years ahead is a feed bug, and "unknown" is more honest than a made-up time. The
  function does not read the clock itself, so callers that want the clamp pass `now`.
- Links other than http(s) (javascript:, mailto:, data:) become None: they end up in chat.
- An entry with no title, no summary and no link carries nothing to match or show: dropped.
- Two entries with the same key in one body: the first (newest, in feed order) wins.
- At most `max_entries` (DEFAULT_MAX_ENTRIES) items per body are parsed: a feed of 100,000
  items would hold the poll for a minute and hundreds of MB in feedparser. The items are
  counted cheaply in the raw body first and only the newest `max_entries` are handed over —
  the first ones in feed order, or the last ones when the last item is dated after the first
  (feeds listed oldest first; `newest.py`). `ParsedFeed.dropped` says how many were left out.
- Lone surrogates in any text become U+FFFD (`clean_text`): they would raise later.
- Pure and free of shared mutable state, so it may run in a worker thread (asyncio.to_thread).
- An item naming its outlet (RSS <source>, as Google News does) gets it as `publisher`, and a
  trailing " - <outlet>" is cut from its title; a summary that only repeats the title is dropped.
- GUIDs are kept exactly as written (never resolved against the feed URL); links are resolved
  against `url` (or the feed's xml:base) and canonicalised.
"""

from __future__ import annotations

import calendar
import io
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser

from bot.errors import ParseError
from bot.model import Entry
from bot.sources.entries import (
    canonical_link,
    clean_text,
    entry_key,
    html_to_text,
    normalised_title,
)
from bot.sources.fastfeed import Unusual, parse_fast
from bot.sources.newest import newest_items, parse_iso_utc

__all__ = [
    "DEFAULT_MAX_ENTRIES",
    "FUTURE_TOLERANCE",
    "ParsedFeed",
    "parse_feed",
    "parse_iso_utc",
]

log = logging.getLogger("signalwatch.feeds")

# How far ahead of `now` a date may be before we call it wrong (time zones, clock skew).
FUTURE_TOLERANCE = timedelta(days=1)

# Most items parsed from one body. Real feeds carry 10-200; a news archive a few thousand. A
# thousand keeps a poll's parse well under a second and its memory to a few MB.
DEFAULT_MAX_ENTRIES = 1000

_JSON_FEED_VERSION = "https://jsonfeed.org/version/1"
_BOMS = (b"\xef\xbb\xbf",)
_HTML_START = re.compile(
    rb"""\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*
        <(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])""",
    re.IGNORECASE | re.DOTALL | re.VERBOSE,
)
_FIRST_ELEMENT = re.compile(
    rb"\A\s*(?:<\?[^>]*>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<([A-Za-z_][\w.:-]*)", re.DOTALL
)


# Numeric character references to code points Python's chr() or UTF-8 refuse: surrogates
# (D800-DFFF) and anything past 10FFFF. feedparser's loose parser raises on them.
_BAD_CHARREF = re.compile(
    rb"&#(?:[xX]0*(?:[dD][89a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{6,}"
    rb"|(?:1[1-9a-fA-F]|[2-9a-fA-F][0-9a-fA-F])[0-9a-fA-F]{4})"
    rb"|0*(?:5529[6-9]|55[3-9][0-9]{2}|56[0-9]{3}|57[0-2][0-9]{2}|573[0-3][0-9]|5734[0-3]"
    rb"|[1-9][0-9]{7,}|[2-9][0-9]{6}|1[2-9][0-9]{5}|11[2-9][0-9]{4}|111[5-9][0-9]{3}"
    rb"|1114[2-9][0-9]{2}|11141[2-9][0-9]|111411[2-9]));"
)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A feed's own title and home link, its items as entries (in feed order), and the cap's toll.

    `dropped` counts the items left out because the body held more than `max_entries`.
    """

    title: str
    link: str | None
    entries: list[Entry]
    dropped: int = 0
    # which parser read the body: "fast" (bot/sources/fastfeed.py), "feedparser" or "json"
    parser: str = "feedparser"

    def cap_note(self) -> str | None:
        """Return "feed has N entries; kept the newest M" when items were dropped, else None."""
        if not self.dropped:
            return None
        kept = len(self.entries)
        return f"feed has {kept + self.dropped} entries; kept the newest {kept}"


def parse_feed(
    source_id: str,
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    now: datetime | None = None,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    fast: bool = True,
) -> ParsedFeed:
    """Parse an RSS, RDF, Atom or JSON Feed body from `url`; raise ParseError if not a feed.

    `fast=False` sends every RSS, RDF and Atom body to feedparser (the equivalence test and
    the benchmarks compare the two paths with it).
    """
    if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
        raise ValueError(f"max_entries must be a whole number of 1 or more, got {max_entries!r}")
    head = _strip_bom(body[:4096]).lstrip()
    if not head:
        raise ParseError("not a feed: empty body")
    if _looks_like_json(head, content_type):
        feed = _parse_json_feed(source_id, body, url=url, now=now, max_entries=max_entries)
    else:
        body, dropped = newest_items(body, max_entries)
        feed = _parse_xml_feed(
            source_id, body, head, url=url, content_type=content_type, now=now, fast=fast
        )
        feed = replace(feed, dropped=dropped)
    if len(feed.entries) > max_entries:
        # The cheap count missed items (a spelling its pattern does not know): cap anyway.
        extra = len(feed.entries) - max_entries
        feed = replace(feed, entries=feed.entries[:max_entries], dropped=feed.dropped + extra)
    return feed


def _strip_bom(data: bytes) -> bytes:
    for bom in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :]
    return data


def _looks_like_json(head: bytes, content_type: str | None) -> bool:
    if head.startswith(b"{"):
        return True
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    # A JSON content type on an XML body is a misconfigured server, not a JSON feed.
    return (mime == "application/json" or mime.endswith("+json")) and not head.startswith(b"<")


# --- RSS, RDF, Atom ---------------------------------------------------------------------------


def _parse_xml_feed(
    source_id: str,
    body: bytes,
    head: bytes,
    *,
    url: str,
    content_type: str | None,
    now: datetime | None,
    fast: bool,
) -> ParsedFeed:
    if not fast:
        return _parse_with_feedparser(
            source_id, body, head, url=url, content_type=content_type, now=now
        )
    try:
        read = parse_fast(body, content_type)
    except Unusual as why:
        log.debug("feed %s (%s): feedparser path (%s)", source_id, url, why)
    except Exception as exc:  # a fast-path bug must cost speed, not the poll
        log.warning(
            "feed %s (%s): fast parser failed (%s), feedparser used instead",
            source_id, url, _one_line(repr(exc))[:200],
        )  # fmt: skip
    else:
        log.debug("feed %s (%s): fast path", source_id, url)
        return ParsedFeed(
            title=_text(read.title, {"type": read.title_type} if read.title_type else None),
            link=_http_link(read.link, url),
            entries=_unique(
                entry
                for item in read.items
                if (entry := _entry_from_item(source_id, item, url, now, _fast_date(item)))
                is not None
            ),
            parser="fast",
        )
    return _parse_with_feedparser(
        source_id, body, head, url=url, content_type=content_type, now=now
    )


def _fast_date(item: Mapping[str, Any]) -> datetime | None:
    # As `published_parsed or updated_parsed`: a published date that fails to convert does
    # not fall back to the updated one.
    chosen = item.get("published_parsed") or item.get("updated_parsed")
    return chosen if isinstance(chosen, datetime) else _from_struct(chosen)


def _parse_with_feedparser(
    source_id: str,
    body: bytes,
    head: bytes,
    *,
    url: str,
    content_type: str | None,
    now: datetime | None,
) -> ParsedFeed:
    # Hand feedparser a stream, never bytes or str: given bytes it first tries them as a file
    # name (a body of b"/etc/passwd" would be read from disk), and given str it may fetch a URL.
    # No content-location either: with a base URL feedparser also "resolves" GUIDs ("item-7"
    # becomes "https://host/item-7"), so every key would change when the feed URL does.
    # We resolve links against `url` ourselves.
    headers = {"content-type": content_type or "application/xml"}
    if b"&#" in body:
        body = _BAD_CHARREF.sub(b"&#xFFFD;", body)
    # We strip HTML and resolve links ourselves (html_to_text, _http_link), so feedparser's
    # own sanitiser and URI resolver would only cost time: about a quarter of parse time.
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except (ValueError, OverflowError, RecursionError) as exc:
        # feedparser raises on some hostile input we could not defuse beforehand; a body
        # that breaks the parser is not a feed we can read, and the poll must go on.
        raise ParseError(f"not a feed: the parser failed ({_one_line(str(exc))[:200]})") from None
    version = parsed.get("version") or ""
    problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not version:
        raise ParseError(_not_a_feed_reason(head, problem))
    if problem is not None and not parsed.entries and _is_xml_error(problem):
        raise ParseError(_xml_error(problem))
    if problem is not None:
        log.debug("feed %s (%s) parsed despite: %s", source_id, url, _one_line(str(problem)))

    feed = parsed.get("feed", {})
    entries = _unique(
        entry
        for item in parsed.entries
        if (entry := _entry_from_item(source_id, item, url, now, _feedparser_date(item)))
        is not None
    )
    return ParsedFeed(
        title=_text(feed.get("title", ""), feed.get("title_detail")),
        link=_http_link(feed.get("link"), url),
        entries=entries,
    )


def _not_a_feed_reason(head: bytes, problem: object) -> str:
    if _HTML_START.match(head):
        return "not a feed: got an HTML page"
    if not head.startswith(b"<"):
        return "not a feed: body is neither XML nor JSON"
    if problem is not None and _is_xml_error(problem):
        return f"not a feed: {_xml_error(problem)}"
    root = _FIRST_ELEMENT.match(head)
    if root:
        name = root.group(1).decode("ascii", "replace")
        return f"not a feed: XML root <{name}> is not RSS, RDF or Atom"
    return "not a feed: no RSS, RDF or Atom document found"


def _is_xml_error(problem: object) -> bool:
    # xml.sax.SAXParseException, duck-typed: it is the only bozo exception with a line number.
    return hasattr(problem, "getLineNumber") and hasattr(problem, "getMessage")


def _xml_error(problem: Any) -> str:
    return f"XML error at line {problem.getLineNumber()}: {_one_line(problem.getMessage())}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _feedparser_date(item: Mapping[str, Any]) -> datetime | None:
    return _from_struct(item.get("published_parsed") or item.get("updated_parsed"))


def _entry_from_item(
    source_id: str,
    item: Mapping[str, Any],
    url: str,
    now: datetime | None,
    published: datetime | None,
) -> Entry | None:
    """An Entry from a feedparser item (or the fast path's dict with the same keys)."""
    title = _text(item.get("title", ""), item.get("title_detail"))
    summary = _summary(item)
    raw_link = item.get("link")
    guid = item.get("id")
    if item.get("guidislink") and raw_link == guid and not _is_absolute_http(raw_link):
        # feedparser uses a permalink GUID as the link when there is none; "item-7" is a
        # GUID that only claims to be a permalink, not a URL we should resolve and show.
        raw_link = None
    link = _http_link(raw_link, url)
    if not (title or summary or link):
        return None
    source = item.get("source") or {}
    publisher = _text(source.get("title", ""), None) if isinstance(source, Mapping) else ""
    if publisher and title.endswith(f" - {publisher}"):
        # Aggregators (Google News) append " - Reuters" to every title; the outlet goes in
        # `publisher`, and leaving it in the title would make every Reuters item match "Reuters".
        title = title.removesuffix(f" - {publisher}").rstrip()
    if summary and _repeats_title(summary, title, publisher):
        # Google News descriptions are the headline again plus the outlet: no information.
        summary = ""
    return Entry(
        source_id=source_id,
        key=entry_key(guid if isinstance(guid, str) else None, link, title, summary),
        title=title,
        summary=summary,
        link=link,
        published=_clamp(published, now),
        author=_text(item.get("author", ""), None) or None,
        publisher=publisher or None,
    )


_ASCII_ALNUM = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _repeats_title(summary: str, title: str, publisher: str) -> bool:
    """Whether the summary, normalised, is the title (or the title and the outlet) again."""
    candidates = (normalised_title(title), normalised_title(f"{title} {publisher}"))
    # Each ASCII letter or digit survives normalisation as exactly one character, so a summary
    # with more of them than a candidate has characters cannot equal it: no need to normalise
    # a long lede to learn that.
    raw = summary.encode("utf-8", "surrogatepass")  # multibyte UTF-8 holds no ASCII bytes
    if len(raw) - len(raw.translate(None, _ASCII_ALNUM)) > max(map(len, candidates)):
        return False
    return normalised_title(summary) in candidates


def _summary(item: Mapping[str, Any]) -> str:
    # RSS description and Atom summary land in `summary`; Atom content and content:encoded
    # land in `content`. Prefer the short one: it is the lede, and matching cost grows with text.
    if item.get("summary"):
        return _text(item["summary"], item.get("summary_detail"))
    for content in item.get("content") or ():
        if content.get("value"):
            return _text(content["value"], content)
    return ""


def _text(value: object, detail: Mapping[str, Any] | None) -> str:
    if not isinstance(value, str):
        return ""
    content_type = (detail or {}).get("type") or "text/html"
    if "html" in content_type:
        return html_to_text(value)
    return clean_text(" ".join(value.split()))


def _from_struct(value: object) -> datetime | None:
    # feedparser gives dates as UTC struct_time; timegm reads them as UTC (mktime would not).
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


# --- JSON Feed --------------------------------------------------------------------------------


def _parse_json_feed(
    source_id: str, body: bytes, *, url: str, now: datetime | None, max_entries: int
) -> ParsedFeed:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except RecursionError:
        # Arrays nested 100,000 deep exhaust the decoder's stack: hostile, not a feed.
        raise ParseError("not a feed: JSON nested too deep") from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"not a feed: JSON is not UTF-8 ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ParseError(f"not a feed: JSON error at line {exc.lineno}: {exc.msg}") from None
    if not isinstance(document, dict):
        raise ParseError("not a feed: JSON document is not an object")
    version = document.get("version")
    if not isinstance(version, str) or not version.startswith(_JSON_FEED_VERSION):
        raise ParseError("not a feed: JSON without a JSON Feed version")
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError("not a feed: JSON Feed without an items list")

    dropped = max(0, len(items) - max_entries)
    if dropped:
        newest_last = _dated_after_json(items[-1], items[0])
        items = items[-max_entries:] if newest_last else items[:max_entries]
    home = _str(document.get("home_page_url"))
    feed_authors = _json_authors(document)
    entries = _unique(
        entry
        for item in items
        if isinstance(item, dict)
        and (entry := _entry_from_json(source_id, item, url, feed_authors, now)) is not None
    )
    return ParsedFeed(
        title=html_to_text(_str(document.get("title"))),
        link=_http_link(home, url),
        entries=entries,
        dropped=dropped,
        parser="json",
    )


def _dated_after_json(item: object, other: object) -> bool:
    """Whether JSON Feed item `item` is dated after `other` (False if either date is unknown)."""
    mine, theirs = _json_date(item), _json_date(other)
    return mine is not None and theirs is not None and mine > theirs


def _json_date(item: object) -> datetime | None:
    if not isinstance(item, dict):
        return None
    return parse_iso_utc(item.get("date_published")) or parse_iso_utc(item.get("date_modified"))


def _entry_from_json(
    source_id: str,
    item: dict[str, Any],
    url: str,
    feed_authors: str | None,
    now: datetime | None,
) -> Entry | None:
    # JSON Feed titles and summaries are plain text by spec, but outlets put entities in them.
    title = html_to_text(_str(item.get("title")))
    body = _str(item.get("summary")) or _str(item.get("content_text"))
    summary = html_to_text(body or _str(item.get("content_html")))
    link = _http_link(_str(item.get("url")) or _str(item.get("external_url")), url)
    if not (title or summary or link):
        return None
    raw_id = item.get("id")
    # JSON Feed 1.0 allowed numeric ids; 1.1 requires strings. Both identify the item.
    guid = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    published = parse_iso_utc(item.get("date_published")) or parse_iso_utc(
        item.get("date_modified")
    )
    return Entry(
        source_id=source_id,
        key=entry_key(guid, link, title, summary),
        title=title,
        summary=summary,
        link=link,
        published=_clamp(published, now),
        author=_json_authors(item) or feed_authors,
        publisher=None,
    )


def _json_authors(obj: Mapping[str, Any]) -> str | None:
    # 1.1 has `authors` (a list); 1.0 had a single `author` object.
    people = obj.get("authors")
    if not isinstance(people, list):
        people = [obj.get("author")]
    names = [
        clean_text(" ".join(p["name"].split()))
        for p in people
        if isinstance(p, dict) and isinstance(p.get("name"), str) and p["name"].strip()
    ]
    return ", ".join(names) or None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


# --- shared -----------------------------------------------------------------------------------


def _http_link(value: object, base: str) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        absolute = urljoin(base, value.strip()) if base else value.strip()
        scheme = urlsplit(absolute).scheme.lower()
    except ValueError:  # "http://[broken" and friends
        return None
    if scheme not in ("http", "https"):
        return None
    return canonical_link(absolute)


def _is_absolute_http(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def _clamp(published: datetime | None, now: datetime | None) -> datetime | None:
    if published is not None and now is not None and published > now + FUTURE_TOLERANCE:
        return None
    return published


def _unique(entries: Iterable[Entry]) -> list[Entry]:
    seen: set[str] = set()
    kept: list[Entry] = []
    for entry in entries:
        if entry.key not in seen:
            seen.add(entry.key)
            kept.append(entry)
    return kept
