"""Subscriptions: /subscribe, /unsubscribe, /subscriptions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from discord.ext import commands

if TYPE_CHECKING:
    from bot.chat.bot import SignalBot


class SubscriptionsCog(commands.Cog):
    """Follow signals by mention or DM."""

    def __init__(self, bot: SignalBot):
        self.bot = bot
