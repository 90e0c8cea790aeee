"""/watch edit of a query through the Discord emulator: a preview of what the new query would
newly alert and stop over the last days of stored items, then Save or Cancel.

The bot is the real SignalBot on unmodified discord.py (tests/chat_harness.py); the store is
SQLite in tmp_path. The stored items are real ones of the labelled set
(tests/data/labelled/signals_dev.jsonl, which keeps each one's origin).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from discord_emulator import EmulatorFactory, EmuUser, InteractionHandle

# isort: split
from chat_harness import TEST_SOURCE, ChatHarness, run_chat

from bot.admin import EditPreview, PreviewItem, format_edit_preview, preview_edit
from bot.chat.cogs import watch
from bot.model import Entry
from bot.pipeline import identify

pytest_plugins = ["discord_emulator"]

LABELLED = Path(__file__).parent / "data" / "labelled" / "signals_dev.jsonl"
CURRENT = 'NATO AND ("5%" OR "five percent") NEAR/12 (GDP OR spending OR defence OR defense)'
DRAFT = "NATO AND (spending OR defence OR defense) NOT Spain"
NEWLY = "nato-guardian-carney-2pct-by-march"  # the draft matches, the current query does not
STOPS = "nato-aa-spain-exemption-deal"  # the current query matches, the draft does not
KEPT = ("nato-particle-set-to-adopt-june", "nato-brusselstimes-officially-agrees-5pct")
TOO_OLD = "nato-euroconservative-poland-4-8pct"  # newly matched, but seen 10 days ago


def labelled(item_id: str) -> dict[str, Any]:
    """One real item of the labelled set, by id."""
    with LABELLED.open(encoding="utf-8") as handle:
        for line in handle:
            item: dict[str, Any] = json.loads(line)
            if item["id"] == item_id:
                return item
    raise KeyError(item_id)


def seed_seen(h: ChatHarness) -> None:
    """The items as a poll would have seen them: one 10 days ago, the rest yesterday."""
    for item_id, days in [(NEWLY, 1), (STOPS, 1), (KEPT[0], 1), (KEPT[1], 2), (TOO_OLD, 10)]:
        item = labelled(item_id)
        entry = Entry(TEST_SOURCE, item_id, item["title"], item["summary"], item["url"])
        at = h.clock.now - timedelta(days=days)
        h.store.commit_poll(TEST_SOURCE, at, seen=[identify(entry)], articles=[], alerts=[])


def file_query(h: ChatHarness) -> str:
    """nato-5pct's query as the watchlist file now says."""
    line = next(
        line
        for line in h.watchlist_path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("query: NATO")
    )
    return line.split("query: ", 1)[1]


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """A message's buttons, label → custom_id."""
    return {b["label"]: b["custom_id"] for row in message["components"] for b in row["components"]}


async def edit_query(h: ChatHarness, query: str) -> tuple[InteractionHandle, dict[str, Any]]:
    """Run /watch edit with a new query as the moderator; the handle and the preview shown."""
    handle = await h.emu.send_interaction(
        "watch edit", {"id": "nato-5pct", "query": query}, user=h.emu.moderator
    )
    callback = await handle
    assert callback["type"] == 5  # deferred, privately
    return handle, await handle.original_edit()


async def press(
    h: ChatHarness, message: dict[str, Any], label: str, user: EmuUser
) -> dict[str, Any]:
    """Press a button of the preview as `user`; the interaction's callback."""
    handle = await h.emu.send_component(message, buttons(message)[label], user=user)
    return await handle


def test_edit_previews_the_new_query_and_saves_on_save(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """The preview lists what would newly alert and stop over the last 7 days (older items
    left out) and saves nothing; only the asking admin's Save writes the edit and audits it."""

    async def scenario(h: ChatHarness) -> None:
        seed_seen(h)
        handle, preview = await edit_query(h, DRAFT)
        text = preview["content"]
        assert text.splitlines()[0] == (
            f"Preview of `nato-5pct` with `{DRAFT}` over the last 7 days (4 stored items):"
            " **1** would newly alert, **1** would stop, 2 unchanged."
        )
        newly, stops = labelled(NEWLY)["title"], labelled(STOPS)["title"]
        assert text.index("Would newly alert:") < text.index(newly) < text.index("Would stop:")
        assert text.index("Would stop:") < text.index(stops)
        assert labelled(TOO_OLD)["title"] not in text
        assert list(buttons(preview)) == ["Save", "Cancel"]
        assert file_query(h) == CURRENT and h.store.audit_history(10) == []

        refused = await press(h, preview, "Save", h.emu.user)
        assert refused["type"] == 4 and refused["data"]["content"].startswith("Only the admin")
        assert file_query(h) == CURRENT

        assert (await press(h, preview, "Save", h.emu.moderator))["type"] == 6
        saved = await handle.original_edit(count=3)
        assert saved["content"].startswith("Updated signal 'nato-5pct':")
        assert saved["components"] == []
        assert file_query(h) == DRAFT
        assert [(e.action, e.target) for e in h.store.audit_history(10)] == [
            ("signal.edit", "signal:nato-5pct")
        ]

    run_chat(discord_emulator, tmp_path, scenario)


def test_cancel_or_no_answer_saves_nothing(
    discord_emulator: EmulatorFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cancel, or no answer before the preview times out, leaves the query as it was."""
    monkeypatch.setattr(watch, "CONFIRM_TIMEOUT_S", 0.2)

    async def scenario(h: ChatHarness) -> None:
        seed_seen(h)
        handle, preview = await edit_query(h, DRAFT)
        assert (await press(h, preview, "Cancel", h.emu.moderator))["type"] == 6
        cancelled = await handle.original_edit(count=2)
        assert cancelled["content"] == "Cancelled: nothing saved; `nato-5pct` keeps its query."
        assert cancelled["components"] == []

        handle, _ = await edit_query(h, DRAFT)
        expired = await handle.original_edit(count=2)
        assert expired["content"].startswith("No answer in 5 minutes: nothing saved")
        assert file_query(h) == CURRENT and h.store.audit_history(10) == []

    run_chat(discord_emulator, tmp_path, scenario)


def test_the_same_query_or_other_fields_save_at_once(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Only a changed query is previewed: the same query, or a severity edit, goes straight
    to the editor, as before."""

    async def scenario(h: ChatHarness) -> None:
        handle = await h.emu.send_interaction(
            "watch edit", {"id": "nato-5pct", "query": CURRENT}, user=h.emu.moderator
        )
        await handle
        said = (await handle.original_edit())["content"]
        assert said.startswith("Nothing changed")
        handle = await h.emu.send_interaction(
            "watch edit", {"id": "nato-5pct", "severity": "low"}, user=h.emu.moderator
        )
        await handle
        said = (await handle.original_edit())["content"]
        assert said.startswith("Updated signal 'nato-5pct':") and "severity" in said

    run_chat(discord_emulator, tmp_path, scenario)


def _item(item_id: str, source: str = TEST_SOURCE) -> PreviewItem:
    item = labelled(item_id)
    return PreviewItem(source, item_id, item["title"], item["summary"], item["url"])


def test_preview_edit_compares_both_queries_and_respects_scope() -> None:
    """Newly / stopped / kept by both queries; a disabled signal (None) alerts nothing; items
    of a source scoped away from the signal are not counted."""
    items = [_item(NEWLY), _item(STOPS), _item(KEPT[0]), _item(KEPT[1], source="scoped")]
    preview = preview_edit(CURRENT, DRAFT, items, 7, out_of_scope={"scoped"})
    assert [i.key for i in preview.newly] == [NEWLY]
    assert [i.key for i in preview.stopped] == [STOPS]
    assert (preview.kept, preview.scanned) == (1, 3)
    enabling = preview_edit(None, DRAFT, items, 7)
    assert (len(enabling.newly), len(enabling.stopped), enabling.kept) == (3, 0, 0)
    empty = format_edit_preview("nato-5pct", DRAFT, EditPreview(3, 0, (), (), 0))
    assert empty.startswith("No stored items in the last 3 days")
    capped = format_edit_preview(
        "nato-5pct", DRAFT, preview_edit(CURRENT, DRAFT, items, 7, capped=True)
    )
    assert "(4 stored items, the newest 5000 only)" in capped.splitlines()[0]
