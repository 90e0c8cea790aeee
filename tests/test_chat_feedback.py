"""Subscribers' feedback through the Discord emulator: 👍 / 👎 buttons under alerts, /signal's
share judged wrong.

The bot is the real SignalBot on unmodified discord.py against tests/discord_emulator.py
(tests/chat_harness.py); the store is SQLite in tmp_path. The headlines are real items of the
labelled set (tests/data/labelled/signals_dev.jsonl, where each keeps its origin), posted under
a deliberately loose nato-5pct query, so that the 2% story is a real misfire to judge.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from discord_emulator import EmulatorFactory, EmuUser, running

# isort: split
from chat_harness import TEST_SOURCE, ChatHarness, run_chat

from bot.chat.bot import SignalBot
from bot.model import Alert, FloodSummary, FoldedItem, StoryUpdate

pytest_plugins = ["discord_emulator"]

EPHEMERAL = 64
LABELLED = Path(__file__).parent / "data" / "labelled" / "signals_dev.jsonl"
MISFIRE = "nato-guardian-carney-2pct-by-march"  # hard negative: the old 2% goal
HITS = ("nato-aa-spain-exemption-deal", "nato-particle-set-to-adopt-june")

WATCHLIST = """\
version: 1

signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    # too loose on purpose: the 2% goal fires it too
    query: NATO AND (spending OR defence OR defense)

sources:
  - id: test-feed
    url: https://feeds.example.test/world.rss
"""


def labelled(item_id: str) -> dict[str, Any]:
    """One real item of the labelled set, by id."""
    with LABELLED.open(encoding="utf-8") as handle:
        for line in handle:
            item: dict[str, Any] = json.loads(line)
            if item["id"] == item_id:
                return item
    raise KeyError(item_id)


async def post(h: ChatHarness, item_id: str) -> tuple[Alert, dict[str, Any]]:
    """Match, queue and deliver a labelled item as the pipeline would; its alert and message."""
    item = labelled(item_id)
    record = h.seed_article(
        item["title"], item["summary"], link=item["url"], publisher=item["source"]
    )
    alert = h.alert_for(record)
    h.store.commit_poll(TEST_SOURCE, h.clock.now, seen=[], articles=[], alerts=[alert])
    receipt = await h.sink.send(alert)
    assert receipt is not None
    h.store.mark_delivered(alert.alert_id, h.clock.now, receipt)
    message = h.emu.alerts.message(receipt)
    assert message is not None
    return alert, message


async def click(h: ChatHarness, message: dict[str, Any], word: str, user: EmuUser) -> str:
    """Click 👍 ("up") or 👎 ("down") under an alert as `user`; the private answer."""
    alert_id = message["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1]
    handle = await h.emu.send_component(message, f"sw:fb:{word}:{alert_id}", user=user)
    callback = await handle
    assert callback["type"] == 4 and callback["data"]["flags"] & EPHEMERAL
    return str(callback["data"]["content"])


def test_alerts_carry_buttons_and_a_click_records_then_withdraws(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A story alert has 👍 / 👎 buttons; a click stores the verdict with the item, the
    message and who; the other button replaces it; the same button again withdraws it."""

    async def scenario(h: ChatHarness) -> None:
        alert, message = await post(h, MISFIRE)
        [row] = message["components"]
        buttons = row["components"]
        assert [(b["label"], b["emoji"]["name"]) for b in buttons] == [
            ("Relevant", "👍"),
            ("Not relevant", "👎"),
        ]
        assert [b["custom_id"] for b in buttons] == [
            f"sw:fb:up:{alert.alert_id}",
            f"sw:fb:down:{alert.alert_id}",
        ]
        alice = h.emu.user

        said = await click(h, message, "down", alice)
        assert said.startswith("Thanks: 👎 recorded.") and "`nato-5pct`" in said
        [judged] = h.store.feedback_since(h.clock.now)
        item = labelled(MISFIRE)
        assert (judged.user_id, judged.verdict, judged.signal_id) == (alice.id, -1, "nato-5pct")
        assert judged.message_id == int(message["id"])
        assert (judged.item.title, judged.item.summary, judged.item.link) == (
            item["title"],
            item["summary"],
            item["url"],
        )

        said = await click(h, message, "up", alice)
        assert said.startswith("Thanks: 👍 recorded (instead of your earlier verdict).")
        assert [j.verdict for j in h.store.feedback_since(h.clock.now)] == [1]

        said = await click(h, message, "up", alice)
        assert said == "Withdrawn: your 👍 on this alert no longer counts."
        assert h.store.feedback_since(h.clock.now) == []

    run_chat(discord_emulator, tmp_path, scenario, watchlist=WATCHLIST)


def test_signal_shows_the_share_judged_wrong(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/signal shows "judged wrong: 1 of 3 (33%) in the last 30 days" after three verdicts,
    and only the verdicts of the last 30 days count."""

    async def scenario(h: ChatHarness) -> None:
        async def feedback_field() -> str:
            callback = await (await h.emu.send_interaction("signal", {"id": "nato-5pct"}))
            fields = {f["name"]: f["value"] for f in callback["data"]["embeds"][0]["fields"]}
            return str(fields["Feedback"])

        assert await feedback_field() == "no alert judged in the last 30 days"
        _, misfire = await post(h, MISFIRE)
        _, spain = await post(h, HITS[0])
        _, adopt = await post(h, HITS[1])
        await click(h, misfire, "down", h.emu.user)
        await click(h, spain, "up", h.emu.user)
        await click(h, adopt, "up", h.emu.moderator)
        assert await feedback_field() == "judged wrong: 1 of 3 (33%) in the last 30 days"
        h.clock.advance(days=31)
        assert await feedback_field() == "no alert judged in the last 30 days"

    run_chat(discord_emulator, tmp_path, scenario, watchlist=WATCHLIST)


def test_no_buttons_on_a_flood_summary_and_a_pruned_alert_cannot_be_judged(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A flood summary stands for no one item: no buttons. A click on an alert the store no
    longer holds (pruned) says so and records nothing."""

    async def scenario(h: ChatHarness) -> None:
        alert, message = await post(h, HITS[0])
        base = {f.name: getattr(alert, f.name) for f in fields(Alert)}
        flood = FloodSummary(
            **{**base, "alert_id": "flood-1"},
            items=(FoldedItem(alert.title, alert.link, alert.source_id),),
        )
        receipt = await h.sink.send(flood)
        assert receipt is not None
        flood_message = h.emu.alerts.message(receipt)
        assert flood_message is not None and flood_message["components"] == []

        h.clock.advance(days=10)
        one_day = timedelta(days=1)
        h.store.prune(h.clock.now, seen_older_than=one_day, delivered_older_than=one_day)
        said = await click(h, message, "down", h.emu.user)
        assert said == "This alert is no longer stored, so it cannot be judged any more."
        assert h.store.feedback_since(h.clock.now - timedelta(days=30)) == []

    run_chat(discord_emulator, tmp_path, scenario, watchlist=WATCHLIST)


def test_buttons_still_work_after_a_restart(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A click on an alert posted before the bot restarted is answered by the new process:
    the custom_id carries everything (discord.py's DynamicItem), nothing is kept per message."""

    async def scenario(h: ChatHarness) -> None:
        _, message = await post(h, MISFIRE)
        await h.bot.close()
        restarted = SignalBot(h.services, h.settings, guild_ready_timeout=0.05)
        async with running(restarted, h.emu):
            said = await click(h, message, "down", h.emu.user)
        assert said.startswith("Thanks: 👎 recorded.")
        assert [j.verdict for j in h.store.feedback_since(h.clock.now)] == [-1]

    run_chat(discord_emulator, tmp_path, scenario, watchlist=WATCHLIST)


def test_a_story_update_keeps_the_buttons_and_a_store_failure_is_said(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Editing an alert for "+N sources" leaves its buttons; a click the store cannot record
    gets a clear private answer instead of a failed interaction."""

    async def scenario(h: ChatHarness) -> None:
        alert, message = await post(h, HITS[0])
        receipt = message["id"]
        assert await h.sink.update(StoryUpdate(alert, edit=receipt, reply_to=receipt)) == receipt
        edited = h.emu.alerts.message(receipt)
        assert edited is not None and edited["components"] == message["components"]

        h.store.close()
        said = await click(h, edited, "down", h.emu.user)
        assert said == (
            "Your verdict could not be recorded (the database is unavailable): try again."
        )

    run_chat(discord_emulator, tmp_path, scenario, watchlist=WATCHLIST)
