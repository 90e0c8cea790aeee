"""Lookups for everyone: /signals, /signal, /latest, /search, /status, /test.

Each command reads the live watchlist and the store (in a worker thread: the store is
synchronous), lets `bot.chat.format` decide what to say, and answers once. Errors and empty
results are ephemeral; answers worth sharing are posted in the channel.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.charts import hits_per_day_png
from bot.chat import format as fmt
from bot.chat.cogs.common import signal_choices
from bot.feedback import (
    FEEDBACK_WINDOW_DAYS,
    NO_FEEDBACK,
    FeedbackShare,
    feedback_field,
    share_of_tallies,
)
from bot.model import StoryUpdateAlert
from bot.render import truncate
from bot.store import ArticleRecord, SignalStats, SignalTimeline
from bot.watchlist import SignalSpec

if TYPE_CHECKING:
    from bot.chat.bot import BotServices, SignalBot

__all__ = ["LookupCog"]

RECENT_HITS = 5  # articles /signal lists under "Recent hits"
RECENT_MERGES = 5  # copies /signal lists under "Recent merges", with what they shared
TIMELINE_DAYS = 30  # days /signal charts, today (UTC) included

Count = app_commands.Range[int, 1, fmt.COUNT_MAX]


def embeds_of(payloads: Sequence[dict[str, Any]]) -> list[discord.Embed]:
    """discord.py embeds from the dicts `bot.chat.format` builds."""
    return [discord.Embed.from_dict(payload) for payload in payloads]


async def reply_private(interaction: discord.Interaction[Any], text: str) -> None:
    """Answer with a message only the user sees."""
    await interaction.response.send_message(
        truncate(text, fmt.CONTENT_LIMIT),
        ephemeral=True,
        allowed_mentions=discord.AllowedMentions.none(),
    )


@dataclass(frozen=True, slots=True)
class SignalActivity:
    """What /signal reads from the store, with its chart drawn (None without any hit)."""

    stats: SignalStats
    recent: list[ArticleRecord]
    timeline: SignalTimeline
    chart: bytes | None
    merges: list[StoryUpdateAlert] = field(default_factory=list)  # copies that joined stories
    feedback: FeedbackShare = NO_FEEDBACK  # subscribers' verdicts, last 30 days


class LookupCog(commands.Cog):
    """Read-only commands anyone may use."""

    def __init__(self, bot: SignalBot):
        self.bot = bot
        self.started_at = bot.services.clock()  # the cog loads as the bot starts: uptime

    @property
    def services(self) -> BotServices:
        """The bot's store, watchlist and clock."""
        return self.bot.services

    def _signal_or_none(self, signal_id: str) -> SignalSpec | None:
        """The watchlist's signal with this id, or None."""
        try:
            return self.services.compiled().watchlist.signal(signal_id)
        except KeyError:
            return None

    async def _unknown_signal(self, interaction: discord.Interaction[Any], typed: str) -> None:
        """Say privately that no signal has this id, suggesting the closest."""
        known = [s.id for s in self.services.compiled().watchlist.signals]
        await reply_private(interaction, fmt.unknown_signal_message(typed, known))

    def _stats(
        self, signals: Sequence[SignalSpec], now: datetime
    ) -> list[tuple[SignalSpec, SignalStats]]:
        """Each signal with its stats (blocking: run in a thread)."""
        store = self.services.store
        return [(signal, store.signal_stats(signal.id, now)) for signal in signals]

    def _activity(self, spec: SignalSpec, now: datetime) -> SignalActivity:
        """A signal's stats, recent hits, timeline and chart (blocking: run in a thread)."""
        store = self.services.store
        timeline = store.signal_timeline(spec.id, now, TIMELINE_DAYS)
        chart = None
        if timeline.total > 0:
            # Drawing takes a few milliseconds of CPU: here, off the event loop, too.
            title = fmt.timeline_chart_title(spec, len(timeline.days))
            chart = hits_per_day_png(timeline.days, title)
        return SignalActivity(
            stats=store.signal_stats(spec.id, now),
            recent=store.recent_articles(RECENT_HITS, spec.id),
            timeline=timeline,
            chart=chart,
            merges=store.recent_story_updates(spec.id, RECENT_MERGES),
            feedback=share_of_tallies(
                store.feedback_tallies(spec.id, now - timedelta(days=FEEDBACK_WINDOW_DAYS))
            ),
        )

    @app_commands.command(name="signals", description="List every signal with its recent activity")
    async def signals(self, interaction: discord.Interaction[Any]) -> None:
        """Every signal: id, title, enabled, last hit, hits in 7 days."""
        signals = self.services.compiled().watchlist.signals
        rows = await asyncio.to_thread(self._stats, signals, self.services.clock())
        await interaction.response.send_message(embeds=embeds_of(fmt.signal_list_embeds(rows)))

    @app_commands.command(
        name="signal",
        description="Show one signal: meaning, query, routes, recent hits and hits per day",
    )
    @app_commands.rename(signal_id="id")
    @app_commands.describe(signal_id="The signal's id (start typing to pick one)")
    @app_commands.autocomplete(signal_id=signal_choices)
    async def signal(self, interaction: discord.Interaction[Any], signal_id: str) -> None:
        """One signal in full, with its recent hits and a chart of its hits per day."""
        spec = self._signal_or_none(signal_id)
        if spec is None:
            await self._unknown_signal(interaction, signal_id)
            return
        activity = await asyncio.to_thread(self._activity, spec, self.services.clock())
        routes = fmt.route_labels(
            self.services.compiled().destinations(spec.id), self.bot.settings.channel
        )
        payload = fmt.signal_embed(
            spec,
            activity.stats,
            routes,
            activity.recent,
            activity.timeline,
            merges=activity.merges,
        )
        payload["fields"].append(feedback_field(activity.feedback))
        embed = discord.Embed.from_dict(payload)
        if activity.chart is None:
            await interaction.response.send_message(embed=embed)
            return
        chart = discord.File(io.BytesIO(activity.chart), filename=fmt.TIMELINE_FILENAME)
        await interaction.response.send_message(embed=embed, file=chart)

    @app_commands.command(
        name="latest", description="The latest matched articles, optionally for one signal"
    )
    @app_commands.describe(
        signal="Only articles this signal matched (start typing to pick one)",
        count=f"How many articles (1–{fmt.COUNT_MAX}, default 5)",
    )
    @app_commands.autocomplete(signal=signal_choices)
    async def latest(
        self, interaction: discord.Interaction[Any], signal: str | None = None, count: Count = 5
    ) -> None:
        """The newest matched articles."""
        spec = None
        if signal is not None:
            spec = self._signal_or_none(signal)
            if spec is None:
                await self._unknown_signal(interaction, signal)
                return
        articles = await asyncio.to_thread(
            self.services.store.recent_articles, _clamp(count), spec.id if spec else None
        )
        if not articles:
            await reply_private(interaction, fmt.no_articles_message(spec.id if spec else None))
            return
        title = fmt.latest_title(spec, len(articles))
        embeds = fmt.articles_embeds(title, articles, signals=spec is None)
        await interaction.response.send_message(embeds=embeds_of(embeds))

    @app_commands.command(
        name="search", description="Search the stored matched articles by words in them"
    )
    @app_commands.describe(
        words="Words every result must contain, in its title or summary (prefixes match)",
        count=f"How many articles at most (1–{fmt.COUNT_MAX}, default 5)",
    )
    async def search(
        self,
        interaction: discord.Interaction[Any],
        words: app_commands.Range[str, 1, 100],
        count: Count = 5,
    ) -> None:
        """Stored matched articles holding every word."""
        articles: list[ArticleRecord] = await asyncio.to_thread(
            self.services.store.search_articles, words, _clamp(count)
        )
        if not articles:
            await reply_private(interaction, fmt.search_empty_message(words))
            return
        embeds = fmt.articles_embeds(fmt.search_title(words, len(articles)), articles)
        await interaction.response.send_message(embeds=embeds_of(embeds))

    @app_commands.command(
        name="status", description="Feed health, last poll, alert queue, version and uptime"
    )
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        """How the bot is doing."""
        store = self.services.store
        sources, last_poll, outbox = await asyncio.to_thread(
            lambda: (store.source_counts(), store.last_poll_at(), store.outbox_counts())
        )
        signals = self.services.compiled().watchlist.signals
        facts = fmt.StatusFacts(
            sources=sources,
            last_poll_at=last_poll,
            outbox=outbox,
            signals_enabled=sum(1 for s in signals if s.enabled),
            signals_total=len(signals),
            version=self.services.version,
            started_at=self.started_at,
            now=self.services.clock(),
        )
        embed = fmt.status_embed(facts)
        await interaction.response.send_message(embed=discord.Embed.from_dict(embed))

    @app_commands.command(name="test", description="Would this headline match a signal, and why?")
    @app_commands.describe(text="A headline (or any text) to run through the live signals")
    async def test(
        self, interaction: discord.Interaction[Any], text: app_commands.Range[str, 1, 1000]
    ) -> None:
        """A dry run of the live matcher on a text."""
        compiled = self.services.compiled()
        matches = compiled.matcher.match(text)
        if not matches:
            await reply_private(interaction, fmt.NO_MATCH)
            return
        titles = {s.id: s.title for s in compiled.watchlist.signals}
        embed = fmt.match_embed(text, matches, titles)
        # A dry run is the asker's business: keep it out of the channel.
        await interaction.response.send_message(
            embed=discord.Embed.from_dict(embed), ephemeral=True
        )


def _clamp(count: int) -> int:
    """A count within 1..COUNT_MAX whatever the client sent."""
    return max(1, min(fmt.COUNT_MAX, count))
