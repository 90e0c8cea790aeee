"""/subscribe, /unsubscribe and /subscriptions against the Discord emulator, through to the
mentions and DMs that DiscordSink delivers to subscribers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from discord_emulator import EmulatorFactory, EmuUser

# isort: split
# discord_emulator (through chat_harness too) first: it imports discord.py with the audioop
# DeprecationWarning filtered, which `filterwarnings = error` would turn into an error.
from chat_harness import ChatHarness, run_chat

from bot.chat import format as fmt
from bot.watchlist import SignalSpec

pytest_plugins = ["discord_emulator"]

EPHEMERAL = 64
NATO_HEADLINE = "NATO allies agree 5% of GDP for defence spending"
TRUCE_HEADLINE = "Kyiv and Moscow agree a truce on energy strikes"


async def ask(
    h: ChatHarness, name: str, user: EmuUser | None = None, **options: Any
) -> dict[str, Any]:
    """Run a slash command as `user` (alice by default); return its private answer's data."""
    callback = await (await h.emu.send_interaction(name, options, user=user))
    assert callback["type"] == 4, callback
    assert callback["data"].get("flags", 0) & EPHEMERAL, callback  # subscriptions are private
    data: dict[str, Any] = callback["data"]
    return data


def test_subscription_commands_register_with_described_options(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Start-up syncs /subscribe (signal autocomplete, mode choices), /unsubscribe, /subscriptions."""

    async def scenario(h: ChatHarness) -> None:
        subscribe = h.command("subscribe")
        assert subscribe["description"] == "Get mentioned or DMed when a signal moves"
        signal, mode = subscribe["options"]
        assert (signal["name"], signal["type"], signal["required"]) == ("signal", 3, True)
        assert signal["autocomplete"] is True and signal["description"]
        assert (mode["name"], mode["type"], mode["required"]) == ("mode", 3, False)
        assert [c["value"] for c in mode["choices"]] == ["mention", "dm"]
        assert mode["description"] and not mode.get("autocomplete")
        (signal,) = h.command("unsubscribe")["options"]
        assert (signal["name"], signal["type"], signal["required"]) == ("signal", 3, True)
        assert signal["autocomplete"] is True and signal["description"]
        listing = h.command("subscriptions")
        assert listing["description"] and listing.get("options", []) == []
        registered = {c["name"] for c in h.emu.commands()}
        assert {"subscribe", "unsubscribe", "subscriptions"} <= registered

    run_chat(discord_emulator, tmp_path, scenario)


def test_subscribe_by_mention_then_the_alert_mentions_only_the_subscriber(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/subscribe (mention): a private confirmation naming the channel, then a pinging alert."""

    async def scenario(h: ChatHarness) -> None:
        alice = h.emu.user
        data = await ask(h, "subscribe", signal="nato-5pct")
        assert data["content"] == (
            "Subscribed to **NATO spending hits 5%** (`nato-5pct`): you'll be mentioned in "
            f"<#{h.emu.alerts.id}> when it moves."
        )
        (sub,) = h.store.subscribers("nato-5pct")
        assert (sub.user_id, sub.mode, sub.guild_id) == (alice.id, "mention", h.emu.guild.id)
        assert sub.created_at == h.clock.now
        record = h.seed_article(f"@everyone {NATO_HEADLINE}")
        await h.sink.send(h.alert_for(record))
        message = h.emu.messages_in(h.emu.alerts)[-1]
        assert message["content"] == f"<@{alice.id}>"
        assert [m["id"] for m in message["mentions"]] == [str(alice.id)]
        assert not message["mention_everyone"]
        sent = h.emu.requests_to("POST", rf"/channels/{h.emu.alerts.id}/messages")[-1].json
        assert [int(u) for u in sent["allowed_mentions"]["users"]] == [alice.id]
        assert sent["allowed_mentions"]["parse"] == []
        assert not h.emu.requests_to("POST", "/users/@me/channels")  # no DM for mention mode

    run_chat(discord_emulator, tmp_path, scenario)


def test_subscribe_by_dm_then_the_alert_arrives_as_a_dm(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/subscribe mode:dm: the confirmation says a DM comes; the alert opens a DM and posts it."""

    async def scenario(h: ChatHarness) -> None:
        mod = h.emu.moderator
        data = await ask(h, "subscribe", user=mod, signal="ukraine-truce", mode="dm")
        assert data["content"].startswith(
            "Subscribed to **Ukraine truce terms land** (`ukraine-truce`): "
            "you'll get a DM when it moves."
        )
        record = h.seed_article(TRUCE_HEADLINE)
        await h.sink.send(h.alert_for(record, destination=f"channel:{h.emu.general.id}"))
        opened = h.emu.requests_to("POST", "/users/@me/channels")
        assert [int(r.json["recipient_id"]) for r in opened] == [mod.id]
        dm = h.emu.dm_channels[mod.id]
        posted = h.emu.requests_to("POST", rf"/channels/{dm.id}/messages")
        assert len(posted) == 1 and posted[0].at > opened[0].at
        (message,) = h.emu.messages_in(dm)
        assert message["embeds"][0]["title"] == TRUCE_HEADLINE
        assert not message["content"]  # a DM needs no mention
        channel_message = h.emu.messages_in(h.emu.general)[-1]
        assert not channel_message["content"]  # a DM subscriber is not pinged in the channel

    run_chat(discord_emulator, tmp_path, scenario)


def test_unsubscribe_stops_the_mentions(discord_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """/unsubscribe: confirmed privately, and the next alert mentions no one."""

    async def scenario(h: ChatHarness) -> None:
        await ask(h, "subscribe", signal="nato-5pct")
        data = await ask(h, "unsubscribe", signal="nato-5pct")
        assert data["content"] == (
            "Unsubscribed from **NATO spending hits 5%** (`nato-5pct`): no more mentions or DMs"
            " for it."
        )
        assert h.store.subscribers("nato-5pct") == []
        await h.sink.send(h.alert_for(h.seed_article(NATO_HEADLINE)))
        message = h.emu.messages_in(h.emu.alerts)[-1]
        assert not message["content"] and message["mentions"] == []
        data = await ask(h, "unsubscribe", signal="nato-5pct")
        assert data["content"] == (
            "You don't follow **NATO spending hits 5%** (`nato-5pct`)."
            " `/subscriptions` lists what you follow."
        )

    run_chat(discord_emulator, tmp_path, scenario)


def test_unsubscribe_autocompletes_only_the_users_own_signals(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/unsubscribe offers what this user follows (even a signal since removed), nothing else."""

    async def scenario(h: ChatHarness) -> None:
        alice, mod = h.emu.user, h.emu.moderator
        h.store.subscribe(alice.id, "ukraine-truce", "mention", h.emu.guild.id, h.clock.now)
        h.store.subscribe(alice.id, "old-signal", "dm", None, h.clock.now)
        h.store.subscribe(mod.id, "nato-5pct", "mention", h.emu.guild.id, h.clock.now)
        handle = await h.emu.send_autocomplete("unsubscribe", "signal", user=alice)
        assert await handle.choices() == [
            {"name": "old-signal — no longer in the watchlist", "value": "old-signal"},
            {"name": "ukraine-truce — Ukraine truce terms land", "value": "ukraine-truce"},
        ]
        handle = await h.emu.send_autocomplete("unsubscribe", "signal", {"signal": "ukr"})
        assert [c["value"] for c in await handle.choices()] == ["ukraine-truce"]
        handle = await h.emu.send_autocomplete("unsubscribe", "signal", {"signal": "nato"})
        assert await handle.choices() == []
        data = await ask(h, "unsubscribe", signal="ukraine-truse")
        assert data["content"].startswith("You don't follow `ukraine-truse` (did you mean")
        assert (await ask(h, "unsubscribe", signal="old-signal"))["content"].startswith(
            "Unsubscribed from `old-signal`"
        )

    run_chat(discord_emulator, tmp_path, scenario)


def test_subscribe_to_an_unknown_signal_is_refused(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """An id not in the watchlist: a private error with a suggestion, and nothing stored."""

    async def scenario(h: ChatHarness) -> None:
        data = await ask(h, "subscribe", signal="nato5pct")
        assert data["content"] == (
            "There is no signal `nato5pct` (did you mean `nato-5pct`?). `/signals` lists them all."
        )
        assert h.store.subscriptions_of(h.emu.user.id) == []
        choices = await (
            await h.emu.send_autocomplete("subscribe", "signal", {"signal": "5"})
        ).choices()
        assert [c["value"] for c in choices] == ["nato-5pct"]

    run_chat(discord_emulator, tmp_path, scenario)


def test_subscribe_again_switches_mode_and_warns_about_disabled_signals(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Re-subscribing says what changed; a disabled signal is accepted with a warning."""

    async def scenario(h: ChatHarness) -> None:
        await ask(h, "subscribe", signal="nato-5pct")
        again = await ask(h, "subscribe", signal="nato-5pct", mode="mention")
        assert again["content"].startswith("You already follow **NATO spending hits 5%**")
        switched = await ask(h, "subscribe", signal="nato-5pct", mode="dm")
        assert switched["content"].startswith(
            "Switched **NATO spending hits 5%** (`nato-5pct`) from mention to dm: you'll get a DM"
        )
        (sub,) = h.store.subscriptions_of(h.emu.user.id)
        assert sub.mode == "dm"
        disabled = await ask(h, "subscribe", signal="canal-deals")
        assert disabled["content"].endswith(
            "It is disabled right now, so nothing arrives until an admin enables it."
        )

    run_chat(discord_emulator, tmp_path, scenario)


def test_subscriptions_lists_the_users_own_privately(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/subscriptions: each signal the user follows, how, and since when; others' stay hidden."""

    async def scenario(h: ChatHarness) -> None:
        assert (await ask(h, "subscriptions"))["content"] == (
            "You follow no signals. `/subscribe` follows one; `/signals` lists them."
        )
        since = h.clock.now
        await ask(h, "subscribe", signal="ukraine-truce")
        await ask(h, "subscribe", signal="nato-5pct", mode="dm")
        await ask(h, "subscribe", user=h.emu.moderator, signal="canal-deals")
        data = await ask(h, "subscriptions")
        day = f"<t:{int(since.timestamp())}:D>"
        assert data["content"] == (
            "You follow 2 signals:\n"
            f"• **NATO spending hits 5%** (`nato-5pct`) — by DM, since {day}\n"
            f"• **Ukraine truce terms land** (`ukraine-truce`) — mentioned in <#{h.emu.general.id}>,"
            f" since {day}"
        )

    run_chat(discord_emulator, tmp_path, scenario)


def test_subscribe_from_a_dm_keeps_no_guild(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A subscription made in the bot's DMs is stored without a guild."""

    async def scenario(h: ChatHarness) -> None:
        callback = await (
            await h.emu.send_interaction(
                "subscribe", {"signal": "nato-5pct", "mode": "dm"}, dm=True
            )
        )
        assert callback["data"].get("flags", 0) & EPHEMERAL
        (sub,) = h.store.subscriptions_of(h.emu.user.id)
        assert (sub.signal_id, sub.mode, sub.guild_id) == ("nato-5pct", "dm", None)

    run_chat(discord_emulator, tmp_path, scenario)


def test_subscribe_message_when_no_channel_can_carry_a_mention() -> None:
    """A signal routed only to webhooks: mention mode says no mention can reach, suggests DM."""
    assert fmt.mention_channels(["webhook:HOOK"], 5) == []
    assert fmt.mention_channels(["default", "channel:7", "channel:7"], 5) == [5, 7]
    assert fmt.mention_channels(["default"], None) == []
    signal = SignalSpec(id="x", title="X moves", query="x")
    text = fmt.subscribe_message(signal, "mention", None, [])
    assert "no mention can reach you" in text and "mode: dm" in text
    assert fmt.subscribe_message(signal, "mention", None, [1, 2, 3]).endswith(
        "mentioned in <#1>, <#2> and <#3> when it moves."
    )
