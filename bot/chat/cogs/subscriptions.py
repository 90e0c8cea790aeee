"""Subscriptions: /subscribe, /unsubscribe, /subscriptions.

A subscriber is mentioned in the channel the signal's alert is posted in, or sent a DM
(`DiscordSink` does both); these commands only keep the store's list. Every answer is
ephemeral: what someone follows is their own business.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.chat import format as fmt
from bot.chat.cogs.common import signal_choices
from bot.chat.cogs.lookup import reply_private
from bot.store import Subscription, SubscriptionMode

if TYPE_CHECKING:
    from bot.chat.bot import BotServices, SignalBot

__all__ = ["SubscriptionsCog"]

MODE_CHOICES = [
    app_commands.Choice(name="mention — ping me in the alert's channel", value="mention"),
    app_commands.Choice(name="dm — send me a direct message", value="dm"),
]


class SubscriptionsCog(commands.Cog):
    """Follow signals by mention or DM."""

    def __init__(self, bot: SignalBot):
        self.bot = bot

    @property
    def services(self) -> BotServices:
        """The bot's store, watchlist and clock."""
        return self.bot.services

    def _channels(self, signal_id: str) -> list[int]:
        """The channels this signal's alerts are posted in."""
        destinations = self.services.compiled().destinations(signal_id)
        return fmt.mention_channels(destinations, self.bot.settings.channel)

    def _titles(self) -> dict[str, str]:
        """Signal titles by id, from the live watchlist."""
        return {s.id: s.title for s in self.services.compiled().watchlist.signals}

    async def _subscriptions_of(self, user_id: int) -> list[Subscription]:
        """The user's subscriptions, read off the event loop."""
        return await asyncio.to_thread(self.services.store.subscriptions_of, user_id)

    @app_commands.command(name="subscribe", description="Get mentioned or DMed when a signal moves")
    @app_commands.describe(
        signal="The signal to follow (start typing to pick one)",
        mode="How to tell you: a mention in the alert's channel (default) or a DM",
    )
    @app_commands.choices(mode=MODE_CHOICES)
    @app_commands.autocomplete(signal=signal_choices)
    async def subscribe(
        self, interaction: discord.Interaction[Any], signal: str, mode: str = "mention"
    ) -> None:
        """Follow a signal."""
        watchlist = self.services.compiled().watchlist
        try:
            spec = watchlist.signal(signal)
        except KeyError:
            known = [s.id for s in watchlist.signals]
            await reply_private(interaction, fmt.unknown_signal_message(signal, known))
            return
        chosen = fmt.parse_mode(mode)
        user_id, guild_id, now = interaction.user.id, interaction.guild_id, self.services.clock()
        store = self.services.store

        def follow() -> SubscriptionMode | None:
            """Subscribe; return the mode the user had before (None: new)."""
            before = {s.signal_id: s.mode for s in store.subscriptions_of(user_id)}
            store.subscribe(user_id, spec.id, chosen, guild_id, now)
            return before.get(spec.id)

        previous = await asyncio.to_thread(follow)
        text = fmt.subscribe_message(spec, chosen, previous, self._channels(spec.id))
        await reply_private(interaction, text)

    @app_commands.command(name="unsubscribe", description="Stop following a signal")
    @app_commands.describe(signal="A signal you follow (start typing to pick one)")
    async def unsubscribe(self, interaction: discord.Interaction[Any], signal: str) -> None:
        """Stop following a signal."""
        removed = await asyncio.to_thread(
            self.services.store.unsubscribe, interaction.user.id, signal
        )
        followed = [] if removed else await self._subscriptions_of(interaction.user.id)
        text = fmt.unsubscribe_message(
            signal, self._titles().get(signal), removed, [s.signal_id for s in followed]
        )
        await reply_private(interaction, text)

    @unsubscribe.autocomplete("signal")
    async def _own_signals(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        """The user's own subscriptions that match what they typed."""
        subscriptions = await self._subscriptions_of(interaction.user.id)
        return [
            app_commands.Choice(name=name, value=value)
            for name, value in fmt.own_signal_choices(subscriptions, self._titles(), current)
        ]

    @app_commands.command(name="subscriptions", description="The signals you follow, and how")
    async def subscriptions(self, interaction: discord.Interaction[Any]) -> None:
        """List what the user follows."""
        followed = await self._subscriptions_of(interaction.user.id)
        channels = {s.signal_id: self._channels(s.signal_id) for s in followed}
        text = fmt.subscriptions_message(followed, self._titles(), channels)
        await reply_private(interaction, text)
