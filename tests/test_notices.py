"""Admin notices: coalesced per destination and kind, naming what was lost, no absolute paths."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fakes import FakeClock

from bot.model import Alert
from bot.notices import (
    CoalescingNotifier,
    Notice,
    NoticeBatcher,
    NoticeKind,
    alert_notice,
    display_destination,
    display_path,
    scrub_paths,
    source_notice,
    watchlist_notice,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DEAD = "channel:111"


def lost(signal: str, headline: str, destination: str = DEAD) -> Notice:
    """An alert to `destination` that could not be delivered."""
    return Notice(
        NoticeKind.DESTINATION_UNREACHABLE,
        detail="404 Not Found (error code: 10003): Unknown Channel",
        destination=destination,
        signal_id=signal,
        route=f"{signal} → {destination}",
        headline=headline,
    )


class Recorder:
    """An inner notifier that keeps what it was told."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def notify(self, text: str) -> None:
        """Keep the text."""
        self.sent.append(text)


def test_three_alerts_to_a_deleted_channel_make_one_notice() -> None:
    """Three lost alerts to one channel: one message naming the signals, headlines and count."""
    batcher = NoticeBatcher()
    batcher.add(lost("nato-5pct", "NATO agrees 5% target"), T0)
    batcher.add(lost("ecb-rates", "ECB cuts rates"), T0 + timedelta(seconds=5))
    batcher.add(lost("nato-5pct", "Allies sign on"), T0 + timedelta(seconds=9))
    [text] = batcher.due(T0 + timedelta(seconds=30))
    assert text.startswith(
        "Cannot deliver to <#111>: 404 Not Found (error code: 10003): Unknown Channel. "
        "3 alerts not delivered."
    )
    assert "Signals: `nato-5pct`, `ecb-rates`" in text
    assert "Routes: `nato-5pct → channel:111`, `ecb-rates → channel:111`" in text
    for headline in ("NATO agrees 5% target", "ECB cuts rates", "Allies sign on"):
        assert f"• {headline}" in text
    assert "channel:111 " not in text.splitlines()[0]
    assert batcher.due(T0 + timedelta(minutes=5)) == [] and len(batcher) == 0


def test_different_destinations_and_kinds_are_separate_messages() -> None:
    """One message per (kind, destination), oldest group first."""
    batcher = NoticeBatcher()
    batcher.add(lost("a", "A1", "channel:222"), T0)
    batcher.add(lost("b", "B1", "default"), T0 + timedelta(seconds=1))
    batcher.add(lost("a", "A2", "channel:222"), T0 + timedelta(seconds=2))
    dropped = Notice(NoticeKind.ALERT_DROPPED, "too large", "channel:222", "a", headline="A3")
    batcher.add(dropped, T0 + timedelta(seconds=3))
    texts = batcher.due(T0 + timedelta(minutes=1))
    assert len(texts) == 3
    assert texts[0].startswith("Cannot deliver to <#222>") and "2 alerts" in texts[0]
    assert texts[1].startswith("Cannot deliver to the default channel")
    assert texts[2].startswith("1 alert for <#222> given up: too large.")
    assert "A1" not in texts[1] and "B1" not in texts[0]


def test_the_window_is_respected() -> None:
    """Nothing is sent before the window ends; a key just reported waits `repeat_after`."""
    batcher = NoticeBatcher(window=timedelta(seconds=30), repeat_after=timedelta(minutes=10))
    batcher.add(lost("a", "first"), T0)
    assert batcher.due(T0) == []
    assert batcher.due(T0 + timedelta(seconds=29)) == []
    assert len(batcher.due(T0 + timedelta(seconds=30))) == 1
    # The channel is still dead: the next alerts gather for ten minutes, not thirty seconds.
    sent_at = T0 + timedelta(seconds=30)
    batcher.add(lost("a", "second"), sent_at + timedelta(seconds=1))
    batcher.add(lost("b", "third"), sent_at + timedelta(seconds=2))
    assert batcher.due(sent_at + timedelta(minutes=9, seconds=59)) == []
    [text] = batcher.due(sent_at + timedelta(minutes=10))
    assert "2 alerts not delivered" in text and "second" in text and "first" not in text
    # Once quiet for longer than that, a new problem is told after the short window again.
    later = sent_at + timedelta(hours=1)
    batcher.add(lost("c", "fourth"), later)
    assert batcher.due(later + timedelta(seconds=29)) == []
    assert len(batcher.due(later + timedelta(seconds=30))) == 1


def test_watchlist_notices_are_not_held_back_after_one_was_sent() -> None:
    """A watchlist broken again soon after is told after the short window, not ten minutes."""
    batcher = NoticeBatcher(window=timedelta(seconds=30), repeat_after=timedelta(minutes=10))
    batcher.add(Notice(NoticeKind.WATCHLIST_INVALID, "w.yaml:1: bad"), T0)
    assert len(batcher.due(T0 + timedelta(seconds=30))) == 1
    batcher.add(Notice(NoticeKind.WATCHLIST_INVALID, "w.yaml:2: worse"), T0 + timedelta(minutes=1))
    [text] = batcher.due(T0 + timedelta(minutes=1, seconds=30))
    assert text.endswith("• w.yaml:2: worse")


def test_long_lists_end_in_and_n_more() -> None:
    """Twelve lost alerts name five headlines and signals, then say how many more."""
    batcher = NoticeBatcher()
    for i in range(12):
        batcher.add(lost(f"sig-{i}", f"Headline {i}"), T0)
    [text] = batcher.due(T0 + timedelta(seconds=30))
    assert "12 alerts not delivered" in text
    assert "`sig-4` and 7 more" in text and "sig-5" not in text
    assert "• Headline 4\n… and 7 more" in text and "Headline 5" not in text
    assert len(text) <= 1900


def test_feed_headlines_cannot_ping_or_format() -> None:
    """A headline's mentions are defused and its markdown escaped."""
    batcher = NoticeBatcher()
    batcher.add(lost("a", "@everyone **breaking**"), T0)
    [text] = batcher.due(T0 + timedelta(seconds=30))
    assert "@everyone" not in text and "**breaking**" not in text


def test_sources_switched_off_are_one_message() -> None:
    """Two sources auto-disabled in one window: one message naming each with its reason."""
    batcher = NoticeBatcher()
    for source, reason in (("bbc", "disabled after 5 failures"), ("ap", "HTTP 410 Gone")):
        batcher.add(Notice(NoticeKind.SOURCE_DISABLED, reason, source_id=source), T0)
    [text] = batcher.due(T0 + timedelta(seconds=30))
    assert text.splitlines()[:3] == [
        "2 sources switched off:",
        "• `bbc`: disabled after 5 failures",
        "• `ap`: HTTP 410 Gone",
    ]
    assert "/source enable" in text


def test_watchlist_notice_shows_no_absolute_path(tmp_path: Path) -> None:
    """The broken-watchlist notice names the file relative to its folder, never its full path."""
    path = tmp_path / "conf" / "watchlist.yaml"
    detail = f"{path}: signals.0.query: unbalanced parenthesis"
    batcher = NoticeBatcher(watchlist_dir=path.parent)
    batcher.add(Notice(NoticeKind.WATCHLIST_INVALID, detail, path=str(path)), T0)
    batcher.add(Notice(NoticeKind.WATCHLIST_INVALID, detail, path=str(path)), T0)
    [text] = batcher.due(T0 + timedelta(seconds=30))
    assert str(tmp_path) not in text
    assert text == (
        "`watchlist.yaml` has errors; keeping the last good watchlist:\n"
        "• watchlist.yaml: signals.0.query: unbalanced parenthesis"
    )


def test_display_path_is_never_absolute(tmp_path: Path) -> None:
    """Inside the folder: relative to it; outside: the file name; relative paths as given."""
    folder = tmp_path / "wl"
    assert display_path(folder / "watchlist.yaml", folder) == "watchlist.yaml"
    assert display_path(folder / "inc" / "extra.yaml", folder) == "inc/extra.yaml"
    assert display_path(tmp_path / "elsewhere.yaml", folder) == "elsewhere.yaml"
    assert display_path("/etc/signalwatch/watchlist.yaml", None) == "watchlist.yaml"
    assert display_path("conf/watchlist.yaml", None) == "conf/watchlist.yaml"
    assert display_path("../secret/watchlist.yaml", None) == "watchlist.yaml"
    relative = os.path.relpath(folder / "watchlist.yaml")
    assert display_path(relative, folder) == "watchlist.yaml"


def test_scrub_paths_removes_the_folder(tmp_path: Path) -> None:
    """The folder's absolute path goes from free text; other text and relative names stay."""
    folder = tmp_path / "wl"
    text = f"{folder}/watchlist.yaml has errors; see {folder} and https://example.org/x"
    assert scrub_paths(text, folder) == (
        "watchlist.yaml has errors; see . and https://example.org/x"
    )
    assert scrub_paths("data is bad in data/w.yaml", "data") == "data is bad in data/w.yaml"
    assert scrub_paths(f"{folder}2/x.yaml", folder) == f"{folder}2/x.yaml"


def test_display_destination() -> None:
    """Channels as mentions, the default by name, webhooks and others in code."""
    assert display_destination("channel:42") == "<#42>"
    assert display_destination("default") == "the default channel"
    assert display_destination("webhook:ops") == "webhook `ops`"
    assert display_destination("console") == "`console`"


def test_coalescing_notifier_batches_notices_and_passes_text() -> None:
    """Text goes at once; Notices wait for flush(now) past the window; close sends the rest."""
    clock, inner = FakeClock(T0), Recorder()
    notifier = CoalescingNotifier(inner, clock, watchlist_dir="/srv/signalwatch")

    async def scenario() -> None:
        await notifier.notify("/srv/signalwatch/watchlist.yaml has errors")
        assert inner.sent == ["watchlist.yaml has errors"]
        for signal in ("a", "b", "c"):
            await notifier.notify(lost(signal, f"Headline {signal}"))
        assert await notifier.flush(T0 + timedelta(seconds=29)) == 0
        assert len(inner.sent) == 1
        assert await notifier.flush(T0 + timedelta(seconds=30)) == 1
        assert "3 alerts not delivered" in inner.sent[1] and "Headline c" in inner.sent[1]
        # A notice arriving later is not lost on shutdown, though its window has not passed.
        clock.now = T0 + timedelta(seconds=40)
        await notifier.notify(lost("d", "Headline d", "channel:999"))
        assert len(inner.sent) == 2
        await notifier.close()
        assert len(inner.sent) == 3 and "<#999>" in inner.sent[2]

    asyncio.run(scenario())


def test_a_notice_flushes_groups_already_due() -> None:
    """A new notice sends any group already due, even if the loop has not called flush."""
    clock, inner = FakeClock(T0), Recorder()
    notifier = CoalescingNotifier(inner, clock)

    async def scenario() -> None:
        await notifier.notify(lost("a", "A", "channel:1"))
        clock.now = T0 + timedelta(seconds=31)
        await notifier.notify(lost("b", "B", "channel:2"))
        assert len(inner.sent) == 1 and "<#1>" in inner.sent[0]

    asyncio.run(scenario())


def test_notice_helpers_fill_in_what_is_known(tmp_path: Path) -> None:
    """alert_notice takes the alert's destination, signal and title; the others their subject."""
    alert = Alert("a1", "nato-5pct", "channel:7", "NATO deal", None, "bbc", None, (), "text")
    assert alert_notice(alert, "Missing Access") == Notice(
        NoticeKind.DESTINATION_UNREACHABLE,
        "Missing Access",
        destination="channel:7",
        signal_id="nato-5pct",
        headline="NATO deal",
    )
    dropped = alert_notice(alert, "too big", NoticeKind.ALERT_DROPPED, route="nato-5pct → <#7>")
    assert dropped.kind is NoticeKind.ALERT_DROPPED and dropped.route == "nato-5pct → <#7>"
    key = source_notice("newsapi", "SIGNALWATCH_NEWSAPI_KEY is not set", NoticeKind.API_KEY_MISSING)
    assert (key.kind, key.source_id) == (NoticeKind.API_KEY_MISSING, "newsapi")
    broken = watchlist_notice(tmp_path / "w.yaml", "w.yaml:1: bad")
    assert broken.kind is NoticeKind.WATCHLIST_INVALID and broken.path == str(tmp_path / "w.yaml")
    batcher = NoticeBatcher()
    batcher.add(key, T0)
    [text] = batcher.due(T0 + timedelta(seconds=30))
    assert (
        text
        == "1 source off for a missing API key:\n• `newsapi`: SIGNALWATCH_NEWSAPI_KEY is not set"
    )
