"""/watch add | edit | remove | route | preview | history: signals, routes, the audit log.

/watch edit of a query shows first what the draft would have done over the last N days of
stored items (bot/admin/preview.py decides), and saves only when the admin presses Save:

    edit with a new query → preview (newly alert / would stop) with [Save] [Cancel]
    | Save   → the edit, as any other (validated, under the lock, reload, audit)
    | Cancel, or 5 minutes without an answer → nothing saved
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import discord
from discord import app_commands

from bot.admin import (
    CLEAR,
    EditPreview,
    Refused,
    build_signal_spec,
    describe_change,
    format_edit_preview,
    format_history,
    format_preview,
    preview_edit,
    preview_items,
    preview_query,
    query_problem,
    recent_items,
    signal_changes,
)
from bot.admin.preview import (
    EDIT_PREVIEW_DAYS,
    EDIT_PREVIEW_LIMIT,
    PREVIEW_ARTICLE_LIMIT,
    PREVIEW_SAMPLES,
    PREVIEW_SEEN_LIMIT,
)
from bot.chat.cogs.admin import (
    AdminCogBase,
    admin_group,
    admin_signal_choices,
    checked,
    is_admin_user,
)
from bot.chat.cogs.common import MAX_CHOICES
from bot.errors import QueryError
from bot.matching import parse_query
from bot.matching.query import Concepts
from bot.watchlist import Change, Severity, WatchlistEditor

__all__ = ["WatchCog"]

HISTORY_DEFAULT = 10
CONFIRM_TIMEOUT_S = 300.0  # how long an edit preview waits for Save or Cancel


def _route_name(signal: str) -> str:
    return "every signal" if signal == "*" else f"`{signal}`"


async def admin_route_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Signal ids and "*" (every signal) for /watch route."""
    choices = await admin_signal_choices(interaction, current)
    if is_admin_user(interaction) and current.strip() in ("", "*"):
        choices = [app_commands.Choice(name="* — every signal", value="*"), *choices]
    return choices[:MAX_CHOICES]


class ConfirmEdit(discord.ui.View):
    """[Save] [Cancel] under an edit preview; only the admin who asked may press them."""

    def __init__(self, author_id: int, timeout: float = CONFIRM_TIMEOUT_S) -> None:
        super().__init__(timeout=timeout)
        self.author_id = author_id
        self.saved: bool | None = None  # None: no answer before the timeout

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        """Only the admin who ran /watch edit decides."""
        if interaction.user.id == self.author_id:
            return True
        await interaction.response.send_message(
            "Only the admin who asked for this edit can save or cancel it.", ephemeral=True
        )
        return False

    async def _answer(self, interaction: discord.Interaction[Any], saved: bool) -> None:
        self.saved = saved
        await interaction.response.defer()  # the command edits the preview itself
        self.stop()

    @discord.ui.button(label="Save", style=discord.ButtonStyle.success)
    async def save(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        """Save the previewed edit."""
        await self._answer(interaction, True)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]
    ) -> None:
        """Drop the previewed edit."""
        await self._answer(interaction, False)


class WatchCog(AdminCogBase):
    """Edit the signals and their routes; read the audit log."""

    watch = admin_group("watch", "Edit the signals signalwatch watches for (admins)")

    def _concepts(self) -> Concepts:
        """The live watchlist's concepts, which a query may name (`@pact`)."""
        return self.bot.services.compiled().watchlist.concepts

    @watch.command(name="add", description="Add a signal to the watchlist")
    @app_commands.rename(signal_id="id")
    @app_commands.describe(
        signal_id="New signal id: lower-case letters, digits and hyphens (e.g. nato-5pct)",
        title="What the signal is, as people should read it in alerts",
        query='The query, e.g. NATO AND ("5%" OR "five percent") NEAR/12 spending',
        severity="How loud its alerts are (default medium)",
        description="A longer note on what counts as a hit",
    )
    @checked
    async def watch_add(
        self,
        interaction: discord.Interaction[Any],
        signal_id: app_commands.Range[str, 1, 63],
        title: app_commands.Range[str, 1, 200],
        query: str,
        severity: Severity | None = None,
        description: str | None = None,
    ) -> None:
        """/watch add: a new signal, written to the watchlist file."""
        try:
            spec = build_signal_spec(
                signal_id, title, query, severity, description, self._concepts()
            )
        except Refused as error:
            await self._reply(interaction, str(error))
            return
        await self._defer(interaction)
        change = await self._apply(
            interaction, "signal.add", f"signal:{spec.id}", lambda e: e.add_signal(spec)
        )
        if change is not None:
            await self._reply(interaction, describe_change(change) + "\nLive now.")

    @watch.command(name="edit", description="Change a signal's title, query, severity, ...")
    @app_commands.rename(signal_id="id")
    @app_commands.describe(
        signal_id="The signal to change",
        title="New title",
        query="New query (checked before anything is written)",
        severity="New severity",
        description=f"New description ('{CLEAR}' removes it)",
        enabled="Switch the signal on or off",
        preview_days=(
            f"A new query is first previewed on this many days of stored items"
            f" (default {EDIT_PREVIEW_DAYS})"
        ),
    )
    @app_commands.autocomplete(signal_id=admin_signal_choices)
    @checked
    async def watch_edit(
        self,
        interaction: discord.Interaction[Any],
        signal_id: str,
        title: app_commands.Range[str, 1, 200] | None = None,
        query: str | None = None,
        severity: Severity | None = None,
        description: str | None = None,
        enabled: bool | None = None,
        preview_days: app_commands.Range[int, 1, 90] = EDIT_PREVIEW_DAYS,
    ) -> None:
        """/watch edit: change the given fields of a signal (a new query after a preview)."""
        try:
            changes = signal_changes(title, query, severity, description, enabled, self._concepts())
        except Refused as error:
            await self._reply(interaction, str(error))
            return
        await self._defer(interaction)
        if "query" in changes:
            previewed = await asyncio.to_thread(
                self._edit_preview, signal_id, changes, preview_days
            )
            if previewed is not None:
                await self._confirm_edit(interaction, signal_id, changes, *previewed)
                return
        change = await self._apply(
            interaction,
            "signal.edit",
            f"signal:{signal_id}",
            lambda e: e.update_signal(signal_id, **changes),
        )
        if change is not None:
            await self._reply(interaction, describe_change(change))

    def _edit_preview(
        self, signal_id: str, changes: dict[str, Any], days: int
    ) -> tuple[str, EditPreview] | None:
        """The signal's query now and what the new one would change over the last `days` days
        (blocking: run in a thread); None when there is nothing to preview (no such signal,
        the same query), and the edit goes ahead as any other."""
        watchlist = self._current()
        try:
            spec = watchlist.signal(signal_id)
        except KeyError:
            return None
        if changes["query"] == spec.query.strip():
            return None
        services = self.bot.services
        since = services.clock() - timedelta(days=days)
        seen = services.store.recent_seen(EDIT_PREVIEW_LIMIT)
        articles = services.store.articles_matching(since, EDIT_PREVIEW_LIMIT)
        # The newest EDIT_PREVIEW_LIMIT entries all inside the window: it may hold more.
        capped = len(seen) == EDIT_PREVIEW_LIMIT and seen[-1].first_seen_at >= since
        out_of_scope = {
            s.id for s in watchlist.sources if s.signals is not None and signal_id not in s.signals
        }
        enabled = bool(changes.get("enabled", spec.enabled))
        preview = preview_edit(
            spec.query if spec.enabled else None,
            changes["query"] if enabled else None,
            recent_items(seen, articles, since),
            days,
            out_of_scope=out_of_scope,
            capped=capped,
            concepts=watchlist.concepts,
        )
        return spec.query, preview

    async def _confirm_edit(
        self,
        interaction: discord.Interaction[Any],
        signal_id: str,
        changes: dict[str, Any],
        previewed_query: str,
        preview: EditPreview,
    ) -> None:
        """Show the preview with [Save] [Cancel]; save the edit only on Save."""
        view = ConfirmEdit(interaction.user.id, timeout=CONFIRM_TIMEOUT_S)
        text = format_edit_preview(signal_id, changes["query"], preview)
        await interaction.edit_original_response(content=text, view=view)
        await view.wait()
        if not view.saved:
            note = "Cancelled" if view.saved is False else "No answer in 5 minutes"
            await interaction.edit_original_response(
                content=f"{note}: nothing saved; `{signal_id}` keeps its query.", view=None
            )
            return
        await interaction.edit_original_response(view=None)

        def edit(editor: WatchlistEditor) -> Change:
            # Another admin may have changed the query since the preview: it showed the
            # difference from a query that is no longer there.
            try:
                query_now: str | None = self._current().signal(signal_id).query
            except KeyError:
                query_now = None
            if query_now != previewed_query:
                raise Refused(
                    f"`{signal_id}`'s query changed since this preview: nothing saved."
                    " Run /watch edit again to preview against the new one."
                )
            return editor.update_signal(signal_id, **changes)

        change = await self._apply(interaction, "signal.edit", f"signal:{signal_id}", edit)
        if change is not None:
            await self._reply(interaction, describe_change(change))

    @watch.command(name="remove", description="Delete a signal from the watchlist")
    @app_commands.rename(signal_id="id")
    @app_commands.describe(signal_id="The signal to delete (its routes must go first)")
    @app_commands.autocomplete(signal_id=admin_signal_choices)
    @checked
    async def watch_remove(self, interaction: discord.Interaction[Any], signal_id: str) -> None:
        """/watch remove: delete a signal."""
        await self._edit_and_report(
            interaction,
            "signal.remove",
            f"signal:{signal_id}",
            lambda e: e.remove_signal(signal_id),
        )

    @watch.command(name="route", description="Send a signal's alerts to a channel, or clear it")
    @app_commands.describe(
        signal="The signal, or * for every signal",
        channel="The channel its alerts go to",
        clear="Remove the signal's route instead (alerts go to the default channel)",
    )
    @app_commands.autocomplete(signal=admin_route_choices)
    @checked
    async def watch_route(
        self,
        interaction: discord.Interaction[Any],
        signal: str,
        channel: discord.TextChannel | None = None,
        clear: bool = False,
    ) -> None:
        """/watch route: set (or clear) where a signal's alerts go."""
        if clear == (channel is not None):
            await self._reply(interaction, "Give a channel, or clear: True (not both).")
            return
        await self._defer(interaction)
        if clear:
            change = await self._apply(
                interaction, "route.clear", f"route:{signal}", lambda e: e.remove_route(signal)
            )
            if change is not None:
                await self._reply(
                    interaction,
                    f"Removed the route for {_route_name(signal)}: its alerts go to the default "
                    "channel.",
                )
            return
        assert channel is not None
        channel_id = channel.id

        def set_route(editor: WatchlistEditor) -> Change:
            # A route may also name a webhook; setting the channel keeps it.
            current = next((r for r in self._current().routes if r.signal == signal), None)
            webhook = current.webhook if current is not None else None
            return editor.set_route(signal, channel=channel_id, webhook=webhook)

        change = await self._apply(interaction, "route.set", f"route:{signal}", set_route)
        if change is None:
            return
        text = f"Alerts for {_route_name(signal)} now go to {channel.mention}."
        me = channel.guild.me
        if me is not None and not channel.permissions_for(me).send_messages:
            text += f"\n⚠️ I cannot post in {channel.mention}: give me Send Messages there."
        await self._reply(interaction, text)

    @watch.command(name="preview", description="How many recent items a draft query would match")
    @app_commands.describe(query="The draft query to try (nothing is saved)")
    @checked
    async def watch_preview(self, interaction: discord.Interaction[Any], query: str) -> None:
        """/watch preview: count and sample the recent items a query matches."""
        text = query.strip()
        concepts = self._concepts()
        try:
            parse_query(text, concepts)
        except QueryError as error:
            await self._reply(interaction, query_problem(text, error))
            return
        await self._defer(interaction)
        store = self.bot.services.store
        seen = await asyncio.to_thread(store.recent_seen, PREVIEW_SEEN_LIMIT)
        articles = await asyncio.to_thread(store.recent_articles, PREVIEW_ARTICLE_LIMIT)
        items = preview_items(seen, articles)
        result = await asyncio.to_thread(preview_query, text, items, PREVIEW_SAMPLES, concepts)
        await self._reply(interaction, format_preview(text, result))

    @watch.command(name="history", description="Recent admin edits: who, what, when")
    @app_commands.describe(count="How many entries (default 10)")
    @checked
    async def watch_history(
        self,
        interaction: discord.Interaction[Any],
        count: app_commands.Range[int, 1, 50] = HISTORY_DEFAULT,
    ) -> None:
        """/watch history: the audit log, newest first."""
        await self._defer(interaction)
        entries = await asyncio.to_thread(self.bot.services.store.audit_history, count)
        await self._reply(interaction, format_history(entries))
