"""Admin commands: /watch and /source groups (Manage Server or the admin role)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from bot.chat.bot import SignalBot


class AdminCog(commands.Cog):
    """Edit the watchlist and sources."""

    def __init__(self, bot: SignalBot):
        self.bot = bot
