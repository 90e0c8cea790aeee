"""One alert per story and digests on Discord: unmodified discord.py against the emulator.

A story's first copy is posted; a copy from another outlet edits that message to show
"+1 source" (or, once the message is old, posts one short reply, then edits that reply);
a digest route's hits arrive as one digest message. The store is real SQLite, the
Deliverer is the pipeline's own, and the emulator records every REST call discord.py made.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from pathlib import Path

from fakes import FakeClock
from test_chat_delivery import (  # noqa: F401  (fixtures used by name)
    NOW,
    Emulator,
    clean_environment,
    emulator,
    make_alert,
    run,
    signal_bot,
)

from bot.chat.bot import DiscordNotifier, DiscordSink
from bot.model import Alert, StoryUpdateAlert
from bot.pipeline import EDIT_WINDOW, Compiled, Deliverer, close_due_digests
from bot.store import (
    Announcement,
    DigestItem,
    SourceConfig,
    Store,
    StoryCopy,
    StoryWrite,
)
from bot.watchlist import parse_watchlist

ORIGINAL = make_alert(publisher="Reuters")
AGENCY = StoryCopy("agency", "a1", "Allies agree 5% goal", "https://agency.example/a1", "AP")
GNEWS = StoryCopy("gnews", "g1", "NATO sets 5% target", "https://bbc.example/g1", "BBC")


def file_original(store: Store) -> int:
    """Queue ORIGINAL as the first copy of a new story; return the story's id."""
    store.sync_sources(
        [SourceConfig(s, f"https://{s}.example/feed", "rss", 600) for s in ("wire", "agency")],
        NOW,
    )
    first = StoryCopy("wire", "w1", ORIGINAL.title, ORIGINAL.link, "Reuters")
    announced = Announcement(ORIGINAL.signal_id, ORIGINAL.destination, ORIGINAL.alert_id)
    store.commit_poll(
        "wire",
        NOW,
        seen=[],
        articles=[],
        alerts=[ORIGINAL],
        stories=[StoryWrite(first, new_ref="w1", fingerprint="sw1:test", announced=(announced,))],
    )
    (story,) = store.recent_stories(NOW - timedelta(days=1))
    return story.id


def file_copy(store: Store, story_id: int, copy: StoryCopy, outlets: int, at: datetime) -> None:
    """Another outlet's copy joins the story, with the update the pipeline would queue."""
    base = make_alert(
        f"upd-{ORIGINAL.alert_id}-{outlets}", title=copy.title, source_id=copy.source_id
    )
    update = StoryUpdateAlert(
        **{f.name: getattr(base, f.name) for f in fields(Alert)}, update_of=ORIGINAL.alert_id
    )
    store.commit_poll(
        "agency",
        at,
        seen=[],
        articles=[],
        alerts=[update],
        stories=[StoryWrite(copy, story_id=story_id)],
    )


def also_field(message: dict[str, object]) -> dict[str, object] | None:
    """The "+N sources" field of a stored message's embed, if any."""
    (embed,) = message["embeds"]  # type: ignore[misc]
    fields = embed.get("fields", [])  # type: ignore[union-attr]
    found = [f for f in fields if f["name"].startswith("+")]
    return found[0] if found else None


def test_a_second_outlet_edits_the_posted_alert(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """Within the edit window the alert's own message is edited to show '+1 source'."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            clock = FakeClock(NOW)
            deliverer = Deliverer(store, rig.sink, rig.notifier, clock)
            story_id = file_original(store)
            assert await deliverer.deliver_due() == 1
            (message,) = emu.messages_in(emu.alerts)
            assert also_field(message) is None

            clock.now = NOW + timedelta(minutes=20)
            file_copy(store, story_id, AGENCY, 2, clock.now)
            assert await deliverer.deliver_due() == 1
            (edited,) = emu.messages_in(emu.alerts)  # no new message
            assert edited["id"] == message["id"]
            patches = emu.requests_to("PATCH", rf"/channels/{emu.alerts.id}/messages/\d+")
            assert len(patches) == 1
            field = also_field(edited)
            assert field == {"name": "+1 source", "value": "[AP](https://agency.example/a1)"}
            assert edited["embeds"][0]["title"] == ORIGINAL.title  # the rest is as it was
            assert store.outbox_counts() == {"pending": 0, "delivered": 2, "failed": 0}

    run(scenario)


def test_an_old_alert_gets_one_reply_that_later_copies_edit(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """Past the edit window: one short reply to the alert, then that reply is kept current."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            clock = FakeClock(NOW)
            deliverer = Deliverer(store, rig.sink, rig.notifier, clock)
            story_id = file_original(store)
            await deliverer.deliver_due()
            (message,) = emu.messages_in(emu.alerts)

            clock.now = NOW + EDIT_WINDOW + timedelta(minutes=1)
            file_copy(store, story_id, AGENCY, 2, clock.now)
            await deliverer.deliver_due()
            original, reply = emu.messages_in(emu.alerts)
            assert original["id"] == message["id"] and also_field(original) is None
            assert str(reply["message_reference"]["message_id"]) == message["id"]
            (embed,) = reply["embeds"]
            assert embed["title"] == f"+1 source: {ORIGINAL.title}"
            assert embed["description"] == "Also reported by [AP](https://agency.example/a1)"
            assert reply["mentions"] == [] and reply["mention_everyone"] is False

            clock.now += timedelta(minutes=5)
            file_copy(store, story_id, GNEWS, 3, clock.now)
            await deliverer.deliver_due()
            assert len(emu.messages_in(emu.alerts)) == 2  # the reply was edited, not repeated
            reply = emu.messages_in(emu.alerts)[1]
            assert reply["embeds"][0]["title"] == f"+2 sources: {ORIGINAL.title}"
            assert "[BBC](https://bbc.example/g1)" in reply["embeds"][0]["description"]
            assert store.outbox_counts()["delivered"] == 3

    run(scenario)


DIGEST_WATCHLIST = """\
version: 1
signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    query: NATO
    severity: high
routes:
  - signal: nato-5pct
    channel: {channel}
    digest: hourly
"""


def test_a_digest_is_one_message_listing_the_hour_s_hits(
    emulator: Emulator, tmp_path: Path, store: Store
) -> None:
    """Three hits collected in an hour go out at the top of the hour as one digest message."""

    async def scenario() -> None:
        async with emulator() as emu, signal_bot(emu, tmp_path, store) as rig:
            compiled = Compiled.build(
                parse_watchlist(DIGEST_WATCHLIST.format(channel=emu.general.id))
            )
            store.sync_sources([SourceConfig("wire", "https://wire.example/feed", "rss", 600)], NOW)
            hits = [
                make_alert(
                    f"hit{n}",
                    destination=f"channel:{emu.general.id}",
                    title=f"NATO item {n} @everyone",
                    link=f"https://wire.example/{n}",
                )
                for n in range(3)
            ]
            store.commit_poll(
                "wire",
                NOW,
                seen=[],
                articles=[],
                alerts=[],
                digest_items=[DigestItem("hourly@:00", hit) for hit in hits],
            )
            sink = DiscordSink(rig.bot, None)
            deliverer = Deliverer(store, sink, DiscordNotifier(rig.bot, None), lambda: NOW)
            assert close_due_digests(store, compiled, NOW) == []
            top = NOW.replace(minute=0) + timedelta(hours=1)
            digests: list[Alert] = close_due_digests(store, compiled, top)
            assert len(digests) == 1
            deliverer.clock = lambda: top
            assert await deliverer.deliver_due() == 1
            (message,) = emu.messages_in(emu.general)
            (embed,) = message["embeds"]
            assert embed["title"] == "Hourly digest · 3 hits for 1 signal"
            (field,) = embed["fields"]
            assert field["name"] == "NATO spending hits 5% · 3 hits"
            assert field["value"].count("• [NATO item") == 3
            assert "@\u200beveryone" in field["value"]
            assert message["mention_everyone"] is False
            assert close_due_digests(store, compiled, top + timedelta(hours=2)) == []

    run(scenario)
