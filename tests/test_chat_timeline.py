"""/signal's timeline through the Discord emulator (first and last hit, totals, busiest day,
the hits-per-day chart as an attachment), and `signalwatch timeline` for operators."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from discord_emulator import EmulatorFactory, RecordedFile

# isort: split
# discord_emulator (through chat_harness too) first: it imports discord.py with the audioop
# DeprecationWarning filtered, which `filterwarnings = error` would turn into an error.
from chat_harness import ChatHarness, run_chat
from fakes import FakeClock
from PIL import Image

from bot.charts import CHART_SIZE
from bot.cli import main
from bot.pipeline import identify
from bot.store import ArticleMatch, ArticleRecord
from bot.store.sqlite import SQLiteStore

pytest_plugins = ["discord_emulator"]

NOW = datetime(2025, 6, 24, 15, 0, tzinfo=UTC)  # a Tuesday
NATO_HEADLINE = "NATO allies agree 5% of GDP for defence spending"
CALLBACK = r"/interactions/\d+/[^/]+/callback"


def unix(when: datetime) -> int:
    """The seconds a Discord timestamp carries."""
    return int(when.timestamp())


def field(embed: dict[str, Any], name: str) -> str:
    """The value of the embed field with this name."""
    return str(next(f["value"] for f in embed["fields"] if f["name"] == name))


async def signal_answer(
    h: ChatHarness, signal_id: str
) -> tuple[dict[str, Any], list[RecordedFile]]:
    """Run /signal; return the answer's message (as Discord keeps it) and the files uploaded."""
    handle = await h.emu.send_interaction("signal", {"id": signal_id})
    callback = await handle
    assert callback["type"] == 4, callback
    assert handle.original is not None
    (request,) = [r for r in h.emu.requests_to("POST", CALLBACK) if str(handle.id) in r.path]
    return handle.original, request.files


def test_signal_shows_its_timeline_and_attaches_the_chart(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Hits over several days: totals, first and last hit, busiest day, and timeline.png shown."""
    first = NOW - timedelta(days=100)  # before the 30-day window: counted in the total only
    days_ago = [100, 14, 4, 4, 0, 0, 0]
    hours = [0, 0, 2, 3, 1, 2, 3]

    async def scenario(h: ChatHarness) -> None:
        for n, (back, hour) in enumerate(zip(days_ago, hours, strict=True)):
            when = NOW.replace(hour=hour) - timedelta(days=back)
            h.seed_article(f"{NATO_HEADLINE} ({n})", matched_at=first if back == 100 else when)
        last = NOW.replace(hour=3)
        message, files = await signal_answer(h, "nato-5pct")
        (embed,) = message["embeds"]
        assert field(embed, "Hits") == (
            "7 hits in total · 6 in the last 30 days · 5 in the last 7 days"
        )
        assert field(embed, "First hit") == f"<t:{unix(first)}:f>\n<t:{unix(first)}:R>"
        assert field(embed, "Last hit") == f"<t:{unix(last)}:f>\n<t:{unix(last)}:R>"
        assert field(embed, "Busiest day (30 d)") == "Tue 24 Jun 2025 (UTC) · 3 hits"
        assert embed["image"]["url"] == "attachment://timeline.png"
        (attachment,) = message["attachments"]
        # discord.py uploads as application/octet-stream; Discord types it by the file name.
        assert attachment["filename"] == "timeline.png"
        (upload,) = files
        assert upload.filename == "timeline.png" and attachment["size"] == len(upload.data)
        with Image.open(io.BytesIO(upload.data)) as image:
            assert (image.format, image.size) == ("PNG", CHART_SIZE)

    run_chat(discord_emulator, tmp_path, scenario, clock=FakeClock(NOW))


def test_signal_without_hits_says_so_and_attaches_nothing(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """No hit ever: "no hits yet", no first/last/busiest fields, no image, no upload."""

    async def scenario(h: ChatHarness) -> None:
        h.seed_article(NATO_HEADLINE)  # another signal's hit changes nothing here
        message, files = await signal_answer(h, "ukraine-truce")
        (embed,) = message["embeds"]
        assert field(embed, "Hits") == "no hits yet"
        names = {f["name"] for f in embed["fields"]}
        assert not names & {"First hit", "Last hit", "Busiest day (30 d)"}
        assert "image" not in embed
        assert message["attachments"] == [] and files == []

    run_chat(discord_emulator, tmp_path, scenario, clock=FakeClock(NOW))


def test_signal_with_only_old_hits_still_charts_the_quiet_month(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Hits long ago but none in 30 days: the totals say so and the (empty) chart is shown."""

    async def scenario(h: ChatHarness) -> None:
        h.seed_article(NATO_HEADLINE, matched_at=NOW - timedelta(days=45))
        message, files = await signal_answer(h, "nato-5pct")
        (embed,) = message["embeds"]
        assert (
            field(embed, "Hits") == "1 hit in total · 0 in the last 30 days · 0 in the last 7 days"
        )
        assert field(embed, "Busiest day (30 d)") == "none"
        assert embed["image"]["url"] == "attachment://timeline.png"
        assert [f.filename for f in files] == ["timeline.png"]

    run_chat(discord_emulator, tmp_path, scenario, clock=FakeClock(NOW))


# --- signalwatch timeline ----------------------------------------------------------------------------


def _seed(db: Path, signal_id: str, times: list[datetime]) -> None:
    """Store one matched article per time, for `signal_id`, as a poll would."""
    from bot.model import Entry
    from bot.store import SourceConfig

    with SQLiteStore(db) as store:
        store.migrate()
        store.sync_sources([SourceConfig("feed", "https://feed.example.test/rss", "rss", 600)], NOW)
        for n, when in enumerate(times):
            entry = Entry("feed", f"k{n}", f"Story {n}", "", f"https://feed.example.test/{n}")
            match = ArticleMatch(signal_id, ("NATO",), "**NATO**")
            record = ArticleRecord(
                "feed", entry.key, entry.title, "", entry.link, None, None, (match,), when
            )
            store.commit_poll("feed", when, seen=[identify(entry)], articles=[record], alerts=[])


def test_cli_timeline_prints_totals_and_a_sparkline_and_writes_the_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signalwatch timeline ID --png FILE`: first/last/total, 30-day sparkline, the chart file."""
    db, png = tmp_path / "sw.db", tmp_path / "out" / "nato.png"
    now = datetime.now(UTC)  # the command reads the real clock: seed around it
    times = [now - timedelta(days=40), now - timedelta(days=3), now - timedelta(days=3), now]
    _seed(db, "nato-5pct", times)
    assert main(["timeline", "nato-5pct", "--db", f"sqlite:///{db}", "--png", str(png)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "signal nato-5pct: 4 hits in total, 3 in the last 30 days"
    assert lines[1] == f"first hit  {times[0]:%Y-%m-%d %H:%M} UTC"
    assert lines[2] == f"last hit   {times[-1]:%Y-%m-%d %H:%M} UTC"
    sparkline = re.fullmatch(
        r"(\d{4}-\d\d-\d\d) (\S{30}) (\d{4}-\d\d-\d\d)  max (\d+)/day", lines[3]
    )
    assert sparkline is not None, lines[3]
    bars = sparkline.group(2)
    assert sparkline.group(3) == f"{now:%Y-%m-%d}" and sparkline.group(4) == "2"
    assert bars.count(" ") == 0 and bars[-1] != "▁" and bars[-4] == "█"
    assert f"chart written to {png}" in out
    with Image.open(png) as image:
        assert (image.format, image.size) == ("PNG", CHART_SIZE)


def test_cli_timeline_of_a_signal_without_hits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No hits: says so, no sparkline, and no PNG is written even when asked."""
    db, png = tmp_path / "sw.db", tmp_path / "nato.png"
    _seed(db, "nato-5pct", [])
    assert main(["timeline", "ukraine-truce", "--db", f"sqlite:///{db}", "--png", str(png)]) == 0
    assert capsys.readouterr().out == "signal ukraine-truce: no hits yet (no chart written)\n"
    assert not png.exists()
