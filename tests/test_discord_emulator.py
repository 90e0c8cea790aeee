"""Tests for the Discord API emulator, driven by unmodified discord.py, so bot tests trust it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from discord_emulator import (
    ADMINISTRATOR,
    FAST_CLIENT_OPTIONS,
    SEND_MESSAGES,
    DiscordEmulator,
    EmulatorFactory,
    running,
)

# isort: split
# discord_emulator first: it imports discord.py with its one import-time DeprecationWarning
# (stdlib audioop) filtered, which `filterwarnings = error` would otherwise turn into an error.
import discord
from discord import app_commands
from discord.ext import commands

pytest_plugins = ["discord_emulator"]

MESSAGES = r"/channels/\d+/messages"


def run(
    factory: EmulatorFactory,
    scenario: Callable[[DiscordEmulator], Awaitable[None]],
    **options: object,
) -> None:
    """Run `scenario` against a fresh emulator that discord.py is pointed at."""

    async def main() -> None:
        async with factory(**options) as emulator:
            await scenario(emulator)

    asyncio.run(main())


def client(**options: Any) -> discord.Client:
    """A plain client (default, non-privileged intents unless given) that is ready quickly."""
    options.setdefault("intents", discord.Intents.default())
    return discord.Client(**{**FAST_CLIENT_OPTIONS, **options})


def slash_client() -> tuple[discord.Client, app_commands.CommandTree[discord.Client]]:
    """A client with a command tree holding the commands the interaction tests use."""
    bot = client()
    tree = app_commands.CommandTree(bot)

    @tree.command(description="Check that the bot answers")
    async def ping(interaction: discord.Interaction, times: int = 1) -> None:
        perms = interaction.permissions
        await interaction.response.send_message(
            f"pong x{times} admin={perms.administrator}", ephemeral=True
        )

    @tree.command(description="Build a report slowly")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.edit_original_response(content="report ready")
        await interaction.followup.send("details", ephemeral=True)

    async def topics(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        names = ["ukraine", "uk elections", "taiwan", "sahel"]
        return [app_commands.Choice(name=n, value=n) for n in names if n.startswith(current)]

    @tree.command(description="Follow a topic")
    @app_commands.autocomplete(topic=topics)
    async def follow(interaction: discord.Interaction, topic: str) -> None:
        await interaction.response.send_message(f"following {topic}")

    watch = app_commands.Group(name="watch", description="Manage the watchlist")

    @watch.command(name="add", description="Watch a term")
    async def watch_add(
        interaction: discord.Interaction,
        term: str,
        channel: discord.TextChannel,
        notify: discord.Member,
        weight: float = 1.0,
    ) -> None:
        await interaction.response.send_message(
            f"{term} -> #{channel.name} for {notify.name} ({weight:.1f})"
        )

    tree.add_command(watch)
    return bot, tree


# --- connecting ---------------------------------------------------------------------------------


def test_client_connects_and_fires_on_ready(discord_emulator: EmulatorFactory) -> None:
    """An unmodified Client logs in, identifies, gets READY + GUILD_CREATE, fires on_ready fast."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        ready = asyncio.Event()

        @bot.event
        async def on_ready() -> None:
            ready.set()

        started = time.monotonic()
        async with running(bot, emu):
            await asyncio.wait_for(ready.wait(), 1)
            elapsed = time.monotonic() - started
            assert bot.user is not None and bot.user.id == emu.bot_user.id == bot.application_id
            guild = bot.get_guild(emu.guild.id)
            assert guild is not None and guild.name == "Signalwatch Test"
            assert [c.name for c in guild.text_channels] == ["general", "alerts", "staff"]
            alerts = guild.get_channel(emu.alerts.id)
            assert isinstance(alerts, discord.TextChannel) and alerts.topic == "News alerts"
            assert guild.me.id == emu.bot_user.id
            assert alerts.permissions_for(guild.me).embed_links
            staff = guild.get_channel(emu.staff.id)
            assert isinstance(staff, discord.TextChannel)
            assert staff.permissions_for(guild.me).view_channel
            assert not staff.permissions_for(guild.default_role).view_channel
            assert guild.get_member(emu.user.id) is None  # no members intent: only the bot cached
        assert elapsed < 1.0
        assert [(r.method, r.path) for r in emu.requests] == [
            ("GET", "/users/@me"),
            ("GET", "/oauth2/applications/@me"),
        ]
        conn = emu.gateway_connections[0]
        assert conn.query == {"v": "10", "encoding": "json", "compress": "zlib-stream"}
        identify = conn.ops_received(2)[0]["d"]
        assert identify["token"] == emu.token
        assert identify["intents"] == discord.Intents.default().value
        assert [p["t"] for p in conn.sent if p["op"] == 0] == ["READY", "GUILD_CREATE"]
        assert [p["s"] for p in conn.sent if p["op"] == 0] == [1, 2]
        assert conn.ops_received(1) and {"op": 11} in conn.sent

    run(discord_emulator, scenario)


def test_bot_with_members_intent_caches_members(discord_emulator: EmulatorFactory) -> None:
    """With the members intent, members and role permissions work; op 8 queries are answered."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = commands.Bot(
            command_prefix="!",
            intents=discord.Intents.default() | discord.Intents(members=True),
            **FAST_CLIENT_OPTIONS,
        )
        started = time.monotonic()
        async with running(bot, emu):
            assert time.monotonic() - started < 1.0
            guild = bot.get_guild(emu.guild.id)
            assert guild is not None and guild.chunked
            alice = guild.get_member(emu.user.id)
            moderator = guild.get_member(emu.moderator.id)
            assert alice is not None and moderator is not None
            assert [r.name for r in moderator.roles] == ["@everyone", "Moderators"]
            staff = guild.get_channel(emu.staff.id)
            assert isinstance(staff, discord.TextChannel)
            assert staff.permissions_for(moderator).view_channel
            assert not staff.permissions_for(alice).view_channel
            assert guild.get_member(emu.owner.id) == guild.owner
            found = await guild.query_members("al")
            assert [m.id for m in found] == [emu.user.id]
        request = emu.gateway_connections[0].ops_received(8)[0]["d"]
        assert request["query"] == "al" and int(request["guild_id"]) == emu.guild.id

    run(discord_emulator, scenario)


def test_auto_sharded_client_asks_gateway_bot(discord_emulator: EmulatorFactory) -> None:
    """AutoShardedClient finds the gateway through GET /gateway/bot and gets READY with a shard."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = discord.AutoShardedClient(intents=discord.Intents.default(), **FAST_CLIENT_OPTIONS)
        async with running(bot, emu):
            assert bot.shard_count == 1 and bot.get_guild(emu.guild.id) is not None
        assert emu.requests_to("GET", "/gateway/bot")
        assert emu.gateway_connections[0].ops_received(2)[0]["d"]["shard"] == [0, 1]

    run(discord_emulator, scenario)


def test_wrong_token_fails_login_cleanly(discord_emulator: EmulatorFactory) -> None:
    """A bad token gets 401 from /users/@me: LoginFailure, and the client session is closed."""

    async def scenario(emu: DiscordEmulator) -> None:
        with pytest.raises(discord.LoginFailure):
            async with running(client(), emu, token="not-the-token"):
                pass
        assert emu.requests[0].status == 401
        assert emu.requests[0].response == {"message": "401: Unauthorized", "code": 0}

    run(discord_emulator, scenario)


def test_reconnect_resumes_and_replays_missed_events(discord_emulator: EmulatorFactory) -> None:
    """After the gateway drops, the client RESUMEs at resume_gateway_url and gets missed events."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        resumed = asyncio.Event()

        @bot.event
        async def on_resumed() -> None:
            resumed.set()

        async with running(bot, emu):
            session = emu.sessions[0]
            await emu.close_gateway(4000)
            role = emu.guild.add_role("Analysts")
            await emu.dispatch(
                "GUILD_ROLE_CREATE", {"guild_id": str(emu.guild.id), "role": role.payload()}
            )
            await asyncio.wait_for(resumed.wait(), 2)
            guild = bot.get_guild(emu.guild.id)
            assert guild is not None and guild.get_role(role.id) is not None
            assert session.resumes == 1
            second = emu.gateway_connections[1]
            assert second.path == "/gateway/resume"
            resume = second.ops_received(6)[0]["d"]
            assert resume["session_id"] == session.session_id and resume["seq"] == 2
            assert [p["t"] for p in second.sent if p["op"] == 0] == ["GUILD_ROLE_CREATE", "RESUMED"]

            resumed.clear()
            await emu.request_reconnect()  # op 7
            await asyncio.wait_for(resumed.wait(), 2)
            assert session.resumes == 2 and len(emu.gateway_connections) == 3

    run(discord_emulator, scenario)


# --- application commands and interactions -------------------------------------------------------


def test_tree_sync_puts_the_command_schema(discord_emulator: EmulatorFactory) -> None:
    """CommandTree.sync() PUTs the schema; ids come back; a guild sync uses the guild route."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot, tree = slash_client()
        async with running(bot, emu):
            synced = await tree.sync()
            assert sorted(c.name for c in synced) == ["follow", "ping", "report", "watch"]
            assert {c.id for c in synced} == {int(c["id"]) for c in emu.commands()}
            again = await tree.sync()
            assert {c.id for c in again} == {c.id for c in synced}  # ids survive a re-sync
            guild = discord.Object(emu.guild.id)
            tree.copy_global_to(guild=guild)
            assert len(await tree.sync(guild=guild)) == 4
        put = emu.requests_to("PUT", rf"/applications/{emu.application_id}/commands")[0]
        schema = {c["name"]: c for c in put.json}
        assert schema["ping"]["description"] == "Check that the bot answers"
        times = schema["ping"]["options"][0]
        assert (times["name"], times["type"], times["required"]) == ("times", 4, False)
        add = schema["watch"]["options"][0]
        assert (add["type"], add["name"]) == (1, "add")
        assert [(o["name"], o["type"], o["required"]) for o in add["options"]] == [
            ("term", 3, True),
            ("channel", 7, True),
            ("notify", 6, True),
            ("weight", 10, False),
        ]
        assert schema["follow"]["options"][0]["autocomplete"] is True
        assert emu.requests_to("PUT", rf"/applications/\d+/guilds/{emu.guild.id}/commands")
        assert all(c["guild_id"] == str(emu.guild.id) for c in emu.commands(emu.guild))

    run(discord_emulator, scenario)


def test_command_schema_is_validated_like_discord(discord_emulator: EmulatorFactory) -> None:
    """A bulk overwrite with an invalid name or description gets 400 Invalid Form Body."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        async with running(bot, emu):
            bad = [{"name": "Bad Name", "description": "x" * 101, "type": 1}]
            with pytest.raises(discord.HTTPException) as caught:
                await bot.http.bulk_upsert_global_commands(emu.application_id, bad)
            assert (caught.value.status, caught.value.code) == (400, 50035)
            assert "0.name" in caught.value.text and "0.description" in caught.value.text
        assert emu.commands() == []

    run(discord_emulator, scenario)


def test_slash_command_replies_ephemerally(discord_emulator: EmulatorFactory) -> None:
    """A synced slash command gets typed options; its ephemeral reply reaches the callback."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot, tree = slash_client()
        async with running(bot, emu):
            await tree.sync()
            handle = await emu.send_interaction("ping", {"times": 3})
            callback = await handle
            assert callback["type"] == 4
            assert callback["data"]["content"] == "pong x3 admin=False"
            assert callback["data"]["flags"] == 64
            assert handle.original is not None and handle.original["flags"] == 64
            assert handle.original["interaction_metadata"]["name"] == "ping"
            assert emu.messages_in(emu.general) == []  # ephemeral: not in the channel
            assert handle.response_delay is not None and handle.response_delay < 1.0
            option = handle.payload["data"]["options"][0]
            assert option == {"name": "times", "type": 4, "value": 3}

            admin = await emu.send_interaction("ping", member_permissions=ADMINISTRATOR)
            assert (await admin)["data"]["content"] == "pong x1 admin=True"
        callback_request = emu.requests_to("POST", rf"/interactions/{handle.id}/[^/]+/callback")[0]
        assert callback_request.query == {"with_response": "1"}

    run(discord_emulator, scenario)


def test_deferred_response_edit_and_followup(discord_emulator: EmulatorFactory) -> None:
    """defer(thinking=True), edit_original_response and followup.send all land on the handle."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot, _ = slash_client()
        async with running(bot, emu):
            handle = await emu.send_interaction("report")  # not synced: still dispatched
            assert (await handle)["type"] == 5
            original = await handle.original_edit()
            assert original["content"] == "report ready" and original["flags"] == 0
            followup = await handle.followup(0)
            assert followup["content"] == "details" and followup["flags"] == 64
            assert [m["content"] for m in emu.messages_in(emu.general)] == ["report ready"]
        app = emu.application_id
        assert emu.requests_to("PATCH", rf"/webhooks/{app}/{handle.token}/messages/@original")
        posted = emu.requests_to("POST", rf"/webhooks/{app}/{handle.token}")
        assert posted[0].query["wait"] == "1"

    run(discord_emulator, scenario)


def test_autocomplete_returns_choices(discord_emulator: EmulatorFactory) -> None:
    """A type 4 interaction with a focused option gets the bot's choices (callback type 8)."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot, tree = slash_client()
        async with running(bot, emu):
            await tree.sync()
            handle = await emu.send_autocomplete("follow", "topic", {"topic": "uk"})
            assert handle.payload["type"] == 4
            assert handle.payload["data"]["options"] == [
                {"name": "topic", "type": 3, "value": "uk", "focused": True}
            ]
            assert await handle.choices() == [
                {"name": "ukraine", "value": "ukraine"},
                {"name": "uk elections", "value": "uk elections"},
            ]
            chosen = await emu.send_interaction("follow", {"topic": "sahel"})
            assert (await chosen)["data"]["content"] == "following sahel"

    run(discord_emulator, scenario)


def test_subcommand_with_resolved_channel_and_member(discord_emulator: EmulatorFactory) -> None:
    """`watch add` resolves channel and member options into discord.py objects."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot, tree = slash_client()
        async with running(bot, emu):
            await tree.sync()
            handle = await emu.send_interaction(
                "watch add",
                {"term": "Sahel", "channel": emu.alerts, "notify": emu.moderator, "weight": 2.5},
                user=emu.owner,
            )
            callback = await handle
            assert callback["data"]["content"] == "Sahel -> #alerts for mod (2.5)"
            data = handle.payload["data"]
            assert data["options"][0]["name"] == "add" and data["options"][0]["type"] == 1
            assert set(data["resolved"]) == {"channels", "users", "members"}
            assert handle.payload["member"]["user"]["id"] == str(emu.owner.id)
            with pytest.raises(ValueError, match="not in the registered command"):
                await emu.send_interaction("watch add", {"nope": 1})

    run(discord_emulator, scenario)


def test_late_interaction_response_is_unknown(discord_emulator: EmulatorFactory) -> None:
    """A callback after `interaction_timeout` gets 404 Unknown interaction (10062)."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        tree = app_commands.CommandTree(bot)
        errors: list[discord.HTTPException] = []

        @tree.command(description="Too slow")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.1)
            try:
                await interaction.response.send_message("late")
            except discord.NotFound as exc:
                errors.append(exc)

        async with running(bot, emu):
            await emu.send_interaction("slow")
            await emu.wait_until(lambda: errors, timeout=1)
        assert errors[0].code == 10062

    run(discord_emulator, scenario, interaction_timeout=0.05)


def test_button_interaction_updates_the_message(discord_emulator: EmulatorFactory) -> None:
    """A button press (type 3) on a message with a view reaches the view; edit_message applies."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()

        class Ack(discord.ui.View):
            @discord.ui.button(label="Acknowledge", custom_id="ack")
            async def ack(
                self, interaction: discord.Interaction, button: discord.ui.Button[Ack]
            ) -> None:
                await interaction.response.edit_message(content="acknowledged", view=None)

        async with running(bot, emu):
            channel = bot.get_channel(emu.alerts.id)
            assert isinstance(channel, discord.TextChannel)
            await channel.send("Alert: new signal", view=Ack())
            stored = emu.messages_in(emu.alerts)[-1]
            assert stored["components"][0]["components"][0]["custom_id"] == "ack"
            handle = await emu.send_component(stored, "ack")
            assert (await handle)["type"] == 7
            assert stored["content"] == "acknowledged" and stored["components"] == []

    run(discord_emulator, scenario)


# --- messages ----------------------------------------------------------------------------------


def test_channel_send_embed_is_recorded(discord_emulator: EmulatorFactory) -> None:
    """channel.send(embed=...) POSTs the embed; the message is stored and echoed to on_message."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        async with running(bot, emu):
            channel = bot.get_channel(emu.alerts.id)
            assert isinstance(channel, discord.TextChannel)
            embed = discord.Embed(
                title="Strait closed", description="Shipping halted", url="https://example.com/a"
            )
            embed.add_field(name="Source", value="Reuters")
            echoed = asyncio.ensure_future(bot.wait_for("message", timeout=1))
            sent = await channel.send(
                "New signal", embed=embed, allowed_mentions=discord.AllowedMentions.none(), nonce=42
            )
            assert sent.embeds[0].title == "Strait closed" and sent.author.id == emu.bot_user.id
            assert (await echoed).id == sent.id
        request = emu.requests_to("POST", rf"/channels/{emu.alerts.id}/messages")[0]
        assert request.json["content"] == "New signal"
        assert request.json["embeds"][0]["title"] == "Strait closed"
        assert request.json["allowed_mentions"] == {"parse": []}
        assert request.headers["authorization"] == f"Bot {emu.token}"
        stored = emu.messages_in(emu.alerts)[0]
        assert stored["embeds"][0] == {**request.json["embeds"][0], "flags": 0}
        assert stored["allowed_mentions"] == {"parse": []}
        assert (
            stored["nonce"] == request.json["nonce"] == "42" and stored["mention_everyone"] is False
        )

    run(discord_emulator, scenario)


def test_mentions_follow_allowed_mentions(discord_emulator: EmulatorFactory) -> None:
    """@everyone and user mentions only count as Discord would count them."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        async with running(bot, emu):
            channel = bot.get_channel(emu.alerts.id)
            assert isinstance(channel, discord.TextChannel)
            await channel.send(f"@everyone {emu.user.mention}")
            await channel.send(
                f"@everyone {emu.user.mention}",
                allowed_mentions=discord.AllowedMentions(everyone=False, users=True),
            )
        loud, quiet = emu.messages_in(emu.alerts)
        assert loud["mention_everyone"] is True and quiet["mention_everyone"] is False
        assert [u["id"] for u in quiet["mentions"]] == [str(emu.user.id)]

    run(discord_emulator, scenario)


def test_rate_limited_send_is_retried(discord_emulator: EmulatorFactory) -> None:
    """A 429 with retry_after and Via is slept through and retried by discord.py, then succeeds."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        async with running(bot, emu):
            channel = bot.get_channel(emu.alerts.id)
            assert isinstance(channel, discord.TextChannel)
            reply = emu.fail_next(
                "POST", f"/channels/{emu.alerts.id}/messages", 429, retry_after=0.05
            )
            await channel.send("after the limit")
        posts = emu.requests_to("POST", MESSAGES)
        assert [r.status for r in posts] == [429, 200]
        assert posts[1].at - posts[0].at >= 0.05
        assert posts[0].response["retry_after"] == 0.05 and reply.used == 1
        assert [m["content"] for m in emu.messages_in(emu.alerts)] == ["after the limit"]

    run(discord_emulator, scenario)


def test_http_errors_raise_discord_exceptions(discord_emulator: EmulatorFactory) -> None:
    """Injected and real 403/404s become discord.Forbidden / discord.NotFound with Discord codes."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        async with running(bot, emu):
            channel = bot.get_channel(emu.alerts.id)
            assert isinstance(channel, discord.TextChannel)
            path = f"/channels/{emu.alerts.id}/messages"
            emu.fail_next("POST", path, 403)
            with pytest.raises(discord.Forbidden) as forbidden:
                await channel.send("x")
            assert (forbidden.value.code, forbidden.value.text) == (50013, "Missing Permissions")
            emu.fail_next("POST", path, 404, code=10003, message="Unknown Channel")
            with pytest.raises(discord.NotFound) as not_found:
                await channel.send("x")
            assert (not_found.value.code, not_found.value.text) == (10003, "Unknown Channel")

            assert emu.guild.bot_role is not None
            emu.general.set_overwrite(emu.guild.bot_role, deny=SEND_MESSAGES)
            general = bot.get_channel(emu.general.id)
            assert isinstance(general, discord.TextChannel)
            with pytest.raises(discord.Forbidden) as denied:
                await general.send("x")
            assert denied.value.code == 50013
            with pytest.raises(discord.NotFound) as unknown:
                await bot.fetch_channel(1234567890123456789)
            assert unknown.value.code == 10003
        assert emu.messages_in(emu.alerts) == [] and emu.messages_in(emu.general) == []

    run(discord_emulator, scenario)


def test_message_limits_are_enforced(discord_emulator: EmulatorFactory) -> None:
    """Over-long content or embeds get 400 50035; an empty message gets 400 50006."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        async with running(bot, emu):
            channel = bot.get_channel(emu.alerts.id)
            assert isinstance(channel, discord.TextChannel)
            with pytest.raises(discord.HTTPException) as long_content:
                await channel.send("x" * 2001)
            assert (long_content.value.status, long_content.value.code) == (400, 50035)
            with pytest.raises(discord.HTTPException) as long_embed:
                await channel.send(embed=discord.Embed(description="y" * 4097))
            assert "embeds.0.description" in long_embed.value.text
            with pytest.raises(discord.HTTPException) as empty:
                await channel.send()
            assert empty.value.code == 50006
            await channel.send("x" * 2000)
        assert len(emu.messages_in(emu.alerts)) == 1

    run(discord_emulator, scenario)


def test_edit_delete_and_fetch_messages(discord_emulator: EmulatorFactory) -> None:
    """Message.edit PATCHes, fetch_message GETs and Message.delete DELETEs the stored message."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        async with running(bot, emu):
            channel = bot.get_channel(emu.alerts.id)
            assert isinstance(channel, discord.TextChannel)
            message = await channel.send("draft")
            edited = await message.edit(content="final")
            assert edited.content == "final" and edited.edited_at is not None
            fetched = await channel.fetch_message(message.id)
            assert fetched.content == "final"
            await message.delete()
            with pytest.raises(discord.NotFound) as gone:
                await channel.fetch_message(message.id)
            assert gone.value.code == 10008
        assert emu.messages_in(emu.alerts) == [] and message.id in emu.deleted_message_ids
        assert [r.method for r in emu.requests if r.path.startswith("/channels/")] == [
            "POST",
            "PATCH",
            "GET",
            "DELETE",
            "GET",
        ]

    run(discord_emulator, scenario)


def test_direct_messages(discord_emulator: EmulatorFactory) -> None:
    """user.send opens a DM channel and posts to it; a user with DMs closed gives 403 50007."""

    async def scenario(emu: DiscordEmulator) -> None:
        bot = client()
        async with running(bot, emu):
            alice = await bot.fetch_user(emu.user.id)
            await alice.send("Your digest is ready")
            emu.moderator.accepts_dms = False
            moderator = await bot.fetch_user(emu.moderator.id)
            with pytest.raises(discord.Forbidden) as closed:
                await moderator.send("hello")
            assert closed.value.code == 50007
        opened = emu.requests_to("POST", "/users/@me/channels")
        assert opened[0].json == {"recipient_id": emu.user.id}
        dm = emu.dm_channels[emu.user.id]
        assert [m["content"] for m in dm.messages] == ["Your digest is ready"]

    run(discord_emulator, scenario)


def test_user_messages_respect_the_message_content_intent(
    discord_emulator: EmulatorFactory,
) -> None:
    """send_user_message reaches on_message, with content only given the message content intent."""

    async def scenario(emu: DiscordEmulator) -> None:
        with_content = client(
            intents=discord.Intents.default() | discord.Intents(message_content=True)
        )
        async with running(with_content, emu):
            waiting = asyncio.ensure_future(with_content.wait_for("message", timeout=1))
            await emu.send_user_message(emu.general, "what is new?")
            message = await waiting
            assert message.content == "what is new?" and message.author.id == emu.user.id
        without = client()
        async with running(without, emu):
            waiting = asyncio.ensure_future(without.wait_for("message", timeout=1))
            await emu.send_user_message(emu.general, "secret")
            assert (await waiting).content == ""

    run(discord_emulator, scenario)


# --- webhooks and raw HTTP ------------------------------------------------------------------------


def test_webhook_from_url_posts(discord_emulator: EmulatorFactory) -> None:
    """Webhook.from_url with an aiohttp session posts through Route.BASE, with and without wait."""

    async def scenario(emu: DiscordEmulator) -> None:
        hook = emu.add_webhook(emu.alerts, name="Signal feed")
        async with aiohttp.ClientSession() as session:
            webhook = discord.Webhook.from_url(hook.url, session=session)
            sent = await webhook.send(
                "Breaking", embed=discord.Embed(title="Coup attempt"), username="Wire", wait=True
            )
            assert sent.content == "Breaking" and sent.author.name == "Wire"
            await webhook.send("Update")  # wait=False: 204, nothing returned
            await sent.edit(content="Breaking (updated)")
            fetched = await webhook.fetch_message(sent.id)
            assert fetched.content == "Breaking (updated)"
            bad = discord.Webhook.from_url(hook.url[:-3] + "abc", session=session)
            with pytest.raises(discord.HTTPException) as invalid:
                await bad.send("x")
            assert (invalid.value.status, invalid.value.code) == (401, 50027)
        posts = emu.requests_to("POST", rf"/webhooks/{hook.id}/[^/]+")
        assert [r.query["wait"] for r in posts] == ["1", "0", "0"]
        assert [r.status for r in posts] == [200, 204, 401]
        assert [m["content"] for m in emu.messages_in(emu.alerts)] == [
            "Breaking (updated)",
            "Update",
        ]
        assert emu.messages_in(emu.alerts)[0]["embeds"] == [
            {"type": "rich", "title": "Coup attempt", "flags": 0}
        ]

    run(discord_emulator, scenario)


def test_unknown_routes_and_raw_errors(discord_emulator: EmulatorFactory) -> None:
    """Unknown routes get Discord's 404 JSON; injected 429/500 replies look like Discord's."""

    async def scenario(emu: DiscordEmulator) -> None:
        auth = {"Authorization": f"Bot {emu.token}"}
        async with aiohttp.ClientSession(headers=auth) as http:

            async def get(path: str) -> tuple[int, object, dict[str, str]]:
                async with http.get(emu.base_url + path) as response:
                    body = json.loads(await response.read())
                    return response.status, body, dict(response.headers)

            status, body, headers = await get("/api/v10/no/such/route")
            assert (status, body) == (404, {"message": "404: Not Found", "code": 0})
            assert headers["Content-Type"] == "application/json" and "Via" in headers
            assert (await get("/elsewhere"))[:2] == (404, {"message": "404: Not Found", "code": 0})
            async with (
                aiohttp.ClientSession() as anonymous,
                anonymous.get(emu.api_base + "/users/@me") as response,
            ):
                assert response.status == 401
            emu.fail_next("GET", "/users/@me", 500)
            assert (await get("/api/v10/users/@me"))[:2] == (
                500,
                {"message": "500: Internal Server Error", "code": 0},
            )
            emu.fail_next("GET", "/users/@me", 429, retry_after=0.25)
            status, body, headers = await get("/api/v10/users/@me")
            assert status == 429 and body == {
                "message": "You are being rate limited.",
                "retry_after": 0.25,
                "global": False,
                "code": 0,
            }
            assert headers["X-RateLimit-Remaining"] == "0"
            assert headers["X-RateLimit-Reset-After"] == "0.250" and "Via" in headers
            assert (await get("/api/v10/users/@me"))[0] == 200
        assert [r.path for r in emu.requests][:2] == ["/no/such/route", "/elsewhere"]

    run(discord_emulator, scenario)
