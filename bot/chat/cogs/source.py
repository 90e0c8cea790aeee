"""/source add | remove | list | enable: the feeds signalwatch polls, and their health."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.admin import (
    Refused,
    build_source_spec,
    diff_text,
    enable_record,
    format_source_list,
    switched_off,
)
from bot.chat.cogs.admin import AdminCogBase, admin_group, checked, is_admin_user
from bot.chat.cogs.common import MAX_CHOICES, bot_of
from bot.errors import FetchError, StoreError, WatchlistError
from bot.render import truncate
from bot.settings import Settings
from bot.sources.safety import check_url_allowed_async
from bot.watchlist import Change, WatchlistEditor, format_duration
from bot.watchlist.references import did_you_mean

if TYPE_CHECKING:
    from bot.chat.bot import SignalBot

__all__ = ["SourceCog"]


async def admin_source_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Source ids (watchlist and store) that contain what the admin typed, prefixes first."""
    if not is_admin_user(interaction):
        return []
    services = bot_of(interaction).services
    names = {s.id: s.url for s in services.compiled().watchlist.sources}
    for state in await asyncio.to_thread(services.store.sources):
        names.setdefault(state.id, state.url)
    typed = current.strip().casefold()
    scored = sorted(
        (not sid.startswith(typed), sid, url)
        for sid, url in names.items()
        if typed in f"{sid} {url}".casefold()
    )
    return [
        app_commands.Choice(name=truncate(f"{sid} — {url}", 100), value=sid)
        for _, sid, url in scored[:MAX_CHOICES]
    ]


class SourceCog(AdminCogBase):
    """Add, remove, list and re-enable feeds."""

    source = admin_group("source", "Manage the feeds signalwatch polls (admins)")

    def __init__(self, bot: SignalBot, *, allow_private_urls: bool | None = None):
        super().__init__(bot)
        # Read once: an admin-added feed may reach private addresses only if the operator says so.
        self.allow_private_urls = (
            Settings().allow_private_urls if allow_private_urls is None else allow_private_urls
        )

    @source.command(name="add", description="Add a feed to poll")
    @app_commands.rename(source_id="id")
    @app_commands.describe(
        url="The feed's http(s) URL (RSS or Atom)",
        source_id="Source id (default: made from the host name)",
        interval="How often to poll it, e.g. 15m or 1h (default from the watchlist)",
    )
    @checked
    async def source_add(
        self,
        interaction: discord.Interaction[Any],
        url: str,
        source_id: app_commands.Range[str, 1, 63] | None = None,
        interval: str | None = None,
    ) -> None:
        """/source add: a new feed, checked to be http(s) on a public address."""
        await self._defer(interaction)
        try:
            # Every check that needs no network first, so a typo costs no DNS lookup; they
            # run again under the lock, against the file as it is then.
            existing = (await asyncio.to_thread(self._current)).sources
            build_source_spec(url, source_id, interval, existing)
        except (Refused, WatchlistError) as error:
            await self._reply(interaction, self._refusal(error))
            return
        try:
            await check_url_allowed_async(url.strip(), allow_private=self.allow_private_urls)
        except FetchError as error:
            await self._reply(interaction, f"Not added: {error}.")
            return

        def add(editor: WatchlistEditor) -> Change:
            spec = build_source_spec(url, source_id, interval, self._current().sources)
            return editor.add_source(spec)

        change = await self._apply(
            interaction, "source.add", lambda c: f"source:{(c.after or {}).get('id')}", add
        )
        if change is None:
            return
        added = next(s for s in change.watchlist.sources if s.url == url.strip())
        await self._reply(
            interaction,
            f"Added source `{added.id}`: <{added.url}>, polled every "
            f"{format_duration(added.interval)}. Its first poll is on the next turn.",
        )

    @source.command(name="remove", description="Stop polling a feed and delete it")
    @app_commands.rename(source_id="id")
    @app_commands.describe(source_id="The source to delete")
    @app_commands.autocomplete(source_id=admin_source_choices)
    @checked
    async def source_remove(self, interaction: discord.Interaction[Any], source_id: str) -> None:
        """/source remove: delete a source from the watchlist."""
        await self._edit_and_report(
            interaction,
            "source.remove",
            f"source:{source_id}",
            lambda e: e.remove_source(source_id),
        )

    @source.command(name="list", description="Every feed with its health")
    @checked
    async def source_list(self, interaction: discord.Interaction[Any]) -> None:
        """/source list: each source's state, failures, last success and last error."""
        await self._defer(interaction)
        states = await asyncio.to_thread(self.bot.services.store.sources)
        configured = self.bot.services.compiled().watchlist.sources
        await self._reply(interaction, format_source_list(states, configured))

    @source.command(name="enable", description="Switch a disabled feed back on")
    @app_commands.rename(source_id="id")
    @app_commands.describe(source_id="The source to re-enable")
    @app_commands.autocomplete(source_id=admin_source_choices)
    @checked
    async def source_enable(self, interaction: discord.Interaction[Any], source_id: str) -> None:
        """/source enable: on in the watchlist file and in the store, failures reset."""
        await self._defer(interaction)
        services = self.bot.services
        now = services.clock()

        def enable() -> tuple[dict[str, object], dict[str, object]]:
            current = self._current()
            ids = [s.id for s in current.sources]
            if source_id not in ids:
                raise Refused(
                    f"No source `{source_id}` in the watchlist{did_you_mean(source_id, ids)}."
                )
            in_file = current.source(source_id).enabled
            state = services.store.source(source_id)
            off_in_store = state if switched_off(state) else None
            if in_file and off_in_store is None:
                raise Refused(f"Source `{source_id}` is already enabled: nothing changed.")
            if not in_file:
                self._editor.set_source_enabled(source_id, True)
            if off_in_store is not None:
                services.store.set_source_enabled(source_id, True, now)
            return enable_record(in_file, off_in_store)

        try:
            before, after = await self._locked(enable)
        except (Refused, WatchlistError, StoreError) as error:
            await self._reply(interaction, self._refusal(error))
            return
        services.reload()
        await self._audit(interaction, "source.enable", f"source:{source_id}", before, after)
        where = [] if before["enabled"] else ["in the watchlist"]
        if "store_enabled" in before:
            where.append("failures reset, polled on the next turn")
        await self._reply(
            interaction,
            f"Enabled source `{source_id}` ({'; '.join(where)}).\n{diff_text(before, after)}",
        )
