"""Subscribers' feedback on Discord: 👍 / 👎 buttons under each story alert.

Buttons rather than reactions: a button says what it means ("Not relevant" is a verdict on
the match; a 👎 reaction is as often a verdict on the news), answers the clicker privately
so they know it counted and how to take it back, needs no extra REST call per alert (two
reactions would be two more rate-limited calls in each destination's delivery lane), and
needs no intent. Each button's custom_id carries the verdict and the alert id, and
`FeedbackButton` is a discord.py `DynamicItem`: any process of the bot, restarted or not,
answers a click on any alert it ever posted, with nothing kept per message.

    click 👍 / 👎   → record_feedback (the user's verdict replaces theirs before)
    click it again  → withdraw_feedback (a second click of the same button takes it back)
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import StoreError
from bot.store import Verdict

if TYPE_CHECKING:
    from bot.chat.bot import SignalBot

__all__ = ["CUSTOM_ID", "FeedbackButton", "feedback_view"]

log = logging.getLogger("signalwatch.discord")

CUSTOM_ID = "sw:fb:{word}:{alert_id}"
_WORDS: dict[Verdict, str] = {1: "up", -1: "down"}
_VERDICTS: dict[str, Verdict] = {"up": 1, "down": -1}
_EMOJI: dict[Verdict, str] = {1: "👍", -1: "👎"}
_LABELS: dict[Verdict, str] = {1: "Relevant", -1: "Not relevant"}


class FeedbackButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"sw:fb:(?P<word>up|down):(?P<alert_id>[A-Za-z0-9_-]{1,80})",
):
    """One verdict button of one alert; its custom_id is all the state it needs."""

    def __init__(self, verdict: Verdict, alert_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label=_LABELS[verdict],
                emoji=_EMOJI[verdict],
                custom_id=CUSTOM_ID.format(word=_WORDS[verdict], alert_id=alert_id),
            )
        )
        self.verdict: Verdict = verdict
        self.alert_id = alert_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> FeedbackButton:
        """Rebuild the button a click came from (discord.py calls this on every click)."""
        return cls(_VERDICTS[match["word"]], match["alert_id"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        """Record, change or withdraw the clicker's verdict, and tell them which, privately."""
        from bot.chat.bot import SignalBot

        bot = interaction.client
        assert isinstance(bot, SignalBot)
        user_id = interaction.user.id
        message_id = interaction.message.id if interaction.message is not None else None
        try:
            text = await self._judge(bot, user_id, message_id)
        except StoreError as exc:
            log.error("feedback on %s by %s not recorded: %s", self.alert_id, user_id, exc)
            text = "Your verdict could not be recorded (the database is unavailable): try again."
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )

    async def _judge(self, bot: SignalBot, user_id: int, message_id: int | None) -> str:
        """Record, change or withdraw the verdict; what to tell the user."""
        store = bot.services.store
        emoji = _EMOJI[self.verdict]
        current = await asyncio.to_thread(store.feedback_verdict, self.alert_id, user_id)
        if current == self.verdict:
            await asyncio.to_thread(store.withdraw_feedback, self.alert_id, user_id)
            log.info("feedback on %s by %s: %s withdrawn", self.alert_id, user_id, emoji)
            return f"Withdrawn: your {emoji} on this alert no longer counts."
        judged = await asyncio.to_thread(
            store.record_feedback,
            self.alert_id,
            user_id,
            self.verdict,
            bot.services.clock(),
            message_id=message_id,
        )
        if judged is None:
            return "This alert is no longer stored, so it cannot be judged any more."
        log.info("feedback on %s by %s: %s", self.alert_id, user_id, emoji)
        meaning = "right" if self.verdict > 0 else "wrong"
        changed = " (instead of your earlier verdict)" if current is not None else ""
        return (
            f"Thanks: {emoji} recorded{changed}. This alert was {meaning} to fire for"
            f" `{judged.signal_id}`. Click {emoji} again to withdraw it."
        )


def feedback_view(alert_id: str) -> discord.ui.View:
    """The 👍 / 👎 row under a story alert (no timeout: the buttons work for as long as the
    alert is stored; discord.py keeps nothing per message for a view of dynamic items)."""
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton(1, alert_id))
    view.add_item(FeedbackButton(-1, alert_id))
    return view
