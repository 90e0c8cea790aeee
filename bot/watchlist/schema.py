"""The watchlist schema: what signals to look for, where to look, and where to send alerts.

    Watchlist
    ├── defaults: Defaults        interval, backfill, flood_per_hour, retention
    ├── concepts: {name: [term]}  named lists of words and phrases, `@name` in any query
    ├── signals:  [SignalSpec]    id, title, query, severity, ...   (at least one)
    ├── sources:  [SourceSpec]    id, type, url, interval, backfill, signals (scope), ...
    └── routes:   [RouteSpec]     signal id or "*" → Discord channel and/or webhook env var

Every model is frozen and rejects unknown keys. Field validators raise `PydanticCustomError`
so their wording reaches the user as written; `bot.watchlist.loader` turns the rest of
pydantic's errors into `file:line: signal 'id': field: message` lines.

A source that gives no `interval` or `backfill` takes the one from `defaults`: the Watchlist
fills them in while it validates, so `source.interval` is always the effective value.

A signal's query is checked alone first (syntax; any `@name` stands for a concept), then
against the watchlist's `concepts` with the other cross-references: an unknown concept is
reported at its column, like any query error. `Watchlist.query_node(signal)` and
`Watchlist.search_query(signal)` give a query with its concepts written out.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.digest import DigestSchedule, parse_at
from bot.errors import QueryError
from bot.matching import Node, parse_query
from bot.matching.concepts import expand_concepts, unused_concepts
from bot.matching.query import CONCEPT_NAME, Concepts, concept_references, concept_term
from bot.sources.search.config import (
    API_TYPES,
    DEFAULT_BASE_URLS,
    KEY_ENV_DEFAULTS,
    min_interval_problem,
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


def _non_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise PydanticCustomError("blank", "must not be empty")
    return stripped


def _http_url(value: str) -> str:
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

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A run of 16+ hex digits with a digit in it is a key (NewsAPI's are 32 hex), never a name,
# even where it happens to start with a letter and so passes `_ENV_NAME`.
_LOOKS_LIKE_KEY = re.compile(r"(?=.*[0-9])[0-9A-Fa-f]{16,}")


def _env_var_name(value: str) -> str:
    if _ENV_NAME.fullmatch(value):
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
_SEARCH_ONLY_FIELDS = ("key_env", "language", "country", "daily_quota", "min_interval")

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


def _concept_count(value: Any) -> Any:
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


def _empty_if_none(value: Any, empty: Any) -> Any:
    # `sources:` with nothing after it (a section not filled in yet) means "none", not an error.
    return empty if value is None else value


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_lone_surrogates(cls, value: Any) -> Any:
        # Half a surrogate pair ("\ud800" from a JSON or Discord payload) is not a character:
        # it would pass here and fail later, in the YAML writer, RE2 or the store.
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str) and _SURROGATE.search(text):
                raise PydanticCustomError(
                    "surrogate", "holds half of a surrogate pair, which is not a character"
                )
        return value


class SignalSpec(_Spec):
    """One thing to watch for: a query over news items and how loud to be about a hit."""

    id: Slug
    title: str
    description: str = ""
    query: str
    # What news APIs are searched with, where `query` cannot be said in their syntax (its
    # prefix* terms and numbers): a query in the same language. Hits are still decided by
    # `query`, so `search` only needs to be broad enough. None: search with `query`.
    search: str | None = None
    enabled: bool = Field(default=True, strict=True)
    severity: Severity = "medium"
    tags: list[str] = Field(default_factory=list)

    @field_validator("tags", mode="before")
    @classmethod
    def _no_tags(cls, value: Any) -> Any:
        return _empty_if_none(value, [])

    @field_validator("title")
    @classmethod
    def _title_not_blank(cls, value: str) -> str:
        return _non_blank(value)

    @field_validator("query", "search")
    @classmethod
    def _query_parses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        query = _non_blank(value)
        try:
            parse_query(query, ANY_CONCEPT)
        except QueryError as err:
            # "{detail}" keeps braces in the parser's message from being read as a template.
            raise PydanticCustomError("query", "{detail}", {"detail": str(err)}) from None
        return query


def search_query(signal: SignalSpec, concepts: Concepts | None = None) -> str:
    """The query a news API is searched with for this signal: `search`, else `query`, with
    each `@concept` written out as an OR group of its terms (see `Watchlist.search_query`)."""
    text = signal.search or signal.query
    return expand_concepts(text, concepts) if concepts else text


class SourceSpec(_Spec):
    """One feed to poll, or one news API to search (`type`); `signals` limits which signals
    it is matched against and, for an API, searched for (None = all).

    A search source's `url` defaults to its API's endpoint (never with a query: a key pasted
    there would leak); `key_env` names the environment variable with its key (NewsAPI,
    Guardian); `language`/`country` narrow the search where the API can; `daily_quota` caps
    requests per UTC day (the API's free tier by default); `min_interval` spaces requests
    (seconds; never below the API's rule unless `url` points elsewhere).
    """

    id: Slug
    type: SourceType = "rss"
    url: str
    interval: Interval = DEFAULT_INTERVAL
    backfill: Duration = DEFAULT_BACKFILL
    signals: list[Slug] | None = None
    enabled: bool = Field(default=True, strict=True)
    name: str | None = None
    key_env: str | None = None
    language: str | None = None
    country: str | None = None
    daily_quota: int | None = Field(default=None, ge=1, strict=True)
    min_interval: float | None = Field(default=None, gt=0, allow_inf_nan=False)

    @field_validator("min_interval", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> Any:
        # Seconds (6, 5.5) or a duration ("6s", "1m"), like the other durations here.
        if isinstance(value, str) and not value.strip().replace(".", "", 1).isdigit():
            return parse_duration(value).total_seconds()
        return value

    @model_validator(mode="before")
    @classmethod
    def _search_endpoint(cls, data: Any) -> Any:
        # A search source may leave `url` out: it means the API's own endpoint.
        if isinstance(data, Mapping) and data.get("url") is None:
            endpoint = SEARCH_ENDPOINTS.get(str(data.get("type")))
            if endpoint is not None:
                return {**data, "url": endpoint}
        return data

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str, info: ValidationInfo) -> str:
        url = _http_url(value)
        # A news API's parameters are ours to build; a query here is most likely a pasted key
        # (Guardian's ?api-key=…), which would then be logged, stored and listed. The message
        # does not repeat the URL, so the key goes no further than the file.
        if info.data.get("type") in SEARCH_TYPES and "?" in url:
            raise PydanticCustomError(
                "url",
                "must be the API's endpoint without a query (?…): put an API key in an"
                " environment variable and name it in key_env (keep secrets out of the"
                " watchlist)",
            )
        return url

    @field_validator("key_env")
    @classmethod
    def _key_env_is_name(cls, value: str | None) -> str | None:
        if value is None or (_ENV_NAME.fullmatch(value) and not _LOOKS_LIKE_KEY.fullmatch(value)):
            return value
        raise PydanticCustomError(
            "key_env",
            "must be the NAME of an environment variable holding the API key, not the key"
            " itself (letters, digits and underscores; keep secrets out of the watchlist)",
        )

    @model_validator(mode="after")
    def _fields_fit_type(self) -> Self:
        if self.type == "rss":
            given = [name for name in _SEARCH_ONLY_FIELDS if getattr(self, name) is not None]
            if given:
                raise PydanticCustomError(
                    "source_type",
                    "{fields}: only for news-API sources (type gdelt, google_news, newsapi"
                    " or guardian), not for rss",
                    {"fields": ", ".join(given)},
                )
        elif self.key_env is not None and self.type not in SEARCH_KEY_ENVS:
            raise PydanticCustomError(
                "source_type", "key_env: {type} needs no API key", {"type": self.type}
            )
        problem = min_interval_problem(self.type, self.url, self.min_interval)
        if self.type != "rss" and problem is not None:
            raise PydanticCustomError("min_interval", "{detail}", {"detail": problem})
        return self

    @property
    def is_search(self) -> bool:
        """Whether this source is a news API searched per signal (not a feed)."""
        return self.type in SEARCH_TYPES

    @property
    def api_key_env(self) -> str | None:
        """The environment variable holding this source's API key; None if it needs none."""
        return self.key_env or SEARCH_KEY_ENVS.get(self.type)

    @property
    def display_name(self) -> str:
        """The name to show people: `name` when given, else the id."""
        return self.name or self.id


def _digest_at(value: Any, info: ValidationInfo) -> Any:
    """Check a route's `at` against its `digest` kind; the text is kept as the user wrote it."""
    if value is None:
        return value
    if not isinstance(value, str):
        raise PydanticCustomError(
            "digest_at", 'must be a time in quotes, like "08:00" (daily) or ":30" (hourly)'
        )
    if "digest" not in info.data:
        return value  # `digest` itself was bad and is reported on its own line
    kind = info.data["digest"]
    if kind is None:
        raise PydanticCustomError(
            "digest_at", "is only for digests: add `digest: daily` or `digest: hourly`"
        )
    try:
        parse_at(kind, value)
    except ValueError as err:
        raise PydanticCustomError("digest_at", "{detail}", {"detail": str(err)}) from None
    return value


class RouteSpec(_Spec):
    """Where alerts for a signal ("*" = every signal) go: a channel, a webhook, or both.

    `webhook` is the NAME of an environment variable that holds the webhook URL, so the
    watchlist can be shared and committed without leaking it. With `digest` the route's hits
    are collected and sent as one message per hour or day, at `at` (UTC): "HH:MM" for daily
    (default "08:00"), ":MM" past each hour for hourly (default ":00").
    """

    signal: SignalRef
    channel: Snowflake | None = None
    webhook: str | None = None
    digest: Literal["hourly", "daily"] | None = None
    at: str | None = None

    @field_validator("webhook")
    @classmethod
    def _webhook_is_env_name(cls, value: str | None) -> str | None:
        return None if value is None else _env_var_name(value)

    @field_validator("at", mode="before")
    @classmethod
    def _at_fits_digest(cls, value: Any, info: ValidationInfo) -> Any:
        return _digest_at(value, info)

    @model_validator(mode="after")
    def _has_destination(self) -> Self:
        if self.channel is None and self.webhook is None:
            raise PydanticCustomError("route", "needs a channel or a webhook (or both)")
        return self

    def matches(self, signal_id: str) -> bool:
        """Whether this route carries alerts of `signal_id`."""
        return self.signal in ("*", signal_id)

    @property
    def schedule(self) -> DigestSchedule | None:
        """When this route's digest is sent, or None for a route that sends each alert."""
        return None if self.digest is None else parse_at(self.digest, self.at)


class Defaults(_Spec):
    """Values that apply where a source or the store does not say otherwise."""

    interval: Interval = DEFAULT_INTERVAL
    backfill: Duration = DEFAULT_BACKFILL
    # Past this many alerts per signal per hour, further hits fold into one summary.
    flood_per_hour: int = Field(default=10, ge=1, strict=True)
    # How long seen-entry records are kept; an item older than this may alert again.
    retention: Duration = DEFAULT_RETENTION


SUPPORTED_VERSION = 1


class Watchlist(_Spec):
    """The whole watchlist, validated: ids unique, every signal reference resolves."""

    version: int = Field(default=SUPPORTED_VERSION, strict=True)
    defaults: Defaults = Field(default_factory=Defaults)
    concepts: Annotated[dict[ConceptName, ConceptEntries], BeforeValidator(_concept_count)] = Field(
        default_factory=dict
    )
    signals: list[SignalSpec]
    sources: list[SourceSpec] = Field(default_factory=list)
    routes: list[RouteSpec] = Field(default_factory=list)

    _signals_by_id: dict[str, SignalSpec] = PrivateAttr(default_factory=dict)
    _sources_by_id: dict[str, SourceSpec] = PrivateAttr(default_factory=dict)

    @field_validator("defaults", mode="before")
    @classmethod
    def _no_defaults(cls, value: Any) -> Any:
        return _empty_if_none(value, {})

    @field_validator("signals", "sources", "routes", mode="before")
    @classmethod
    def _no_items(cls, value: Any) -> Any:
        return _empty_if_none(value, [])

    @field_validator("version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value != SUPPORTED_VERSION:
            raise PydanticCustomError(
                "version",
                f"unsupported version {value} (this signalwatch reads version {SUPPORTED_VERSION})",
            )
        return value

    @field_validator("signals")
    @classmethod
    def _at_least_one_signal(cls, value: list[SignalSpec]) -> list[SignalSpec]:
        if not value:
            raise PydanticCustomError("no_signals", "at least one signal is required")
        return value

    @field_validator("sources")
    @classmethod
    def _inherit_defaults(cls, value: list[SourceSpec], info: ValidationInfo) -> list[SourceSpec]:
        # `defaults` is declared before `sources`, so it is in info.data when it was valid.
        defaults = info.data.get("defaults")
        if not isinstance(defaults, Defaults):
            return value
        return [_with_defaults(source, defaults) for source in value]

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        problems = reference_problems(self.model_dump())
        if problems:
            # The loader recomputes these from the raw YAML (to report them alongside field
            # errors, with line numbers) and skips this error by its type.
            raise PydanticCustomError(
                REFERENCES_ERROR,
                "{detail}",
                {"detail": "; ".join(problem.describe() for problem in problems)},
            )
        return self

    def model_post_init(self, context: Any, /) -> None:
        """Index signals and sources by id."""
        self._signals_by_id = {signal.id: signal for signal in self.signals}
        self._sources_by_id = {source.id: source for source in self.sources}

    def query_node(self, signal: SignalSpec) -> Node:
        """The signal's query parsed, each `@concept` an OR group of the concept's terms."""
        return parse_query(signal.query, self.concepts)

    def search_query(self, signal: SignalSpec) -> str:
        """The text news APIs are searched with for this signal, concepts written out."""
        return search_query(signal, self.concepts)

    def unused_concepts(self) -> list[str]:
        """The concepts no signal's query or search names (a warning: they do nothing)."""
        texts = [t for s in self.signals for t in (s.query, s.search) if t is not None]
        return unused_concepts(self.concepts, texts)

    def signal(self, signal_id: str) -> SignalSpec:
        """The signal with this id; KeyError if there is none."""
        return self._signals_by_id[signal_id]

    def source(self, source_id: str) -> SourceSpec:
        """The source with this id; KeyError if there is none."""
        return self._sources_by_id[source_id]

    def enabled_signals(self) -> list[SignalSpec]:
        """The signals that are switched on, in file order."""
        return [signal for signal in self.signals if signal.enabled]

    def enabled_sources(self) -> list[SourceSpec]:
        """The sources that are switched on, in file order."""
        return [source for source in self.sources if source.enabled]

    def signals_for(self, source: SourceSpec) -> list[SignalSpec]:
        """The enabled signals that items from `source` are matched against."""
        scope = None if source.signals is None else set(source.signals)
        return [s for s in self.enabled_signals() if scope is None or s.id in scope]

    def routes_for(self, signal_id: str) -> list[RouteSpec]:
        """The routes that carry alerts of `signal_id`, "*" routes included."""
        return [route for route in self.routes if route.matches(signal_id)]


def _with_defaults(source: SourceSpec, defaults: Defaults) -> SourceSpec:
    update: dict[str, timedelta] = {}
    if "interval" not in source.model_fields_set:
        update["interval"] = defaults.interval
    if "backfill" not in source.model_fields_set:
        update["backfill"] = defaults.backfill
    return source.model_copy(update=update) if update else source


# --- cross-references ------------------------------------------------------------------------

REFERENCES_ERROR = "watchlist_references"

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class ReferenceProblem:
    """A problem between items (duplicate id, unknown signal); `first` is the earlier twin."""

    loc: Loc
    message: str
    first: Loc | None = None

    def describe(self) -> str:
        """The problem without line numbers, for errors raised outside the loader."""
        where = ".".join(str(part) for part in self.loc)
        return f"{where}: {self.message}"


def reference_problems(data: Mapping[str, Any]) -> list[ReferenceProblem]:
    """Duplicate ids and unknown signal references in plain watchlist data, however malformed.

    Works on the raw YAML as well as on a validated Watchlist's `model_dump()`, so the loader
    can report these next to field errors; items whose ids are not strings are skipped.
    """
    signals = _items(data.get("signals"))
    sources = _items(data.get("sources"))
    routes = _items(data.get("routes"))
    problems = _duplicates("signals", "signal", signals)
    problems += _duplicates("sources", "source", sources)
    known = [item["id"] for item in signals if isinstance(item.get("id"), str)]

    problems += _concept_problems(data.get("concepts"), signals)

    for index, source in enumerate(sources):
        scope = source.get("signals")
        if isinstance(scope, list):
            for position, ref in enumerate(scope):
                if isinstance(ref, str) and ref not in known:
                    loc: Loc = ("sources", index, "signals", position)
                    problems.append(ReferenceProblem(loc, _unknown_signal(ref, known)))

    seen_routes: dict[tuple[object, ...], int] = {}
    for index, route in enumerate(routes):
        ref = route.get("signal")
        if isinstance(ref, str) and ref != "*" and ref not in known:
            problems.append(
                ReferenceProblem(("routes", index, "signal"), _unknown_signal(ref, known))
            )
        # str(channel): the raw YAML may quote an id that validation turns into an int.
        channel = route.get("channel")
        # A digest route is a different way to deliver: it may share a plain route's target.
        key = (
            ref,
            None if channel is None else str(channel),
            route.get("webhook"),
            route.get("digest"),
            route.get("at"),
        )
        if _hashable(key) and key in seen_routes:
            # Two identical routes would post every alert twice.
            first = seen_routes[key]
            problems.append(
                ReferenceProblem(
                    ("routes", index), f"same signal and destination as route #{first + 1}"
                )
            )
        elif _hashable(key):
            seen_routes[key] = index
    return problems


def _concept_problems(concepts: Any, signals: list[Mapping[str, Any]]) -> list[ReferenceProblem]:
    """Queries that name an unknown concept, or that its terms make too large.

    A concept with problems of its own (empty, a bad term) is reported on its own line and
    stands here as a one-word concept, so its users are not reported again.
    """
    usable: dict[str, Sequence[str]] = {}
    if isinstance(concepts, Mapping):
        for name, entries in concepts.items():
            if isinstance(name, str):
                usable[name] = entries if _usable_entries(entries) else (name,)
    problems = []
    budget = MAX_WATCHLIST_CONCEPT_TERMS
    for index, signal in enumerate(signals):
        for key in ("query", "search"):
            text = signal.get(key)
            if not isinstance(text, str) or "@" not in text:
                continue
            text = text.strip()
            try:
                parse_query(text, ANY_CONCEPT)
            except QueryError:
                continue  # a syntax error, reported on the field itself
            # Counted before the query is parsed with them: that is the work to bound.
            budget -= sum(len(usable.get(name, ())) for name, _ in concept_references(text))
            if budget < 0:
                problems.append(
                    ReferenceProblem(
                        ("signals", index, key),
                        f"the watchlist's queries name more than {MAX_WATCHLIST_CONCEPT_TERMS:,}"
                        " concept terms in all (a concept counts its terms each time it is"
                        " named)",
                    )
                )
                return problems
            try:
                parse_query(text, usable)
            except QueryError as err:
                problems.append(ReferenceProblem(("signals", index, key), str(err)))
    return problems


def _usable_entries(entries: Any) -> bool:
    """Whether a concept's raw entries are a list of terms that all parse."""
    if not isinstance(entries, list) or not entries or len(entries) > MAX_CONCEPT_ENTRIES:
        return False
    try:
        for entry in entries:
            if not isinstance(entry, str):
                return False
            concept_term(entry)
    except QueryError:
        return False
    return True


def _items(value: Any) -> list[Mapping[str, Any]]:
    # Non-mapping items are kept as empty mappings so that indexes still match the file.
    if not isinstance(value, Sequence) or isinstance(value, str):
        return []
    return [item if isinstance(item, Mapping) else {} for item in value]


def _duplicates(section: str, kind: str, items: list[Mapping[str, Any]]) -> list[ReferenceProblem]:
    counts = Counter(item.get("id") for item in items if isinstance(item.get("id"), str))
    first_seen: dict[str, int] = {}
    problems = []
    for index, item in enumerate(items):
        item_id = item.get("id")
        if not isinstance(item_id, str) or counts[item_id] < 2:
            continue
        if item_id in first_seen:
            problems.append(
                ReferenceProblem(
                    (section, index, "id"),
                    f"duplicate {kind} id '{item_id}'",
                    first=(section, first_seen[item_id], "id"),
                )
            )
        else:
            first_seen[item_id] = index
    return problems


def _unknown_signal(ref: str, known: list[str]) -> str:
    return f"unknown signal '{ref}'{did_you_mean(ref, known)}"


def did_you_mean(word: str, candidates: Sequence[str]) -> str:
    """ " (did you mean 'x'?)" for the closest candidate, or "" when nothing is close."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _hashable(value: object) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
