"""Operator settings, from the environment (prefix SIGNALWATCH_) or command-line flags.

Secrets (the Discord token, API keys) come only from the environment, never from files in
the repository. A bad value fails at start-up naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything an operator can set; each field is SIGNALWATCH_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="SIGNALWATCH_", extra="ignore", frozen=True)

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
    # Seconds to wait between a sink taking an alert and the outbox recording it. Only for
    # testing crash safety (a kill can land exactly in that window); leave it at 0.
    delivery_delay: float = Field(default=0.0, ge=0)
    # Touched every loop turn; `signalwatch health` reports unhealthy when it goes stale.
    heartbeat_file: Path | None = None
