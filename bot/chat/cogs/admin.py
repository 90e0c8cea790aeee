"""What the admin cogs (/watch in watch.py, /source in source.py) share.

Every edit runs the same way, and a refused one changes nothing:

    validate input (ids, query, URL, interval)        Refused / QueryError → the reason, ephemeral
    | editor.<edit>() under services.lock, in a thread  WatchlistError → its lines, file untouched
    | services.reload()                                 the run loop re-reads the file now
    | store.record_audit(now, actor, action, target, before, after)
    → reply with what changed

`AdminCogBase` holds that shape (defer → apply → report); the deciding (ids from hosts,
intervals, query previews, history and health lines, diffs) is in bot/admin, tested without
Discord. Discord hides both groups from members without Manage Server (their default
permissions), and `checked` checks again on our side, since a server can change what Discord
shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.admin import MESSAGE_LIMIT, Refused, describe_change, format_problems, json_safe
from bot.chat.bot import is_admin
from bot.chat.cogs.common import admin_only, bot_of, signal_choices
from bot.errors import WatchlistError
from bot.render import truncate
from bot.watchlist import Change, Watchlist, WatchlistEditor, load_watchlist

if TYPE_CHECKING:
    from bot.chat.bot import SignalBot

__all__ = ["AdminCogBase", "admin_group", "admin_signal_choices", "checked", "is_admin_user"]

_MANAGE_SERVER = discord.Permissions(manage_guild=True)
_SERVERS_ONLY = app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)
_T = TypeVar("_T")


def admin_group(name: str, description: str) -> app_commands.Group:
    """A slash-command group Discord shows only to Manage Server, and only inside servers."""
    return app_commands.Group(
        name=name,
        description=description,
        default_permissions=_MANAGE_SERVER,
        guild_only=True,
        allowed_contexts=_SERVERS_ONLY,
    )


def checked(func: _T) -> _T:
    """`common.admin_only()` on a command, typed for mypy (the check itself is untyped)."""
    result: _T = admin_only()(func)
    return result


def is_admin_user(interaction: discord.Interaction[Any]) -> bool:
    """The same rule as `admin_only`, as a boolean (for autocomplete)."""
    member = interaction.user
    if not isinstance(member, discord.Member):
        return False
    roles = [role.id for role in member.roles]
    return is_admin(member.guild_permissions, roles, bot_of(interaction).settings.admin_role)


async def admin_signal_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Signal ids for admins; nothing for anyone else."""
    if not is_admin_user(interaction):
        return []
    return await signal_choices(interaction, current)


class AdminCogBase(commands.Cog):
    """The plumbing of an admin cog: private replies, the edit lock, audit, apply and report."""

    def __init__(self, bot: SignalBot):
        self.bot = bot

    @property
    def _editor(self) -> WatchlistEditor:
        return self.bot.services.editor

    async def _reply(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Answer privately, whether or not the command deferred."""
        text = truncate(text, MESSAGE_LIMIT)
        if interaction.response.is_done():
            await interaction.edit_original_response(content=text)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    async def _defer(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)

    def _refusal(self, error: Exception) -> str:
        """What to tell the admin about an edit we did not make."""
        if isinstance(error, WatchlistError):
            return format_problems(error.problems, self._editor.filename, self._editor.path.name)
        return str(error)

    def _current(self) -> Watchlist:
        """The watchlist as now on disk (the live one may lag an edit by a loop turn)."""
        return load_watchlist(self._editor.path)

    async def _locked(self, work: Callable[[], _T]) -> _T:
        """Run a blocking edit in a thread, one edit at a time."""
        async with self.bot.services.lock:
            return await asyncio.to_thread(work)

    async def _audit(
        self,
        interaction: discord.Interaction[Any],
        action: str,
        target: str,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
    ) -> None:
        services = self.bot.services
        user = interaction.user
        await asyncio.to_thread(
            services.store.record_audit,
            services.clock(),
            actor_id=user.id,
            actor_name=user.name,
            action=action,
            target=target,
            before=json_safe(before) if before is not None else None,
            after=json_safe(after) if after is not None else None,
        )

    async def _apply(
        self,
        interaction: discord.Interaction[Any],
        action: str,
        target: str | Callable[[Change], str],
        edit: Callable[[WatchlistEditor], Change],
    ) -> Change | None:
        """Edit the file (validated, under the lock), reload, audit; None (and say why) if refused.

        `target` names the edited item in the audit log, or computes it from the change.
        """
        try:
            change = await self._locked(lambda: edit(self._editor))
        except (Refused, WatchlistError) as error:
            await self._reply(interaction, self._refusal(error))
            return None
        if change.before == change.after:
            await self._reply(interaction, f"Nothing changed: {change.item} already says that.")
            return None
        self.bot.services.reload()
        name = target if isinstance(target, str) else target(change)
        await self._audit(interaction, action, name, change.before, change.after)
        return change

    async def _edit_and_report(
        self,
        interaction: discord.Interaction[Any],
        action: str,
        target: str,
        edit: Callable[[WatchlistEditor], Change],
    ) -> None:
        """The common shape of an edit command: think, apply, and say what changed."""
        await self._defer(interaction)
        change = await self._apply(interaction, action, target, edit)
        if change is not None:
            await self._reply(interaction, describe_change(change))
