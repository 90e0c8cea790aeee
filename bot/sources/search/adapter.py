"""What a news API is to the rest of the bot: one `SearchAdapter`, all pure.

    name, api, dialect              how messages name it; its `type:`; its query syntax
    min_interval                    its documented rule: seconds between two requests
    daily_quota                     requests a UTC day on its free tier (None: no quota)
    max_query_length, page_size     its limits: query characters; most items one answer holds
    translate(query_text)           → Translation (broader where it must, never narrower)
    build_request(config, signal_id, query_text, since, now) → SearchRequest
    parse(config, request, fetched, now)                    → [Entry]  (ParseError/SourceError)
    next_page(config, request, fetched)   → the next page's request, a line saying the full
                                            answer cannot be paged past, or None (done);
                                            None for an API without pages (Google News)
    refuses_more(failed)            → the warning for a later page the plan will not serve
                                      (NewsAPI's 426), or None for a failure
    describe_failure(failed)        → one readable line

Each API's module (`gdelt`, `google_news`, `newsapi`, `guardian`) builds one `ApiAdapter`
named ADAPTER; `adapters.ADAPTERS` maps each `type:` to it. mypy checks each against the
Protocol, so the runner and `coverage` call the same members for every API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from bot.model import Entry
from bot.sources.search.common import SearchRequest
from bot.sources.search.config import (
    API_NAMES,
    DEFAULT_DAILY_QUOTAS,
    MIN_REQUEST_SPACING,
    ApiType,
    SearchConfig,
)
from bot.sources.search.translate import Dialect, Translation, translate_for

if TYPE_CHECKING:  # the fetcher imports httpx; adapters only read its result values
    from bot.sources.fetch import Fetched, FetchFailed

__all__ = ["ApiAdapter", "SearchAdapter"]

RequestBuilder = Callable[[SearchConfig, str, str, "datetime | None", datetime], SearchRequest]
Parser = Callable[[SearchConfig, SearchRequest, "Fetched", datetime], list[Entry]]
Pager = Callable[[SearchConfig, SearchRequest, "Fetched"], "SearchRequest | str | None"]


class SearchAdapter(Protocol):
    """One news API: its limits and rules, and the pure steps of one search."""

    @property
    def api(self) -> ApiType:
        """The source `type:` that selects this API."""
        ...

    @property
    def name(self) -> str:
        """The API's name in messages ("GDELT")."""
        ...

    @property
    def dialect(self) -> Dialect:
        """What the API's query syntax can say."""
        ...

    @property
    def min_interval(self) -> float:
        """The API's documented rule: the least seconds between two requests."""
        ...

    @property
    def daily_quota(self) -> int | None:
        """Requests a UTC day on the free tier; None where the API publishes none."""
        ...

    @property
    def max_query_length(self) -> int:
        """The most characters of query text one request takes."""
        ...

    @property
    def page_size(self) -> int:
        """The most items one answer holds (a full answer may have more behind it)."""
        ...

    def translate(self, query_text: str, *, reserve: int = 0) -> Translation:
        """Our query in the API's syntax, no narrower; SourceError where nothing can be said."""
        ...

    def build_request(
        self,
        config: SearchConfig,
        signal_id: str,
        query_text: str,
        since: datetime | None,
        now: datetime,
    ) -> SearchRequest:
        """The request for one signal's window, from `since` (None: the backfill) to `now`."""
        ...

    def parse(
        self, config: SearchConfig, request: SearchRequest, fetched: Fetched, now: datetime
    ) -> list[Entry]:
        """The entries of one answer."""
        ...

    def next_page(
        self, config: SearchConfig, request: SearchRequest, fetched: Fetched
    ) -> SearchRequest | str | None:
        """The next page's request, a warning line, or None when nothing is left."""
        ...

    @property
    def pages(self) -> bool:
        """Whether the API can be paged at all (Google News cannot)."""
        ...

    def refuses_more(self, failed: FetchFailed) -> str | None:
        """A later page the plan will not serve, as a warning line; None for a failure."""
        ...

    def describe_failure(self, failed: FetchFailed) -> str:
        """One readable line for a failed request."""
        ...


def _no_pages(config: SearchConfig, request: SearchRequest, fetched: Fetched) -> None:
    return None


def _refuses_nothing(failed: FetchFailed) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ApiAdapter:
    """A `SearchAdapter` made of one API module's pure functions and its values."""

    api: ApiType
    dialect: Dialect
    page_size: int
    build_request: RequestBuilder
    parse: Parser
    describe_failure: Callable[[FetchFailed], str]
    next_page: Pager = _no_pages
    refuses_more: Callable[[FetchFailed], str | None] = _refuses_nothing
    pages: bool = True

    @property
    def name(self) -> str:
        """The API's name in messages."""
        return API_NAMES[self.api]

    @property
    def min_interval(self) -> float:
        """The API's documented rule, seconds between two requests (config.py says whose)."""
        return MIN_REQUEST_SPACING[self.api]

    @property
    def daily_quota(self) -> int | None:
        """Requests a UTC day on the free tier, or None."""
        return DEFAULT_DAILY_QUOTAS.get(self.api)

    @property
    def max_query_length(self) -> int:
        """The most characters of query text."""
        return self.dialect.max_length

    def translate(self, query_text: str, *, reserve: int = 0) -> Translation:
        """Our query in this API's syntax (see translate.py)."""
        return translate_for(self.dialect, query_text, reserve=reserve)
