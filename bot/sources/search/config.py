"""What a search source is: its API, endpoint, key, language, quota; and each API's limits.

Pure values, no I/O. The watchlist loader maps a source entry onto `SearchConfig`; the key
comes from the environment (`KEY_ENV_DEFAULTS`, or the entry's own `key_env`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final, Literal

__all__ = [
    "API_NAMES",
    "API_TYPES",
    "DEFAULT_BASE_URLS",
    "DEFAULT_DAILY_QUOTAS",
    "KEY_ENV_DEFAULTS",
    "MIN_REQUEST_SPACING",
    "NEEDS_KEY",
    "ApiType",
    "SearchConfig",
    "min_interval_problem",
    "resolve_key",
]

ApiType = Literal["gdelt", "google_news", "newsapi", "guardian"]
API_TYPES: Final[tuple[ApiType, ...]] = ("gdelt", "google_news", "newsapi", "guardian")

# How each API is named in messages.
API_NAMES: Final[Mapping[str, str]] = {
    "gdelt": "GDELT",
    "google_news": "Google News",
    "newsapi": "NewsAPI",
    "guardian": "Guardian",
}

DEFAULT_BASE_URLS: Final[Mapping[str, str]] = {
    "gdelt": "https://api.gdeltproject.org/api/v2/doc/doc",
    "google_news": "https://news.google.com/rss/search",
    "newsapi": "https://newsapi.org/v2/everything",
    "guardian": "https://content.guardianapis.com/search",
}

KEY_ENV_DEFAULTS: Final[Mapping[str, str]] = {
    "newsapi": "SIGNALWATCH_NEWSAPI_KEY",
    "guardian": "SIGNALWATCH_GUARDIAN_KEY",
}
NEEDS_KEY: Final[frozenset[str]] = frozenset(KEY_ENV_DEFAULTS)

# Requests per UTC day on the free tiers: NewsAPI Developer (100 a day, "50 every 12 hours"),
# Guardian Open Platform developer key (500 calls a day, 1 a second). GDELT and Google News
# publish no daily quota.
DEFAULT_DAILY_QUOTAS: Final[Mapping[str, int]] = {"newsapi": 100, "guardian": 500}

# Seconds between two requests to one API, across all sources using it (see pacing.Pacer).
MIN_REQUEST_SPACING: Final[Mapping[str, float]] = {
    # GDELT asks for "one request every 5 seconds" and answers faster callers with a 429.
    "gdelt": 5.0,
    # The Guardian developer tier allows 1 call per second.
    "guardian": 1.0,
    # NewsAPI documents no per-second limit (its daily quota binds first); 1 s keeps the
    # signals of one poll from arriving as a burst, which costs us nothing.
    "newsapi": 1.0,
    # Google News RSS search is unofficial and unmetered, and Google answers bursts of
    # automated searches with 429s and captcha pages: 2 s keeps us well clear of that.
    "google_news": 2.0,
}


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """One search source: which API, where (`base_url` defaults to the real endpoint), key, quota.

    `daily_quota` None means the API's free-tier default (`DEFAULT_DAILY_QUOTAS`), or no quota
    for APIs without one. `backfill` is how far back the first poll looks.
    """

    source_id: str
    type: ApiType
    base_url: str = ""
    key: str | None = field(default=None, repr=False)
    language: str | None = None
    country: str | None = None
    daily_quota: int | None = None
    backfill: timedelta = timedelta(hours=24)
    # Seconds between two requests, where not the API's rule (`MIN_REQUEST_SPACING`): above
    # it for a gentler pace; below it only for an endpoint of the operator's own (`base_url`
    # not the API's): a mirror, or a plan with its own rule.
    min_interval: float | None = None

    def __post_init__(self) -> None:
        where = f"search source '{self.source_id}'"
        if self.type not in API_TYPES:
            known = ", ".join(API_TYPES)
            raise ValueError(f"{where}: unknown type {self.type!r} (expected one of {known})")
        if not self.base_url:
            object.__setattr__(self, "base_url", DEFAULT_BASE_URLS[self.type])
        if not self.base_url.startswith(("http://", "https://")) or "?" in self.base_url:
            # Imported here: the watchlist loads this module, and fetch pulls in httpx.
            from bot.sources.fetch import redact_url

            # The query is left out of the message, not just redacted: a key pasted there may
            # sit under any name, and this message reaches logs and the sources table.
            endpoint, question, _ = self.base_url.partition("?")
            shown = redact_url(endpoint) + ("?…" if question else "")
            raise ValueError(
                f"{where}: url must be an http(s) endpoint without a query (an API key goes in"
                f" the environment variable named by key_env), got {shown!r}"
            )
        if self.daily_quota is not None and (
            isinstance(self.daily_quota, bool) or self.daily_quota < 1
        ):
            raise ValueError(f"{where}: daily_quota must be 1 or more, got {self.daily_quota!r}")
        if self.backfill <= timedelta(0):
            raise ValueError(f"{where}: backfill must be positive, got {self.backfill}")
        problem = min_interval_problem(self.type, self.base_url, self.min_interval)
        if problem is not None:
            raise ValueError(f"{where}: {problem}")

    @property
    def api_name(self) -> str:
        """The API's name as messages show it ("GDELT", "NewsAPI", …)."""
        return API_NAMES[self.type]

    @property
    def quota(self) -> int | None:
        """Requests allowed per UTC day: the configured quota, else the free tier's, else None."""
        if self.daily_quota is not None:
            return self.daily_quota
        return DEFAULT_DAILY_QUOTAS.get(self.type)

    @property
    def spacing(self) -> float:
        """The least number of seconds between two requests to this source's API."""
        return MIN_REQUEST_SPACING[self.type] if self.min_interval is None else self.min_interval


def min_interval_problem(api: str, url: str, min_interval: float | None) -> str | None:
    """Why `min_interval` cannot be used for a source of `api` at `url`, or None.

    Below the API's documented rule only where `url` is not the API's own endpoint: the rule
    is the API's, and its server answers faster callers with 429s (GDELT) or bans.
    """
    if min_interval is None:
        return None
    if isinstance(min_interval, bool) or not math.isfinite(min_interval) or min_interval <= 0:
        return f"min_interval must be a positive number of seconds, got {min_interval!r}"
    rule = MIN_REQUEST_SPACING.get(api)
    if rule is not None and min_interval < rule and url == DEFAULT_BASE_URLS.get(api):
        return (
            f"min_interval {min_interval:g} s is below {API_NAMES[api]}'s rule of one request"
            f" every {rule:g} s; only a source whose url points elsewhere (a mirror, a plan"
            " with its own endpoint) may go below it"
        )
    return None


def resolve_key(
    source_id: str, api: str, environ: Mapping[str, str], key_env: str | None = None
) -> tuple[str | None, str | None]:
    """Return (key, None), or (None, a start-up message saying why the source is disabled)."""
    if api not in NEEDS_KEY:
        return None, None
    variable = key_env or KEY_ENV_DEFAULTS[api]
    key = environ.get(variable, "").strip()
    if key:
        return key, None
    return None, (
        f"search source '{source_id}' ({API_NAMES[api]}) is disabled: set {variable} to its API key"
    )
