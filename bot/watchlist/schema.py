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

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
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
from bot.matching.query import Concepts
from bot.sources.search.config import (
    min_interval_problem,
)
from bot.watchlist.fields import (
    ANY_CONCEPT,
    DEFAULT_BACKFILL,
    DEFAULT_INTERVAL,
    DEFAULT_RETENTION,
    ENV_NAME,
    LOOKS_LIKE_KEY,
    SEARCH_ENDPOINTS,
    SEARCH_KEY_ENVS,
    SEARCH_ONLY_FIELDS,
    SEARCH_TYPES,
    ConceptEntries,
    ConceptName,
    Duration,
    Interval,
    Severity,
    SignalRef,
    Slug,
    Snowflake,
    SourceType,
    concept_count,
    env_var_name,
    http_url,
    non_blank,
    parse_duration,
)
from bot.watchlist.references import REFERENCES_ERROR, reference_problems


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
        return non_blank(value)

    @field_validator("query", "search")
    @classmethod
    def _query_parses(cls, value: str | None) -> str | None:
        if value is None:
            return None
        query = non_blank(value)
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
        url = http_url(value)
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
        if value is None or (ENV_NAME.fullmatch(value) and not LOOKS_LIKE_KEY.fullmatch(value)):
            return value
        raise PydanticCustomError(
            "key_env",
            "must be the NAME of an environment variable holding the API key, not the key"
            " itself (letters, digits and underscores; keep secrets out of the watchlist)",
        )

    @model_validator(mode="after")
    def _fields_fit_type(self) -> Self:
        if self.type == "rss":
            given = [name for name in SEARCH_ONLY_FIELDS if getattr(self, name) is not None]
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
        return None if value is None else env_var_name(value)

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
    concepts: Annotated[dict[ConceptName, ConceptEntries], BeforeValidator(concept_count)] = Field(
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
