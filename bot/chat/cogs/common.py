"""What several cogs share: signal-id autocomplete and the admin check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.chat.bot import is_admin

if TYPE_CHECKING:
    from bot.chat.bot import SignalBot

__all__ = ["admin_only", "bot_of", "signal_choices"]

MAX_CHOICES = 25  # Discord's limit for autocomplete answers


def bot_of(interaction: discord.Interaction[Any]) -> SignalBot:
    """The SignalBot behind an interaction."""
    from bot.chat.bot import SignalBot

    client = interaction.client
    assert isinstance(client, SignalBot)
    return client


async def signal_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Signal ids (with titles) that start with, or contain, what the user typed."""
    watchlist = bot_of(interaction).services.compiled().watchlist
    typed = current.casefold()
    scored = []
    for signal in watchlist.signals:
        hay = f"{signal.id} {signal.title}".casefold()
        if typed in hay:
            scored.append((not signal.id.startswith(typed), signal.id, signal.title))
    scored.sort()
    return [
        app_commands.Choice(name=f"{sid} — {title}"[:100], value=sid)
        for _, sid, title in scored[:MAX_CHOICES]
    ]


def admin_only() -> Any:
    """An app-command check: Manage Server or the configured admin role, checked on our side.

    Discord hides admin commands from others by their default permissions, but a server can
    change that; this check holds regardless.
    """

    async def predicate(interaction: discord.Interaction[Any]) -> bool:
        member = interaction.user
        if not isinstance(member, discord.Member):
            raise app_commands.CheckFailure("Admin commands work only inside a server.")
        roles = [role.id for role in member.roles]
        if is_admin(member.guild_permissions, roles, bot_of(interaction).settings.admin_role):
            return True
        raise app_commands.CheckFailure(
            "You need the Manage Server permission (or the signalwatch admin role) for this."
        )

    return app_commands.check(predicate)
