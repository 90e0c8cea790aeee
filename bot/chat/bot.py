"""The Discord bot: the gateway connection, slash commands (one cog per feature), and the
sink and notifier the pipeline delivers through.

    SignalBot(services, settings)           commands.Bot with no privileged intents
      setup_hook: add cogs, sync the command tree (one guild if configured, else global)
    DiscordSink(bot).send(alert)            channel message (+ subscriber mentions, DMs), with
                                            👍 / 👎 feedback buttons under a story alert
    DiscordNotifier(bot).notify(text)       the admin channel, else the log

Pointing discord.py elsewhere (a REST proxy, a test emulator) uses SIGNALWATCH_DISCORD_API_BASE
and SIGNALWATCH_DISCORD_GATEWAY: `point_discord_at` sets discord.py's own base URLs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.chat.feedback import FeedbackButton, feedback_view
from bot.chat.settings import DiscordSettings
from bot.errors import DeliveryError, PermanentDeliveryError
from bot.model import Alert, DigestAlert, StoryUpdate
from bot.notices import Notice, notice_text
from bot.pipeline import DEFAULT_DESTINATION, Compiled
from bot.render import alert_message, story_followup_message, truncate
from bot.store import Store
from bot.watchlist import WatchlistEditor

__all__ = [
    "BotServices",
    "DiscordNotifier",
    "DiscordSink",
    "SignalBot",
    "dm_nonce",
    "is_admin",
    "point_discord_at",
]

log = logging.getLogger("signalwatch.discord")

NONCE_LENGTH = 25  # Discord's limit; with enforce_nonce a resend within minutes is dropped
# A longer rate limit fails the send (the outbox retries later) instead of holding the alert's
# lease, and a shutdown, for as long as Discord asks. discord.py's smallest allowed value is 30.
MAX_RATE_LIMIT_WAIT = 60.0
# What a REST call raises when Discord or the way to it fails: worth a retry later.
TRANSIENT_ERRORS = (
    discord.HTTPException,
    discord.RateLimited,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
)


def dm_nonce(alert_id: str, user_id: int) -> str:
    """The nonce of an alert's DM to one user: stable, so a resend is deduplicated too.

    Discord documents the enforced-nonce check per author ("another message created by the
    same author with the same nonce" is returned instead), not per channel: a DM reusing the
    channel message's nonce could get that message back and never be sent.
    """
    digest = hashlib.sha256(f"{alert_id}\x1fdm\x1f{user_id}".encode()).hexdigest()
    return digest[:NONCE_LENGTH]


# signalwatch has no voice features: do not warn at every start that voice libraries are absent.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False


def point_discord_at(api_base: str | None, gateway: str | None) -> None:
    """Send discord.py's REST calls and gateway connection to these URLs (process-wide)."""
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


@dataclass
class BotServices:
    """What the cogs may use: the store, the live watchlist, its editor, the clock."""

    store: Store
    compiled: Callable[[], Compiled]
    editor: WatchlistEditor
    clock: Callable[[], datetime]
    reload: Callable[[], None] = lambda: None  # ask the run loop to re-read the watchlist now
    version: str = __version__
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one watchlist edit at a time


def is_admin(permissions: discord.Permissions, role_ids: list[int], admin_role: int | None) -> bool:
    """Manage Server, or the configured admin role: the same rule Discord's default uses."""
    return permissions.manage_guild or (admin_role is not None and admin_role in role_ids)


class SignalBot(commands.Bot):
    """signalwatch on Discord."""

    def __init__(
        self, services: BotServices, settings: DiscordSettings, *, guild_ready_timeout: float = 2.0
    ):
        intents = discord.Intents.default()  # no privileged intents: members, presences, content
        intents.message_content = False
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            chunk_guilds_at_startup=False,
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=guild_ready_timeout,
            max_ratelimit_timeout=MAX_RATE_LIMIT_WAIT,
        )
        self.services = services
        self.settings = settings
        self.ready_event = asyncio.Event()
        # Set once the bot will not become ready: it was closed, or its gateway task ended
        # (run_with_discord sets it then), so nothing waits for READY forever.
        self.gateway_ended = asyncio.Event()

    async def setup_hook(self) -> None:
        """Load every cog and register the slash commands with Discord."""
        from bot.chat.cogs.lookup import LookupCog
        from bot.chat.cogs.source import SourceCog
        from bot.chat.cogs.subscriptions import SubscriptionsCog
        from bot.chat.cogs.watch import WatchCog

        # override: a login retried after the command sync failed (Discord unreachable at
        # start, bot.chat.connect) runs this hook again with the cogs already added.
        await self.add_cog(LookupCog(self), override=True)
        await self.add_cog(SubscriptionsCog(self), override=True)
        await self.add_cog(WatchCog(self), override=True)
        await self.add_cog(SourceCog(self), override=True)
        # The 👍 / 👎 buttons of every alert ever posted, answered from their custom_id alone.
        self.add_dynamic_items(FeedbackButton)
        self.tree.error(self.on_app_command_error)
        if self.settings.guild is not None:
            guild = discord.Object(id=self.settings.guild)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
        else:
            await self.tree.sync()

    async def on_ready(self) -> None:
        """Log who we are once connected."""
        log.info("connected to Discord as %s (%s)", self.user, getattr(self.user, "id", "?"))
        self.ready_event.set()

    async def close(self) -> None:
        """Close the connection; whoever waits for READY stops waiting."""
        self.gateway_ended.set()
        await super().close()

    async def until_ready(self) -> bool:
        """Wait until the bot is ready (True) or its gateway has ended first (False)."""
        if self.is_ready():
            return True
        waiters = {
            asyncio.ensure_future(self.wait_until_ready()),
            asyncio.ensure_future(self.gateway_ended.wait()),
        }
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        return self.is_ready() and not self.gateway_ended.is_set()

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """Answer every failed command with a clear, private message."""
        if isinstance(error, app_commands.CheckFailure):
            text = str(error) or "You are not allowed to use this command."
        else:
            log.error("command %s failed", interaction.command, exc_info=error)
            text = f"Something went wrong: {truncate(str(error.__cause__ or error), 300)}"
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True)
        else:
            await interaction.response.send_message(text, ephemeral=True)


class DiscordSink:
    """Delivers alerts as channel messages through the bot; DMs subscribers who asked."""

    def __init__(self, bot: SignalBot, default_channel: int | None):
        self.bot = bot
        self.default_channel = default_channel

    def _channel_id(self, alert: Alert) -> int:
        if alert.destination == DEFAULT_DESTINATION:
            if self.default_channel is None:
                raise PermanentDeliveryError(
                    "no default channel: set SIGNALWATCH_DISCORD_CHANNEL or route the signal"
                )
            return self.default_channel
        kind, _, value = alert.destination.partition(":")
        if kind != "channel" or not value.isdigit():
            raise PermanentDeliveryError(f"not a Discord channel destination: {alert.destination}")
        return int(value)

    def _title(self, signal_id: str) -> str | None:
        try:
            return self.bot.services.compiled().watchlist.signal(signal_id).title
        except KeyError:
            return None

    async def send(self, alert: Alert) -> str | None:
        """Post the alert's embed; mention 'mention' subscribers, DM 'dm' subscribers."""
        if not await self.bot.until_ready():
            # The alert stays in the outbox; without this, a bot whose login failed after
            # the poll would leave the delivery (and the process) waiting forever.
            raise DeliveryError("not connected to Discord (the gateway connection has ended)")
        channel_id = self._channel_id(alert)
        # A digest pings no one: it is many signals' hits at a time of the route's choosing.
        subscribers = (
            []
            if isinstance(alert, DigestAlert)
            else await asyncio.to_thread(self.bot.services.store.subscribers, alert.signal_id)
        )
        mention = [s.user_id for s in subscribers if s.mode == "mention"]
        payload = alert_message(alert, self._title(alert.signal_id), mention)
        nonce = alert.alert_id[:NONCE_LENGTH]
        channel = await self._resolve(channel_id)
        view = _feedback_view_for(alert)
        message = await self._post(channel, payload, nonce, f"channel {channel_id}", view=view)
        # A signal routed to several channels makes one alert per channel; DM only from the
        # first, so a DM subscriber hears once per article.
        if alert.destination == self._first_destination(alert.signal_id):
            for sub in subscribers:
                if sub.mode == "dm":
                    await self._dm(sub.user_id, alert, dm_nonce(alert.alert_id, sub.user_id))
        return str(message.id)

    async def update(self, update: StoryUpdate) -> str | None:
        """Show a story's new outlets: edit the message named by `update.edit`, else post one
        short follow-up replying to the original. Returns the receipt of the message touched."""
        if not await self.bot.until_ready():
            raise DeliveryError("not connected to Discord (the gateway connection has ended)")
        original = update.original
        channel_id = self._channel_id(original)
        channel = await self._resolve(channel_id)
        title = self._title(original.signal_id)
        where = f"channel {channel_id}"
        if update.edit is not None:
            followup = update.edit.startswith("followup:")
            message_id = update.edit.removeprefix("followup:")
            if message_id.isdigit() and isinstance(
                channel, discord.abc.GuildChannel | discord.DMChannel | discord.Thread
            ):
                payload = (
                    story_followup_message(update, title)
                    if followup
                    else alert_message(original, title)
                )
                try:
                    await channel.get_partial_message(int(message_id)).edit(
                        embeds=[discord.Embed.from_dict(e) for e in payload["embeds"]],
                        allowed_mentions=discord.AllowedMentions.none(),
                    )
                    return update.edit
                except discord.NotFound:
                    pass  # deleted by someone: post a follow-up instead
                except discord.Forbidden as exc:
                    raise PermanentDeliveryError(
                        f"{where}: forbidden ({exc.text or exc})"
                    ) from None
                except discord.HTTPException as exc:
                    if exc.status == 400:
                        raise PermanentDeliveryError(
                            f"{where}: rejected ({exc.text or exc})"
                        ) from None
                    raise DeliveryError(f"{where}: {_describe(exc)}") from None
                except TRANSIENT_ERRORS as exc:
                    raise DeliveryError(f"{where}: {_describe(exc)}") from None
        reference = None
        if update.reply_to is not None and update.reply_to.isdigit():
            reference = discord.MessageReference(
                message_id=int(update.reply_to), channel_id=channel_id, fail_if_not_exists=False
            )
        payload = story_followup_message(update, title)
        nonce = hashlib.sha256(f"{original.alert_id}\x1ffollowup".encode()).hexdigest()
        message = await self._post(channel, payload, nonce[:NONCE_LENGTH], where, reference)
        return f"followup:{message.id}"

    def _first_destination(self, signal_id: str) -> str:
        destinations = self.bot.services.compiled().destinations(signal_id)
        channels = [d for d in destinations if not d.startswith("webhook:")]
        return channels[0] if channels else DEFAULT_DESTINATION

    async def _resolve(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.bot.get_channel(channel_id)
        if channel is None:
            try:
                channel = await self.bot.fetch_channel(channel_id)
            except discord.NotFound:
                raise PermanentDeliveryError(f"channel {channel_id} does not exist") from None
            except discord.Forbidden:
                raise PermanentDeliveryError(f"no access to channel {channel_id}") from None
            except TRANSIENT_ERRORS as exc:
                raise DeliveryError(f"channel {channel_id}: {_describe(exc)}") from None
        if not isinstance(channel, discord.abc.Messageable):
            raise PermanentDeliveryError(f"channel {channel_id} cannot hold messages")
        return channel

    async def _post(
        self,
        target: discord.abc.Messageable,
        payload: dict[str, Any],
        nonce: str,
        where: str,
        reference: discord.MessageReference | None = None,
        *,
        view: discord.ui.View | None = None,
    ) -> discord.Message:
        embeds = [discord.Embed.from_dict(e) for e in payload["embeds"]]
        mentions = discord.AllowedMentions(
            everyone=False,
            roles=False,
            replied_user=False,
            users=[discord.Object(id=int(u)) for u in payload["allowed_mentions"]["users"]],
        )
        try:
            # discord.py takes no None for these: None would not mean "omit"
            extra: dict[str, Any] = {}
            if reference is not None:
                extra["reference"] = reference
            if view is not None:
                extra["view"] = view
            message: discord.Message = await target.send(
                content=payload.get("content"),
                embeds=embeds,
                allowed_mentions=mentions,
                nonce=nonce,
                **extra,
            )
            return message
        except discord.Forbidden as exc:
            raise PermanentDeliveryError(f"{where}: forbidden ({exc.text or exc})") from None
        except discord.NotFound as exc:
            raise PermanentDeliveryError(f"{where}: not found ({exc.text or exc})") from None
        except discord.HTTPException as exc:
            if exc.status == 400:  # Discord refuses this payload: resending it cannot help
                raise PermanentDeliveryError(f"{where}: rejected ({exc.text or exc})") from None
            raise DeliveryError(f"{where}: {_describe(exc)}") from None
        except TRANSIENT_ERRORS as exc:
            # aiohttp's own errors (a dropped connection) are not OSErrors: without them here
            # a transport failure escaped the Deliverer and ended the run loop.
            raise DeliveryError(f"{where}: {_describe(exc)}") from None

    async def _dm(self, user_id: int, alert: Alert, nonce: str) -> None:
        """DM one subscriber; a closed DM inbox is logged, never fails the alert."""
        try:
            user = self.bot.get_user(user_id) or await self.bot.fetch_user(user_id)
            payload = alert_message(alert, self._title(alert.signal_id))
            await self._post(
                user, payload, nonce, f"DM to {user_id}", view=_feedback_view_for(alert)
            )
        except (DeliveryError, *TRANSIENT_ERRORS) as exc:
            log.warning("could not DM subscriber %s about %s: %s", user_id, alert.alert_id, exc)


class DiscordNotifier:
    """Admin notices in the admin channel; the log when there is none or it fails."""

    def __init__(self, bot: SignalBot, admin_channel: int | None):
        self.bot = bot
        self.admin_channel = admin_channel

    async def notify(self, message: str | Notice) -> None:
        """Post an admin notice (and always log it)."""
        text = message if isinstance(message, str) else notice_text(message)
        log.warning("ADMIN NOTICE: %s", text)
        if self.admin_channel is None or not self.bot.is_ready():
            return
        try:
            channel = self.bot.get_channel(self.admin_channel) or await self.bot.fetch_channel(
                self.admin_channel
            )
            if isinstance(channel, discord.abc.Messageable):
                await channel.send(
                    truncate(f"⚠️ {text}", 2000), allowed_mentions=discord.AllowedMentions.none()
                )
        except TRANSIENT_ERRORS as exc:
            log.error("could not post the admin notice to %s: %s", self.admin_channel, exc)


def _feedback_view_for(alert: Alert) -> discord.ui.View | None:
    """The 👍 / 👎 buttons for a story alert; other kinds (updates, floods, digests) stand
    for no one item and get none."""
    return feedback_view(alert.alert_id) if type(alert) is Alert else None


def _describe(exc: BaseException) -> str:
    """An error as one line: its text, else its type (aiohttp's often have no text)."""
    text = str(exc)
    if text and isinstance(exc, discord.DiscordException):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
