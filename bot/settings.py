"""Operator settings, from the environment (prefix SIGNALWATCH_) or command-line flags.

Secrets (the Discord token, API keys) come only from the environment, never from files in
the repository. A bad value fails at start-up naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "db_url_problem"]


class Settings(BaseSettings):
    """Everything an operator can set; each field is SIGNALWATCH_<NAME> in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="SIGNALWATCH_", extra="ignore", frozen=True, env_ignore_empty=True
    )

    watchlist: Path = Path("watchlist.yaml")
    db: str = "sqlite:///signalwatch.db"
    # Let feeds live on loopback/private addresses. Off by default: a feed URL an admin adds
    # must not reach the bot's own network (SSRF).
    allow_private_urls: bool = False
    max_failures: int = Field(default=10, ge=1)  # consecutive failures before a source is disabled
    fetch_concurrency: int = Field(default=32, ge=1)
    per_host_concurrency: int = Field(default=2, ge=1)
    per_host_spacing: float = Field(default=1.0, ge=0)  # seconds between requests to one host
    max_feed_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    reload_every: float = Field(default=2.0, gt=0)  # seconds between watchlist change checks
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "json": one JSON object per log line, with source / signal / alert_id as fields.
    log_format: Literal["text", "json"] = "text"
    # Metrics, health and the status page over HTTP: off unless a port is given; loopback
    # unless told otherwise (the status page shows the watchlist and recent alerts).
    http_port: int | None = Field(default=None, ge=1, le=65535)
    http_host: str = "127.0.0.1"
    # Who to tell when a feed's owner has a question: an email or URL in the User-Agent.
    contact: str | None = None
    # The whole User-Agent, overriding the default built from the version and `contact`.
    user_agent: str | None = None
    # This process's name on the leases it takes (default: host, role and, for workers, the
    # process id). Set a stable, unique name per process (a worker slot) so that a restart
    # releases at once exactly what its previous incarnation held.
    holder: str | None = None
    # Seconds to wait between a sink taking an alert and the outbox recording it. Only for
    # testing crash safety (a kill can land exactly in that window); leave it at 0.
    delivery_delay: float = Field(default=0.0, ge=0)
    # Touched every loop turn; `signalwatch health` reports unhealthy when it goes stale.
    heartbeat_file: Path | None = None

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        """Accept `debug` as well as `DEBUG` (and `JSON` as `json`)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        for allowed in ("DEBUG", "INFO", "WARNING", "ERROR", "text", "json"):
            if text.lower() == allowed.lower():
                return allowed
        return value  # left as typed, so the error shows what the operator wrote

    @field_validator("db")
    @classmethod
    def _has_scheme(cls, value: str) -> str:
        """A database URL names its kind: `bogus` is a mistake, not a file name."""
        problem = db_url_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("contact", "user_agent")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        """Header values: one line, and unset when blank."""
        if value is None or not value.strip():
            return None
        if any(c in value for c in "\r\n"):
            raise ValueError("one line of text")
        return value.strip()


DB_SCHEMES = ("sqlite", "postgresql", "postgres")


def db_url_problem(url: str) -> str | None:
    """Why `url` is not a database URL (what is accepted), or None when it is one."""
    scheme, sep, _rest = url.partition("://")
    if not sep or not scheme:
        return "a URL such as sqlite:///signalwatch.db or postgresql://user@host/db"
    if scheme.split("+")[0].lower() not in DB_SCHEMES:
        return "a sqlite:/// or postgresql:// URL"
    return None
