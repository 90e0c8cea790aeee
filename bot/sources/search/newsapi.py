"""NewsAPI.org `/v2/everything`: pure query translation, request, parsing and error codes.

    GET {base}?q=<translated>&from=<ISO 8601 UTC>&to=<now>&sortBy=publishedAt&pageSize=100
        [&language=xx]          header X-Api-Key: <key>  (never in the URL, so never logged)

NewsAPI's q: words, "phrases", AND / OR / NOT with parentheses, at most 500 characters. It
matches words as written, so plurals are sent spelled out. `country` is not a parameter of
/v2/everything (only of top-headlines): ignored. Errors come as JSON
{"status": "error", "code": "apiKeyInvalid", "message": "…"} with 400/401/426/429/500.

Paging: `next_page` asks for `page=2, 3, …` of the same request while `totalResults` says
more are left. The free Developer plan serves only the first 100 results of a search and
answers a later page with HTTP 426 `maximumResultsReached`: `refuses_more` turns that into
"no more pages" (a warning), since no later poll of that plan could get them either.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from bot.errors import ParseError, SourceError
from bot.model import Entry
from bot.sources.search.adapter import ApiAdapter
from bot.sources.search.common import (
    SearchRequest,
    build_entry,
    error_text,
    load_json,
    parse_iso_utc,
    query_param,
    require_key,
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
    "ERROR_CODES",
    "build_request",
    "describe_failure",
    "next_page",
    "parse",
    "refuses_more",
    "translate",
]

API = "NewsAPI"
DIALECT = Dialect(name=API, and_separator=" AND ", max_length=500, stems_plurals=False)
PAGE_SIZE = 100  # the most one request returns
PLAN_MAX_RESULTS = 100  # the most results of one search the free Developer plan serves
OVERLAP = timedelta(minutes=15)

# NewsAPI's documented error codes, as a person would say them.
ERROR_CODES = {
    "apiKeyDisabled": "API key disabled",
    "apiKeyExhausted": "API key has no requests left",
    "apiKeyInvalid": "API key invalid",
    "apiKeyMissing": "API key missing",
    "maximumResultsReached": "no results past the plan's limit",
    "parameterInvalid": "parameter invalid",
    "parametersMissing": "parameters missing",
    "rateLimited": "rate limited",
    "sourcesTooMany": "too many sources",
    "sourceDoesNotExist": "source does not exist",
    "unexpectedError": "NewsAPI server error",
}


def translate(query_text: str, *, reserve: int = 0) -> Translation:
    """Translate our query to NewsAPI's q syntax, no narrower, within 500 characters."""
    return translate_for(DIALECT, query_text, reserve=reserve)


def build_request(
    config: SearchConfig, signal_id: str, query_text: str, since: datetime | None, now: datetime
) -> SearchRequest:
    """The /v2/everything request for one signal, from `since` (or the backfill) to now."""
    key = require_key(API, config)
    query = signal_query(translate, signal_id, query_text)
    # Reach back a little past the last window: NewsAPI indexes articles some minutes after
    # their publishedAt, so one published just before the last poll may show up only now
    # (what was seen already is dropped as a repeat).
    start = now - config.backfill if since is None else since - OVERLAP
    params = {
        "q": query,
        "from": _iso(start),
        "to": _iso(now),
        "sortBy": "publishedAt",
        "pageSize": str(PAGE_SIZE),
    }
    if config.language:
        params["language"] = config.language
    headers = {"X-Api-Key": key, "Accept": "application/json"}
    return SearchRequest(signal_id, f"{config.base_url}?{urlencode(params)}", headers)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse(
    config: SearchConfig, request: SearchRequest, fetched: Fetched, now: datetime
) -> list[Entry]:
    """Entries from an articles answer; an error document raises SourceError."""
    document = load_json(fetched.body, API, request.signal_id)
    if document.get("status") == "error":
        raise SourceError(f"{_describe_document(document)} (signal '{request.signal_id}')")
    articles = document.get("articles")
    if not isinstance(articles, list):
        raise ParseError(f"{API} answer for signal '{request.signal_id}' has no articles list")
    return unique_entries(_entry(config, item, now) for item in articles if isinstance(item, dict))


def next_page(
    config: SearchConfig, request: SearchRequest, fetched: Fetched
) -> SearchRequest | str | None:
    """The next page of the same search while `totalResults` says more are left, else None."""
    document = load_json(fetched.body, API, request.signal_id)
    total = document.get("totalResults")
    articles = document.get("articles")
    page = _page(request)
    # An empty page ends paging whatever the total says: the count is NewsAPI's estimate.
    if not isinstance(total, int) or not isinstance(articles, list) or not articles:
        return None
    if total <= page * PAGE_SIZE:
        return None
    return with_params(request, page=str(page + 1))


def refuses_more(failed: FetchFailed) -> str | None:
    """The warning for a later page the plan will not serve (426), or None for a failure."""
    if error_code(failed) != "maximumResultsReached":
        return None
    return (
        f"{API}: this plan serves only the first {PLAN_MAX_RESULTS} results of a search"
        " (maximumResultsReached): items older than the oldest of them in this window were"
        " cut; give the signal a narrower `search:` query, poll this source more often, or"
        " use a paid NewsAPI plan"
    )


def _page(request: SearchRequest) -> int:
    value = query_param(request, "page") or "1"
    return int(value) if value.isdigit() else 1


def _entry(config: SearchConfig, item: dict[str, Any], now: datetime) -> Entry | None:
    if item.get("title") == "[Removed]":  # NewsAPI's placeholder for a withdrawn article
        return None
    source = item.get("source")
    return build_entry(
        config.source_id,
        title=item.get("title"),
        link=item.get("url"),
        summary=item.get("description") or "",
        published=parse_iso_utc(item.get("publishedAt")),
        now=now,
        author=item.get("author"),
        publisher=source.get("name") if isinstance(source, dict) else None,
    )


def _describe_document(document: dict[str, Any]) -> str:
    code = document.get("code")
    message = " ".join(str(document.get("message") or "").split())
    label = ERROR_CODES.get(code, "error") if isinstance(code, str) else "error"
    return f"{API}: {label} ({code}): {message}" if code else f"{API}: {message or 'error'}"


def error_code(failed: FetchFailed) -> str | None:
    """NewsAPI's error code from a failed response's JSON body, or None."""
    try:
        document = json.loads(failed.body or b"")
    except (ValueError, RecursionError):  # not JSON, or nested past what Python reads
        return None
    code = document.get("code") if isinstance(document, dict) else None
    return code if isinstance(code, str) else None


def describe_failure(failed: FetchFailed) -> str:
    """One line for a failed request: NewsAPI's code and message, e.g. "API key invalid"."""
    try:
        document = json.loads(failed.body or b"")
    except (ValueError, RecursionError):  # not JSON, or nested past what Python reads
        document = None
    if isinstance(document, dict) and document.get("status") == "error":
        return _describe_document(document)
    return error_text(API, failed)


ADAPTER = ApiAdapter(
    api="newsapi",
    dialect=DIALECT,
    page_size=PAGE_SIZE,
    build_request=build_request,
    parse=parse,
    describe_failure=describe_failure,
    next_page=next_page,
    refuses_more=refuses_more,
)
