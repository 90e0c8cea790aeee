"""The Guardian content API `/search`: pure query translation, request and parsing.

    GET {base}?q=<translated>&from-date=YYYY-MM-DD&order-by=newest&use-date=published
        &page-size=50&show-fields=trailText&api-key=<key>

The key must go in the query string (the API reads no header), so the fetcher redacts
`api-key=` from every log line and error. The Guardian's q: words, "phrases", AND / OR / NOT
with parentheses; it stems words itself. `from-date` is a day, so a poll may see items from
earlier that day again: they are deduplicated downstream. Answers nest in {"response": …};
gateway errors (bad key, rate limit) are {"message": "…"} with 401/403/429.

Paging: `next_page` asks for `page=2, 3, …` of the same request while the envelope's
`currentPage` is below its `pages`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
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
    "build_request",
    "describe_failure",
    "next_page",
    "parse",
    "translate",
]

API = "Guardian"
# No documented q limit; we stay well under URL limits.
DIALECT = Dialect(name=API, and_separator=" AND ", max_length=1500, stems_plurals=True)
PAGE_SIZE = 50  # the most one request returns
PUBLISHER = "The Guardian"


def translate(query_text: str, *, reserve: int = 0) -> Translation:
    """Translate our query to the Guardian's q syntax, no narrower, within the length limit."""
    return translate_for(DIALECT, query_text, reserve=reserve)


def build_request(
    config: SearchConfig, signal_id: str, query_text: str, since: datetime | None, now: datetime
) -> SearchRequest:
    """The /search request for one signal, from the day of `since` (or the backfill)."""
    key = require_key(API, config)
    query = signal_query(translate, signal_id, query_text)
    start = now - config.backfill if since is None else since
    params = {
        "q": query,
        "from-date": start.astimezone(UTC).date().isoformat(),
        "order-by": "newest",
        "use-date": "published",
        "page-size": str(PAGE_SIZE),
        "show-fields": "trailText",
    }
    if config.language:
        params["lang"] = config.language
    params["api-key"] = key
    return SearchRequest(signal_id, f"{config.base_url}?{urlencode(params)}", {})


def parse(
    config: SearchConfig, request: SearchRequest, fetched: Fetched, now: datetime
) -> list[Entry]:
    """Entries from a search answer, summary from trailText as plain text."""
    document = load_json(fetched.body, API, request.signal_id)
    response = document.get("response")
    if not isinstance(response, dict):
        message = document.get("message")
        raise ParseError(
            f"{API} answer for signal '{request.signal_id}' has no response"
            + (f": {message}" if message else "")
        )
    if response.get("status") == "error":
        raise SourceError(f"{API}: {response.get('message')} (signal '{request.signal_id}')")
    results = response.get("results")
    if not isinstance(results, list):
        raise ParseError(f"{API} answer for signal '{request.signal_id}' has no results list")
    return unique_entries(_entry(config, item, now) for item in results if isinstance(item, dict))


def next_page(
    config: SearchConfig, request: SearchRequest, fetched: Fetched
) -> SearchRequest | str | None:
    """The next page of the same search while `currentPage` is below `pages`, else None."""
    response = load_json(fetched.body, API, request.signal_id).get("response")
    if not isinstance(response, dict):
        return None
    current, pages, results = (response.get(k) for k in ("currentPage", "pages", "results"))
    # An empty page ends paging whatever the count says, so a wrong count cannot loop.
    if not isinstance(current, int) or not isinstance(pages, int) or not results:
        return None
    return with_params(request, page=str(current + 1)) if current < pages else None


def _entry(config: SearchConfig, item: dict[str, Any], now: datetime) -> Entry | None:
    fields = item.get("fields")
    trail = fields.get("trailText") if isinstance(fields, dict) else None
    return build_entry(
        config.source_id,
        title=item.get("webTitle"),
        link=item.get("webUrl"),
        summary=trail or "",
        published=parse_iso_utc(item.get("webPublicationDate")),
        now=now,
        publisher=PUBLISHER,
    )


def describe_failure(failed: FetchFailed) -> str:
    """One line for a failed request, with the Guardian's (or its gateway's) message."""
    try:
        document = json.loads(failed.body or b"")
    except (ValueError, RecursionError):  # not JSON, or nested past what Python reads
        document = None
    message = None
    if isinstance(document, dict):
        inner = document.get("response")
        source = inner if isinstance(inner, dict) else document
        message = source.get("message")
    if isinstance(message, str) and message.strip():
        reason = {401: "API key refused", 403: "API key refused", 429: "rate limited"}.get(
            failed.status or 0, f"HTTP {failed.status}"
        )
        return f"{API}: {reason} (HTTP {failed.status}): {' '.join(message.split())}"
    return error_text(API, failed)


ADAPTER = ApiAdapter(
    api="guardian",
    dialect=DIALECT,
    page_size=PAGE_SIZE,
    build_request=build_request,
    parse=parse,
    describe_failure=describe_failure,
    next_page=next_page,
)
