"""What feedparser does to a feed's names, attributes, encodings, texts and dates: pure tables
and functions for the fast parse path (`bot/sources/fastfeed.py`).

Each function here reproduces one step of feedparser 6.0 (named in its docstring) for the cases
the fast path handles, and raises `Unusual` where it would have to guess; the equivalence test
holds both paths to the same output.
"""

from __future__ import annotations

import contextlib
import html.entities
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser.encodings
from feedparser.datetimes import _parse_date as feedparser_parse_date
from feedparser.mixin import _FeedParserMixin
from feedparser.sanitizer import _HTMLSanitizer

__all__ = [
    "KINDS",
    "NAMESPACES",
    "ParsedDate",
    "Unusual",
    "attributes",
    "content_type",
    "fix_text",
    "fix_uri",
    "looks_like_html",
    "parse_date",
    "utf8_body",
]


class Unusual(Exception):
    """The body holds something the fast path does not reproduce; feedparser should read it."""


# A parsed date as feedparser would hand it over: a datetime read here, feedparser's own
# struct_time for the spellings left to it, or None.
ParsedDate = datetime | time.struct_time | None

# --- element names: feedparser's handler key ("dc_creator") -> what the fast path does ---------

NAMESPACES: dict[str, str] = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}

# text feedparser reads as "content" (markup inside changes its state); we never read it
_LEAVES = frozenset(
    {
        "subtitle", "tagline", "itunes_subtitle", "rights", "copyright", "dc_rights", "info",
        "feedburner_browserfriendly",
    }
)  # fmt: skip
# Handlers read in feedparser's source and found to touch none of the keys we read, nor the
# state those depend on (context, title depth, content flags, the element stack).
_HARMLESS = frozenset(
    {
        "category", "keywords", "dc_subject", "media_category", "media_keywords", "tags",
        "itunes_keywords", "itunes_category", "cloud", "enclosure", "generator", "language",
        "dc_language", "created", "dcterms_created", "expirationdate", "dcterms_valid",
        "width", "height", "media_content", "media_credit", "media_group", "media_license",
        "media_player", "media_rating", "media_restriction", "media_thumbnail",
        "itunes_block", "itunes_explicit", "cc_license", "creativecommons_license",
        "newlocation", "webmaster", "dc_publisher", "contributor", "dc_contributor",
    }
)  # fmt: skip
# Text feedparser reads as "content" (markup inside changes its state); we never read it.
_LEAVES = frozenset(
    {
        "subtitle", "tagline", "itunes_subtitle", "rights", "copyright", "dc_rights", "info",
        "feedburner_browserfriendly",
    }
)  # fmt: skip
# Handlers read in feedparser's source and found to touch none of the keys we read, nor the
# state those depend on (context, title depth, content flags, the element stack).
_HARMLESS = frozenset(
    {
        "category", "keywords", "dc_subject", "media_category", "media_keywords", "tags",
        "itunes_keywords", "itunes_category", "cloud", "enclosure", "generator", "language",
        "dc_language", "created", "dcterms_created", "expirationdate", "dcterms_valid",
        "width", "height", "media_content", "media_credit", "media_group", "media_license",
        "media_player", "media_rating", "media_restriction", "media_thumbnail",
        "itunes_block", "itunes_explicit", "cc_license", "creativecommons_license",
        "newlocation", "webmaster", "dc_publisher", "contributor", "dc_contributor",
    }
)  # fmt: skip
_KIND_OF: dict[str, frozenset[str]] = {
    "title": frozenset({"title", "dc_title", "media_title"}),
    # RSS description, Atom summary: the item's summary (or, second in an item, its content)
    "summary": frozenset(
        {"description", "dc_description", "media_description", "summary", "itunes_summary"}
    ),
    "abstract": frozenset({"abstract"}),
    "content": frozenset({"content", "content_encoded", "fullitem"}),
    "published": frozenset({"published", "issued", "pubdate", "dcterms_issued"}),
    "updated": frozenset({"updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"}),
    "author": frozenset({"author", "managingeditor", "dc_author", "dc_creator", "itunes_author"}),
    "authorpart": frozenset({"name", "email", "itunes_name", "itunes_email"}),
    "authorlink": frozenset({"url", "uri", "homepage"}),
    # sets feedparser's "in publisher": names and emails inside go to the item's last author
    "owner": frozenset({"itunes_owner"}),
    "leaf": _LEAVES,
    "link": frozenset({"link"}),
    "guid": frozenset({"guid", "id"}),
    "source": frozenset({"source"}),
    "item": frozenset({"item", "entry"}),
    "image": frozenset({"image"}),
    "textinput": frozenset({"textinput"}),
    "rss": frozenset({"rss"}),
    "rdf": frozenset({"rdf_rdf"}),
    "feed": frozenset({"feed"}),
    "channel": frozenset({"channel"}),
    "itunes_image": frozenset({"itunes_image", "itunes_link"}),
    "skip": _HARMLESS,
}
KINDS: dict[str, str] = {key: kind for kind, keys in _KIND_OF.items() for key in keys}
_WITH_HANDLER = frozenset(
    name.split("_", 2)[2].lower()
    for name in dir(_FeedParserMixin)
    if name.startswith(("_start_", "_end_"))
)
# Elements feedparser treats specially and we do not reproduce (inline XHTML bodies, GeoRSS,
# podcast chapters, and whatever a later feedparser adds), and unknown elements that would
# write a key `feeds.py` reads.
for _key in _WITH_HANDLER - KINDS.keys():
    KINDS[_key] = "unusual"
for _key in ("guidislink", "published_parsed", "updated_parsed", "title_detail", "summary_detail"):
    KINDS[_key] = "unusual"

HTML_TYPES = frozenset(_FeedParserMixin.html_types)
_SHORT_TYPES = {
    "text": "text/plain", "plain": "text/plain", "html": "text/html",
    "xhtml": "application/xhtml+xml",
}  # fmt: skip


def content_type(value: str) -> str:
    """feedparser's map_content_type: lower case, short names spelled out."""
    value = value.lower()
    return _SHORT_TYPES.get(value, value)


def attributes(raw: dict[str, str]) -> dict[str, str]:
    """An element's attributes keyed as feedparser's SAX handler keys them ("rdf:about")."""
    attrs: dict[str, str] = {}
    for name, value in raw.items():
        parts = name.split(" ")
        if len(parts) == 1:
            keys = [name.lower()]
        else:
            prefix = NAMESPACES.get(parts[0].lower(), "")
            local = parts[1]
            keys = [f"{prefix}:{local}".lower() if prefix else local.lower()]
            if len(parts) == 3:
                keys.append(f"{parts[2]}:{local}".lower())
        for key in keys:
            attrs[key] = value.lower() if key in ("rel", "type") else value
    return attrs


# --- texts --------------------------------------------------------------------------------------

# feedparser maps C1 controls to the characters windows-1252 puts there (its `_cp1252`).
CP1252: dict[int, str] = {}
for _code in range(0x80, 0xA0):
    with contextlib.suppress(UnicodeDecodeError):
        CP1252[_code] = bytes([_code]).decode("cp1252")
_C1 = re.compile("[\x80-\x9f]")
_URI_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+,.-]*://)/+")
_CLOSE_TAG = re.compile(r"</(\w+)>")
_ENTITY_REF = re.compile(r"&#?\w+;")
_ANY_TAG = re.compile(r"</?(\w+)")
_NAMED_ENTITY = re.compile(r"&(\w+);")
_ACCEPTABLE_HTML = frozenset(_HTMLSanitizer.acceptable_elements)


def fix_text(text: str) -> str:
    """feedparser's last touches to every text it keeps (its `pop`): text that was UTF-8 read
    as Latin-1 is read again, and C1 controls become their windows-1252 characters."""
    if text.isascii():
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    if _C1.search(text):
        text = text.translate(CP1252)
    return text


def fix_uri(value: str) -> str:
    """feedparser's `_urljoin('', uri)`: slashes after "scheme://" collapse."""
    return _URI_SLASHES.sub(r"\1", value) if "://" in value else value


def looks_like_html(s: str) -> bool:
    """feedparser's guess for RSS text declared plain: a close tag or an entity, and only
    known tags and entities."""
    if "<" not in s and "&" not in s:  # neither a close tag nor an entity can be there
        return False
    if not (_CLOSE_TAG.search(s) or _ENTITY_REF.search(s)):
        return False
    if any(t.lower() not in _ACCEPTABLE_HTML for t in _ANY_TAG.findall(s)):
        return False
    return all(e in html.entities.entitydefs for e in _NAMED_ENTITY.findall(s))


# --- encoding ---------------------------------------------------------------------------------


def utf8_body(body: bytes, content_type: str | None) -> bytes:
    """The body as feedparser hands it to its strict parser: decoded as feedparser decides
    (HTTP charset, XML declaration, BOM, then its fallbacks) and encoded as UTF-8 under a
    UTF-8 declaration; Unusual when no encoding works (feedparser then reads it loosely)."""
    result: dict[str, Any] = {}
    # As parse_feed passes it to feedparser: a missing header reads as application/xml.
    headers = {"content-type": content_type or "application/xml"}
    data: bytes = feedparser.encodings.convert_to_utf8(headers, body, result)
    if not result.get("encoding"):
        raise Unusual("no encoding decodes the body")
    return data


# --- dates --------------------------------------------------------------------------------------

_MONTH_NAMES = "jan feb mar apr may jun jul aug sep oct nov dec"
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES.split(), 1)}
_RFC822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun),\s+)?(\d{1,2})\s+"
    r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(\d{4})\s+"
    r"(\d{2}):(\d{2})(?::(\d{2}))?\s+(gmt|ut|utc|z|[+-]\d{4})",
    re.ASCII | re.IGNORECASE,
)
_ISO8601 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[tT](\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?([zZ]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


def parse_date(value: str) -> ParsedDate:
    """Read a feed date as feedparser's `_parse_date` does: RFC 822 and ISO 8601 in their
    usual spellings here, anything else by feedparser itself."""
    try:
        if (m := _RFC822.fullmatch(value)) is not None:
            day, month, year, hour, minute, second, zone = m.groups()
            stamp = datetime(
                int(year), _MONTHS[month.lower()], int(day), int(hour), int(minute),
                int(second or 0), tzinfo=UTC,
            )  # fmt: skip
            return stamp - _offset(zone, 3)
        if (m := _ISO8601.fullmatch(value)) is not None:
            year, month, day, hour, minute, second, zone = m.groups()
            stamp = datetime(
                int(year), int(month), int(day), int(hour), int(minute),
                int(float(second or 0)), tzinfo=UTC,
            )  # fmt: skip
            return stamp - _offset(zone, 4)
    except (ValueError, OverflowError):
        pass  # out of range: feedparser decides (it may try other readings)
    result: time.struct_time | None = feedparser_parse_date(value)
    return result


def _offset(zone: str, minutes_at: int) -> timedelta:
    if zone[0] not in "+-":
        return timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    return timedelta(hours=sign * int(zone[1:3]), minutes=sign * int(zone[minutes_at:]))
