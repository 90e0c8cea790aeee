"""Lookups for everyone: /signals, /signal, /latest, /search, /status, /test."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from bot.chat.bot import SignalBot


class LookupCog(commands.Cog):
    """Read-only commands anyone may use."""

    def __init__(self, bot: SignalBot):
        self.bot = bot
