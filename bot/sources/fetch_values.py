"""What the fetcher is asked and what it answers: settings, requests, the three results, and
the header parsers they need. Plain values: no I/O here."""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot import __version__
from bot.errors import FetchError

__all__ = [
    "DEFAULT_USER_AGENT",
    "FetchFailed",
    "FetchRequest",
    "FetchResult",
    "FetchSettings",
    "Fetched",
    "NotModified",
    "parse_max_age",
    "parse_retry_after",
    "redact_url",
]

# No placeholder URL: the operator names a real contact with SIGNALWATCH_CONTACT.
DEFAULT_USER_AGENT = f"signalwatch/{__version__}"
_MIB = 1024 * 1024
# Query parameters that carry API keys (Guardian `api-key`, NewsAPI `apiKey`, and kin).
_SECRET_PARAM = re.compile(r"(?i)([?&;](?:api[-_]?key|apikey|key|token|access_token)=)[^&#\s'\"]*")


@dataclass(frozen=True, slots=True)
class FetchSettings:
    """How the fetcher behaves; every value is checked, nonsense raises ValueError.

    Timeouts are seconds: `connect` and `read` are per socket operation (read: between two
    bytes), `total` caps one attempt from request start to last body byte, so a server that
    trickles a byte a second cannot hold a slot forever. `retries` counts attempts after the
    first. Backoff waits `random(0, min(backoff_max, backoff_multiplier * 2**n))` seconds.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 10 * _MIB
    max_concurrency: int = 32
    per_host_concurrency: int = 2
    per_host_spacing: float = 1.0
    retries: int = 3
    backoff_multiplier: float = 0.5
    backoff_max: float = 10.0
    max_retry_after: float = 30.0  # a longer Retry-After is left to the scheduler, not slept on
    max_inflation_ratio: float = 100.0
    inflation_check_after: int = _MIB  # small bodies may compress well; judge the ratio past this
    max_redirects: int = 5
    allow_private: bool = False  # fetch from loopback/private addresses (tests, intranet feeds)
    trust_env: bool = True  # honour HTTP(S)_PROXY / NO_PROXY / SSL_CERT_FILE from the environment
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout", "total_timeout"):
            _require(self, name, lambda v: v > 0, "a finite number of seconds above 0")
        for name in ("per_host_spacing", "backoff_multiplier", "backoff_max", "max_retry_after"):
            _require(self, name, lambda v: v >= 0, "a finite number of seconds, 0 or more")
        _require(self, "max_inflation_ratio", lambda v: v >= 1, "a finite ratio of 1 or more")
        for name in ("max_bytes", "max_concurrency", "per_host_concurrency"):
            _require(self, name, lambda v: v >= 1, "a whole number of 1 or more", integer=True)
        for name in ("retries", "inflation_check_after", "max_redirects"):
            _require(self, name, lambda v: v >= 0, "a whole number of 0 or more", integer=True)
        if not self.user_agent.strip() or any(c in self.user_agent for c in "\r\n"):
            raise ValueError("FetchSettings.user_agent must be one non-empty line")


def _require(
    settings: FetchSettings,
    name: str,
    ok: Callable[[float], bool],
    expected: str,
    *,
    integer: bool = False,
) -> None:
    value = getattr(settings, name)
    numeric = isinstance(value, int) if integer else isinstance(value, int | float)
    # bool is an int to Python, but `retries=True` is a mistake, not a number.
    if isinstance(value, bool) or not numeric or not math.isfinite(value) or not ok(value):
        raise ValueError(f"FetchSettings.{name} must be {expected}, got {value!r}")


@dataclass(frozen=True, slots=True)
class FetchRequest:
    """One feed to fetch, with the validators from its last successful fetch.

    `headers` are sent with the request (after ours, so they may override Accept); they may
    hold API keys, so they never appear in a repr or a log line. `retry_rate_limited=False`
    hands a 429 back at once instead of retrying it: for APIs where every retry counts against
    a daily quota or a pacing window that the caller keeps itself.
    """

    source_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    headers: Mapping[str, str] | None = field(default=None, repr=False)
    retry_rate_limited: bool = True
    # Awaited before every attempt, retries included: a news API's pacing and request count
    # must see each request the API sees, not one per fetch() call.
    before_attempt: Callable[[], Awaitable[None]] | None = field(
        default=None, repr=False, compare=False
    )

    def __repr__(self) -> str:
        # The URL may carry a key in its query string (Guardian's api-key): redact it here so
        # that logging a request with %r cannot leak it either.
        names = sorted(self.headers) if self.headers else []
        return (
            f"FetchRequest(source_id={self.source_id!r}, url={redact_url(self.url)!r},"
            f" etag={self.etag!r}, last_modified={self.last_modified!r}, headers={names!r})"
        )


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 2xx response with its whole (decoded) body; `max_age` and `elapsed` are seconds."""

    status: int
    body: bytes = field(repr=False)
    etag: str | None
    last_modified: str | None
    content_type: str | None
    final_url: str
    max_age: float | None
    elapsed: float


@dataclass(frozen=True, slots=True)
class NotModified:
    """The server says the feed has not changed since the validators we sent (304)."""

    status: int
    max_age: float | None


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """A fetch that gave no body: one readable line, and whether trying later may help.

    `retry_after` (seconds) is set when the server asked us to wait (429/503 Retry-After).
    `body` holds at most 64 KiB of a 4xx/5xx response's (decoded) body, for callers that read
    an API's own error code from it; it takes no part in equality.
    """

    error: str
    status: int | None
    retry_after: float | None
    transient: bool
    body: bytes | None = field(default=None, repr=False, compare=False)

    def to_error(self) -> FetchError:
        """Return this failure as the FetchError a caller may raise."""
        return FetchError(self.error, status=self.status)


FetchResult = Fetched | NotModified | FetchFailed


def redact_url(text: str) -> str:
    """Return `text` with the values of key-like query parameters (api-key=…) shown as ***."""
    return _SECRET_PARAM.sub(r"\1***", text)


def parse_max_age(cache_control: str | None, age: str | None = None) -> float | None:
    """Return the seconds a response stays fresh from Cache-Control max-age minus Age, or None."""
    if not cache_control:
        return None
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        # s-maxage is for shared caches; we are a private one.
        if name.strip().lower() != "max-age":
            continue
        try:
            seconds = int(value.strip().strip('"'))
        except ValueError:
            return None
        try:
            already = int(age.strip()) if age else 0
        except ValueError:
            already = 0
        return float(max(0, seconds - max(0, already)))
    return None


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Return the seconds a Retry-After value (delay seconds or HTTP date) asks us to wait."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with the source zone unknown
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
