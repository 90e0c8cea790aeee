"""Operator settings, from the environment (prefix SIGNALWATCH_) or command-line flags.

Secrets (the Discord token, API keys) come only from the environment, never from files in
the repository. A bad value fails at start-up naming the variable.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Everything an operator can set; each field is SIGNALWATCH_<NAME> in the environment."""

    model_config = SettingsConfigDict(env_prefix="SIGNALWATCH_", extra="ignore", frozen=True)

    watchlist: Path = Path("watchlist.yaml")
    db: str = "sqlite:///signalwatch.db"
