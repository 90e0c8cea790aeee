"""GDELT DOC 2.0 (`mode=artlist&format=json`): pure query translation, request and parsing.

    GET {base}?query=<translated> sourcelang:<l> sourcecountry:<c>&mode=artlist&format=json
        &maxrecords=250&sort=datedesc&startdatetime=YYYYMMDDHHMMSS&enddatetime=YYYYMMDDHHMMSS

GDELT's syntax: words, "phrases", (a OR b) (parentheses only around ORs, never nested), a
space is AND, near<n>:"a b". It matches words exactly (no plural folding), rejects keywords
under 3 letters, and searches only the last 3 months. Its answers have quirks we turn into
clear errors: a rejected query is HTTP 200 `text/html` with one sentence ("Parentheses may
only be used around OR'd statements."); a rate limit is a 429, or sometimes a 200, with a
plain-text "Please limit requests to one every 5 seconds…"; no results is `{}`.

GDELT has no page parameter. A full answer (250 articles, newest first) is paged by asking
the same window again, ending at the oldest `seendate` it held: `next_page`. That end is
kept inclusive on purpose: GDELT dates articles by 15-minute batch, so a page cut inside a
batch is followed by one that repeats the batch's articles seen already (dropped as repeats)
rather than skipping the rest of it. A full page all from the batch the request ends at cannot
be paged past: `next_page` says so instead of asking the same thing again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bot.errors import ParseError, SourceError
from bot.model import Entry
from bot.outlets import display_name
from bot.sources.search.adapter import ApiAdapter
from bot.sources.search.common import (
    SearchRequest,
    body_text,
    build_entry,
    error_text,
    load_json,
    query_param,
    signal_query,
    unique_entries,
    with_params,
)
from bot.sources.search.config import SearchConfig
from bot.sources.search.translate import Dialect, Translation, translate_for

if TYPE_CHECKING:
    from bot.sources.fetch import Fetched, FetchFailed

__all__ = [
    "ADAPTER",
    "DIALECT",
    "build_request",
    "describe_failure",
    "next_page",
    "parse",
    "translate",
]

API = "GDELT"
# GDELT documents no query length limit; long queries slow it and URLs past a few KB are
# refused by proxies on the way, so we stay under 1,500 characters.
DIALECT = Dialect(
    name=API, and_separator=" ", max_length=1500, stems_plurals=False, near=True, min_word_length=3
)
MAX_RECORDS = 250  # the most GDELT returns for one artlist request
PAGE_SIZE = MAX_RECORDS  # as the runner asks every adapter: one request's most
SEARCH_WINDOW = timedelta(days=90)  # GDELT DOC searches a rolling three months
# GDELT adds articles in 15-minute batches and dates them when seen: reach back one batch so
# an article seen just before the last poll's end but published late is not missed.
OVERLAP = timedelta(minutes=15)
_TIME = "%Y%m%d%H%M%S"


def translate(query_text: str, *, reserve: int = 0) -> Translation:
    """Translate our query to GDELT's syntax, no narrower, within its length limit."""
    return translate_for(DIALECT, query_text, reserve=reserve)


def _filters(config: SearchConfig) -> str:
    parts = []
    if config.language:
        parts.append(f"sourcelang:{config.language}")
    if config.country:
        parts.append(f"sourcecountry:{config.country}")
    return " ".join(parts)


def build_request(
    config: SearchConfig, signal_id: str, query_text: str, since: datetime | None, now: datetime
) -> SearchRequest:
    """The artlist request for one signal, its window from `since` (or the backfill) to now."""
    filters = _filters(config)
    query = signal_query(
        translate, signal_id, query_text, reserve=len(filters) + 1 if filters else 0
    )
    if filters:
        query = f"{query} {filters}"
    start = (now - config.backfill) if since is None else since - OVERLAP
    start = max(start, now - SEARCH_WINDOW)
    params = {
        "query": query,
        "mode": "artlist",
        "format": "json",
        "maxrecords": str(MAX_RECORDS),
        "sort": "datedesc",
        "startdatetime": start.astimezone(UTC).strftime(_TIME),
        "enddatetime": now.astimezone(UTC).strftime(_TIME),
    }
    return SearchRequest(signal_id, f"{config.base_url}?{urlencode(params)}", {})


def parse(
    config: SearchConfig, request: SearchRequest, fetched: Fetched, now: datetime
) -> list[Entry]:
    """Entries from an artlist answer; raise SourceError for GDELT's 200-status refusals."""
    body = fetched.body
    signal = request.signal_id
    if not body.lstrip().startswith(b"{"):
        text = body_text(body) or "an empty answer"
        if "limit requests" in text.lower():
            # GDELT sometimes rate-limits with a 200: the runner treats status 429 as a stop.
            raise SourceError(f"{API} rate limited the search for signal '{signal}': {text}", 429)
        raise ParseError(f"{API} rejected the query for signal '{signal}': {text}")
    document = load_json(body, API, signal)
    articles = document.get("articles", [])  # GDELT answers {} when nothing matched
    if not isinstance(articles, list):
        raise ParseError(f"{API} answer for signal '{signal}' has no articles list")
    return unique_entries(
        build_entry(
            config.source_id,
            title=item.get("title"),
            link=item.get("url"),
            published=_seen_date(item.get("seendate")),
            now=now,
            # GDELT names only the domain: the outlet's name where it is well known.
            publisher=_publisher(item.get("domain"), item.get("url")),
        )
        for item in articles
        if isinstance(item, dict)
    )


def next_page(
    config: SearchConfig, request: SearchRequest, fetched: Fetched
) -> SearchRequest | str | None:
    """After a full answer, the same window ending at its oldest article; None when not full.

    A full answer whose oldest article is no older than the request's end (or has no dates)
    cannot be paged past: the line saying so comes back instead of a request.
    """
    articles = load_json(fetched.body, API, request.signal_id).get("articles", [])
    if not isinstance(articles, list) or len(articles) < MAX_RECORDS:
        return None
    seen = [_seen_date(item.get("seendate")) for item in articles if isinstance(item, dict)]
    dates = [when for when in seen if when is not None]
    end = _request_time(query_param(request, "enddatetime"))
    oldest = min(dates, default=None)
    if oldest is None or end is None or oldest >= end:
        which = (
            "without dates"
            if oldest is None or end is None
            else f"whose oldest was seen at {oldest:%Y-%m-%d %H:%M} UTC, where the request ended,"
        )
        return (
            f"{API}: a full page ({len(articles)} items) {which} cannot be paged past: items"
            " older than the oldest of them in this window may have been cut; give the signal"
            " a narrower `search:` query"
        )
    return with_params(request, enddatetime=oldest.strftime(_TIME))


def _request_time(value: str | None) -> datetime | None:
    # The request's own startdatetime/enddatetime, as build_request wrote it.
    try:
        return datetime.strptime(value or "", _TIME).replace(tzinfo=UTC)
    except ValueError:
        return None


def _seen_date(value: object) -> datetime | None:
    # "20250625T143000Z": when GDELT first saw the article, the closest it has to a date.
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip(), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def describe_failure(failed: FetchFailed) -> str:
    """One line for a failed GDELT request, with GDELT's own words where it gave some."""
    if failed.status == 429:
        detail = body_text(failed.body) or "too many requests"
        return f"{API}: rate limited (HTTP 429): {detail}"
    return error_text(API, failed)


def _publisher(domain: object, url: object) -> str | None:
    """The outlet's well-known name for a GDELT domain, else the domain itself."""
    if not isinstance(domain, str) or not domain.strip():
        return None
    return display_name(domain.strip(), url if isinstance(url, str) else None, API)


ADAPTER = ApiAdapter(
    api="gdelt",
    dialect=DIALECT,
    page_size=PAGE_SIZE,
    build_request=build_request,
    parse=parse,
    describe_failure=describe_failure,
    next_page=next_page,
)
