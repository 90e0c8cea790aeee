"""Alerts delivered to Discord: SignalBot, DiscordSink, DiscordNotifier and `signalwatch run`.

Everything runs unmodified discord.py against the Discord API emulator (tests/discord_emulator.py)
on 127.0.0.1, in the test's own event loop. The in-process tests build a SignalBot on a SQLite
store in tmp_path; the end-to-end tests start `python -m bot run` as a subprocess (asyncio's, so
the emulator keeps serving while the test waits), pointed at the emulator with
SIGNALWATCH_DISCORD_API_BASE / SIGNALWATCH_DISCORD_GATEWAY and at the feed server of
tests/feedserver.py for its news. Every wait is bounded.

`NonceEmulator` adds what Discord does with `enforce_nonce` and the emulator does not (yet): a
message whose nonce the same author used in the last few minutes is not created again; the
first one is returned instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from discord_emulator import (
    FAST_CLIENT_OPTIONS,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    DiscordEmulator,
    RecordedRequest,
    patch_discord,
    running,
)
from feedserver import FeedServer
from pydantic import SecretStr

# isort: split
# discord_emulator first: it imports discord.py with its one import-time DeprecationWarning
# (stdlib audioop) filtered, which `filterwarnings = error` would otherwise turn into an error.
import discord

from bot.app import Wiring
from bot.chat.bot import (
    NONCE_LENGTH,
    BotServices,
    DiscordNotifier,
    DiscordSink,
    SignalBot,
    dm_nonce,
)
from bot.chat.run import run_with_discord
from bot.chat.settings import DiscordSettings
from bot.errors import DeliveryError, PermanentDeliveryError
from bot.model import Alert
from bot.pipeline import ALERT_LEASE, Compiled, Deliverer
from bot.pipeline.loop import RunOptions, utc_now
from bot.render import SEVERITY_COLOURS, alert_embed, defuse
from bot.settings import Settings
from bot.sinks.router import RoutingSink
from bot.sinks.webhook import WebhookSink
from bot.store import SourceConfig, Store, open_store
from bot.watchlist import WatchlistEditor, load_watchlist

pytest_plugins = ["feedserver"]

ROOT = Path(__file__).resolve().parent.parent
E2E = Path(__file__).parent / "data" / "e2e"
WAIT = 20.0  # seconds: the most any one step may take before the test fails
SCENARIO_LIMIT = 60.0  # seconds: the most a whole test may take
NOW = datetime(2025, 6, 25, 14, 30, tzinfo=UTC)
PUBLISHED = datetime(2025, 6, 25, 9, 30, tzinfo=UTC)
UNKNOWN_CHANNEL = 1234567890123456789
MESSAGES = r"/channels/(\d+)/messages"

WATCHLIST = """\
version: 1
signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    query: NATO
    severity: high
  - id: ukraine-truce
    title: Ukraine truce terms land
    query: ceasefire
    severity: critical
sources:
  - id: wire
    url: https://wire.example.org/feed.xml
"""

# (signal, title) of every alert tests/data/e2e/wire.xml gives with the e2e watchlist
# (the same table as tests/test_run_e2e.py).
EXPECTED = {
    ("nato-5pct", "NATO allies agree to spend 5% of GDP on defence by 2035"),
    ("ukraine-truce", "Zelensky says ceasefire terms with Russia are within reach"),
    ("tariff-waivers", "US grants tariff exemptions for smartphones and computer chips"),
    ("ukraine-truce", "Kremlin weighs 28-point peace plan as Kyiv sets out red lines"),
    ("nato-5pct", "Allies back 5% defence spending goal as Putin floats ceasefire in Ukraine"),
    ("ukraine-truce", "Allies back 5% defence spending goal as Putin floats ceasefire in Ukraine"),
}


# --- the emulator, with Discord's nonce deduplication ------------------------------------------


class NonceEmulator(DiscordEmulator):
    """The emulator, honouring `enforce_nonce` on POST /channels/{id}/messages as Discord does.

    Discord: "If another message was created by the same author with the same nonce [in the
    past few minutes], that message will be returned and no new message will be created." All
    REST messages here are the bot's, so the nonce alone is the key (not the channel).
    """

    NONCE_WINDOW = 300.0  # seconds; Discord says "a few minutes"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.nonces: dict[str, tuple[float, dict[str, Any]]] = {}

    async def _post_message(self, call: Any) -> tuple[int, Any]:
        body = call.json if isinstance(call.json, dict) else {}
        nonce = body.get("nonce") if body.get("enforce_nonce") else None
        if nonce is not None:
            seen = self.nonces.get(str(nonce))
            if seen is not None and time.monotonic() - seen[0] < self.NONCE_WINDOW:
                return 200, seen[1]
        status, message = await super()._post_message(call)
        if nonce is not None and status == 200:
            self.nonces[str(nonce)] = (time.monotonic(), message)
        return status, message


Emulator = Callable[..., Any]


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """A factory: `async with emulator() as emu:` starts a NonceEmulator and points discord.py
    at it (undone after the test)."""

    @asynccontextmanager
    async def factory(**options: Any) -> AsyncIterator[NonceEmulator]:
        async with NonceEmulator(**options) as emu:
            patch_discord(monkeypatch, emu)
            yield emu

    return factory


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SIGNALWATCH_* or DISCORD_TOKEN from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("SIGNALWATCH_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run an async scenario on a fresh event loop; a hang fails it (after SCENARIO_LIMIT s)."""
    asyncio.run(asyncio.wait_for(scenario(), SCENARIO_LIMIT))


# --- in-process: a SignalBot on the emulator ---------------------------------------------------


@dataclass
class Rig:
    """A ready SignalBot on the emulator with its sink and notifier."""

    bot: SignalBot
    sink: DiscordSink
    notifier: DiscordNotifier


@asynccontextmanager
async def signal_bot(
    emu: NonceEmulator,
    tmp_path: Path,
    store: Store,
    *,
    admin_channel: int | None = None,
    guild: int | None = None,
    settings: DiscordSettings | None = None,
) -> AsyncIterator[Rig]:
    """A SignalBot (all its cogs) connected and ready; its default channel is #alerts."""
    if settings is None:
        settings = DiscordSettings(
            token=SecretStr(emu.token),
            channel=emu.alerts.id,
            admin_channel=admin_channel,
            guild=guild,
        )
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    compiled = Compiled.build(load_watchlist(path))
    services = BotServices(
        store=store,
        compiled=lambda: compiled,
        editor=WatchlistEditor(path),
        clock=lambda: NOW,
    )
    bot = SignalBot(services, settings, **FAST_CLIENT_OPTIONS)
    async with running(bot, emu):
        yield Rig(
            bot, DiscordSink(bot, settings.channel), DiscordNotifier(bot, settings.admin_channel)
        )


def make_alert(
    alert_id: str = "5f0c3a1e9b7d4c2a8e6f1b3d5a7c9e0f", destination: str = "default", **changes: Any
) -> Alert:
    """An alert for nato-5pct with every part the embed shows, overridden by `changes`."""
    values: dict[str, Any] = {
        "alert_id": alert_id,
        "signal_id": "nato-5pct",
        "destination": destination,
        "title": "NATO allies agree 5% target",
        "link": "https://wire.example.org/world/nato",
        "source_id": "wire",
        "published": PUBLISHED,
        "terms": ("NATO", "5%"),
        "snippet": "**NATO** allies agree **5%** target",
        "severity": "high",
        "publisher": "Reuters",
    }
    values.update(changes)
    return Alert(**values)


def posts_to(emu: DiscordEmulator, channel_id: int) -> list[RecordedRequest]:
    """The message POSTs the emulator got for one channel."""
    return emu.requests_to("POST", f"/channels/{channel_id}/messages")


def enqueue(store: Store, *alerts: Alert) -> None:
    """Put alerts in the outbox as one poll of the source `wire` would."""
    store.sync_sources([SourceConfig("wire", "https://wire.example.org/feed.xml", "rss", 600)], NOW)
    store.commit_poll("wire", NOW, seen=[], articles=[], alerts=list(alerts))


# 1. start-up


@pytest.mark.parametrize("in_guild", [False, True], ids=["global", "guild"])
def test_signal_bot_connects_and_syncs_its_commands(
    emulator: Emulator, tmp_path: Path, store: Store, in_guild: bool
) -> None:
    """SignalBot logs in, identifies without privileged intents, syncs its tree, gets READY."""

    async def scenario() -> None:
        async with emulator() as emu:
            started = time.monotonic()
            guild = emu.guild.id if in_guild else None
            async with signal_bot(emu, tmp_path, store, guild=guild) as rig:
                assert time.monotonic() - started < 2.0
                assert rig.bot.is_ready() and rig.bot.ready_event.is_set()
                assert rig.bot.user is not None and rig.bot.user.id == emu.bot_user.id
                assert rig.bot.get_channel(emu.alerts.id) is not None
            app = emu.application_id
            route = f"/applications/{app}/guilds/{emu.guild.id}/commands" if in_guild else None
            puts = emu.requests_to("PUT", route or f"/applications/{app}/commands")
            assert len(puts) == 1 and puts[0].status == 200
            assert isinstance(puts[0].json, list)  # the schema itself is tested with the cogs
            identify = emu.gateway_connections[0].ops_received(2)[0]["d"]
            privileged = discord.Intents(members=True, presences=True, message_content=True)
            assert identify["intents"] & privileged.value == 0
            assert rig.bot.gateway_ended.is_set()  # closed: nothing waits for READY any more

    run(scenario)


# 2. one alert, one message


def test_alert_becomes_one_message_with_embed_mentions_and_nonce(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """The embed carries the alert; only 'mention' subscribers are pinged; DMs go out too."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            store.subscribe(emu.user.id, "nato-5pct", "mention", emu.guild.id, NOW)
            store.subscribe(emu.moderator.id, "nato-5pct", "dm", emu.guild.id, NOW)
            store.subscribe(emu.owner.id, "ukraine-truce", "mention", emu.guild.id, NOW)
            alert = make_alert()
            receipt = await rig.sink.send(alert)

            [post] = posts_to(emu, emu.alerts.id)
            [stored] = emu.messages_in(emu.alerts)
            assert receipt == stored["id"]
            body = post.json
            assert body["nonce"] == alert.alert_id[:NONCE_LENGTH] == alert.alert_id[:25]
            assert body["enforce_nonce"] is True
            assert body["content"] == f"<@{emu.user.id}>"
            mentions = body["allowed_mentions"]
            assert mentions["parse"] == []
            assert [int(u) for u in mentions["users"]] == [emu.user.id]
            assert not mentions.get("roles") and not mentions.get("replied_user")
            assert [u["id"] for u in stored["mentions"]] == [str(emu.user.id)]
            assert stored["mention_everyone"] is False and stored["mention_roles"] == []

            [embed] = body["embeds"]
            # The whole rendered embed, through discord.Embed and back (which adds flags).
            assert {k: v for k, v in embed.items() if k != "flags"} == alert_embed(
                alert, "NATO spending hits 5%"
            )
            assert embed["title"] == "NATO allies agree 5% target"
            assert embed["url"] == "https://wire.example.org/world/nato"
            assert embed["color"] == SEVERITY_COLOURS["high"]
            assert embed["description"] == "**NATO** allies agree **5%** target"
            assert embed["author"]["name"] == "NATO spending hits 5% · high"
            assert embed["footer"] == {"text": "signal: nato-5pct"}
            assert embed["timestamp"] == "2025-06-25T09:30:00+00:00"
            unix = int(PUBLISHED.timestamp())
            assert [(f["name"], f["value"]) for f in embed["fields"]] == [
                ("Source", "wire (Reuters)"),
                ("Published", f"<t:{unix}:f> (<t:{unix}:R>)"),
                ("Matched", "`NATO`, `5%`"),
            ]
            assert stored["embeds"] == [{**embed, "flags": 0}]

            # The 'dm' subscriber gets the embed in a DM, under a nonce of its own: Discord
            # deduplicates nonces per author, so the channel's nonce would return the channel
            # message instead of sending the DM.
            [dm] = emu.dm_channels[emu.moderator.id].messages
            assert dm["embeds"] == stored["embeds"] and dm["mentions"] == []
            assert dm["nonce"] == dm_nonce(alert.alert_id, emu.moderator.id) != body["nonce"]
            assert emu.dm_channels.keys() == {emu.moderator.id}

    run(scenario)


def test_more_subscribers_than_a_message_can_mention_still_deliver(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """Mentions stop where Discord's 2000-character content ends; the alert is not refused."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            users = [emu.add_user(f"analyst{i}") for i in range(120)]
            for user in users:
                store.subscribe(user.id, "nato-5pct", "mention", emu.guild.id, NOW)
            await rig.sink.send(make_alert())
            [post] = posts_to(emu, emu.alerts.id)
            assert post.status == 200
            pinged = [int(u) for u in post.json["allowed_mentions"]["users"]]
            assert 80 <= len(pinged) <= 100 and len(post.json["content"]) <= 2000
            assert pinged == [u.id for u in users[: len(pinged)]]  # oldest subscribers first
            assert post.json["content"] == " ".join(f"<@{u}>" for u in pinged)

    run(scenario)


# 3. routing


def test_alerts_go_to_their_channel_and_default_to_the_configured_one(
    emulator: Emulator, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """channel:<id> posts there; 'default' posts to SIGNALWATCH_DISCORD_CHANNEL; the router
    sends webhook:<NAME> to the webhook sink and anything else fails for good."""

    async def scenario() -> None:
        async with emulator() as emu:
            monkeypatch.setenv("SIGNALWATCH_DISCORD_TOKEN", emu.token)
            monkeypatch.setenv("SIGNALWATCH_DISCORD_CHANNEL", str(emu.alerts.id))
            settings = DiscordSettings()
            assert settings.enabled and settings.channel == emu.alerts.id
            async with signal_bot(emu, tmp_path, store, settings=settings) as rig:
                await _route(emu, rig)

    run(scenario)


async def _route(emu: NonceEmulator, rig: Rig) -> None:
    """The body of the routing test: each destination to its place."""
    hook = emu.add_webhook(emu.staff)
    url = hook.url.replace("https://discord.com/api", emu.api_base)
    webhooks = WebhookSink({"STAFF_HOOK": url})
    router = RoutingSink(default=rig.sink, discord=rig.sink, webhooks=webhooks)
    try:
        await router.send(make_alert("a" * 32, f"channel:{emu.general.id}"))
        await router.send(make_alert("b" * 32, "default"))
        await router.send(make_alert("c" * 32, "webhook:STAFF_HOOK"))
        with pytest.raises(PermanentDeliveryError, match="not a Discord channel"):
            await rig.sink.send(make_alert("d" * 32, "dm:123"))
    finally:
        await webhooks.aclose()
    assert [m["nonce"] for m in emu.messages_in(emu.general)] == ["a" * 25]
    assert [m["nonce"] for m in emu.messages_in(emu.alerts)] == ["b" * 25]
    assert [m["webhook_id"] for m in emu.messages_in(emu.staff)] == [str(hook.id)]
    posted = {r.path for r in emu.requests_to("POST", MESSAGES)}
    assert posted == {f"/channels/{c.id}/messages" for c in (emu.general, emu.alerts)}


# 4. rate limits


def test_a_429_is_waited_out_by_discord_py_and_the_alert_posted_once(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """429 with retry_after: discord.py sleeps and retries; one message, two requests."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            path = f"/channels/{emu.alerts.id}/messages"
            reply = emu.fail_next("POST", path, 429, retry_after=0.05)
            await rig.sink.send(make_alert())
            posts = posts_to(emu, emu.alerts.id)
            assert [r.status for r in posts] == [429, 200] and reply.used == 1
            assert posts[1].at - posts[0].at >= 0.05
            assert posts[0].json["nonce"] == posts[1].json["nonce"]
            assert len(emu.messages_in(emu.alerts)) == 1

    run(scenario)


def test_a_long_rate_limit_fails_the_send_instead_of_holding_the_alert(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """A retry_after past MAX_RATE_LIMIT_WAIT: DeliveryError at once (the outbox retries)."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            path = f"/channels/{emu.alerts.id}/messages"
            emu.fail_next("POST", path, 429, retry_after=3600)
            started = time.monotonic()
            with pytest.raises(DeliveryError, match="Retry in 3600") as caught:
                await asyncio.wait_for(rig.sink.send(make_alert()), 5)
            assert not isinstance(caught.value, PermanentDeliveryError)
            assert time.monotonic() - started < 1.0
            await rig.sink.send(make_alert())  # the limit was for that one request
            assert [r.status for r in posts_to(emu, emu.alerts.id)] == [429, 200]

    run(scenario)


def test_a_payload_discord_rejects_fails_for_good(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """A 400 (Discord refuses this payload) is permanent: resending the same body cannot help."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            path = f"/channels/{emu.alerts.id}/messages"
            emu.fail_next("POST", path, 400, code=50035, message="Invalid Form Body")
            with pytest.raises(PermanentDeliveryError, match="rejected"):
                await rig.sink.send(make_alert())
            assert [r.status for r in posts_to(emu, emu.alerts.id)] == [400]

    run(scenario)


def test_a_dm_subscriber_hears_once_when_a_signal_has_two_channel_routes(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """One article routed to two channels makes two alerts, but only one DM."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            routed = WATCHLIST + (
                f"routes:\n  - signal: nato-5pct\n    channel: {emu.general.id}\n"
                f"  - signal: nato-5pct\n    channel: {emu.alerts.id}\n"
            )
            path = tmp_path / "routed.yaml"
            path.write_text(routed, encoding="utf-8")
            compiled = Compiled.build(load_watchlist(path))
            rig.bot.services.compiled = lambda: compiled
            store.subscribe(emu.user.id, "nato-5pct", "dm", emu.guild.id, NOW)
            for channel in (emu.general, emu.alerts):
                await rig.sink.send(make_alert("e" * 32, f"channel:{channel.id}"))
            dm_posts = [
                r for r in emu.requests_to("POST", MESSAGES)
                if r.path not in {f"/channels/{c.id}/messages" for c in (emu.general, emu.alerts)}
            ]  # fmt: skip
            assert len(dm_posts) == 1

    run(scenario)


# 5. channels that refuse, servers that fail


def _forbid(emu: DiscordEmulator) -> int:
    assert emu.guild.bot_role is not None
    emu.general.set_overwrite(emu.guild.bot_role, deny=SEND_MESSAGES)
    return emu.general.id


def _hide(emu: DiscordEmulator) -> int:
    secret = emu.guild.add_text_channel("secret")
    secret.set_overwrite(emu.guild.everyone, deny=VIEW_CHANNEL)
    return secret.id


def _delete(emu: DiscordEmulator) -> int:
    path = f"/channels/{emu.general.id}/messages"
    emu.fail_next("POST", path, 404, code=10003, message="Unknown Channel")
    return emu.general.id


BAD_CHANNELS: dict[str, tuple[Callable[[DiscordEmulator], int], str]] = {
    # real 403 50013: the bot's role may not send there
    "403-missing-permissions": (_forbid, "forbidden (Missing Permissions)"),
    # real 403 50001: the channel is hidden from the bot (created before it connected)
    "403-missing-access": (_hide, "forbidden (Missing Access)"),
    # real 404 10003: not in the bot's cache, fetch_channel says it does not exist
    "404-unknown-channel": (lambda emu: UNKNOWN_CHANNEL, "does not exist"),
    # 404 10003 on the POST: the channel was deleted after the bot cached it
    "404-deleted": (_delete, "not found (Unknown Channel)"),
}


@pytest.mark.parametrize("case", list(BAD_CHANNELS))
def test_a_refusing_channel_fails_its_alert_tells_the_admins_and_holds_up_nothing(
    emulator: Emulator, tmp_path: Path, store: Store, case: str
) -> None:
    """403/404: PermanentDeliveryError; through the Deliverer the alert is failed, the admin
    channel gets a notice naming the channel, and the next alert is delivered."""
    prepare, reason = BAD_CHANNELS[case]

    async def scenario() -> None:
        async with emulator() as emu:
            bad = prepare(emu)
            async with signal_bot(emu, tmp_path, store, admin_channel=emu.staff.id) as rig:
                with pytest.raises(PermanentDeliveryError, match=f"channel {bad}") as caught:
                    await rig.sink.send(make_alert("0" * 32, f"channel:{bad}"))
                assert reason in str(caught.value)
                if case == "404-deleted":
                    _delete(emu)  # the injected 404 was used up: inject it again

                # The outbox orders alerts of one poll by id: the bad one comes first.
                enqueue(store, make_alert("0" * 32, f"channel:{bad}"), make_alert("1" * 32))
                deliverer = Deliverer(store, rig.sink, rig.notifier, lambda: NOW)
                assert await asyncio.wait_for(deliverer.deliver_due(), WAIT) == 1
            assert store.outbox_counts() == {"pending": 0, "delivered": 1, "failed": 1}
            assert [m["nonce"] for m in emu.messages_in(emu.alerts)] == ["1" * 25]
            [notice] = emu.messages_in(emu.staff)
            assert notice["content"].startswith(f"⚠️ Cannot deliver to <#{bad}>: channel {bad}")
            assert f"channel {bad}" in notice["content"] and reason in notice["content"]
            assert notice["mention_everyone"] is False and notice["mentions"] == []

    run(scenario)


class FastSleeps:
    """Stands in for the `asyncio` module inside discord.http: `sleep` records its delay and
    only yields; everything else is asyncio's own."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, delay: float, result: Any = None) -> Any:
        if delay > 0:  # discord.http also yields with sleep(0)
            self.waits.append(delay)
        return await asyncio.sleep(0, result)


async def _drop_connections(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A server that reads each request's head, then hangs up without an answer."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        await reader.readuntil(b"\r\n\r\n")
    writer.close()


def test_server_errors_and_dropped_connections_leave_the_alert_pending(
    emulator: Emulator, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 5xx or a transport failure is a DeliveryError: the alert stays pending for a retry."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            path = f"/channels/{emu.alerts.id}/messages"
            deliverer = Deliverer(store, rig.sink, rig.notifier, lambda: NOW)
            enqueue(store, make_alert("0" * 32))

            # discord.py retries a 500 (and 502, 504, 524) itself, sleeping 1, 3, 5, 7 and 9 s
            # after its five tries (25 s) before it raises DiscordServerError. Those sleeps are
            # cut short here: discord.http gets an `asyncio` whose sleep only records (the
            # short-circuit is discord.py's module global, restored after the test).
            backoff = FastSleeps()
            monkeypatch.setattr(discord.http, "asyncio", backoff)
            emu.fail_next("POST", path, 500, times=5)
            with pytest.raises(DeliveryError, match="500 Internal Server Error") as caught:
                await rig.sink.send(make_alert())
            assert not isinstance(caught.value, PermanentDeliveryError)
            assert backoff.waits == [1, 3, 5, 7, 9] and len(posts_to(emu, emu.alerts.id)) == 5
            monkeypatch.setattr(discord.http, "asyncio", asyncio)
            # A 503 discord.py raises at once, with no retry of its own: no short-circuit.
            emu.fail_next("POST", path, 503)
            assert await deliverer.deliver_due() == 0
            assert store.outbox_counts() == {"pending": 1, "delivered": 0, "failed": 0}
            assert len(posts_to(emu, emu.alerts.id)) == 6

            # A connection dropped before any answer: aiohttp's ServerDisconnectedError is
            # not an OSError; it must still become a DeliveryError, not end the run loop.
            server = await asyncio.start_server(_drop_connections, "127.0.0.1", 0)
            async with server:
                port = server.sockets[0].getsockname()[1]
                monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
                with pytest.raises(DeliveryError, match="ServerDisconnectedError") as caught:
                    await rig.sink.send(make_alert())
                assert not isinstance(caught.value, PermanentDeliveryError)
                enqueue(store, make_alert("1" * 32))
                assert await deliverer.deliver_due() == 0  # 0…0 is not due yet; 1…1 fails
                monkeypatch.setattr(discord.http.Route, "BASE", emu.api_base)
            assert store.outbox_counts() == {"pending": 2, "delivered": 0, "failed": 0}
            assert emu.messages_in(emu.alerts) == [] and emu.messages_in(emu.staff) == []

    run(scenario)


# 6. mentions in feed text


def test_mentions_in_feed_text_ping_no_one(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """@everyone, @here, <@&role> and <@user> in a headline: defused, and not allowed."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            role = emu.guild.role("Moderators")
            loud = f"@everyone @here {role.mention} {emu.user.mention} NATO summit"
            alert = make_alert(
                title=loud,
                snippet=f"**NATO** {loud}",
                terms=("NATO", "@everyone"),
                publisher=f"<@&{role.id}>",
            )
            await rig.sink.send(alert)  # no subscribers: no content at all
            store.subscribe(emu.owner.id, "nato-5pct", "mention", emu.guild.id, NOW)
            await rig.sink.send(make_alert("1" * 32, title=loud, snippet=loud))

            first, second = posts_to(emu, emu.alerts.id)
            assert "content" not in first.json or not first.json["content"]
            assert second.json["content"] == f"<@{emu.owner.id}>"
            for post, users in ((first, []), (second, [emu.owner.id])):
                mentions = post.json["allowed_mentions"]
                assert mentions["parse"] == [] and not mentions.get("roles")
                assert [int(u) for u in mentions.get("users", [])] == users
                text = json.dumps(post.json["embeds"], ensure_ascii=False)
                assert "@everyone" not in text and "@here" not in text
                assert not re.search(r"<@[!&]?\d+>", text)
                assert defuse("@everyone") in text
            quiet, subscribed = emu.messages_in(emu.alerts)
            for message in (quiet, subscribed):
                assert message["mention_everyone"] is False and message["mention_roles"] == []
            assert quiet["mentions"] == []
            assert [u["id"] for u in subscribed["mentions"]] == [str(emu.owner.id)]

    run(scenario)


# --- end to end: `python -m bot run` against the emulator --------------------------------------


@dataclass
class Done:
    """A finished command."""

    code: int | None
    stdout: str
    stderr: str


class Cli:
    """`python -m bot` in a subprocess: feeds from the feed server, Discord from the emulator."""

    def __init__(self, tmp_path: Path, server: FeedServer, emu: DiscordEmulator) -> None:
        self.tmp_path = tmp_path
        self.db = tmp_path / "db.sqlite"
        watchlist = tmp_path / "watchlist.yaml"
        text = (E2E / "watchlist.yaml").read_text(encoding="utf-8")
        watchlist.write_text(text.replace("__FEEDS__", server.base_url), encoding="utf-8")
        server.put("/e2e/wire.xml", (E2E / "wire.xml").read_bytes())
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWATCH_")}
        self.env.update(
            SIGNALWATCH_ALLOW_PRIVATE_URLS="1",
            SIGNALWATCH_PER_HOST_SPACING="0",
            SIGNALWATCH_DB=f"sqlite:///{self.db}",
            SIGNALWATCH_WATCHLIST=str(watchlist),
            SIGNALWATCH_DISCORD_TOKEN=emu.token,
            SIGNALWATCH_DISCORD_API_BASE=emu.api_base,
            SIGNALWATCH_DISCORD_GATEWAY=emu.gateway_url,
            SIGNALWATCH_DISCORD_CHANNEL=str(emu.alerts.id),
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        self.started = 0

    @asynccontextmanager
    async def start(
        self, *args: str, env: dict[str, str] | None = None
    ) -> AsyncIterator[asyncio.subprocess.Process]:
        """Start a command (stdout and stderr to files); kill it on the way out if it runs."""
        self.started += 1
        out = (self.tmp_path / f"out-{self.started}.log").open("w", encoding="utf-8")
        err = (self.tmp_path / f"err-{self.started}.log").open("w", encoding="utf-8")
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *args,
                env={**self.env, **(env or {})},
                cwd=self.tmp_path,
                stdout=out,
                stderr=err,
            )
            try:
                yield proc
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
        finally:
            out.close()
            err.close()

    def stderr(self) -> str:
        """What the last command started wrote on stderr."""
        return (self.tmp_path / f"err-{self.started}.log").read_text(encoding="utf-8")

    async def run(self, *args: str, env: dict[str, str] | None = None) -> Done:
        """Run a command to its end (at most WAIT seconds)."""
        async with self.start(*args, env=env) as proc:
            code = await asyncio.wait_for(proc.wait(), WAIT)
        stdout = (self.tmp_path / f"out-{self.started}.log").read_text(encoding="utf-8")
        return Done(code, stdout, self.stderr())

    async def run_once(self, env: dict[str, str] | None = None) -> Done:
        """`run --once --all`, which must exit 0 without a traceback."""
        done = await self.run("run", "--once", "--all", env=env)
        assert done.code == 0, done.stderr
        assert "Traceback" not in done.stderr and " ERROR " not in done.stderr, done.stderr
        return done


@pytest.fixture
def cli_factory(tmp_path: Path, feed_server: FeedServer) -> Callable[[DiscordEmulator], Cli]:
    """Cli(emulator) for this test's tmp_path and feed server."""
    return lambda emu: Cli(tmp_path, feed_server, emu)


def alert_pairs(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(signal, headline) of alert messages, from the embed's footer and title."""
    pairs = []
    for message in messages:
        [embed] = message["embeds"]
        pairs.append((embed["footer"]["text"].removeprefix("signal: "), embed["title"]))
    return pairs


def release_leases(db: Path) -> list[Alert]:
    """End every lease in the outbox as if it had run out; return the alerts that had one.

    Claiming "as of" just after a lease would end takes every pending alert, leased or not;
    marking each failed (not permanently) and due now hands it back. The alerts claimed before
    are those at their second attempt.
    """
    now = utc_now()
    with open_store(f"sqlite:///{db}") as store:
        claimed = store.claim_alerts(now + ALERT_LEASE + timedelta(seconds=1), 100, ALERT_LEASE)
        for pending in claimed:
            store.mark_failed(
                pending.alert.alert_id,
                now,
                error="lease ran out",
                next_attempt_at=now,
                permanent=False,
            )
    return [pending.alert for pending in claimed if pending.attempts == 2]


def nonces(emu: DiscordEmulator) -> Counter[str]:
    """How often each nonce was POSTed to #alerts."""
    return Counter(r.json["nonce"] for r in posts_to(emu, emu.alerts.id))


# 7. the CLI


def test_run_once_posts_every_alert_to_the_channel_once(
    emulator: Emulator, cli_factory: Callable[[DiscordEmulator], Cli]
) -> None:
    """`run --once --all` with a token: each expected alert becomes one message; a rerun
    posts nothing; the bot syncs, is ready before the first post, and leaves cleanly."""

    async def scenario() -> None:
        async with emulator() as emu:
            cli = cli_factory(emu)
            await cli.run_once()
            messages = emu.messages_in(emu.alerts)
            assert sorted(alert_pairs(messages)) == sorted(EXPECTED)
            assert len(messages) == len(EXPECTED)
            assert all(m["mention_everyone"] is False and m["mentions"] == [] for m in messages)
            posts = posts_to(emu, emu.alerts.id)
            assert all(p.json["enforce_nonce"] is True for p in posts)
            assert max(nonces(emu).values()) == 1
            sync = emu.requests_to("PUT", rf"/applications/{emu.application_id}/commands")
            assert len(sync) == 1 and sync[0].at < posts[0].at
            [conn] = emu.gateway_connections
            assert [p["t"] for p in conn.sent if p["op"] == 0][:2] == ["READY", "GUILD_CREATE"]
            await emu.wait_until(lambda: conn.closed, timeout=WAIT)  # closed on the way out

            # Nothing to send, and Discord slow to log in and sync: the run used to close the
            # bot mid-login (a traceback, exit 1); now it waits for READY, then leaves.
            emu.delay_next("GET", "/users/@me", 0.3)
            emu.delay_next("PUT", f"/applications/{emu.application_id}/commands", 0.3)
            again = await cli.run_once()
            assert "connected to Discord" in again.stderr
            assert len(posts_to(emu, emu.alerts.id)) == len(posts)
            assert len(emu.messages_in(emu.alerts)) == len(EXPECTED)
            await emu.wait_until(lambda: all(c.closed for c in emu.gateway_connections))

    run(scenario)


def test_run_once_gives_up_on_a_gateway_that_never_gets_ready(
    emulator: Emulator, tmp_path: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """REST answers, but the gateway takes the connection and never says HELLO: `run --once`
    gives up after its ready timeout with exit 1, having polled nothing."""
    connections: list[str] = []

    async def silent_gateway(request: web.Request) -> web.WebSocketResponse:
        connections.append(request.path_qs)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:  # never a HELLO, so never READY
            pass
        return ws

    async def scenario() -> None:
        app = web.Application()
        app.router.add_get("/gateway", silent_gateway)
        gateway = web.AppRunner(app, shutdown_timeout=0.5)
        await gateway.setup()
        await web.TCPSite(gateway, "127.0.0.1", 0).start()
        path = tmp_path / "watchlist.yaml"
        path.write_text(WATCHLIST, encoding="utf-8")
        wiring = Wiring(Settings(allow_private_urls=True, per_host_spacing=0), path, store)
        try:
            async with emulator() as emu:
                settings = DiscordSettings(
                    token=SecretStr(emu.token),
                    channel=emu.alerts.id,
                    api_base=emu.api_base,
                    gateway=f"ws://127.0.0.1:{gateway.addresses[0][1]}/gateway",
                )
                started = time.monotonic()
                code = await run_with_discord(
                    wiring,
                    settings,
                    RunOptions(once=True, force=True),
                    guild_ready_timeout=0.05,
                    ready_timeout=0.5,
                )
                assert code == 1
                assert 0.5 <= time.monotonic() - started < 5.0
                assert emu.requests_to("GET", "/users/@me") and emu.gateway_connections == []
        finally:
            await wiring.aclose()
            await gateway.cleanup()
        assert len(connections) == 1  # it did connect, and heard nothing
        assert store.sources() == []  # the run loop never started: nothing polled

    run(scenario)
    assert "Discord was not ready after 0.5 s: nothing polled or sent" in caplog.messages


# 8. restarts during delivery


def test_sigterm_during_delivery_then_restart_posts_every_alert_exactly_once(
    emulator: Emulator, cli_factory: Callable[[DiscordEmulator], Cli]
) -> None:
    """SIGTERM once the first message is in: the alert in hand is finished and recorded, the
    process exits 0, and the restart posts the rest; no nonce is ever sent twice."""

    async def scenario() -> None:
        async with emulator() as emu:
            cli = cli_factory(emu)
            delay = {"SIGNALWATCH_DELIVERY_DELAY": "0.3"}
            async with cli.start("run", "--once", "--all", env=delay) as proc:
                await emu.wait_for_request("POST", MESSAGES, timeout=WAIT)
                asked = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(proc.wait(), WAIT)
            stderr = cli.stderr()
            assert code == 0, stderr
            assert time.monotonic() - asked < 3.0  # the alert in hand (0.3 s), then out
            assert "Traceback" not in stderr
            first = len(emu.messages_in(emu.alerts))
            assert 1 <= first < len(EXPECTED)  # it really stopped early

            await cli.run_once()
            messages = emu.messages_in(emu.alerts)
            assert sorted(alert_pairs(messages)) == sorted(EXPECTED)
            assert len(messages) == len(EXPECTED)
            assert max(nonces(emu).values()) == 1  # nothing was even sent twice

    run(scenario)


def test_sigkill_during_delivery_resends_the_alert_in_flight_under_the_same_nonce(
    emulator: Emulator, cli_factory: Callable[[DiscordEmulator], Cli]
) -> None:
    """SIGKILL between Discord taking a message and the outbox recording it: the restart
    sends that alert again with the same nonce, which Discord (enforce_nonce) drops."""

    async def scenario() -> None:
        async with emulator() as emu:
            cli = cli_factory(emu)
            delay = {"SIGNALWATCH_DELIVERY_DELAY": "0.5"}
            async with cli.start("run", "--once", "--all", env=delay) as proc:
                in_flight = await emu.wait_for_request("POST", MESSAGES, timeout=WAIT)
                proc.kill()
                code = await asyncio.wait_for(proc.wait(), WAIT)
            assert code == -signal.SIGKILL
            assert len(emu.messages_in(emu.alerts)) == 1
            nonce = in_flight.json["nonce"]

            # The killed process's lease on the alert it had in hand runs ALERT_LEASE (2 min)
            # more: end it now, through the store, as its running out would.
            claimed_before = release_leases(cli.db)
            assert [a.alert_id[:NONCE_LENGTH] for a in claimed_before] == [nonce]

            await cli.run_once()
            sent = nonces(emu)
            assert sent[nonce] == 2  # re-sent under the same nonce...
            assert all(n == 1 for key, n in sent.items() if key != nonce)
            resent = [r for r in posts_to(emu, emu.alerts.id) if r.json["nonce"] == nonce]
            assert resent[1].response["id"] == resent[0].response["id"]  # ...and deduplicated
            messages = emu.messages_in(emu.alerts)
            assert sorted(alert_pairs(messages)) == sorted(EXPECTED)
            assert len(messages) == len(EXPECTED)

    run(scenario)


# 9. a bad token


@pytest.mark.parametrize("once", [True, False], ids=["once", "long-running"])
def test_a_rejected_token_exits_1_with_one_clear_line(
    emulator: Emulator, cli_factory: Callable[[DiscordEmulator], Cli], once: bool
) -> None:
    """A token Discord rejects: exit 1, one ERROR line naming the variable, no traceback.

    Discord answers the login late (0.5 s), so the long-running loop has polled and queued
    alerts by then: their delivery, waiting for READY, used to wait forever.
    """

    async def scenario() -> None:
        async with emulator() as emu:
            cli = cli_factory(emu)
            emu.delay_next("GET", "/users/@me", 0.5)
            bad = "MTIzNDU2Nzg5MDEyMzQ1Njc4.wrong.not-the-emulator-token-at-all"
            args = ["run", "--once", "--all"] if once else ["run"]
            done = await cli.run(*args, env={"SIGNALWATCH_DISCORD_TOKEN": bad})
            assert done.code == 1, done.stderr
            assert "Traceback" not in done.stderr and bad not in done.stderr
            errors = [line for line in done.stderr.splitlines() if " ERROR " in line]
            assert len(errors) == 1, done.stderr
            assert errors[0].endswith(
                "signalwatch.discord: Discord rejected the token (SIGNALWATCH_DISCORD_TOKEN):"
                " Improper token has been passed."
            )
            assert ("6 alerts queued" in done.stderr) is not once
            assert emu.requests_to("GET", "/users/@me")[0].status == 401
            assert emu.requests_to("POST", MESSAGES) == [] and emu.gateway_connections == []

    run(scenario)
