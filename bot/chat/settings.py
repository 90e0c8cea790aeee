"""Discord settings, from the environment. The token is a secret: environment only."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DiscordSettings"]


class DiscordSettings(BaseSettings):
    """SIGNALWATCH_DISCORD_* variables (the token may also be DISCORD_TOKEN)."""

    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, env_ignore_empty=True
    )

    token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SIGNALWATCH_DISCORD_TOKEN", "DISCORD_TOKEN"),
    )
    channel: int | None = Field(default=None, validation_alias="SIGNALWATCH_DISCORD_CHANNEL")
    admin_channel: int | None = Field(
        default=None, validation_alias="SIGNALWATCH_DISCORD_ADMIN_CHANNEL"
    )
    admin_role: int | None = Field(default=None, validation_alias="SIGNALWATCH_DISCORD_ADMIN_ROLE")
    # Register commands in one guild (instant) instead of globally (up to an hour to appear).
    guild: int | None = Field(default=None, validation_alias="SIGNALWATCH_DISCORD_GUILD")
    api_base: str | None = Field(default=None, validation_alias="SIGNALWATCH_DISCORD_API_BASE")
    gateway: str | None = Field(default=None, validation_alias="SIGNALWATCH_DISCORD_GATEWAY")

    @property
    def enabled(self) -> bool:
        """True when a token is set: alerts go to Discord, not the console."""
        return self.token is not None and bool(self.token.get_secret_value().strip())
