"""/watch add, edit and preview with queries that name concepts, against the Discord emulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from discord_emulator import EmulatorFactory, InteractionHandle

# isort: split
# discord_emulator first: it imports discord.py with the audioop DeprecationWarning filtered.
from chat_harness import ChatHarness, run_chat

pytest_plugins = ["discord_emulator"]

EPHEMERAL = 64
WATCHLIST = """\
version: 1
concepts:
  pact: [pact, treaty, accord, "joint declaration"]   # named as @pact
signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    query: NATO AND "5%"
"""


async def reply(handle: InteractionHandle) -> str:
    """The private answer to a command, whether it answered at once or deferred and edited."""
    callback = await handle
    if callback["type"] == 4:
        assert callback["data"]["flags"] & EPHEMERAL
        return str(callback["data"]["content"])
    original = await handle.original_edit()
    return str(original["content"])


async def admin_says(h: ChatHarness, name: str, options: dict[str, Any]) -> str:
    """Run a command as the moderator and return the answer."""
    return await reply(await h.emu.send_interaction(name, options, user=h.emu.moderator))


def test_watch_add_and_edit_check_queries_against_the_current_concepts(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A query naming a defined concept is added and live; an unknown one is refused with its
    column, and nothing is written."""

    async def scenario(h: ChatHarness) -> None:
        bad = await admin_says(
            h, "watch add", {"id": "asia", "title": "Asia", "query": "Japan AND @pacts"}
        )
        assert bad.startswith("Bad query: unknown concept '@pacts' (did you mean '@pact'?)")
        assert "column 11" in bad and h.watchlist_path.read_text() == WATCHLIST
        text = await admin_says(
            h, "watch add", {"id": "asia", "title": "Asia", "query": "Japan AND @pact"}
        )
        assert text.startswith("Added signal 'asia'") and "Live now." in text
        assert "concepts:\n  pact: [pact, treaty, accord" in h.watchlist_path.read_text()
        assert h.compiled.matcher.match_ids("Japan signs treaty with Manila") == ["asia"]
        edit = await admin_says(h, "watch edit", {"id": "asia", "query": "@nope"})
        assert edit.startswith("Bad query: unknown concept '@nope'")
        # A good new query is previewed first, both queries read with the concepts.
        handle = await h.emu.send_interaction(
            "watch edit", {"id": "asia", "query": "Korea AND @pact"}, user=h.emu.moderator
        )
        assert (await handle)["type"] == 5
        preview = await handle.original_edit()
        assert preview["content"].startswith("No stored items in the last 7 days to preview")
        save = {
            b["label"]: b["custom_id"] for row in preview["components"] for b in row["components"]
        }
        await (await h.emu.send_component(preview, save["Save"], user=h.emu.moderator))
        saved = await handle.original_edit(count=3)
        assert saved["content"].startswith("Updated signal 'asia':")
        assert h.compiled.matcher.match_ids("Korea and Japan sign accord") == ["asia"]
        preview = await admin_says(h, "watch preview", {"query": "@pact"})
        assert preview == "No recent items stored yet: nothing to preview against."  # parsed
        unknown = await admin_says(h, "watch preview", {"query": "@nope"})
        assert unknown.startswith("Bad query: unknown concept '@nope'")

    run_chat(discord_emulator, tmp_path, scenario, watchlist=WATCHLIST)
