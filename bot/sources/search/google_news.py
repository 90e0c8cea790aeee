"""Google News RSS search: pure query translation, request and parsing.

    GET {base}?q=<translated> when:<N>h&hl=<lang>-<COUNTRY>&gl=<COUNTRY>&ceid=<COUNTRY>:<lang>

Google's syntax: words, "phrases", OR (upper-case) inside parentheses, a space is AND, and a
`when:` window (hours, or days past 48 h). Google folds plurals itself. The answer is RSS 2.0
whose items name their outlet in <source>; `parse_feed` keeps it as the entry's publisher.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bot.errors import ParseError
from bot.model import Entry
from bot.sources.entries import entry_key
from bot.sources.feeds import parse_feed
from bot.sources.search.adapter import ApiAdapter
from bot.sources.search.common import SearchRequest, error_text, signal_query
from bot.sources.search.config import SearchConfig
from bot.sources.search.translate import Dialect, Translation, translate_for

if TYPE_CHECKING:
    from bot.sources.fetch import Fetched, FetchFailed

__all__ = ["ADAPTER", "DIALECT", "build_request", "describe_failure", "parse", "translate"]

API = "Google News"
# Google publishes no limit for News search; web search ignores words past the 32nd, which
# would silently narrow an OR. We keep the text under 1,500 characters and rely on Google
# reading the whole OR group (documented as our assumption in the operators' guide).
DIALECT = Dialect(name=API, and_separator=" ", max_length=1500, stems_plurals=True)
_WHEN_RESERVE = len(" when:999h")
PAGE_SIZE = 100  # the most items one search feed holds


def translate(query_text: str, *, reserve: int = 0) -> Translation:
    """Translate our query to Google search syntax, no narrower, within the length limit."""
    return translate_for(DIALECT, query_text, reserve=reserve)


def when(window: timedelta) -> str:
    """Google's `when:` for a window: whole hours up to 48, then whole days (rounded up)."""
    hours = max(1, math.ceil(window.total_seconds() / 3600))
    return f"when:{hours}h" if hours <= 48 else f"when:{math.ceil(hours / 24)}d"


def build_request(
    config: SearchConfig, signal_id: str, query_text: str, since: datetime | None, now: datetime
) -> SearchRequest:
    """The RSS search request for one signal, windowed with `when:` since the last poll."""
    query = signal_query(translate, signal_id, query_text, reserve=_WHEN_RESERVE)
    window = config.backfill if since is None else now - since
    language = (config.language or "en").split("-")[0]
    country = (config.country or "US").upper()
    params = {
        "q": f"{query} {when(window)}",
        "hl": f"{language}-{country}",
        "gl": country,
        "ceid": f"{country}:{language}",
    }
    return SearchRequest(signal_id, f"{config.base_url}?{urlencode(params)}", {})


def parse(
    config: SearchConfig, request: SearchRequest, fetched: Fetched, now: datetime
) -> list[Entry]:
    """Entries from the RSS answer, keyed by link, publisher from <source>."""
    try:
        feed = parse_feed(
            config.source_id,
            fetched.body,
            url=request.url,
            content_type=fetched.content_type,
            now=now,
        )
    except ParseError as exc:
        raise ParseError(
            f"{API} answer for signal '{request.signal_id}' is not RSS: {exc}"
        ) from None
    # Keyed by link like the other search APIs, so one article found for two signals is one.
    return [
        replace(e, key=entry_key(None, e.link, e.title, e.summary)) if e.link else e
        for e in feed.entries
    ]


def describe_failure(failed: FetchFailed) -> str:
    """One line for a failed Google News request."""
    if failed.status in (429, 503):
        return f"{API}: HTTP {failed.status}: Google is throttling automated searches; backing off"
    return error_text(API, failed)


ADAPTER = ApiAdapter(
    api="google_news",
    dialect=DIALECT,
    page_size=PAGE_SIZE,
    build_request=build_request,
    parse=parse,
    describe_failure=describe_failure,
    pages=False,
)
