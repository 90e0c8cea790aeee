"""What every adapter shares: the request value, paging, JSON reading, dates, entries, errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from bot.errors import ParseError, SourceError
from bot.model import Entry
from bot.sources.entries import canonical_link, entry_key, html_to_text
from bot.sources.feeds import FUTURE_TOLERANCE, parse_iso_utc

if TYPE_CHECKING:  # the fetcher imports httpx; adapters only read its result values
    from bot.sources.fetch import FetchFailed
    from bot.sources.search.config import SearchConfig
    from bot.sources.search.translate import Translation

__all__ = [
    "SearchRequest",
    "body_text",
    "build_entry",
    "error_text",
    "load_json",
    "parse_iso_utc",
    "query_param",
    "require_key",
    "signal_query",
    "unique_entries",
    "with_params",
]

_MAX_ERROR_TEXT = 200


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One API request for one signal; `headers` may hold the API key (never repr'd)."""

    signal_id: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


def signal_query(
    translate: Callable[..., Translation], signal_id: str, text: str, **kw: Any
) -> str:
    """`text` in an API's syntax; a SourceError naming the signal where it cannot be said."""
    try:
        return translate(text, **kw).text
    except SourceError as exc:
        raise SourceError(f"signal '{signal_id}': {exc}") from None


def require_key(api: str, config: SearchConfig) -> str:
    """The source's API key; a SourceError (nothing is sent) where it has none."""
    if not config.key:
        raise SourceError(f"{api}: no API key for source '{config.source_id}'; not searching")
    return config.key


def with_params(request: SearchRequest, **params: str) -> SearchRequest:
    """The same request with these query parameters set (replaced, or added at the end)."""
    parts = urlsplit(request.url)
    kept = [(n, v) for n, v in parse_qsl(parts.query, keep_blank_values=True) if n not in params]
    url = urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))
    return SearchRequest(request.signal_id, url, request.headers)


def query_param(request: SearchRequest, name: str) -> str | None:
    """A query parameter's value in the request's URL, or None where it has none."""
    return dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True)).get(name)


def load_json(body: bytes, api: str, signal_id: str) -> dict[str, Any]:
    """Return a JSON object body, or raise ParseError naming the API and signal."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ParseError(
            f"{api} answer for signal '{signal_id}' is not UTF-8 JSON ({exc.reason})"
        ) from None
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"{api} answer for signal '{signal_id}' is not JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    except RecursionError:
        # Arrays nested thousands deep exhaust the decoder's stack; no API answers like that.
        raise ParseError(
            f"{api} answer for signal '{signal_id}' is not JSON we can read (nested too deep)"
        ) from None
    except ValueError as exc:
        # Past JSONDecodeError: what Python itself refuses, like an integer of 5,000 digits.
        raise ParseError(
            f"{api} answer for signal '{signal_id}' is not JSON we can read ({exc})"
        ) from None
    if not isinstance(document, dict):
        raise ParseError(f"{api} answer for signal '{signal_id}' is not a JSON object")
    return document


def build_entry(
    source_id: str,
    *,
    title: object,
    link: object,
    summary: object = "",
    published: datetime | None,
    now: datetime,
    author: object = None,
    publisher: object = None,
) -> Entry | None:
    """Return a cleaned Entry keyed by its canonical link, or None when it has no http(s) link."""
    if not isinstance(link, str) or urlsplit(link.strip()).scheme.lower() not in ("http", "https"):
        return None
    url = canonical_link(link)
    clean_title = html_to_text(title) if isinstance(title, str) else ""
    clean_summary = html_to_text(summary) if isinstance(summary, str) else ""
    if published is not None and published > now + FUTURE_TOLERANCE:
        published = None  # a date far ahead is a bug at the source; "unknown" is more honest
    return Entry(
        source_id=source_id,
        key=entry_key(None, url, clean_title, clean_summary),
        title=clean_title,
        summary=clean_summary,
        link=url,
        published=published,
        author=html_to_text(author) or None if isinstance(author, str) else None,
        publisher=html_to_text(publisher) or None if isinstance(publisher, str) else None,
    )


def unique_entries(entries: Iterable[Entry | None]) -> list[Entry]:
    """Drop Nones and repeated keys, keeping the first of each in order."""
    seen: set[str] = set()
    out: list[Entry] = []
    for entry in entries:
        if entry is not None and entry.key not in seen:
            seen.add(entry.key)
            out.append(entry)
    return out


def body_text(body: bytes | None) -> str:
    """An error body as one short line of text (HTML stripped), '' when there is none."""
    if not body:
        return ""
    text = html_to_text(body.decode("utf-8", "replace"))
    return text if len(text) <= _MAX_ERROR_TEXT else text[: _MAX_ERROR_TEXT - 1] + "…"


def error_text(api: str, failed: FetchFailed) -> str:
    """The generic failure line: the API, the fetcher's error, and the body's text if any."""
    detail = body_text(failed.body)
    return f"{api}: {failed.error}" + (f": {detail}" if detail else "")
