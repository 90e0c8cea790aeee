"""Admin slash commands (/watch, /source) against the Discord emulator, and their pure helpers.

The bot is the real SignalBot on unmodified discord.py, talking to tests/discord_emulator.py
through tests/chat_harness.py; the watchlist is a real file edited by the real WatchlistEditor;
the store is SQLite in tmp_path; `services.reload()` re-reads the file at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from discord_emulator import (
    SEND_MESSAGES,
    EmulatorFactory,
    EmuRole,
    EmuUser,
    InteractionHandle,
)

# isort: split
# discord_emulator (through chat_harness too) first: it imports discord.py with the audioop
# DeprecationWarning filtered, which `filterwarnings = error` would turn into an error.
import discord
from chat_harness import ChatHarness, run_chat
from fakes import FakeClock

from bot.admin import (
    PreviewItem,
    Refused,
    build_source_spec,
    derive_source_id,
    diff_fields,
    fit_lines,
    format_source_list,
    parse_interval,
    preview_items,
    preview_query,
    query_problem,
    signal_changes,
)
from bot.errors import QueryError
from bot.matching import parse_query
from bot.store import (
    ArticleMatch,
    ArticleRecord,
    AuditEntry,
    EntryIdentity,
    SeenText,
    SourceConfig,
    Store,
)
from bot.watchlist import SourceSpec

pytest_plugins = ["discord_emulator"]

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
MANAGE_GUILD = str(discord.Permissions(manage_guild=True).value)
EPHEMERAL = 64
KEPT_COMMENT = "  # The alliance must be named and the figure must be there."
ROUTE_CHANNEL = 123456789012345678
ADMIN_ROLE_ID = 4242424242424242424

WATCHLIST = f"""\
# test watchlist: admin edits from Discord must keep these comments
version: 1

signals:
{KEPT_COMMENT}
  - id: nato-5pct
    title: NATO spending hits 5%
    query: NATO AND "5%"
    severity: high

  # Truce words near Ukraine.
  - id: ukraine-truce
    title: Ukraine truce terms land
    query: Ukraine NEAR/10 (ceasefire OR truce)

sources:
  - id: bbc-world
    url: https://feeds.bbci.co.uk/news/world/rss.xml
  - id: ap-top
    url: https://apnews.example/top.xml
  - id: reuters
    url: https://reuters.example/world.xml
    enabled: false  # paused by hand

routes:
  - signal: ukraine-truce
    channel: {ROUTE_CHANNEL}
    webhook: OPS_WEBHOOK_URL
"""

Scenario = Callable[[ChatHarness], Awaitable[None]]


def seed_store(store: Store) -> None:
    """Sources as the run loop would have registered them, with some health history."""
    configs = [
        SourceConfig("bbc-world", "https://feeds.bbci.co.uk/news/world/rss.xml", "rss", 600),
        SourceConfig("ap-top", "https://apnews.example/top.xml", "rss", 600),
    ]
    # reuters was polled before it was switched off in the file; old-feed has left the file.
    gone = [
        SourceConfig("reuters", "https://reuters.example/world.xml", "rss", 600),
        SourceConfig("old-feed", "https://old.example/rss", "rss", 600),
    ]
    store.sync_sources([*configs, *gone], NOW - timedelta(days=2))
    store.sync_sources(configs, NOW - timedelta(hours=2))
    store.record_fetch_ok(
        "bbc-world",
        NOW - timedelta(hours=1),
        status=200,
        etag=None,
        last_modified=None,
        next_poll_at=NOW,
        entries_seen_delta=3,
    )
    store.record_fetch_failed(
        "bbc-world",
        NOW - timedelta(minutes=10),
        error="Service Unavailable",
        status=503,
        next_poll_at=NOW,
        disable_reason=None,
    )
    store.record_fetch_failed(
        "ap-top",
        NOW - timedelta(minutes=5),
        error="not a feed",
        status=200,
        next_poll_at=NOW,
        disable_reason="10 failures in a row",
    )


def run_admin(factory: EmulatorFactory, tmp_path: Path, scenario: Scenario, **options: Any) -> None:
    """Run `scenario` on a ready bot over the test watchlist and a seeded store."""

    async def seeded(h: ChatHarness) -> None:
        seed_store(h.store)
        await scenario(h)

    run_chat(factory, tmp_path, seeded, watchlist=WATCHLIST, clock=FakeClock(NOW), **options)


def file_text(h: ChatHarness) -> str:
    """The watchlist file as it is now."""
    return h.watchlist_path.read_text(encoding="utf-8")


def audit(h: ChatHarness) -> list[AuditEntry]:
    """Every audit row, newest first."""
    return h.store.audit_history(100)


async def reply(handle: InteractionHandle) -> str:
    """The private answer to a command, whether it answered at once or deferred and edited."""
    callback = await handle
    if callback["type"] == 4:
        assert callback["data"]["flags"] & EPHEMERAL
        return str(callback["data"]["content"])
    assert callback["type"] == 5 and callback["data"]["flags"] & EPHEMERAL
    original = await handle.original_edit()
    return str(original["content"])


async def admin_says(h: ChatHarness, name: str, options: dict[str, Any] | None = None) -> str:
    """Run a command as the moderator (Manage Server through a role) and return the answer."""
    return await reply(await h.emu.send_interaction(name, options, user=h.emu.moderator))


# --- registration --------------------------------------------------------------------------------


def test_groups_register_with_manage_server_default(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Both groups sync guild-only with Manage Server as default; options are typed and described."""

    async def scenario(h: ChatHarness) -> None:
        commands = {c["name"]: c for c in h.emu.commands()}
        for group in ("watch", "source"):
            # discord.py sends the bits as a number; Discord answers them as a string
            assert str(commands[group]["default_member_permissions"]) == MANAGE_GUILD
            assert commands[group]["dm_permission"] is False
            assert commands[group]["contexts"] == [0]
        watch = {o["name"]: o for o in commands["watch"]["options"]}
        source = {o["name"]: o for o in commands["source"]["options"]}
        assert sorted(watch) == ["add", "edit", "history", "preview", "remove", "route"]
        assert sorted(source) == ["add", "enable", "list", "remove"]
        for sub in [*watch.values(), *source.values()]:
            assert sub["type"] == 1
            for option in sub.get("options", []):
                assert option["description"], (sub["name"], option["name"])

        def shape(sub: dict[str, Any]) -> list[tuple[str, int, bool]]:
            return [(o["name"], o["type"], o.get("required", False)) for o in sub["options"]]

        assert shape(watch["add"]) == [
            ("id", 3, True),
            ("title", 3, True),
            ("query", 3, True),
            ("severity", 3, False),
            ("description", 3, False),
        ]
        severity = watch["add"]["options"][3]
        assert [c["value"] for c in severity["choices"]] == ["low", "medium", "high", "critical"]
        assert shape(watch["edit"])[-2:] == [("enabled", 5, False), ("preview_days", 4, False)]
        assert watch["edit"]["options"][0]["autocomplete"] is True
        assert shape(watch["route"]) == [
            ("signal", 3, True),
            ("channel", 7, False),
            ("clear", 5, False),
        ]
        assert watch["route"]["options"][1]["channel_types"] == [0, 5]  # text and news
        assert shape(watch["history"]) == [("count", 4, False)]
        assert shape(source["add"]) == [("url", 3, True), ("id", 3, False), ("interval", 3, False)]
        assert source["remove"]["options"][0]["autocomplete"] is True
        assert source["enable"]["options"][0]["autocomplete"] is True

    run_admin(discord_emulator, tmp_path, scenario)


# --- who may use them ----------------------------------------------------------------------------


def test_member_without_manage_server_is_refused(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Delivered anyway (a server can override Discord's default), our check refuses privately."""

    async def scenario(h: ChatHarness) -> None:
        before = h.watchlist_path.read_bytes()
        emu = h.emu
        for name, options in [
            ("watch add", {"id": "x", "title": "X", "query": "x"}),
            ("watch remove", {"id": "nato-5pct"}),
            ("source add", {"url": "http://93.184.216.34/feed.xml"}),
            ("source enable", {"id": "ap-top"}),
            ("watch history", {}),
        ]:
            handle = await emu.send_interaction(name, options, user=emu.user)
            callback = await handle
            assert callback["type"] == 4 and callback["data"]["flags"] == EPHEMERAL
            assert "Manage Server" in callback["data"]["content"]
        choices = await emu.send_autocomplete("watch edit", "id", {"id": "n"}, user=emu.user)
        assert await choices.choices() == []
        assert h.watchlist_path.read_bytes() == before
        assert audit(h) == [] and h.reloads == 0
        state = h.store.source("ap-top")
        assert state is not None and state.disabled_reason is not None

    run_admin(discord_emulator, tmp_path, scenario)


async def grant_admin_role(h: ChatHarness) -> EmuUser:
    """Create the configured admin role (no permissions of its own) and carol, who has only it."""
    role = EmuRole(ADMIN_ROLE_ID, "signalwatch admins", position=len(h.emu.guild.roles))
    h.emu.guild.roles[role.id] = role
    guild_id = str(h.emu.guild.id)
    await h.emu.dispatch("GUILD_ROLE_CREATE", {"guild_id": guild_id, "role": role.payload()})
    carol = h.emu.add_user("carol", "Carol")
    h.emu.guild.add_member(carol, [role])
    return carol


def test_admin_role_grants_access(discord_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """A member with the configured admin role (and no Manage Server) may edit."""

    async def scenario(h: ChatHarness) -> None:
        carol = await grant_admin_role(h)
        handle = await h.emu.send_interaction(
            "watch edit", {"id": "nato-5pct", "severity": "critical"}, user=carol
        )
        text = await reply(handle)
        assert "Updated signal 'nato-5pct'" in text and "`high` → `critical`" in text
        assert "severity: critical" in file_text(h)
        [entry] = audit(h)
        assert (entry.actor_id, entry.actor_name) == (carol.id, "carol")

    run_admin(discord_emulator, tmp_path, scenario, admin_role=ADMIN_ROLE_ID)


# --- /watch --------------------------------------------------------------------------------------


def test_watch_add_keeps_comments_reloads_and_audits(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/watch add appends the signal, keeps every comment, reloads at once, records who did it."""

    async def scenario(h: ChatHarness) -> None:
        old = file_text(h)
        text = await admin_says(
            h,
            "watch add",
            {
                "id": "chip-pact",
                "title": "Chip pacts seal",
                "query": "(chip* OR semiconductor*) NEAR/8 (pact OR deal)",
                "severity": "low",
            },
        )
        assert text.startswith("Added signal 'chip-pact'") and "Live now." in text
        new = file_text(h)
        assert KEPT_COMMENT in new and "enabled: false  # paused by hand" in new
        assert new.startswith(old.split("\nsources:")[0])  # everything before it untouched
        assert "  - id: chip-pact\n    title: Chip pacts seal\n" in new
        assert h.reloads == 1
        assert "chip-pact" in [s.id for s in h.compiled.watchlist.signals]
        [entry] = audit(h)
        assert (entry.action, entry.target, entry.actor_name) == (
            "signal.add",
            "signal:chip-pact",
            "mod",
        )
        assert entry.actor_id == h.emu.moderator.id and entry.at == NOW
        assert entry.before is None and entry.after is not None
        assert entry.after["query"] == "(chip* OR semiconductor*) NEAR/8 (pact OR deal)"
        choices = await h.emu.send_autocomplete(
            "watch edit", "id", {"id": "chip"}, user=h.emu.moderator
        )
        assert [c["value"] for c in await choices.choices()] == ["chip-pact"]

    run_admin(discord_emulator, tmp_path, scenario)


def test_watch_add_bad_query_is_refused_with_its_column(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A query that does not parse is refused with the column; a duplicate id with the file line."""

    async def scenario(h: ChatHarness) -> None:
        before = h.watchlist_path.read_bytes()
        text = await admin_says(
            h, "watch add", {"id": "gaza", "title": "Gaza", "query": "Gaza AND (troops"}
        )
        assert text.startswith("Bad query:") and "column 17" in text
        assert "Gaza AND (troops\n" + " " * 16 + "^" in text
        taken = await admin_says(
            h, "watch add", {"id": "nato-5pct", "title": "Again", "query": "NATO"}
        )
        assert taken.startswith("Nothing changed: the watchlist would not be valid.")
        assert "watchlist.yaml (after edit):" in taken and str(tmp_path) not in taken
        assert h.watchlist_path.read_bytes() == before
        assert audit(h) == [] and h.reloads == 0

    run_admin(discord_emulator, tmp_path, scenario)


def test_watch_edit_and_remove(discord_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """/watch edit changes only the given fields; /watch remove deletes; mistakes change nothing."""

    async def scenario(h: ChatHarness) -> None:
        text = await admin_says(
            h,
            "watch edit",
            {
                "id": "nato-5pct",
                "title": "NATO 5% target",
                "enabled": False,
                "description": "Hague",
            },
        )
        assert text.startswith("Updated signal 'nato-5pct':")
        assert "title: `NATO spending hits 5%` → `NATO 5% target`" in text
        assert "enabled: (unset) → `false`" in text
        assert "    title: NATO 5% target\n" in file_text(h) and KEPT_COMMENT in file_text(h)
        assert await admin_says(h, "watch edit", {"id": "nato-5pct"}) == (
            "Nothing to change: give a title, query, severity, description or enabled."
        )
        bad = await admin_says(h, "watch edit", {"id": "nato-5pct", "query": "NATO OR"})
        assert "column 8" in bad
        unknown = await admin_says(h, "watch edit", {"id": "nato-5pc", "severity": "low"})
        assert "no signal 'nato-5pc' (did you mean 'nato-5pct'?)" in unknown
        routed = await admin_says(h, "watch remove", {"id": "ukraine-truce"})
        assert routed.startswith("Nothing changed") and "ukraine-truce" in routed

        removed = await admin_says(h, "watch remove", {"id": "nato-5pct"})
        assert removed == "Removed signal 'nato-5pct'."
        assert "nato-5pct" not in file_text(h) and "# Truce words near Ukraine." in file_text(h)
        assert [(e.action, e.target) for e in audit(h)] == [
            ("signal.remove", "signal:nato-5pct"),
            ("signal.edit", "signal:nato-5pct"),
        ]
        assert h.reloads == 2

    run_admin(discord_emulator, tmp_path, scenario)


async def bot_cannot_post_in_general(h: ChatHarness) -> None:
    """Deny the bot's role Send Messages in #general (and tell the bot, as Discord would)."""
    assert h.emu.guild.bot_role is not None
    h.emu.general.set_overwrite(h.emu.guild.bot_role, deny=SEND_MESSAGES)
    await h.emu.dispatch("CHANNEL_UPDATE", h.emu.general.payload())


def test_watch_route_sets_and_clears(discord_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """/watch route points a signal at a channel (kept webhook, warns if mute); clear removes."""

    async def scenario(h: ChatHarness) -> None:
        emu = h.emu
        await bot_cannot_post_in_general(h)
        text = await admin_says(h, "watch route", {"signal": "nato-5pct", "channel": emu.alerts})
        assert text == f"Alerts for `nato-5pct` now go to <#{emu.alerts.id}>."
        assert f"  - signal: nato-5pct\n    channel: {emu.alerts.id}\n" in file_text(h)
        assert h.compiled.destinations("nato-5pct") == [f"channel:{emu.alerts.id}"]
        moved = await admin_says(
            h, "watch route", {"signal": "ukraine-truce", "channel": emu.general}
        )
        assert moved == (
            f"Alerts for `ukraine-truce` now go to <#{emu.general.id}>.\n"
            f"⚠️ I cannot post in <#{emu.general.id}>: give me Send Messages there."
        )
        assert str(ROUTE_CHANNEL) not in file_text(h) and "OPS_WEBHOOK_URL" in file_text(h)
        cleared = await admin_says(h, "watch route", {"signal": "nato-5pct", "clear": True})
        assert cleared.startswith("Removed the route for `nato-5pct`")
        assert "signal: nato-5pct" not in file_text(h)
        neither = await admin_says(h, "watch route", {"signal": "nato-5pct"})
        assert neither == "Give a channel, or clear: True (not both)."
        rows = [(e.action, e.target, e.before, e.after) for e in audit(h)]
        assert rows == [
            (
                "route.clear",
                "route:nato-5pct",
                {"signal": "nato-5pct", "channel": emu.alerts.id},
                None,
            ),
            (
                "route.set",
                "route:ukraine-truce",
                {"signal": "ukraine-truce", "channel": ROUTE_CHANNEL, "webhook": "OPS_WEBHOOK_URL"},
                {
                    "signal": "ukraine-truce",
                    "channel": emu.general.id,
                    "webhook": "OPS_WEBHOOK_URL",
                },
            ),
            (
                "route.set",
                "route:nato-5pct",
                None,
                {"signal": "nato-5pct", "channel": emu.alerts.id},
            ),
        ]

    run_admin(discord_emulator, tmp_path, scenario)


def seed_recent(store: Store) -> None:
    """Three recently seen entries and one matched article (one of them also seen)."""
    seen = [
        EntryIdentity(
            "k1",
            "https://b.example/1",
            "t1",
            title="NATO allies back 5% of GDP target",
            summary="Hague summit",
        ),
        EntryIdentity(
            "k2", None, "t2", title="Ukraine ceasefire talks resume", summary="@everyone in Geneva"
        ),
        EntryIdentity("k3", "https://b.example/3", "t3", title="Chip makers sign pact", summary=""),
    ]
    article = ArticleRecord(
        source_id="ap-top",
        key="a1",
        title="NATO *summit* ends with pledge",
        summary="Allies agree",
        link="https://ap.example/a1",
        published=None,
        publisher=None,
        matches=(ArticleMatch("nato-5pct", ("NATO",), "**NATO** summit"),),
        matched_at=NOW,
    )
    store.commit_poll("bbc-world", NOW, seen=seen, articles=[], alerts=[])
    store.commit_poll("ap-top", NOW, seen=[], articles=[article], alerts=[])


def test_watch_preview_counts_recent_items(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/watch preview counts stored items and matched articles, with samples; saves nothing."""

    async def scenario(h: ChatHarness) -> None:
        seed_recent(h.store)
        before = h.watchlist_path.read_bytes()
        text = await admin_says(h, "watch preview", {"query": "NATO OR ceasefire"})
        lines = text.splitlines()
        assert lines[0] == "`NATO OR ceasefire` would have matched **3** of 4 recent items."
        assert len(lines) == 4
        assert any(
            "NATO allies back 5% of GDP target" in line and "`NATO`" in line for line in lines
        )
        assert any(r"NATO \*summit\* ends with pledge" in line for line in lines)  # escaped
        nothing = await admin_says(h, "watch preview", {"query": "tariff*"})
        assert nothing.startswith("`tariff*` would have matched **0** of 4")
        bad = await admin_says(h, "watch preview", {"query": "NATO NEAR/x spending"})
        assert bad.startswith("Bad query:") and "column" in bad
        assert h.watchlist_path.read_bytes() == before and audit(h) == []

    run_admin(discord_emulator, tmp_path, scenario)


def test_watch_history_lists_edits(discord_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """/watch history shows who did what to which target, newest first, before → after."""

    async def scenario(h: ChatHarness) -> None:
        assert await admin_says(h, "watch history") == "No admin edits recorded yet."
        await admin_says(h, "watch edit", {"id": "nato-5pct", "severity": "low"})
        await admin_says(h, "watch remove", {"id": "nato-5pct"})
        text = await admin_says(h, "watch history", {"count": 5})
        head, newest, older = text.splitlines()
        assert head == "Last 2 admin edits, newest first:"
        assert "**mod** signal.remove `signal:nato-5pct` — removed" in newest
        assert f"<t:{int(NOW.timestamp())}:f>" in newest
        assert older.endswith("**mod** signal.edit `signal:nato-5pct` — severity: `high` → `low`")
        one = await admin_says(h, "watch history", {"count": 1})
        assert len(one.splitlines()) == 2

    run_admin(discord_emulator, tmp_path, scenario)


# --- /source -------------------------------------------------------------------------------------


def test_source_add_refuses_private_targets_and_adds_public(
    discord_emulator: EmulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loopback and private URLs are refused (no allow_private_urls); a public one is added."""
    monkeypatch.delenv("SIGNALWATCH_ALLOW_PRIVATE_URLS", raising=False)

    async def scenario(h: ChatHarness) -> None:
        before = h.watchlist_path.read_bytes()
        loopback = await admin_says(h, "source add", {"url": "http://127.0.0.1/x"})
        assert loopback.startswith("Not added: blocked: 127.0.0.1 is a loopback address")
        private = await admin_says(h, "source add", {"url": "http://10.0.0.1/"})
        assert "10.0.0.1 is a private address" in private
        ftp = await admin_says(h, "source add", {"url": "ftp://93.184.216.34/feed.xml"})
        assert ftp == "Not added: url: must start with http:// or https://"
        short = await admin_says(
            h, "source add", {"url": "http://93.184.216.34/feed.xml", "interval": "30s"}
        )
        assert short == "Interval 30s is too short: poll at most once a minute."
        again = await admin_says(h, "source add", {"url": "https://apnews.example/top.xml"})
        assert again == "Already watched as source `ap-top`."
        assert h.watchlist_path.read_bytes() == before and audit(h) == []

        added = await admin_says(
            h, "source add", {"url": "http://93.184.216.34/feed.xml", "interval": "15m"}
        )
        assert added.startswith(
            "Added source `93-184-216-34`: <http://93.184.216.34/feed.xml>, polled every 15m."
        )
        assert (
            "  - id: 93-184-216-34\n    url: http://93.184.216.34/feed.xml\n    interval: 15m\n"
            in file_text(h)
        )
        assert "enabled: false  # paused by hand" in file_text(h)
        [entry] = audit(h)
        assert (entry.action, entry.target) == ("source.add", "source:93-184-216-34")
        assert h.reloads == 1
        listing = await admin_says(h, "source list")
        assert "🆕 `93-184-216-34` not polled yet" in listing.splitlines()

    run_admin(discord_emulator, tmp_path, scenario)


def test_source_add_private_url_when_the_operator_allows(
    discord_emulator: EmulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGNALWATCH_ALLOW_PRIVATE_URLS=true lets an admin add a feed on the local network."""
    monkeypatch.setenv("SIGNALWATCH_ALLOW_PRIVATE_URLS", "true")

    async def scenario(h: ChatHarness) -> None:
        added = await admin_says(
            h, "source add", {"url": "http://127.0.0.1:8080/feed.xml", "id": "local-feed"}
        )
        assert added.startswith("Added source `local-feed`: <http://127.0.0.1:8080/feed.xml>")

    run_admin(discord_emulator, tmp_path, scenario)


def test_source_list_remove_and_enable(discord_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """/source list shows health; enable turns sources back on in the store and the file; remove."""

    async def scenario(h: ChatHarness) -> None:
        listing = await admin_says(h, "source list")
        lines = listing.splitlines()
        assert lines[0] == "**4 sources** (1 failing, 2 disabled, 1 removed):"
        assert lines[1].startswith("🟠 `bbc-world` failing · 1 failure in a row · last ok <t:")
        assert "last error: HTTP 503: Service Unavailable" in lines[1]
        assert lines[2].startswith("🔴 `ap-top` disabled · auto-disabled: 10 failures in a row")
        assert lines[3] == "🔴 `reuters` disabled · off in the watchlist · last ok never"
        assert lines[4] == "⚪ `old-feed` removed · last ok never"
        choices = await h.emu.send_autocomplete(
            "source enable", "id", {"id": "re"}, user=h.emu.moderator
        )
        assert [c["value"] for c in await choices.choices()] == ["reuters"]

        enabled = await admin_says(h, "source enable", {"id": "ap-top"})
        assert enabled.startswith(
            "Enabled source `ap-top` (failures reset, polled on the next turn)."
        )
        state = h.store.source("ap-top")
        assert state is not None and state.enabled and state.disabled_reason is None
        file_on = await admin_says(h, "source enable", {"id": "reuters"})
        assert file_on.startswith("Enabled source `reuters` (in the watchlist).")
        assert "paused by hand" in file_text(h) and "enabled: false" not in file_text(h)
        already = await admin_says(h, "source enable", {"id": "reuters"})
        assert already == "Source `reuters` is already enabled: nothing changed."
        unknown = await admin_says(h, "source enable", {"id": "bbc-wrld"})
        assert unknown == "No source `bbc-wrld` in the watchlist (did you mean 'bbc-world'?)."

        removed = await admin_says(h, "source remove", {"id": "bbc-world"})
        assert removed == "Removed source 'bbc-world'."
        assert "bbc-world" not in file_text(h)
        assert [(e.action, e.target) for e in audit(h)] == [
            ("source.remove", "source:bbc-world"),
            ("source.enable", "source:reuters"),
            ("source.enable", "source:ap-top"),
        ]
        ap = audit(h)[2]
        assert ap.before == {
            "enabled": True,
            "store_enabled": True,
            "disabled_reason": "10 failures in a row",
            "consecutive_failures": 1,
        }

    run_admin(discord_emulator, tmp_path, scenario)


# --- the pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "taken", "expected"),
    [
        ("https://feeds.bbci.co.uk/news/world/rss.xml", [], "bbci-co-uk"),
        ("https://www.example.com/feed", ["example-com"], "example-com-2"),
        ("https://www.example.com/feed", ["example-com", "example-com-2"], "example-com-3"),
        ("http://93.184.216.34/feed.xml", [], "93-184-216-34"),
        ("https://rss.example/", [], "rss-example"),
        ("http://[2606:2800:220:1::]/f", [], "2606-2800-220-1"),
    ],
)
def test_derive_source_id(url: str, taken: list[str], expected: str) -> None:
    """Ids come from the host, common feed prefixes dropped, numbered when taken."""
    assert derive_source_id(url, taken) == expected


def test_parse_interval() -> None:
    """Durations parse as the watchlist writes them; under a minute or nonsense is refused."""
    assert parse_interval("1h30m") == timedelta(minutes=90)
    assert parse_interval(" 900 ") == timedelta(minutes=15)
    with pytest.raises(Refused, match="too short"):
        parse_interval("59s")
    with pytest.raises(Refused, match="invalid duration 'soon'"):
        parse_interval("soon")


def test_build_source_spec_checks_before_the_network() -> None:
    """Scheme, id, interval and duplicates are decided without Discord or DNS."""
    existing = [SourceSpec(id="bbc", url="https://bbc.example/rss")]
    spec = build_source_spec(" https://x.example/rss ", None, "2h", existing)
    assert (spec.id, spec.url, spec.interval) == (
        "x-example",
        "https://x.example/rss",
        timedelta(hours=2),
    )
    with pytest.raises(Refused, match="already a source `bbc`"):
        build_source_spec("https://y.example/", "bbc", None, existing)
    with pytest.raises(Refused, match="id: must be lower-case"):
        build_source_spec("https://y.example/", "Bad Id", None, existing)


def test_query_problem_points_at_the_column() -> None:
    """The caret sits under the column, also in a window of a long query."""
    query = "a " * 60 + "AND )"
    with pytest.raises(QueryError) as caught:
        parse_query(query)
    error = caught.value
    assert error.column is not None
    text = query_problem(query, error)
    window, caret = text.split("```")[1].strip("\n").split("\n")
    assert window[len(caret) - 1] == query[error.column - 1] == ")"


def test_signal_changes_and_diff() -> None:
    """Only given fields change; "-" clears the description; diffs list changed keys in order."""
    assert signal_changes(description="-", enabled=True) == {"description": None, "enabled": True}
    with pytest.raises(Refused, match="Nothing to change"):
        signal_changes()
    assert diff_fields({"a": 1, "b": 2}, {"b": 3, "c": 4}) == [
        ("a", 1, None),
        ("b", 2, 3),
        ("c", None, 4),
    ]


def test_preview_dedups_and_samples() -> None:
    """An article also seen counts once; samples stop at the limit."""
    seen = [SeenText("s", f"k{i}", f"NATO {i}", "", None, None, NOW) for i in range(8)]
    article = ArticleRecord("s", "k1", "NATO 1", "", None, None, None, (), NOW)
    items = preview_items(seen, [article])
    assert len(items) == 8
    result = preview_query("nato", items, samples=5)
    assert (result.scanned, result.matched, len(result.samples)) == (8, 8, 5)
    assert result.samples[0] == (PreviewItem("s", "k0", "NATO 0", "", None), ("NATO",))


def test_fit_lines_stays_within_the_limit() -> None:
    """Long lists end in "… and N more" and never pass Discord's 2000 characters."""
    text = fit_lines("head", [f"line {i} " + "x" * 90 for i in range(100)])
    assert len(text) <= 2000 and text.endswith("more")
    shown = text.count("\nline ")
    assert text.endswith(f"… and {100 - shown} more")
    assert fit_lines("head", ["a", "b"]) == "head\na\nb"


def test_source_list_without_sources() -> None:
    """An empty store and watchlist say how to add one."""
    assert format_source_list([], []) == "No sources yet: add one with /source add."


def test_admin_helpers_import_no_discord() -> None:
    """bot/admin (the admin commands' deciding) imports neither discord nor bot.chat."""
    import ast

    folder = Path(__file__).resolve().parent.parent / "bot" / "admin"
    modules = sorted(folder.glob("*.py"))
    assert len(modules) >= 4
    for module in modules:
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] != "discord", f"{module.name} imports {name}"
                assert not name.startswith("bot.chat"), f"{module.name} imports {name}"
