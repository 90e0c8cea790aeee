"""A Discord API emulator for tests: REST + gateway on 127.0.0.1 for unmodified discord.py.

Discord is not reachable from test machines, and mocking discord.py's internals tests nothing that
matters, so this module serves the parts of the Discord API a bot uses (see
/work/shared/DISCORD-TESTING.md) from an aiohttp server in the test's own event loop. discord.py is
pointed at it through `discord.http.Route.BASE` and `DiscordWebSocket.DEFAULT_GATEWAY`
(`patch_discord`), and then runs unchanged: login, gateway READY/GUILD_CREATE, command sync,
interactions and their callbacks, messages, webhooks, rate limits and errors.

    def test_alert(discord_emulator: EmulatorFactory) -> None:
        async def scenario() -> None:
            async with discord_emulator() as emu:
                client = discord.Client(intents=discord.Intents.default(), **FAST_CLIENT_OPTIONS)
                async with running(client, emu):
                    await client.get_channel(emu.alerts.id).send("hello")
                assert emu.messages_in(emu.alerts)[-1]["content"] == "hello"

        asyncio.run(scenario())

Use `pytest_plugins = ["discord_emulator"]` in a test module for the `discord_emulator` fixture,
and import this module before `discord` (see the `# isort: split` in test_discord_emulator.py):
it imports discord.py with the one DeprecationWarning discord.py raises on import (the stdlib
`audioop`) silenced, which `filterwarnings = error` would otherwise turn into a collection error.

At a glance (signatures in the code):

    emu.send_interaction("watch add", {"term": "x", "channel": emu.alerts}) -> InteractionHandle
    await handle -> {"type": 4, "data": {...}}; handle.original / .followups / .original_edits
    emu.send_autocomplete(name, focused, options); emu.send_component(message, custom_id)
    emu.fail_next("POST", "/channels/1/messages", 429, retry_after=0.05) (also 403, 404, 500)
    emu.delay_next(method, path, seconds); emu.requests_to(method, path_regex)
    await emu.wait_for_request(method, path_regex); await emu.wait_until(predicate)
    emu.messages_in(channel); emu.commands(guild=None); emu.dm_channels; emu.add_webhook(channel)
    await emu.dispatch("EVENT_NAME", data); await emu.send_user_message(channel, "text")
    await emu.request_reconnect(); await emu.close_gateway(4000); emu.gateway_connections

The default world (`populate=True`): application = bot user `signalwatch` (their ids are equal, as
on Discord), guild "Signalwatch Test" (`emu.guild`) owned by `emu.owner`, roles @everyone,
`signalwatch` (the bot's managed role) and `Moderators`, members `emu.owner`, `emu.user` (alice,
no roles) and `emu.moderator`, text channels `#general` (`emu.general`), `#alerts` (`emu.alerts`)
and `#staff` (`emu.staff`; hidden from @everyone, visible to Moderators and the bot).

What Discord checks, the emulator checks too: bot token (401 / gateway close 4004), channel
permissions from roles and overwrites (403 50001/50013), DMs the user has closed (403 50007),
message limits (2000 characters, 10 embeds, embed field limits and 6000 in total: 400 50035),
empty messages (400 50006), command names and descriptions on sync (400 50035), interaction
callbacks once only (400 40060) and within `interaction_timeout` (404 10062). Unknown ids give the
Discord error (Unknown Channel 10003, Unknown Message 10008, ...), unknown routes the Discord 404.

Pitfalls it respects: JSON responses carry `Content-Type: application/json` exactly; every
response has a `Via` header (discord.py takes a 429 without one for a Cloudflare ban); 429 bodies
carry `retry_after`; `X-RateLimit-Remaining` is only sent with `X-RateLimit-Reset-After`; the
client's zlib-stream request is accepted and plain JSON text frames are sent. discord.py waits
`guild_ready_timeout` (2 s by default) after the last GUILD_CREATE before `on_ready`: pass
`FAST_CLIENT_OPTIONS` to the client for a start in well under a second.

PYTEST_DONT_REWRITE: test modules import this file before `pytest_plugins` registers it, and
it holds no test assertions for pytest to rewrite.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import sys
import time
import warnings
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import pytest
import yarl
from aiohttp import WSMsgType, web

with warnings.catch_warnings():
    # discord.py 2.7 imports the stdlib `audioop` (voice), which Python 3.11+ deprecates on import;
    # with `filterwarnings = error` that import would fail. Only this one warning is silenced.
    warnings.filterwarnings(
        "ignore", message="'audioop' is deprecated", category=DeprecationWarning
    )
    import discord

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "BOT_PERMISSIONS",
    "DEFAULT_TOKEN",
    "EVERYONE_PERMISSIONS",
    "FAST_CLIENT_OPTIONS",
    "MODERATOR_PERMISSIONS",
    "SEND_MESSAGES",
    "VIEW_CHANNEL",
    "DiscordEmulator",
    "EmuChannel",
    "EmuGuild",
    "EmuMember",
    "EmuRole",
    "EmuUser",
    "EmuWebhook",
    "EmulatorFactory",
    "GatewayConnection",
    "GatewaySession",
    "InteractionHandle",
    "RecordedFile",
    "RecordedRequest",
    "ScriptedReply",
    "discord_emulator",
    "patch_discord",
    "running",
    "snowflake",
]

DEFAULT_TOKEN: Final = "MTIzNDU2Nzg5MDEyMzQ1Njc4.emulat.or-only-not-a-real-discord-token"
DISCORD_EPOCH_MS: Final = 1_420_070_400_000
API_VERSION: Final = 10
# discord.py waits this long after the last GUILD_CREATE before on_ready (default 2 s).
FAST_CLIENT_OPTIONS: Final[Mapping[str, Any]] = {"guild_ready_timeout": 0.05}

_P = discord.Permissions
ALL_PERMISSIONS: Final = _P.all().value
ADMINISTRATOR: Final = _P(administrator=True).value
VIEW_CHANNEL: Final = _P(view_channel=True).value
SEND_MESSAGES: Final = _P(send_messages=True).value
MANAGE_MESSAGES: Final = _P(manage_messages=True).value
MANAGE_WEBHOOKS: Final = _P(manage_webhooks=True).value
ATTACH_FILES: Final = _P(attach_files=True).value
EVERYONE_PERMISSIONS: Final = _P(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
    read_message_history=True,
    use_application_commands=True,
    create_instant_invite=True,
    change_nickname=True,
    connect=True,
    speak=True,
).value
BOT_PERMISSIONS: Final = _P(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    add_reactions=True,
    use_external_emojis=True,
    read_message_history=True,
    manage_webhooks=True,
).value
MODERATOR_PERMISSIONS: Final = _P(
    manage_messages=True, manage_guild=True, kick_members=True, moderate_members=True
).value

# Gateway intents (bits) the emulator looks at.
INTENT_GUILD_MEMBERS: Final = 1 << 1
INTENT_GUILD_PRESENCES: Final = 1 << 8
INTENT_GUILD_MESSAGES: Final = 1 << 9
INTENT_DIRECT_MESSAGES: Final = 1 << 12
INTENT_MESSAGE_CONTENT: Final = 1 << 15
PRIVILEGED_INTENTS: Final = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

EPHEMERAL: Final = 1 << 6  # message flag
LOADING: Final = 1 << 7  # message flag of a deferred ("thinking") interaction response
_EDITABLE_FLAGS: Final = (1 << 2) | (1 << 12)  # SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS

_T = TypeVar("_T")
_ClientT = TypeVar("_ClientT", bound=discord.Client)
_Json = dict[str, Any]


class _SnowflakeClock:
    """Makes unique, increasing snowflakes from the current time (17-20 digits, like Discord's)."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        """Return a new snowflake."""
        now = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last = max(now, self._last + 1)
        return self._last


snowflake = _SnowflakeClock()


def _iso_now() -> str:
    """The current time as Discord writes timestamps."""
    return datetime.now(UTC).isoformat()


def _id_of(obj: Any) -> int:
    """The id of an emulator object, a discord.py object with `.id`, or an int."""
    if isinstance(obj, EmuMember):
        return obj.user.id
    if isinstance(obj, int):
        return obj
    return int(obj.id)


# --- the world -----------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class EmuUser:
    """A Discord user; `accepts_dms=False` makes DMs to it fail with 403 50007."""

    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    accepts_dms: bool = True

    @property
    def mention(self) -> str:
        """The user's mention, `<@id>`."""
        return f"<@{self.id}>"

    def payload(self) -> _Json:
        """The user object Discord sends."""
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass(eq=False, slots=True)
class EmuRole:
    """A guild role; the @everyone role's id is the guild's id."""

    id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    tags: _Json | None = None

    @property
    def mention(self) -> str:
        """The role's mention, `<@&id>`."""
        return f"<@&{self.id}>"

    def payload(self) -> _Json:
        """The role object Discord sends."""
        data: _Json = {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "managed": self.managed,
            "mentionable": self.mentionable,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }
        if self.tags is not None:
            data["tags"] = self.tags
        return data


@dataclass(eq=False, slots=True)
class EmuMember:
    """A user's membership of a guild: role ids, nick, flags."""

    user: EmuUser
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    flags: int = 0
    joined_at: str = field(default_factory=_iso_now)

    @property
    def id(self) -> int:
        """The member's user id."""
        return self.user.id

    def payload(self, *, permissions: int | None = None, with_user: bool = True) -> _Json:
        """The guild member object Discord sends (with `permissions` in interactions)."""
        data: _Json = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": self.flags,
            "pending": False,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass(eq=False, slots=True)
class EmuChannel:
    """A guild channel (type 0 text, 2 voice, 4 category, 5 news, ...) or a DM (type 1)."""

    id: int
    name: str
    type: int = 0
    guild_id: int | None = None
    position: int = 0
    topic: str | None = None
    parent_id: int | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    overwrites: list[_Json] = field(default_factory=list)
    recipients: list[EmuUser] = field(default_factory=list)
    messages: list[_Json] = field(default_factory=list)

    @property
    def mention(self) -> str:
        """The channel's mention, `<#id>`."""
        return f"<#{self.id}>"

    def set_overwrite(
        self, target: EmuRole | EmuMember | EmuUser, *, allow: int = 0, deny: int = 0
    ) -> None:
        """Set the permission overwrite for a role or a member (replacing any earlier one)."""
        kind = 0 if isinstance(target, EmuRole) else 1
        target_id = _id_of(target)
        self.overwrites = [o for o in self.overwrites if int(o["id"]) != target_id]
        self.overwrites.append(
            {"id": str(target_id), "type": kind, "allow": str(allow), "deny": str(deny)}
        )

    def message(self, message_id: int | str) -> _Json | None:
        """The stored message with this id, if any."""
        wanted = str(message_id)
        return next((m for m in self.messages if m["id"] == wanted), None)

    def payload(self) -> _Json:
        """The channel object Discord sends."""
        last = self.messages[-1]["id"] if self.messages else None
        if self.type in (1, 3):
            return {
                "id": str(self.id),
                "type": self.type,
                "last_message_id": last,
                "flags": 0,
                "recipients": [u.payload() for u in self.recipients],
            }
        data: _Json = {
            "id": str(self.id),
            "type": self.type,
            "name": self.name,
            "position": self.position,
            "parent_id": str(self.parent_id) if self.parent_id else None,
            "permission_overwrites": list(self.overwrites),
            "flags": 0,
        }
        if self.guild_id is not None:
            data["guild_id"] = str(self.guild_id)
        if self.type != 4:
            data.update(
                topic=self.topic,
                nsfw=self.nsfw,
                last_message_id=last,
                rate_limit_per_user=self.rate_limit_per_user,
            )
        return data


@dataclass(eq=False, slots=True)
class EmuWebhook:
    """An incoming webhook of a channel; `url` is the discord.com URL that discord.py parses."""

    id: int
    token: str
    channel_id: int
    guild_id: int | None
    name: str = "Signalwatch"
    messages: list[_Json] = field(default_factory=list)

    @property
    def url(self) -> str:
        """`https://discord.com/api/webhooks/{id}/{token}`; Route.BASE redirects the requests."""
        return f"https://discord.com/api/webhooks/{self.id}/{self.token}"

    def payload(self, *, with_token: bool = True) -> _Json:
        """The webhook object Discord sends."""
        data: _Json = {
            "id": str(self.id),
            "type": 1,
            "guild_id": str(self.guild_id) if self.guild_id else None,
            "channel_id": str(self.channel_id),
            "name": self.name,
            "avatar": None,
            "application_id": None,
        }
        if with_token:
            data["token"] = self.token
        return data


class EmuGuild:
    """A guild: roles, channels and members by id, with name look-ups and permission maths."""

    def __init__(self, guild_id: int, name: str, owner_id: int) -> None:
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.roles: dict[int, EmuRole] = {
            guild_id: EmuRole(guild_id, "@everyone", EVERYONE_PERMISSIONS)
        }
        self.channels: dict[int, EmuChannel] = {}
        self.members: dict[int, EmuMember] = {}
        self.bot_role: EmuRole | None = None
        self.joined_at = _iso_now()

    @property
    def everyone(self) -> EmuRole:
        """The @everyone role."""
        return self.roles[self.id]

    def add_role(
        self, name: str, permissions: int = 0, *, position: int | None = None, **fields: Any
    ) -> EmuRole:
        """Add a role (above the others unless `position` is given) and return it."""
        if position is None:
            position = max(r.position for r in self.roles.values()) + 1
        role = EmuRole(snowflake(), name, permissions, position, **fields)
        self.roles[role.id] = role
        return role

    def add_channel(
        self,
        name: str,
        type: int = 0,
        *,
        position: int | None = None,
        topic: str | None = None,
        parent: EmuChannel | None = None,
    ) -> EmuChannel:
        """Add a channel (type 0 text by default) and return it."""
        if position is None:
            position = sum(1 for c in self.channels.values() if (c.type == 4) == (type == 4))
        channel = EmuChannel(
            snowflake(),
            name,
            type,
            guild_id=self.id,
            position=position,
            topic=topic,
            parent_id=parent.id if parent else None,
        )
        self.channels[channel.id] = channel
        return channel

    def add_text_channel(self, name: str, **options: Any) -> EmuChannel:
        """Add a text channel and return it."""
        return self.add_channel(name, 0, **options)

    def add_member(
        self, user: EmuUser, roles: Iterable[EmuRole | int] = (), *, nick: str | None = None
    ) -> EmuMember:
        """Add `user` as a member with `roles` and return the member."""
        member = EmuMember(user, [_id_of(r) for r in roles], nick=nick)
        self.members[user.id] = member
        return member

    def channel(self, key: str | int) -> EmuChannel:
        """The channel with this name or id (KeyError if none)."""
        for channel in self.channels.values():
            if key in (channel.id, channel.name):
                return channel
        raise KeyError(key)

    def role(self, key: str | int) -> EmuRole:
        """The role with this name or id (KeyError if none)."""
        for role in self.roles.values():
            if key in (role.id, role.name):
                return role
        raise KeyError(key)

    def member(self, key: EmuUser | str | int) -> EmuMember:
        """The member for this user, user id or username (KeyError if none)."""
        for member in self.members.values():
            if key is member.user or key in (member.user.id, member.user.username):
                return member
        raise KeyError(key)

    def text_channels(self) -> list[EmuChannel]:
        """Text channels in position order."""
        return sorted((c for c in self.channels.values() if c.type == 0), key=lambda c: c.position)

    def base_permissions(self, member: EmuMember) -> int:
        """Guild-wide permissions of `member` (owner and administrators get all)."""
        if member.user.id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.everyone.permissions
        for role_id in member.roles:
            role = self.roles.get(role_id)
            if role is not None:
                perms |= role.permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def permissions_for(self, member: EmuMember, channel: EmuChannel | None = None) -> int:
        """Permissions of `member` in `channel`, with overwrites applied as Discord does."""
        perms = self.base_permissions(member)
        if channel is None or perms & ADMINISTRATOR:
            return perms
        overwrites = {int(o["id"]): o for o in channel.overwrites}
        everyone = overwrites.get(self.id)
        if everyone is not None:
            perms = (perms & ~int(everyone["deny"])) | int(everyone["allow"])
        allow = deny = 0
        for role_id in member.roles:
            overwrite = overwrites.get(role_id)
            if overwrite is not None and int(overwrite["type"]) == 0:
                allow |= int(overwrite["allow"])
                deny |= int(overwrite["deny"])
        perms = (perms & ~deny) | allow
        own = overwrites.get(member.user.id)
        if own is not None and int(own["type"]) == 1:
            perms = (perms & ~int(own["deny"])) | int(own["allow"])
        if not perms & VIEW_CHANNEL:
            return 0
        return perms

    def payload(self, *, full: bool = True) -> _Json:
        """The guild object; `full` adds what GUILD_CREATE carries (channels, members, ...)."""
        text = self.text_channels()
        data: _Json = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 1,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": [],
            "system_channel_id": str(text[0].id) if text else None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "application_id": None,
            "roles": [r.payload() for r in self.roles.values()],
            "emojis": [],
            "stickers": [],
        }
        if full:
            data.update(
                joined_at=self.joined_at,
                large=False,
                lazy=True,
                unavailable=False,
                member_count=len(self.members),
                channels=[c.payload() for c in self.channels.values()],
                members=[m.payload() for m in self.members.values()],
                threads=[],
                presences=[],
                voice_states=[],
                stage_instances=[],
                guild_scheduled_events=[],
                soundboard_sounds=[],
            )
        return data


# --- records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedFile:
    """A file uploaded in a multipart request (`files[n]`)."""

    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass(slots=True)
class RecordedRequest:
    """One HTTP request as seen; `path` is relative to the API base, header names lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes
    files: list[RecordedFile]
    at: float
    status: int = 0  # the status the emulator answered with
    response: Any = None  # the JSON body the emulator answered with


@dataclass(slots=True)
class ScriptedReply:
    """A canned reply for the next `times` requests matching `method` and `path` (see fail_next)."""

    method: str
    path: str | re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int = 1
    delay: float = 0.0
    passthrough: bool = False  # only delay, then handle the request normally
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Whether this reply applies to a request (exact path, or a pattern's full match)."""
        if self.used >= self.times or method != self.method.upper():
            return False
        if isinstance(self.path, re.Pattern):
            return self.path.fullmatch(path) is not None
        return path == self.path


class GatewayConnection:
    """One gateway WebSocket: its URL query and the payloads each side sent, in order."""

    def __init__(self, ws: web.WebSocketResponse, path: str, query: dict[str, str]) -> None:
        self.ws = ws
        self.path = path
        self.query = query
        self.received: list[_Json] = []
        self.sent: list[_Json] = []
        self.session: GatewaySession | None = None
        self._lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        """Whether the WebSocket is closed."""
        return self.ws.closed

    def ops_received(self, op: int) -> list[_Json]:
        """Payloads with this opcode that the client sent."""
        return [p for p in self.received if p.get("op") == op]

    async def send(self, payload: _Json) -> bool:
        """Send one JSON text frame; False if the socket is gone."""
        async with self._lock:
            if self.ws.closed:
                return False
            try:
                await self.ws.send_str(json.dumps(payload, separators=(",", ":")))
            except ConnectionError:
                return False
        self.sent.append(payload)
        return True


@dataclass(eq=False, slots=True)
class GatewaySession:
    """An identified gateway session; it outlives its connection so RESUME can replay events."""

    session_id: str
    intents: int
    identify: _Json
    connection: GatewayConnection | None = None
    seq: int = 0
    resumes: int = 0
    events: deque[_Json] = field(default_factory=lambda: deque(maxlen=1000))


class InteractionHandle:
    """An interaction sent to the bot; `await handle` gives its first callback {type, data}."""

    # Callback types: 4 message, 5 deferred message, 6 deferred update, 7 update message,
    # 8 autocomplete result, 9 modal. The response message (`original`), its edits and
    # follow-up messages land here too.

    def __init__(
        self,
        emulator: DiscordEmulator,
        payload: _Json,
        *,
        guild: EmuGuild | None,
        channel: EmuChannel,
        user: EmuUser,
    ) -> None:
        self.payload = payload
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.guild = guild
        self.channel = channel
        self.user = user
        self.callbacks: list[_Json] = []
        self.original: _Json | None = None
        self.original_edits: list[_Json] = []
        self.original_deleted = False
        self.followups: list[_Json] = []
        self.sent_at = time.monotonic()
        self.responded_at: float | None = None
        self._emulator = emulator

    def __repr__(self) -> str:
        name = self.payload.get("data", {}).get("name") or self.payload.get("data", {}).get(
            "custom_id"
        )
        answered = len(self.callbacks)
        return (
            f"<InteractionHandle id={self.id} type={self.type} name={name!r} callbacks={answered}>"
        )

    def __await__(self) -> Generator[Any, None, _Json]:
        """Wait (2 s at most) for the bot's first callback and return it."""
        return self.response().__await__()

    @property
    def callback(self) -> _Json | None:
        """The first callback, if the bot has answered."""
        return self.callbacks[0] if self.callbacks else None

    @property
    def response_delay(self) -> float | None:
        """Seconds from dispatch to the bot's callback."""
        return None if self.responded_at is None else self.responded_at - self.sent_at

    async def response(self, timeout: float = 2.0) -> _Json:
        """Wait for the bot's first callback and return it as `{"type": ..., "data": ...}`."""
        return await self._emulator.wait_until(
            lambda: self.callback, timeout=timeout, what=f"a callback to {self!r}"
        )

    async def followup(self, index: int = 0, timeout: float = 2.0) -> _Json:
        """Wait for follow-up message number `index` (from 0) and return it."""
        await self._emulator.wait_until(
            lambda: len(self.followups) > index, timeout=timeout, what=f"follow-up {index}"
        )
        return self.followups[index]

    async def original_edit(self, count: int = 1, timeout: float = 2.0) -> _Json:
        """Wait until the original response has been edited `count` times; return the message."""
        await self._emulator.wait_until(
            lambda: len(self.original_edits) >= count,
            timeout=timeout,
            what=f"{count} edit(s) of the original response",
        )
        assert self.original is not None
        return self.original

    async def choices(self, timeout: float = 2.0) -> list[_Json]:
        """Wait for an autocomplete result (callback type 8) and return its choices."""
        callback = await self.response(timeout)
        if callback["type"] != 8:
            raise AssertionError(f"expected an autocomplete result, got {callback}")
        return list(callback["data"].get("choices", []))


class _ApiError(Exception):
    """A Discord error reply: status, JSON error code and message (and form errors)."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: _Json | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: _Json = {"message": message, "code": code}
        if errors:
            self.body["errors"] = errors
        self.headers = dict(headers or {})


def _unknown(what: str, code: int) -> _ApiError:
    """The 404 Discord sends for an unknown id."""
    return _ApiError(404, code, f"Unknown {what}")


def _missing_access() -> _ApiError:
    """403 Missing Access (cannot see the channel or guild)."""
    return _ApiError(403, 50001, "Missing Access")


def _missing_permissions() -> _ApiError:
    """403 Missing Permissions."""
    return _ApiError(403, 50013, "Missing Permissions")


def _form_error(errors: _Json) -> _ApiError:
    """400 Invalid Form Body with Discord's nested `errors`."""
    return _ApiError(400, 50035, "Invalid Form Body", errors)


def _add_error(errors: _Json, path: Sequence[str | int], code: str, message: str) -> None:
    """Add one error at `path` in Discord's nested `{key: {..., "_errors": [...]}}` form."""
    node = errors
    for key in path:
        node = node.setdefault(str(key), {})
    node.setdefault("_errors", []).append({"code": code, "message": message})


def _default_error(status: int) -> tuple[int, str]:
    """The JSON code and message Discord sends with a bare status."""
    if status == 403:
        return 50013, "Missing Permissions"
    if status == 400:
        return 50035, "Invalid Form Body"
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return 0, f"{status}: {phrase}"


_COMMAND_NAME = re.compile(r"[-_'\w]{1,32}")
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")


def _check_length(errors: _Json, path: Sequence[str | int], value: Any, limit: int) -> int:
    """Add a BASE_TYPE_MAX_LENGTH error if `value` is longer than `limit`; return its length."""
    length = len(value) if isinstance(value, str) else 0
    if length > limit:
        _add_error(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
    return length


def _message_errors(payload: Mapping[str, Any]) -> _Json:
    """Form errors Discord would report for a message body (content and embed limits)."""
    errors: _Json = {}
    _check_length(errors, ["content"], payload.get("content"), 2000)
    embeds = payload.get("embeds") or []
    if len(embeds) > 10:
        _add_error(errors, ["embeds"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
    total = 0
    for i, embed in enumerate(embeds):
        at: list[str | int] = ["embeds", i]
        total += _check_length(errors, [*at, "title"], embed.get("title"), 256)
        total += _check_length(errors, [*at, "description"], embed.get("description"), 4096)
        footer = embed.get("footer") or {}
        total += _check_length(errors, [*at, "footer", "text"], footer.get("text"), 2048)
        author = embed.get("author") or {}
        total += _check_length(errors, [*at, "author", "name"], author.get("name"), 256)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            _add_error(
                errors, [*at, "fields"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
            )
        for j, item in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                value = item.get(key)
                if not value:
                    _add_error(
                        errors,
                        [*at, "fields", j, key],
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    )
                total += _check_length(errors, [*at, "fields", j, key], value, limit)
    if total > 6000:
        _add_error(
            errors, ["embeds"], "BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000"
        )
    return errors


def _is_empty_message(payload: Mapping[str, Any], files: Sequence[RecordedFile]) -> bool:
    """Whether a message body has nothing to show (Discord: 400 50006)."""
    keys = ("content", "embeds", "components", "sticker_ids", "poll", "attachments")
    return not files and not any(payload.get(k) for k in keys)


def _command_errors(index: int, command: Mapping[str, Any], errors: _Json) -> None:
    """Add form errors Discord would report for one application command in a bulk overwrite."""
    kind = command.get("type", 1)
    name = command.get("name")
    if not isinstance(name, str):
        _add_error(errors, [index, "name"], "BASE_TYPE_REQUIRED", "This field is required")
        return
    if kind == 1:
        if not _COMMAND_NAME.fullmatch(name) or name != name.lower():
            _add_error(
                errors,
                [index, "name"],
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            )
        description = command.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 100:
            _add_error(
                errors,
                [index, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
    elif not 1 <= len(name) <= 32:
        _add_error(
            errors, [index, "name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length."
        )
    _option_errors([index], command.get("options") or [], errors)


def _option_errors(
    path: list[str | int], options: Sequence[Mapping[str, Any]], errors: _Json
) -> None:
    """Add form errors for command options (names, descriptions, counts, required order)."""
    at = [*path, "options"]
    if len(options) > 25:
        _add_error(errors, at, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen_optional = False
    names: set[str] = set()
    for i, option in enumerate(options):
        name = str(option.get("name", ""))
        if not _COMMAND_NAME.fullmatch(name) or name != name.lower():
            _add_error(
                errors,
                [*at, i, "name"],
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            )
        if name in names:
            _add_error(
                errors,
                [*at, i, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(name)
        description = option.get("description")
        if not isinstance(description, str) or not 1 <= len(description) <= 100:
            _add_error(
                errors,
                [*at, i, "description"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if len(option.get("choices") or []) > 25:
            _add_error(
                errors,
                [*at, i, "choices"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            )
        if option.get("type") in (1, 2):
            _option_errors([*at, i], option.get("options") or [], errors)
        elif option.get("required"):
            if seen_optional:
                _add_error(
                    errors,
                    [*at, i, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            seen_optional = True


def _infer_option_type(value: Any) -> int:
    """The application command option type for a Python value (when no schema is known)."""
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, EmuUser | EmuMember):
        return 6
    if isinstance(value, EmuChannel):
        return 7
    if isinstance(value, EmuRole):
        return 8
    return 3


def _json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A response with Content-Type exactly `application/json` (discord.py requires it)."""
    all_headers = {"Via": "1.1 google", **(headers or {})}
    if status == 204 or body is None:
        return web.Response(status=status, headers=all_headers)
    return web.Response(
        status=status,
        body=json.dumps(body, separators=(",", ":")).encode(),
        content_type="application/json",
        headers=all_headers,
    )


@dataclass(slots=True)
class _Call:
    """A REST request being handled: the raw request, its record and the route's path parameters."""

    request: web.Request
    record: RecordedRequest
    params: dict[str, str]

    @property
    def json(self) -> Any:
        """The decoded JSON body (or multipart `payload_json`)."""
        return self.record.json

    def body(self) -> _Json:
        """The JSON body as an object (400 if it is anything else)."""
        if not isinstance(self.record.json, dict):
            raise _ApiError(400, 50109, "The request body contains invalid JSON.")
        return self.record.json

    def flag(self, name: str) -> bool:
        """Whether a boolean query parameter is set (`1`/`true`)."""
        return self.record.query.get(name, "").lower() in ("1", "true")


_Reply = tuple[int, Any]
_Handler = Callable[[_Call], Awaitable[_Reply]]


@dataclass(frozen=True, slots=True)
class _Route:
    """One REST route: method, full-match path pattern, handler, whether it needs the bot token."""

    method: str
    pattern: re.Pattern[str]
    handler: _Handler
    auth: bool = True


# --- the emulator ------------------------------------------------------------------------------


class DiscordEmulator:
    """A programmable Discord API (REST + gateway) on 127.0.0.1 with a request log."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        populate: bool = True,
        interaction_timeout: float | None = 3.0,
        heartbeat_interval: float = 41.25,
        echo_messages: bool = True,
        allowed_intents: int = -1,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.interaction_timeout = interaction_timeout
        self.heartbeat_interval = heartbeat_interval
        self.echo_messages = echo_messages  # MESSAGE_CREATE/UPDATE/DELETE for REST changes
        self.allowed_intents = allowed_intents  # identify with others -> close 4014
        self.host = host
        self.port = 0
        self.users: dict[int, EmuUser] = {}
        self.bot_user = self.add_user("signalwatch", "Signalwatch", bot=True)
        self.application_id = self.bot_user.id  # as on Discord for current applications
        self.application_name = "Signalwatch"
        self.application_flags = 0
        self.owner = self.add_user("owner", "Guild Owner")
        self.guilds: dict[int, EmuGuild] = {}
        self.dm_channels: dict[int, EmuChannel] = {}  # by recipient user id
        self.webhooks: dict[int, EmuWebhook] = {}
        self.global_commands: list[_Json] = []
        self.guild_commands: dict[int, list[_Json]] = {}
        self.interactions: dict[int, InteractionHandle] = {}
        self.messages: list[_Json] = []  # every message created, in order, as currently stored
        self.deleted_message_ids: set[int] = set()
        self.requests: list[RecordedRequest] = []
        self.gateway_connections: list[GatewayConnection] = []
        self.scripted: list[ScriptedReply] = []
        self._sessions: dict[str, GatewaySession] = {}
        self._interactions_by_token: dict[str, InteractionHandle] = {}
        self._waiters: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self._routes = self._build_routes()
        self.user = self.owner  # replaced by populate()
        self.moderator = self.owner
        if populate:
            self._populate()

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start serving on a free port of `host`."""
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/resume", self._gateway)
        app.router.add_route("*", "/api/v{version:\\d+}/{tail:.*}", self._rest)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._socket = sock
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close gateway connections and stop serving."""
        for conn in self.gateway_connections:
            if not conn.closed:
                await conn.ws.close(code=1001, message=b"emulator stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        for _, future in self._waiters:
            future.cancel()
        self._waiters.clear()

    async def __aenter__(self) -> Self:
        """Start the emulator."""
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the emulator."""
        await self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """The REST base for `discord.http.Route.BASE`: `http://127.0.0.1:PORT/api/v10`."""
        return f"{self.base_url}/api/v{API_VERSION}"

    @property
    def gateway_url(self) -> str:
        """The gateway for `DiscordWebSocket.DEFAULT_GATEWAY`: `ws://127.0.0.1:PORT/gateway`."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        """What READY gives as `resume_gateway_url` (same server, its own path)."""
        return f"ws://{self.host}:{self.port}/gateway/resume"

    # --- building the world -------------------------------------------------------------------

    def _populate(self) -> None:
        """Build the default world described in the module docstring."""
        self.user = self.add_user("alice", "Alice")
        self.moderator = self.add_user("mod", "Moderator")
        guild = self.add_guild("Signalwatch Test", owner=self.owner)
        mods = guild.add_role("Moderators", MODERATOR_PERMISSIONS, hoist=True, mentionable=True)
        guild.add_member(self.owner)
        guild.add_member(self.user)
        guild.add_member(self.moderator, [mods])
        guild.add_text_channel("general", topic="General chat")
        guild.add_text_channel("alerts", topic="News alerts")
        staff = guild.add_text_channel("staff", topic="Staff only")
        staff.set_overwrite(guild.everyone, deny=VIEW_CHANNEL)
        staff.set_overwrite(mods, allow=VIEW_CHANNEL)
        assert guild.bot_role is not None
        staff.set_overwrite(guild.bot_role, allow=VIEW_CHANNEL)

    def add_user(self, username: str, global_name: str | None = None, **fields: Any) -> EmuUser:
        """Create a user known to the emulator and return it."""
        user = EmuUser(snowflake(), username, global_name, **fields)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, *, owner: EmuUser | None = None) -> EmuGuild:
        """Create a guild the bot is in (with its managed role) and return it."""
        guild = EmuGuild(snowflake(), name, (owner or self.owner).id)
        guild.bot_role = guild.add_role(
            self.bot_user.username,
            BOT_PERMISSIONS,
            managed=True,
            tags={"bot_id": str(self.bot_user.id)},
        )
        guild.add_member(self.bot_user, [guild.bot_role])
        self.guilds[guild.id] = guild
        return guild

    def add_webhook(self, channel: EmuChannel | int, name: str = "Signalwatch") -> EmuWebhook:
        """Create an incoming webhook for a channel and return it (use `.url`)."""
        found = self.find_channel(_id_of(channel))
        if found is None:
            raise KeyError(channel)
        # discord.py's Webhook.from_url wants a 17-20 digit id and a 60+ character token.
        webhook = EmuWebhook(snowflake(), secrets.token_urlsafe(51), found.id, found.guild_id, name)
        self.webhooks[webhook.id] = webhook
        return webhook

    @property
    def guild(self) -> EmuGuild:
        """The first guild (the default one)."""
        if not self.guilds:
            raise LookupError("the emulator has no guild: use populate=True or add_guild()")
        return next(iter(self.guilds.values()))

    @property
    def general(self) -> EmuChannel:
        """`#general` of the default guild."""
        return self.guild.channel("general")

    @property
    def alerts(self) -> EmuChannel:
        """`#alerts` of the default guild."""
        return self.guild.channel("alerts")

    @property
    def staff(self) -> EmuChannel:
        """`#staff` of the default guild (hidden from @everyone)."""
        return self.guild.channel("staff")

    def find_user(self, user_id: int) -> EmuUser | None:
        """The user with this id, from the emulator's users or any guild's members."""
        user = self.users.get(user_id)
        if user is None:
            for guild in self.guilds.values():
                member = guild.members.get(user_id)
                if member is not None:
                    return member.user
        return user

    def find_channel(self, channel_id: int) -> EmuChannel | None:
        """The guild or DM channel with this id."""
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        return next((c for c in self.dm_channels.values() if c.id == channel_id), None)

    def dm_channel(self, user: EmuUser) -> EmuChannel:
        """The DM channel between the bot and `user` (created on first use)."""
        channel = self.dm_channels.get(user.id)
        if channel is None:
            channel = EmuChannel(snowflake(), "", 1, recipients=[user])
            self.dm_channels[user.id] = channel
        return channel

    def messages_in(self, channel: EmuChannel | int) -> list[_Json]:
        """The messages currently stored in a channel, oldest first."""
        found = self.find_channel(_id_of(channel))
        return [] if found is None else list(found.messages)

    def commands(self, guild: EmuGuild | int | None = None) -> list[_Json]:
        """The registered global commands, or a guild's."""
        if guild is None:
            return list(self.global_commands)
        return list(self.guild_commands.get(_id_of(guild), []))

    # --- requests, scripts and waiting ----------------------------------------------------------

    def requests_to(self, method: str, path: str | re.Pattern[str]) -> list[RecordedRequest]:
        """Recorded requests with this method whose path fully matches the regex `path`."""
        pattern = re.compile(path) if isinstance(path, str) else path
        return [
            r
            for r in self.requests
            if r.method == method.upper() and pattern.fullmatch(r.path) is not None
        ]

    async def wait_for_request(
        self,
        method: str,
        path: str | re.Pattern[str],
        *,
        count: int = 1,
        timeout: float = 2.0,
    ) -> RecordedRequest:
        """Wait until `count` matching requests have been answered; return the last of them."""
        await self.wait_until(
            lambda: len([r for r in self.requests_to(method, path) if r.status]) >= count,
            timeout=timeout,
            what=f"{count} x {method} {path}",
        )
        return [r for r in self.requests_to(method, path) if r.status][count - 1]

    async def wait_until(
        self, predicate: Callable[[], _T | None], *, timeout: float = 2.0, what: str = ""
    ) -> _T:
        """Wait until `predicate()` is truthy (checked on each change, every 10 ms); return it."""
        # Polling as well lets predicates look outside the emulator (what the bot recorded).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        future: asyncio.Future[_T] = loop.create_future()
        self._waiters.append((predicate, future))
        try:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(
                        f"timed out after {timeout} s waiting for {what or predicate}"
                    )
                done, _ = await asyncio.wait({future}, timeout=min(remaining, 0.01))
                if done:
                    return future.result()
        finally:
            future.cancel()

    def _changed(self) -> None:
        """Re-check waiters after the state changed."""
        pending = []
        for predicate, future in self._waiters:
            if future.done():
                continue
            try:
                value = predicate()
            except Exception as exc:
                future.set_exception(exc)
                continue
            if value:
                future.set_result(value)
            else:
                pending.append((predicate, future))
        self._waiters = pending

    def fail_next(
        self,
        method: str,
        path: str | re.Pattern[str],
        status: int = 500,
        *,
        code: int | None = None,
        message: str | None = None,
        retry_after: float = 0.05,
        is_global: bool = False,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> ScriptedReply:
        """Answer the next `times` requests matching method and path with a Discord-style error."""
        # `path` is relative to the API base (`/channels/123/messages`): exact, or a compiled
        # pattern that must match in full. 429s carry `retry_after` in the body, a `Via` header
        # and X-RateLimit-* (Remaining always with Reset-After); other statuses get Discord's
        # default code and message (403: 50013 Missing Permissions) unless code/message/body.
        reply_headers: dict[str, str] = {}
        if body is None:
            if status == 429:
                body = {
                    "message": message or "You are being rate limited.",
                    "retry_after": retry_after,
                    "global": is_global,
                    "code": 0 if code is None else code,
                }
                reply_headers = {
                    "Retry-After": str(max(1, round(retry_after))),
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry_after:.3f}",
                    "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                    "X-RateLimit-Scope": "shared" if is_global else "user",
                }
                if is_global:
                    reply_headers["X-RateLimit-Global"] = "true"
            else:
                default_code, default_message = _default_error(status)
                body = {
                    "message": message or default_message,
                    "code": default_code if code is None else code,
                }
        reply = ScriptedReply(
            method.upper(), path, status, body, {**reply_headers, **(headers or {})}, times, delay
        )
        self.scripted.append(reply)
        return reply

    def delay_next(
        self, method: str, path: str | re.Pattern[str], seconds: float, *, times: int = 1
    ) -> ScriptedReply:
        """Delay the next `times` matching requests by `seconds`, then answer them normally."""
        reply = ScriptedReply(method.upper(), path, 200, None, {}, times, seconds, passthrough=True)
        self.scripted.append(reply)
        return reply

    # --- REST ---------------------------------------------------------------------------------

    def _build_routes(self) -> list[_Route]:
        """The REST route table."""
        app = r"/applications/(?P<app_id>\d+)"
        guild_commands = app + r"/guilds/(?P<guild_id>\d+)/commands"
        channel = r"/channels/(?P<channel_id>\d+)"
        message = channel + r"/messages/(?P<message_id>\d+)"
        webhook = r"/webhooks/(?P<webhook_id>\d+)/(?P<token>[^/]+)"
        table: list[tuple[str, str, _Handler, bool]] = [
            ("GET", r"/users/@me", self._get_me, True),
            ("GET", r"/users/(?P<user_id>\d+)", self._get_user, True),
            ("POST", r"/users/@me/channels", self._create_dm, True),
            ("GET", r"/oauth2/applications/@me", self._get_application, True),
            ("GET", r"/applications/@me", self._get_application, True),
            ("GET", r"/gateway", self._get_gateway, False),
            ("GET", r"/gateway/bot", self._get_gateway_bot, True),
            ("GET", app + r"/commands", self._list_commands, True),
            ("PUT", app + r"/commands", self._put_commands, True),
            ("POST", app + r"/commands", self._post_command, True),
            ("GET", app + r"/commands/(?P<command_id>\d+)", self._get_command, True),
            ("PATCH", app + r"/commands/(?P<command_id>\d+)", self._patch_command, True),
            ("DELETE", app + r"/commands/(?P<command_id>\d+)", self._delete_command, True),
            ("GET", guild_commands, self._list_commands, True),
            ("PUT", guild_commands, self._put_commands, True),
            ("POST", guild_commands, self._post_command, True),
            ("GET", guild_commands + r"/(?P<command_id>\d+)", self._get_command, True),
            ("PATCH", guild_commands + r"/(?P<command_id>\d+)", self._patch_command, True),
            ("DELETE", guild_commands + r"/(?P<command_id>\d+)", self._delete_command, True),
            ("GET", channel, self._get_channel, True),
            ("GET", channel + r"/messages", self._list_messages, True),
            ("POST", channel + r"/messages", self._post_message, True),
            ("GET", message, self._get_message, True),
            ("PATCH", message, self._patch_message, True),
            ("DELETE", message, self._delete_message, True),
            ("PUT", message + r"/reactions/(?P<emoji>[^/]+)/@me", self._add_reaction, True),
            ("POST", channel + r"/typing", self._typing, True),
            ("GET", channel + r"/webhooks", self._list_webhooks, True),
            ("POST", channel + r"/webhooks", self._create_webhook, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)", self._get_guild, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)/channels", self._get_guild_channels, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)/roles", self._get_guild_roles, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)/members", self._list_members, True),
            ("GET", r"/guilds/(?P<guild_id>\d+)/members/(?P<user_id>\d+)", self._get_member, True),
            (
                "POST",
                r"/interactions/(?P<interaction_id>\d+)/(?P<token>[^/]+)/callback",
                self._interaction_callback,
                False,
            ),
            ("GET", webhook, self._get_webhook, False),
            ("POST", webhook, self._execute_webhook, False),
            ("GET", webhook + r"/messages/(?P<message_id>\d+|@original)", self._webhook_get, False),
            (
                "PATCH",
                webhook + r"/messages/(?P<message_id>\d+|@original)",
                self._webhook_edit,
                False,
            ),
            (
                "DELETE",
                webhook + r"/messages/(?P<message_id>\d+|@original)",
                self._webhook_delete,
                False,
            ),
        ]
        return [_Route(m, re.compile(p), h, auth) for m, p, h, auth in table]

    async def _rest(self, request: web.Request) -> web.Response:
        """Record a REST request, apply scripted replies, route it, answer in Discord's style."""
        in_api = "version" in request.match_info
        path = "/" + request.match_info["tail"] if in_api else request.path
        record = await self._record(request, path)
        try:
            status, body, headers = await self._answer(request, record, in_api)
        except _ApiError as error:
            status, body, headers = error.status, error.body, error.headers
        record.status, record.response = status, body
        self._changed()
        return _json_response(status, body, headers)

    async def _record(self, request: web.Request, path: str) -> RecordedRequest:
        """Read the request body (JSON or multipart) and append its record."""
        files: list[RecordedFile] = []
        body = b""
        parsed: Any = None
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            for name, value in form.items():
                if isinstance(value, web.FileField):
                    files.append(
                        RecordedFile(name, value.filename, value.content_type, value.file.read())
                    )
                elif name == "payload_json":
                    parsed = json.loads(str(value))
        else:
            body = await request.read()
            if body:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
        record = RecordedRequest(
            method=request.method,
            path=path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            json=parsed,
            body=body,
            files=files,
            at=time.monotonic(),
        )
        self.requests.append(record)
        return record

    async def _answer(
        self, request: web.Request, record: RecordedRequest, in_api: bool
    ) -> tuple[int, Any, dict[str, str]]:
        """Find the scripted reply or route for a request and run it."""
        for reply in self.scripted:
            if reply.matches(record.method, record.path):
                reply.used += 1
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if not reply.passthrough:
                    return reply.status, reply.body, dict(reply.headers)
                break
        if not in_api:
            raise _ApiError(404, 0, "404: Not Found")
        path_known = False
        for route in self._routes:
            match = route.pattern.fullmatch(record.path)
            if match is None:
                continue
            path_known = True
            if route.method != record.method:
                continue
            if route.auth and record.headers.get("authorization") != f"Bot {self.token}":
                raise _ApiError(401, 0, "401: Unauthorized")
            status, body = await route.handler(_Call(request, record, match.groupdict()))
            return status, body, {}
        if path_known:
            raise _ApiError(405, 0, "405: Method Not Allowed")
        raise _ApiError(404, 0, "404: Not Found")

    # users, application, gateway

    def _me(self) -> _Json:
        """The bot user as /users/@me and READY give it."""
        return {
            **self.bot_user.payload(),
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "locale": "en-US",
            "email": None,
        }

    async def _get_me(self, call: _Call) -> _Reply:
        """GET /users/@me."""
        return 200, self._me()

    async def _get_user(self, call: _Call) -> _Reply:
        """GET /users/{id}."""
        user = self.find_user(int(call.params["user_id"]))
        if user is None:
            raise _unknown("User", 10013)
        return 200, user.payload()

    async def _create_dm(self, call: _Call) -> _Reply:
        """POST /users/@me/channels: open (or reuse) the DM channel with a user."""
        recipient = str(call.body().get("recipient_id"))
        user = self.find_user(int(recipient)) if recipient.isdigit() else None
        if user is None:
            raise _unknown("User", 10013)
        return 200, self.dm_channel(user).payload()

    async def _get_application(self, call: _Call) -> _Reply:
        """GET /oauth2/applications/@me (and /applications/@me)."""
        return 200, {
            "id": str(self.application_id),
            "name": self.application_name,
            "icon": None,
            "description": "Posts news alerts for the signals you watch.",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "owner": self.owner.payload(),
            "team": None,
            "flags": self.application_flags,
            "bot": self.bot_user.payload(),
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
        }

    async def _get_gateway(self, call: _Call) -> _Reply:
        """GET /gateway."""
        return 200, {"url": self.gateway_url}

    async def _get_gateway_bot(self, call: _Call) -> _Reply:
        """GET /gateway/bot (what AutoShardedClient asks)."""
        return 200, {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    # application commands

    def _command_list(self, call: _Call) -> tuple[list[_Json], int | None]:
        """The command list a route refers to, and its guild id (None: global)."""
        if int(call.params["app_id"]) != self.application_id:
            raise _unknown("Application", 10002)
        guild_id = call.params.get("guild_id")
        if guild_id is None:
            return self.global_commands, None
        if int(guild_id) not in self.guilds:
            raise _missing_access()
        return self.guild_commands.setdefault(int(guild_id), []), int(guild_id)

    def _make_command(
        self, data: Mapping[str, Any], guild_id: int | None, old: _Json | None
    ) -> _Json:
        """A command object as Discord returns it: what was sent plus ids and defaults."""
        command: _Json = {
            "type": 1,
            "description": "",
            "default_member_permissions": None,
            "nsfw": False,
            **data,
            "id": old["id"] if old else str(snowflake()),
            "application_id": str(self.application_id),
            "version": str(snowflake()),
        }
        if guild_id is not None:
            command["guild_id"] = str(guild_id)
        return command

    async def _list_commands(self, call: _Call) -> _Reply:
        """GET the global or guild commands."""
        commands, _ = self._command_list(call)
        return 200, commands

    async def _put_commands(self, call: _Call) -> _Reply:
        """PUT (bulk overwrite) the global or guild commands; ids survive for the same name+type."""
        commands, guild_id = self._command_list(call)
        sent = call.json
        if not isinstance(sent, list):
            raise _ApiError(400, 50035, "Invalid Form Body")
        errors: _Json = {}
        seen: set[tuple[Any, Any]] = set()
        for i, data in enumerate(sent):
            _command_errors(i, data, errors)
            key = (data.get("name"), data.get("type", 1))
            if key in seen:
                _add_error(
                    errors,
                    [i, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add(key)
        if len(sent) > 100:
            _add_error(errors, [], "BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
        if errors:
            raise _form_error(errors)
        old = {(c["name"], c["type"]): c for c in commands}
        new = [
            self._make_command(d, guild_id, old.get((d["name"], d.get("type", 1)))) for d in sent
        ]
        commands[:] = new
        return 200, new

    async def _post_command(self, call: _Call) -> _Reply:
        """POST one command (create, or overwrite the one with the same name and type)."""
        commands, guild_id = self._command_list(call)
        data = call.body()
        errors: _Json = {}
        _command_errors(0, data, errors)
        if errors:
            raise _form_error(errors["0"])
        key = (data["name"], data.get("type", 1))
        old = next((c for c in commands if (c["name"], c["type"]) == key), None)
        command = self._make_command(data, guild_id, old)
        if old is None:
            commands.append(command)
            return 201, command
        commands[commands.index(old)] = command
        return 200, command

    def _command(self, call: _Call) -> tuple[list[_Json], _Json]:
        """The command a route's id refers to (404 Unknown application command)."""
        commands, _ = self._command_list(call)
        found = next((c for c in commands if c["id"] == call.params["command_id"]), None)
        if found is None:
            raise _unknown("application command", 10063)
        return commands, found

    async def _get_command(self, call: _Call) -> _Reply:
        """GET one command."""
        return 200, self._command(call)[1]

    async def _patch_command(self, call: _Call) -> _Reply:
        """PATCH one command."""
        _, found = self._command(call)
        found.update({k: v for k, v in call.body().items() if k not in ("id", "application_id")})
        found["version"] = str(snowflake())
        return 200, found

    async def _delete_command(self, call: _Call) -> _Reply:
        """DELETE one command."""
        commands, found = self._command(call)
        commands.remove(found)
        return 204, None

    # channels and messages

    def _channel(self, call: _Call) -> EmuChannel:
        """The channel a route refers to, if the bot can see it (404 10003 / 403 50001)."""
        channel = self.find_channel(int(call.params["channel_id"]))
        if channel is None:
            raise _unknown("Channel", 10003)
        if channel.guild_id is not None and not self._bot_permissions(channel) & VIEW_CHANNEL:
            raise _missing_access()
        return channel

    def _bot_permissions(self, channel: EmuChannel) -> int:
        """The bot's permissions in a channel (all in DMs)."""
        if channel.guild_id is None:
            return ALL_PERMISSIONS
        guild = self.guilds[channel.guild_id]
        member = guild.members.get(self.bot_user.id)
        return 0 if member is None else guild.permissions_for(member, channel)

    def _stored_message(self, channel: EmuChannel, message_id: str) -> _Json:
        """A stored message of a channel (404 10008 Unknown Message)."""
        message = channel.message(message_id)
        if message is None:
            raise _unknown("Message", 10008)
        return message

    async def _get_channel(self, call: _Call) -> _Reply:
        """GET /channels/{id}."""
        return 200, self._channel(call).payload()

    async def _list_messages(self, call: _Call) -> _Reply:
        """GET /channels/{id}/messages: newest first, with limit/before/after."""
        channel = self._channel(call)
        limit = int(call.record.query.get("limit", "50"))
        messages = list(reversed(channel.messages))
        if "before" in call.record.query:
            before = int(call.record.query["before"])
            messages = [m for m in messages if int(m["id"]) < before]
        if "after" in call.record.query:
            after = int(call.record.query["after"])
            messages = [m for m in messages if int(m["id"]) > after]
        return 200, messages[:limit]

    async def _post_message(self, call: _Call) -> _Reply:
        """POST /channels/{id}/messages: check permissions and limits, store, echo, return it."""
        channel = self._channel(call)
        payload = call.body()
        if channel.type not in (0, 1, 2, 5, 10, 11, 12, 13):
            raise _ApiError(400, 50008, "Cannot send messages in a non-text channel")
        if channel.guild_id is None:
            if not channel.recipients[0].accepts_dms:
                raise _ApiError(403, 50007, "Cannot send messages to this user")
        else:
            perms = self._bot_permissions(channel)
            if not perms & SEND_MESSAGES or (call.record.files and not perms & ATTACH_FILES):
                raise _missing_permissions()
        self._check_message(payload, call.record.files)
        message = self._new_message(
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=self.bot_user.payload(),
            payload=payload,
            files=call.record.files,
        )
        self._store(channel, message)
        await self._echo("MESSAGE_CREATE", channel, message)
        return 200, message

    async def _get_message(self, call: _Call) -> _Reply:
        """GET one message."""
        channel = self._channel(call)
        return 200, self._stored_message(channel, call.params["message_id"])

    async def _patch_message(self, call: _Call) -> _Reply:
        """PATCH a message the bot wrote."""
        channel = self._channel(call)
        message = self._stored_message(channel, call.params["message_id"])
        if message["author"]["id"] != str(self.bot_user.id):
            raise _ApiError(403, 50005, "Cannot edit a message authored by another user")
        payload = call.body()
        self._edit_message(message, payload, call.record.files)
        await self._echo("MESSAGE_UPDATE", channel, message)
        return 200, message

    async def _delete_message(self, call: _Call) -> _Reply:
        """DELETE a message (another user's needs Manage Messages)."""
        channel = self._channel(call)
        message = self._stored_message(channel, call.params["message_id"])
        own = message["author"]["id"] == str(self.bot_user.id)
        if not own and not self._bot_permissions(channel) & MANAGE_MESSAGES:
            raise _missing_permissions()
        channel.messages.remove(message)
        self.deleted_message_ids.add(int(message["id"]))
        data: _Json = {"id": message["id"], "channel_id": str(channel.id)}
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
        await self._echo("MESSAGE_DELETE", channel, data)
        return 204, None

    async def _add_reaction(self, call: _Call) -> _Reply:
        """PUT a reaction of the bot on a message."""
        channel = self._channel(call)
        message = self._stored_message(channel, call.params["message_id"])
        emoji = call.params["emoji"]
        reactions = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["emoji"]["name"] == emoji:
                reaction["me"] = True
                reaction["count"] += 1
                break
        else:
            reactions.append({"emoji": {"id": None, "name": emoji}, "count": 1, "me": True})
        return 204, None

    async def _typing(self, call: _Call) -> _Reply:
        """POST typing indicator."""
        self._channel(call)
        return 204, None

    async def _list_webhooks(self, call: _Call) -> _Reply:
        """GET a channel's webhooks (needs Manage Webhooks)."""
        channel = self._channel(call)
        if not self._bot_permissions(channel) & MANAGE_WEBHOOKS:
            raise _missing_permissions()
        return 200, [w.payload() for w in self.webhooks.values() if w.channel_id == channel.id]

    async def _create_webhook(self, call: _Call) -> _Reply:
        """POST a webhook for a channel (needs Manage Webhooks)."""
        channel = self._channel(call)
        if not self._bot_permissions(channel) & MANAGE_WEBHOOKS:
            raise _missing_permissions()
        webhook = self.add_webhook(channel, str(call.body().get("name") or "Webhook"))
        return 200, webhook.payload()

    # guilds

    def _guild(self, call: _Call) -> EmuGuild:
        """The guild a route refers to (404 10004 Unknown Guild)."""
        guild = self.guilds.get(int(call.params["guild_id"]))
        if guild is None:
            raise _unknown("Guild", 10004)
        return guild

    async def _get_guild(self, call: _Call) -> _Reply:
        """GET /guilds/{id}."""
        return 200, self._guild(call).payload(full=False)

    async def _get_guild_channels(self, call: _Call) -> _Reply:
        """GET /guilds/{id}/channels."""
        return 200, [c.payload() for c in self._guild(call).channels.values()]

    async def _get_guild_roles(self, call: _Call) -> _Reply:
        """GET /guilds/{id}/roles."""
        return 200, [r.payload() for r in self._guild(call).roles.values()]

    async def _list_members(self, call: _Call) -> _Reply:
        """GET /guilds/{id}/members (limit, after)."""
        guild = self._guild(call)
        limit = int(call.record.query.get("limit", "1"))
        after = int(call.record.query.get("after", "0"))
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
        return 200, [m.payload() for m in members[:limit]]

    async def _get_member(self, call: _Call) -> _Reply:
        """GET /guilds/{id}/members/{user_id}."""
        member = self._guild(call).members.get(int(call.params["user_id"]))
        if member is None:
            raise _unknown("Member", 10007)
        return 200, member.payload()

    # messages: building, storing, editing, echoing

    def _check_message(self, payload: Mapping[str, Any], files: Sequence[RecordedFile]) -> None:
        """Raise Discord's 400 for an empty or over-long message."""
        if _is_empty_message(payload, files):
            raise _ApiError(400, 50006, "Cannot send an empty message")
        errors = _message_errors(payload)
        if errors:
            raise _form_error(errors)

    def _mentions(self, content: str, allowed: Mapping[str, Any] | None) -> _Json:
        """mention_everyone, mentions and mention_roles as Discord derives them from content."""
        parse = {"everyone", "users", "roles"} if allowed is None else set(allowed.get("parse", []))
        users_ok = {int(u) for u in (allowed or {}).get("users", [])}
        roles_ok = {int(r) for r in (allowed or {}).get("roles", [])}
        mentioned = []
        for user_id in dict.fromkeys(int(x) for x in _USER_MENTION.findall(content)):
            user = self.find_user(user_id)
            if user is not None and ("users" in parse or user_id in users_ok):
                mentioned.append(user.payload())
        roles = [
            role_id
            for role_id in dict.fromkeys(_ROLE_MENTION.findall(content))
            if "roles" in parse or int(role_id) in roles_ok
        ]
        return {
            "mention_everyone": "everyone" in parse
            and ("@everyone" in content or "@here" in content),
            "mentions": mentioned,
            "mention_roles": roles,
        }

    def _attachments(
        self, channel_id: int, payload: Mapping[str, Any], files: Sequence[RecordedFile]
    ) -> list[_Json]:
        """Attachment objects for uploaded files (`files[n]` matched to `attachments[].id == n`)."""
        described = {str(a.get("id")): a for a in payload.get("attachments") or []}
        attachments = []
        for index, upload in enumerate(files):
            match = re.fullmatch(r"files\[(\d+)\]", upload.field)
            key = match.group(1) if match else str(index)
            meta = described.get(key, {})
            filename = meta.get("filename") or upload.filename or f"file{key}"
            attachment_id = snowflake()
            url = f"https://cdn.discordapp.com/attachments/{channel_id}/{attachment_id}/{filename}"
            attachments.append(
                {
                    "id": str(attachment_id),
                    "filename": filename,
                    "description": meta.get("description"),
                    "content_type": upload.content_type,
                    "size": len(upload.data),
                    "url": url,
                    "proxy_url": url.replace("cdn.discordapp.com", "media.discordapp.net"),
                }
            )
        return attachments

    def _new_message(
        self,
        *,
        channel_id: int,
        guild_id: int | None,
        author: _Json,
        payload: Mapping[str, Any],
        files: Sequence[RecordedFile] = (),
        message_type: int = 0,
        webhook_id: int | None = None,
        extra_flags: int = 0,
        interaction: InteractionHandle | None = None,
    ) -> _Json:
        """Build a message object from a create body, as Discord returns it."""
        content = payload.get("content") or ""
        if payload.get("message_reference") and message_type == 0:
            message_type = 19  # REPLY
        message: _Json = {
            "id": str(snowflake()),
            "type": message_type,
            "channel_id": str(channel_id),
            "author": author,
            "content": content,
            "timestamp": _iso_now(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            **self._mentions(content, payload.get("allowed_mentions")),
            "attachments": self._attachments(channel_id, payload, files),
            "embeds": [{**e, "flags": e.get("flags", 0)} for e in payload.get("embeds") or []],
            "components": payload.get("components") or [],
            "pinned": False,
            "flags": (payload.get("flags") or 0) | extra_flags,
        }
        if guild_id is not None:
            message["guild_id"] = str(guild_id)
        for key in ("nonce", "allowed_mentions", "poll"):
            if key in payload:
                message[key] = payload[key]
        reference = payload.get("message_reference")
        if reference:
            message["message_reference"] = {"channel_id": str(channel_id), **reference}
            channel = self.find_channel(int(reference.get("channel_id") or channel_id))
            message["referenced_message"] = (
                channel.message(reference["message_id"]) if channel else None
            )
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
        if interaction is not None:
            message["application_id"] = str(self.application_id)
            metadata: _Json = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": interaction.user.payload(),
                "authorizing_integration_owners": interaction.payload[
                    "authorizing_integration_owners"
                ],
            }
            if interaction.type == 2:
                metadata["name"] = interaction.payload["data"]["name"]
                metadata["command_type"] = interaction.payload["data"].get("type", 1)
            message["interaction_metadata"] = metadata
        self.messages.append(message)
        return message

    def _edit_message(
        self, message: _Json, payload: Mapping[str, Any], files: Sequence[RecordedFile]
    ) -> None:
        """Apply an edit body to a stored message (content, embeds, components, attachments)."""
        errors = _message_errors(payload)
        if errors:
            raise _form_error(errors)
        if "content" in payload:
            message["content"] = payload["content"] or ""
            allowed = payload.get("allowed_mentions", message.get("allowed_mentions"))
            message.update(self._mentions(message["content"], allowed))
        if "embeds" in payload:
            message["embeds"] = [
                {**e, "flags": e.get("flags", 0)} for e in payload.get("embeds") or []
            ]
        if "components" in payload:
            message["components"] = payload["components"] or []
        if "allowed_mentions" in payload:
            message["allowed_mentions"] = payload["allowed_mentions"]
        if "flags" in payload and payload["flags"] is not None:
            keep = message["flags"] & ~_EDITABLE_FLAGS
            message["flags"] = keep | (int(payload["flags"]) & _EDITABLE_FLAGS)
        if "attachments" in payload or files:
            kept_ids = {str(a.get("id")) for a in payload.get("attachments") or []}
            kept = [a for a in message["attachments"] if a["id"] in kept_ids]
            message["attachments"] = kept + self._attachments(
                int(message["channel_id"]), payload, files
            )
        if message["flags"] & LOADING:
            message["flags"] &= ~LOADING
        else:
            message["edited_timestamp"] = _iso_now()

    def _store(self, channel: EmuChannel | None, message: _Json) -> None:
        """Keep a message in its channel (ephemeral ones are seen only on the interaction)."""
        if channel is not None and not message["flags"] & EPHEMERAL:
            channel.messages.append(message)

    async def _echo(self, event: str, channel: EmuChannel, data: _Json) -> None:
        """Send a MESSAGE_* event for a REST change to sessions whose intents ask for it."""
        if not self.echo_messages or (event == "MESSAGE_CREATE" and data["flags"] & EPHEMERAL):
            return
        intent = INTENT_DIRECT_MESSAGES if channel.guild_id is None else INTENT_GUILD_MESSAGES
        payload = dict(data)
        if channel.guild_id is not None and "author" in data:
            member = self.guilds[channel.guild_id].members.get(int(data["author"]["id"]))
            if member is not None and "webhook_id" not in data:
                payload["member"] = member.payload(with_user=False)
        for session in self.sessions:
            if session.intents & intent:
                await self._send_event(session, event, payload)

    # interactions

    def _interaction(self, interaction_id: int, token: str) -> InteractionHandle:
        """The interaction with this id and token (404 10062 Unknown interaction)."""
        handle = self.interactions.get(interaction_id)
        if handle is None or handle.token != token:
            raise _unknown("interaction", 10062)
        return handle

    async def _interaction_callback(self, call: _Call) -> _Reply:
        """POST /interactions/{id}/{token}/callback: record the bot's answer to an interaction."""
        handle = self._interaction(int(call.params["interaction_id"]), call.params["token"])
        if handle.callbacks:
            raise _ApiError(400, 40060, "Interaction has already been acknowledged.")
        if (
            self.interaction_timeout is not None
            and time.monotonic() - handle.sent_at > self.interaction_timeout
        ):
            raise _unknown("interaction", 10062)
        body = call.body()
        kind = body.get("type")
        data = body.get("data") or {}
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}[handle.type]
        if kind not in allowed:
            errors: _Json = {}
            _add_error(
                errors, ["type"], "INTERACTION_RESPONSE_TYPE_INVALID", "Invalid response type"
            )
            raise _form_error(errors)
        message: _Json | None = None
        message_type = 20 if handle.type == 2 else 0
        if kind == 4:
            self._check_message(data, call.record.files)
            message = self._interaction_message(handle, data, call.record.files, message_type)
        elif kind == 5:
            flags = (data.get("flags") or 0) & EPHEMERAL
            message = self._interaction_message(handle, {"flags": flags}, (), message_type, LOADING)
        elif kind == 7:
            message = handle.channel.message(handle.payload.get("message", {}).get("id", 0))
            if message is not None:
                self._edit_message(message, data, call.record.files)
        elif kind == 8 and len(data.get("choices") or []) > 25:
            errors = {}
            _add_error(
                errors,
                ["data", "choices"],
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            )
            raise _form_error(errors)
        handle.callbacks.append({"type": kind, "data": data})
        handle.responded_at = time.monotonic()
        if not call.flag("with_response"):
            return 204, None
        summary: _Json = {
            "id": str(handle.id),
            "type": handle.type,
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(message and message["flags"] & EPHEMERAL),
        }
        resource: _Json = {"type": kind}
        if message is not None:
            summary["response_message_id"] = message["id"]
            resource["message"] = message
        return 200, {"interaction": summary, "resource": resource}

    def _interaction_message(
        self,
        handle: InteractionHandle,
        data: Mapping[str, Any],
        files: Sequence[RecordedFile],
        message_type: int,
        extra_flags: int = 0,
    ) -> _Json:
        """Create the original response message of an interaction."""
        message = self._new_message(
            channel_id=handle.channel.id,
            guild_id=handle.guild.id if handle.guild else None,
            author=self.bot_user.payload(),
            payload=data,
            files=files,
            message_type=message_type,
            webhook_id=self.application_id,
            extra_flags=extra_flags,
            interaction=handle,
        )
        handle.original = message
        self._store(handle.channel, message)
        return message

    # webhooks (incoming webhooks and interaction follow-ups share these routes)

    def _webhook_target(self, call: _Call) -> InteractionHandle | EmuWebhook:
        """The interaction (application id + interaction token) or incoming webhook addressed."""
        webhook_id, token = int(call.params["webhook_id"]), call.params["token"]
        if webhook_id == self.application_id and token in self._interactions_by_token:
            handle = self._interactions_by_token[token]
            if not handle.callbacks:
                raise _unknown("Webhook", 10015)  # no follow-ups before the first response
            return handle
        webhook = self.webhooks.get(webhook_id)
        if webhook is None:
            raise _unknown("Webhook", 10015)
        if webhook.token != token:
            raise _ApiError(401, 50027, "Invalid Webhook Token")
        return webhook

    async def _get_webhook(self, call: _Call) -> _Reply:
        """GET /webhooks/{id}/{token}."""
        target = self._webhook_target(call)
        if isinstance(target, InteractionHandle):
            raise _unknown("Webhook", 10015)
        return 200, target.payload(with_token=False)

    async def _execute_webhook(self, call: _Call) -> _Reply:
        """POST /webhooks/{id}/{token}: a follow-up, or an incoming webhook message."""
        target = self._webhook_target(call)
        payload = call.body()
        self._check_message(payload, call.record.files)
        if isinstance(target, InteractionHandle):
            message = self._new_message(
                channel_id=target.channel.id,
                guild_id=target.guild.id if target.guild else None,
                author=self.bot_user.payload(),
                payload=payload,
                files=call.record.files,
                message_type=20 if target.type == 2 else 0,
                webhook_id=self.application_id,
                interaction=target,
            )
            target.followups.append(message)
            self._store(target.channel, message)
            return 200, message
        channel = self.find_channel(target.channel_id)
        author = {
            "id": str(target.id),
            "username": payload.get("username") or target.name,
            "avatar": None,
            "discriminator": "0000",
            "global_name": None,
            "bot": True,
        }
        fields = {k: v for k, v in payload.items() if k != "flags"}
        fields["flags"] = (payload.get("flags") or 0) & _EDITABLE_FLAGS
        message = self._new_message(
            channel_id=target.channel_id,
            guild_id=target.guild_id,
            author=author,
            payload=fields,
            files=call.record.files,
            webhook_id=target.id,
        )
        target.messages.append(message)
        self._store(channel, message)
        if channel is not None:
            await self._echo("MESSAGE_CREATE", channel, message)
        return (200, message) if call.flag("wait") else (204, None)

    def _webhook_message(self, call: _Call) -> tuple[InteractionHandle | EmuWebhook, _Json]:
        """The webhook message a route refers to (`@original` for an interaction's response)."""
        target = self._webhook_target(call)
        wanted = call.params["message_id"]
        message: _Json | None
        if isinstance(target, InteractionHandle):
            if wanted == "@original":
                message = None if target.original_deleted else target.original
            else:
                candidates = [target.original, *target.followups]
                message = next((m for m in candidates if m and m["id"] == wanted), None)
        else:
            message = next((m for m in target.messages if m["id"] == wanted), None)
        if message is None or int(message["id"]) in self.deleted_message_ids:
            raise _unknown("Message", 10008)
        return target, message

    async def _webhook_get(self, call: _Call) -> _Reply:
        """GET a webhook or interaction message."""
        return 200, self._webhook_message(call)[1]

    async def _webhook_edit(self, call: _Call) -> _Reply:
        """PATCH a webhook or interaction message (edits of `@original` are recorded)."""
        target, message = self._webhook_message(call)
        payload = call.body()
        self._edit_message(message, payload, call.record.files)
        if isinstance(target, InteractionHandle) and message is target.original:
            target.original_edits.append(payload)
        channel = self.find_channel(int(message["channel_id"]))
        if channel is not None and channel.message(message["id"]) is not None:
            await self._echo("MESSAGE_UPDATE", channel, message)
        return 200, message

    async def _webhook_delete(self, call: _Call) -> _Reply:
        """DELETE a webhook or interaction message."""
        target, message = self._webhook_message(call)
        if isinstance(target, InteractionHandle) and message is target.original:
            target.original_deleted = True
        self.deleted_message_ids.add(int(message["id"]))
        channel = self.find_channel(int(message["channel_id"]))
        if channel is not None and message in channel.messages:
            channel.messages.remove(message)
        return 204, None

    # --- gateway --------------------------------------------------------------------------------

    @property
    def sessions(self) -> list[GatewaySession]:
        """Identified gateway sessions (connected or waiting to resume)."""
        return list(self._sessions.values())

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        """Serve one gateway WebSocket: HELLO, then the client's opcodes until it closes."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws, request.path, dict(request.query))
        self.gateway_connections.append(conn)
        self._changed()
        await conn.send(
            {"op": 10, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}}
        )
        try:
            async for frame in ws:
                if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                payload = json.loads(frame.data)
                conn.received.append(payload)
                await self._gateway_op(conn, payload)
                self._changed()
        finally:
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
            self._changed()
        return ws

    async def _gateway_op(self, conn: GatewayConnection, payload: _Json) -> None:
        """Answer one client payload: heartbeat, identify, resume, member requests."""
        op, data = payload.get("op"), payload.get("d")
        if op == 1:
            await conn.send({"op": 11})
        elif op == 2:
            await self._identify(conn, data or {})
        elif op == 6:
            await self._resume(conn, data or {})
        elif op == 8 and conn.session is not None:
            await self._member_chunks(conn.session, data or {})
        # op 3 (presence), op 4 (voice state) and others are recorded and otherwise ignored.

    def _token_ok(self, token: Any) -> bool:
        """Whether a gateway token is the bot's (with or without the `Bot ` prefix)."""
        return isinstance(token, str) and token.removeprefix("Bot ") == self.token

    async def _identify(self, conn: GatewayConnection, data: _Json) -> None:
        """IDENTIFY: check token and intents, then send READY and one GUILD_CREATE per guild."""
        if not self._token_ok(data.get("token")):
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        if conn.session is not None:
            await conn.ws.close(code=4005, message=b"Already authenticated.")
            return
        intents = int(data.get("intents", 0))
        if intents & PRIVILEGED_INTENTS & ~self.allowed_intents:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        session = GatewaySession(secrets.token_hex(16), intents, data, conn)
        self._sessions[session.session_id] = session
        conn.session = session
        ready: _Json = {
            "v": API_VERSION,
            "user": self._me(),
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["emulator"],
            "auth": {},
            "_trace": ['["discord-emulator",{"micros":0}]'],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._send_event(session, "READY", ready)
        for guild in self.guilds.values():
            if self.bot_user.id in guild.members:
                await self._send_event(session, "GUILD_CREATE", guild.payload())

    async def _resume(self, conn: GatewayConnection, data: _Json) -> None:
        """RESUME: replay the events the client missed, then RESUMED; else INVALID_SESSION."""
        session = self._sessions.get(str(data.get("session_id")))
        if session is None or not self._token_ok(data.get("token")):
            await conn.send({"op": 9, "d": False})
            return
        old = session.connection
        if old is not None and old is not conn and not old.closed:
            await old.ws.close(code=4000, message=b"Session resumed elsewhere.")
        session.connection = conn
        session.resumes += 1
        conn.session = session
        seq = int(data.get("seq") or 0)
        for frame in list(session.events):
            if frame["s"] > seq:
                await conn.send(frame)
        await self._send_event(session, "RESUMED", {"_trace": ['["discord-emulator"]']})

    async def _member_chunks(self, session: GatewaySession, data: _Json) -> None:
        """REQUEST_GUILD_MEMBERS (op 8): answer with one GUILD_MEMBERS_CHUNK per guild."""
        guild_ids = data.get("guild_id")
        if not isinstance(guild_ids, list):
            guild_ids = [guild_ids]
        for guild_id in guild_ids:
            guild = self.guilds.get(int(guild_id))
            if guild is None:
                continue
            members = list(guild.members.values())
            not_found: list[str] = []
            if data.get("user_ids"):
                wanted = [int(u) for u in data["user_ids"]]
                not_found = [str(u) for u in wanted if u not in guild.members]
                members = [m for m in members if m.id in wanted]
            else:
                query = str(data.get("query") or "").lower()
                members = [m for m in members if m.user.username.lower().startswith(query)]
                if data.get("limit"):
                    members = members[: int(data["limit"])]
            chunk: _Json = {
                "guild_id": str(guild.id),
                "members": [m.payload() for m in members],
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": not_found,
            }
            if data.get("presences"):
                chunk["presences"] = []
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            await self._send_event(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _send_event(self, session: GatewaySession, event: str, data: _Json) -> None:
        """Send one dispatch (op 0) with the session's next sequence number; keep it for RESUME."""
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        if session.connection is not None:
            await session.connection.send(frame)

    async def dispatch(self, event: str, data: Mapping[str, Any]) -> None:
        """Send a gateway event to every identified session (reconnecting ones get it on RESUME)."""
        if not self._sessions:
            raise RuntimeError("no gateway session: start the client (see running()) first")
        for session in self.sessions:
            await self._send_event(session, event, dict(data))
        self._changed()

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT: the client reconnects to resume_gateway_url and RESUMEs."""
        for conn in self.gateway_connections:
            if not conn.closed:
                await conn.send({"op": 7, "d": None})

    async def close_gateway(self, code: int = 4000) -> None:
        """Close every gateway connection from the server side with `code`."""
        for conn in self.gateway_connections:
            if not conn.closed:
                await conn.ws.close(code=code)

    async def send_user_message(
        self,
        channel: EmuChannel | int,
        content: str,
        *,
        author: EmuUser | None = None,
        embeds: Sequence[_Json] = (),
    ) -> _Json:
        """Store a user's message and dispatch MESSAGE_CREATE (content as intents allow)."""
        found = self.find_channel(_id_of(channel))
        if found is None:
            raise KeyError(channel)
        user = author or self.user
        message = self._new_message(
            channel_id=found.id,
            guild_id=found.guild_id,
            author=user.payload(),
            payload={"content": content, "embeds": list(embeds)},
        )
        found.messages.append(message)
        data = dict(message)
        if found.guild_id is not None:
            member = self.guilds[found.guild_id].members.get(user.id)
            if member is not None:
                data["member"] = member.payload(with_user=False)
        intent = INTENT_DIRECT_MESSAGES if found.guild_id is None else INTENT_GUILD_MESSAGES
        mentioned = any(m["id"] == str(self.bot_user.id) for m in message["mentions"])
        for session in self.sessions:
            if not session.intents & intent:
                continue
            event = data
            if not (
                session.intents & INTENT_MESSAGE_CONTENT or found.guild_id is None or mentioned
            ):
                event = {**data, "content": "", "embeds": [], "attachments": [], "components": []}
            await self._send_event(session, "MESSAGE_CREATE", event)
        self._changed()
        return message

    # --- interactions -----------------------------------------------------------------------------

    def find_command(self, name: str, guild_id: int | None = None, kind: int = 1) -> _Json | None:
        """A registered command by name: the guild's first, then the global one."""
        pools = [self.guild_commands.get(guild_id, [])] if guild_id else []
        pools.append(self.global_commands)
        for pool in pools:
            for command in pool:
                if command["name"] == name and command.get("type", 1) == kind:
                    return command
        return None

    def _resolve(
        self,
        kind: int,
        value: Any,
        resolved: _Json,
        guild: EmuGuild | None,
        channel: EmuChannel,
        invoker: EmuUser,
    ) -> str:
        """The option value for a user/channel/role/mentionable option, adding `resolved` data."""
        target_id = _id_of(value)
        if kind in (6, 9):
            user = value.user if isinstance(value, EmuMember) else value
            if not isinstance(user, EmuUser):
                user = self.find_user(target_id)
            if user is not None:
                resolved.setdefault("users", {})[str(user.id)] = user.payload()
                member = guild.members.get(user.id) if guild else None
                if member is not None and guild is not None:
                    perms = guild.permissions_for(member, channel)
                    resolved.setdefault("members", {})[str(user.id)] = member.payload(
                        permissions=perms, with_user=False
                    )
                return str(user.id)
        if kind in (8, 9) and guild is not None and target_id in guild.roles:
            resolved.setdefault("roles", {})[str(target_id)] = guild.roles[target_id].payload()
        if kind == 7:
            target = self.find_channel(target_id)
            if target is not None:
                data = target.payload()
                member = guild.members.get(invoker.id) if guild else None
                perms = guild.permissions_for(member, target) if guild and member else 0
                data["permissions"] = str(perms)
                resolved.setdefault("channels", {})[str(target_id)] = data
        return str(target_id)

    def _options(
        self,
        given: Mapping[str, Any],
        schema: Sequence[Mapping[str, Any]] | None,
        focused: str | None,
        resolved: _Json,
        guild: EmuGuild | None,
        channel: EmuChannel,
        invoker: EmuUser,
    ) -> list[_Json]:
        """Interaction options from name -> value, typed by the registered schema if known."""
        specs = {str(s["name"]): s for s in schema or []}
        options = []
        for name, value in given.items():
            spec = specs.get(name)
            if schema is not None and spec is None:
                raise ValueError(f"option {name!r} is not in the registered command: {list(specs)}")
            kind = int(spec["type"]) if spec else _infer_option_type(value)
            option: _Json = {"name": name, "type": kind}
            if name == focused:
                option["value"] = str(value)
                option["focused"] = True
            elif kind in (6, 7, 8, 9, 11):
                option["value"] = self._resolve(kind, value, resolved, guild, channel, invoker)
            else:
                option["value"] = value
            options.append(option)
        if focused is not None and focused not in given:
            kind = int(specs[focused]["type"]) if focused in specs else 3
            options.append({"name": focused, "type": kind, "value": "", "focused": True})
        return options

    async def send_interaction(
        self,
        name: str,
        options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        *,
        user: EmuUser | EmuMember | None = None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        member_permissions: int | discord.Permissions | None = None,
        subcommand: str | None = None,
        subcommand_group: str | None = None,
        focused: str | None = None,
        dm: bool = False,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Dispatch an INTERACTION_CREATE for slash command `name`; return its handle."""
        # `name` may carry the path ("watch add"), or use `subcommand`/`subcommand_group`.
        # `options` maps option names to values (str, int, float, bool, EmuUser/EmuMember,
        # EmuChannel, EmuRole or ids), typed by the registered command if it was synced (unknown
        # names raise ValueError), else by Python type; a list of raw option dicts is sent as is.
        # `focused` names the option being typed: the interaction is then autocomplete (type 4).
        # By default `emu.user` (alice) invokes it in the default guild's first text channel;
        # `dm=True` sends it from the user's DM. `member_permissions` overrides the invoker's
        # computed channel permissions.
        path = name.split()
        if len(path) == 2:
            name, subcommand = path
        elif len(path) == 3:
            name, subcommand_group, subcommand = path
        invoker = user.user if isinstance(user, EmuMember) else (user or self.user)
        guild: EmuGuild | None = None
        if dm:
            channel = self.dm_channel(invoker)
        else:
            if guild_id is None and channel_id is not None:
                found = self.find_channel(channel_id)
                guild_id = found.guild_id if found else None
            guild = self.guilds[guild_id] if guild_id is not None else self.guild
            channel = guild.channels[channel_id] if channel_id else guild.text_channels()[0]
        command = self.find_command(name, guild.id if guild else None)
        schema: Sequence[Mapping[str, Any]] | None = None
        if command is not None:
            schema = command.get("options") or []
            for part in (subcommand_group, subcommand):
                if part is None:
                    continue
                node = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
                if node is None:
                    raise ValueError(f"{part!r} is not a subcommand of registered {name!r}")
                schema = node.get("options") or []
        resolved: _Json = {}
        if options is None or isinstance(options, Mapping):
            built = self._options(options or {}, schema, focused, resolved, guild, channel, invoker)
        else:
            built = [dict(o) for o in options]
        if subcommand is not None:
            built = [{"name": subcommand, "type": 1, "options": built}]
        if subcommand_group is not None:
            built = [{"name": subcommand_group, "type": 2, "options": built}]
        data: _Json = {
            "id": command["id"] if command else str(snowflake()),
            "name": name,
            "type": 1,
            "options": built,
        }
        if command is not None and "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return await self._send_interaction_payload(
            4 if focused is not None else 2,
            data,
            invoker=invoker,
            guild=guild,
            channel=channel,
            member_permissions=member_permissions,
            locale=locale,
        )

    async def send_autocomplete(
        self,
        name: str,
        focused: str,
        options: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> InteractionHandle:
        """Dispatch an autocomplete interaction (type 4) with `focused` being typed."""
        return await self.send_interaction(name, options, focused=focused, **kwargs)

    async def send_component(
        self,
        message: Mapping[str, Any],
        custom_id: str,
        *,
        component_type: int = 2,
        values: Sequence[str] | None = None,
        user: EmuUser | None = None,
    ) -> InteractionHandle:
        """Dispatch a component interaction (type 3: button 2, select 3) on a stored message."""
        channel = self.find_channel(int(message["channel_id"]))
        if channel is None:
            raise KeyError(message["channel_id"])
        guild = self.guilds.get(channel.guild_id) if channel.guild_id else None
        data: _Json = {"custom_id": custom_id, "component_type": component_type}
        if values is not None:
            data["values"] = list(values)
        return await self._send_interaction_payload(
            3,
            data,
            invoker=user or self.user,
            guild=guild,
            channel=channel,
            member_permissions=None,
            locale="en-US",
            message=dict(message),
        )

    async def _send_interaction_payload(
        self,
        kind: int,
        data: _Json,
        *,
        invoker: EmuUser,
        guild: EmuGuild | None,
        channel: EmuChannel,
        member_permissions: int | discord.Permissions | None,
        locale: str,
        message: _Json | None = None,
    ) -> InteractionHandle:
        """Build the INTERACTION_CREATE payload, register its handle, dispatch it."""
        payload: _Json = {
            "id": str(snowflake()),
            "application_id": str(self.application_id),
            "type": kind,
            "data": data,
            "token": "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(96),
            "version": 1,
            "locale": locale,
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(self._bot_permissions(channel)),
            "entitlements": [],
            "entitlement_sku_ids": [],
        }
        if guild is not None:
            member = guild.members.get(invoker.id) or EmuMember(invoker)
            perms = guild.permissions_for(member, channel)
            if isinstance(member_permissions, discord.Permissions):
                perms = member_permissions.value
            elif member_permissions is not None:
                perms = member_permissions
            channel_payload = {**channel.payload(), "permissions": str(perms)}
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                channel_id=str(channel.id),
                channel=channel_payload,
                member=member.payload(permissions=perms),
                context=0,
                authorizing_integration_owners={"0": str(guild.id)},
            )
        else:
            payload.update(
                channel_id=str(channel.id),
                channel=channel.payload(),
                user=invoker.payload(),
                context=1,
                authorizing_integration_owners={"1": str(invoker.id)},
            )
        if message is not None:
            payload["message"] = message
        handle = InteractionHandle(self, payload, guild=guild, channel=channel, user=invoker)
        self.interactions[handle.id] = handle
        self._interactions_by_token[handle.token] = handle
        await self.dispatch("INTERACTION_CREATE", payload)
        return handle


# --- discord.py glue ----------------------------------------------------------------------------


def patch_discord(monkeypatch: pytest.MonkeyPatch, emulator: DiscordEmulator) -> None:
    """Point discord.py's REST base and default gateway at `emulator` (undone by monkeypatch)."""
    monkeypatch.setattr(discord.http.Route, "BASE", emulator.api_base)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(emulator.gateway_url)
    )


@asynccontextmanager
async def running(
    client: _ClientT,
    emulator: DiscordEmulator,
    *,
    token: str | None = None,
    timeout: float = 5.0,
) -> AsyncIterator[_ClientT]:
    """Log `client` in (emulator's token by default), yield it once ready, then close it cleanly."""
    # Connection errors (LoginFailure, PrivilegedIntentsRequired, ...) are raised here, and the
    # client's HTTP session is closed either way (no ResourceWarning).
    task: asyncio.Task[None] | None = None
    try:
        await client.login(emulator.token if token is None else token)
        task = asyncio.create_task(client.connect(), name="discord-emulator-client")
        ready = asyncio.ensure_future(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if task in done:
                task.result()
            raise TimeoutError(f"client not ready after {timeout} s")
        yield client
    finally:
        await client.close()
        if task is not None:
            _, pending = await asyncio.wait({task}, timeout=timeout)
            for leftover in pending:
                leftover.cancel()
            error = None if pending or task.cancelled() else task.exception()
            if error is not None and sys.exc_info()[1] is None:
                raise error


EmulatorFactory = Callable[..., AbstractAsyncContextManager[DiscordEmulator]]


@pytest.fixture
def discord_emulator(monkeypatch: pytest.MonkeyPatch) -> EmulatorFactory:
    """A factory: `async with discord_emulator(**options) as emu:` starts and patches discord.py."""

    @asynccontextmanager
    async def factory(**options: Any) -> AsyncIterator[DiscordEmulator]:
        async with DiscordEmulator(**options) as emulator:
            patch_discord(monkeypatch, emulator)
            yield emulator

    return factory
