"""The watchlist's field types: ids, durations, URLs, channel ids, key variables, concepts.

Each check raises `PydanticCustomError`, so its wording reaches the user as written (the
schema's models use them through `Annotated`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
)
from pydantic_core import PydanticCustomError

from bot.errors import QueryError
from bot.matching.query import CONCEPT_NAME, Concepts, concept_term
from bot.sources.search.config import (
    API_TYPES,
    DEFAULT_BASE_URLS,
    KEY_ENV_DEFAULTS,
)

# --- ids -------------------------------------------------------------------------------------

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SLUG_MAX = 63


def _check_slug(value: str) -> str:
    """Return `value` if it is a valid id, else raise with the specific reason."""
    if SLUG_PATTERN.fullmatch(value):
        return value
    if not value:
        raise PydanticCustomError("slug", "must not be empty")
    if len(value) > SLUG_MAX:
        raise PydanticCustomError("slug", f"must be at most {SLUG_MAX} characters")
    if re.fullmatch(r"[a-z0-9-]+", value):
        raise PydanticCustomError("slug", "must start with a letter or digit")
    raise PydanticCustomError("slug", "must be lower-case letters, digits and hyphens")


def _slug(value: Any) -> Any:
    # Only strings get the slug check; anything else falls through to pydantic's "must be text".
    return _check_slug(value) if isinstance(value, str) else value


Slug = Annotated[str, BeforeValidator(_slug)]


def _signal_ref(value: Any) -> Any:
    if value == "*" or not isinstance(value, str):
        return value
    try:
        return _check_slug(value)
    except PydanticCustomError:
        raise PydanticCustomError("signal_ref", "must be a signal id or '*'") from None


SignalRef = Annotated[str, BeforeValidator(_signal_ref)]

# --- durations -------------------------------------------------------------------------------

_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
# Units must come largest first and at most once each, so "1h30m" parses but "30m1h" and
# "1h1h" (surely typos) do not.
_DURATION = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_DURATION_HINT = "use seconds or a duration like '90s', '10m', '1h30m', '2d'"
MIN_INTERVAL = timedelta(seconds=60)


def parse_duration(value: int | str | timedelta) -> timedelta:
    """Parse int seconds or a string like "90s", "10m", "1h30m", "2d" into a positive timedelta."""
    if isinstance(value, timedelta):
        result = value
    else:
        try:
            result = timedelta(seconds=_seconds(value))
        except OverflowError:
            raise PydanticCustomError("duration", "is too long") from None
    if result <= timedelta(0):
        raise PydanticCustomError("duration", "must be positive")
    return result


def _seconds(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        # bool is an int subclass; `interval: true` is a mistake, not one second.
        raise PydanticCustomError("duration", f"must be a duration ({_DURATION_HINT})")
    if isinstance(value, int):
        return value
    text = re.sub(r"\s+", "", value.lower())
    if text.isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise PydanticCustomError(
            "duration",
            "invalid duration '{value}' ({hint})",
            {"value": value, "hint": _DURATION_HINT},
        )
    return sum(
        int(amount) * _UNIT_SECONDS[unit]
        for amount, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)
        if amount
    )


def format_duration(value: timedelta) -> str:
    """Write a timedelta the way a person would in the watchlist: "1h30m", "2d", "90s"."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        return f"{seconds}s"
    parts = []
    for unit, size in _UNIT_SECONDS.items():
        amount, seconds = divmod(seconds, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)


def _interval(value: Any) -> timedelta:
    duration = parse_duration(value)
    if duration < MIN_INTERVAL:
        raise PydanticCustomError(
            "interval_too_short",
            f"must be at least 60s (got {format_duration(duration)}): "
            "feeds polled more often than once a minute tend to block us",
        )
    return duration


# The serializer writes durations back in the file's own notation (model_dump(mode="json")).
_AsText = PlainSerializer(format_duration, return_type=str, when_used="json")
Duration = Annotated[timedelta, BeforeValidator(parse_duration), _AsText]
Interval = Annotated[timedelta, BeforeValidator(_interval), _AsText]

DEFAULT_INTERVAL = timedelta(minutes=10)
DEFAULT_BACKFILL = timedelta(hours=24)
DEFAULT_RETENTION = timedelta(days=30)

# --- other field types -----------------------------------------------------------------------


def non_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("blank", "must not be empty")
    return stripped


def http_url(value: str) -> str:
    url = value.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in range
    except ValueError as err:
        raise PydanticCustomError(
            "url", "is not a valid URL ({reason})", {"reason": str(err)}
        ) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise PydanticCustomError("url", "must start with http:// or https://")
    if not parts.hostname:
        raise PydanticCustomError("url", "has no host name")
    if any(char.isspace() for char in url):
        raise PydanticCustomError("url", "must not contain spaces (encode them as %20)")
    return url


def _snowflake(value: Any) -> Any:
    # Discord ids are 64-bit integers. A quoted id ("1234…") is fine, but true/false (ints to
    # Python) and floats (which silently round 18-digit ids) are not.
    if isinstance(value, bool | float):
        raise PydanticCustomError("snowflake", "must be a Discord id (a whole number)")
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return value


Snowflake = Annotated[int, BeforeValidator(_snowflake), Field(gt=0, strict=True)]

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A run of 16+ hex digits with a digit in it is a key (NewsAPI's are 32 hex), never a name,
# even where it happens to start with a letter and so passes `ENV_NAME`.
LOOKS_LIKE_KEY = re.compile(r"(?=.*[0-9])[0-9A-Fa-f]{16,}")


def env_var_name(value: str) -> str:
    if ENV_NAME.fullmatch(value):
        return value
    if "://" in value:
        # The one mistake worth a special message: the secret itself pasted into the file.
        raise PydanticCustomError(
            "webhook",
            "must be the NAME of an environment variable holding the webhook URL, "
            "not the URL itself (keep secrets out of the watchlist)",
        )
    raise PydanticCustomError(
        "webhook", "must be an environment variable name (letters, digits and underscores)"
    )


Severity = Literal["low", "medium", "high", "critical"]

# "rss" polls a feed URL; the others are news APIs searched with each signal's query
# (bot.sources.search), where `url` is optional and overrides the API's endpoint.
SourceType = Literal["rss", "gdelt", "google_news", "newsapi", "guardian"]
SEARCH_TYPES: tuple[str, ...] = API_TYPES
# A search source without `url` uses its API's real endpoint.
SEARCH_ENDPOINTS: Mapping[str, str] = DEFAULT_BASE_URLS
# The environment variable holding a keyed API's key unless the source names another.
SEARCH_KEY_ENVS: Mapping[str, str] = KEY_ENV_DEFAULTS
SEARCH_ONLY_FIELDS = ("key_env", "language", "country", "daily_quota", "min_interval")

# --- concepts --------------------------------------------------------------------------------

MAX_CONCEPTS = 500
MAX_CONCEPT_ENTRIES = 500
# Each query that names a concept holds all its terms: the watchlist's queries together may
# hold this many (real watchlists: a few thousand), so no edit can make validation and
# compiling take minutes.
MAX_WATCHLIST_CONCEPT_TERMS = 50_000


def _concept_name(value: Any) -> Any:
    if not isinstance(value, str) or CONCEPT_NAME.fullmatch(value):
        return value
    raise PydanticCustomError(
        "concept_name",
        "concept name '{name}' must be lower-case letters, digits and hyphens (at most 63),"
        " as it is written after '@' in queries",
        {"name": value},
    )


def _concept_entry(value: str) -> str:
    try:
        concept_term(value)
    except QueryError as err:
        raise PydanticCustomError("concept_term", "{detail}", {"detail": err.message}) from None
    return value.strip()


def _concept_entries(value: Any) -> Any:
    # `pact:` with nothing after it is an empty concept, said as such (not "must be a list").
    if value is None or value == []:
        raise PydanticCustomError(
            "concept_empty", "has no terms: give it at least one word or phrase"
        )
    if isinstance(value, list) and len(value) > MAX_CONCEPT_ENTRIES:
        raise PydanticCustomError(
            "concept_size", f"has {len(value):,} terms (the limit is {MAX_CONCEPT_ENTRIES})"
        )
    return value


def concept_count(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, Mapping) and len(value) > MAX_CONCEPTS:
        raise PydanticCustomError(
            "concepts_size", f"{len(value):,} concepts (the limit is {MAX_CONCEPTS})"
        )
    return value


ConceptName = Annotated[str, BeforeValidator(_concept_name)]
ConceptEntry = Annotated[str, AfterValidator(_concept_entry)]
ConceptEntries = Annotated[list[ConceptEntry], BeforeValidator(_concept_entries)]


class _AnyConcept(Mapping[str, Sequence[str]]):
    """Stands in for the watchlist's concepts while a query is checked on its own: every
    `@name` is a one-word concept. The Watchlist then checks the names against its own."""

    def __getitem__(self, name: str) -> Sequence[str]:
        return (name,)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


ANY_CONCEPT: Concepts = _AnyConcept()

# --- models ----------------------------------------------------------------------------------
