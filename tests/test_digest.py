"""Digests: schedule boundaries, the digest alert, and how it renders on Discord and the console.

Discord payloads are checked with the emulator's own form checks (`_message_errors`), so what
passes here is what the emulator — and Discord — accept; one test posts a digest through the
webhook sink to the emulator on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest
from discord_emulator import DiscordEmulator, _message_errors
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.digest import DigestSchedule, digest_alert, digest_json, parse_at
from bot.model import Alert, DigestAlert, OutletCopy
from bot.render import (
    FIELD_LIMIT,
    MAX_FIELDS,
    SEVERITY_COLOURS,
    TOTAL_LIMIT,
    _size,
    alert_embed,
    alert_message,
)
from bot.sinks.console import ConsoleSink, alert_json
from bot.sinks.webhook import WebhookSink
from bot.store.codec import alert_from_json, alert_to_json

DAILY_8 = DigestSchedule("daily", 8, 0)
HOURLY_30 = DigestSchedule("hourly", 0, 30)
BOUNDARY = datetime(2025, 6, 25, 8, 0, tzinfo=UTC)
TITLES = {"nato-5pct": "NATO spending hits 5%", "ukraine-truce": "Ukraine truce terms land"}


def at(*args: int) -> datetime:
    """A UTC datetime."""
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def others(n: int) -> tuple[OutletCopy, ...]:
    """`n` other outlets' copies of a story."""
    return tuple(OutletCopy(f"outlet{i}", "t", f"https://o{i}.example/") for i in range(n))


def hit(n: int = 0, **changes: object) -> Alert:
    """The per-hit alert the pipeline would have sent: headline n, an hour older per n."""
    values: dict[str, object] = {
        "alert_id": f"hit-{n}",
        "signal_id": "nato-5pct",
        "destination": "channel:1",
        "title": f"Headline {n}",
        "link": f"https://wire.example.org/{n}",
        "source_id": "wire",
        "published": BOUNDARY - timedelta(hours=n + 1),
        "terms": ("NATO",),
        "snippet": "**NATO**",
        "severity": "high",
    }
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]


def digest(*items: Alert, boundary: datetime = BOUNDARY) -> Alert:
    """The daily 08:00 digest for channel:1 of `items`."""
    return digest_alert("channel:1", DAILY_8, boundary, items, TITLES)


def groups(alert: Alert) -> list[dict[str, object]]:
    """The digest's groups."""
    assert isinstance(alert, DigestAlert)
    return digest_json(alert.digest)["groups"]  # type: ignore[no-any-return]


# --- the schedule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        (DAILY_8, at(2025, 6, 25, 7, 59), at(2025, 6, 25, 8, 0)),
        (DAILY_8, at(2025, 6, 25, 8, 0), at(2025, 6, 26, 8, 0)),  # on the boundary: the next
        (DAILY_8, at(2025, 6, 25, 8, 0, 0, 1), at(2025, 6, 26, 8, 0)),
        (DAILY_8, at(2025, 6, 24, 23, 59, 59), at(2025, 6, 25, 8, 0)),
        (DAILY_8, at(2025, 1, 31, 9, 0), at(2025, 2, 1, 8, 0)),  # month end
        (DAILY_8, at(2024, 2, 28, 9, 0), at(2024, 2, 29, 8, 0)),  # leap day
        (DAILY_8, at(2025, 12, 31, 8, 0), at(2026, 1, 1, 8, 0)),  # year end
        (DigestSchedule("daily", 0, 0), at(2025, 12, 31, 23, 59), at(2026, 1, 1, 0, 0)),
        (DigestSchedule("daily", 23, 59), at(2025, 6, 25, 23, 59), at(2025, 6, 26, 23, 59)),
        (HOURLY_30, at(2025, 6, 25, 10, 29, 59, 999999), at(2025, 6, 25, 10, 30)),
        (HOURLY_30, at(2025, 6, 25, 10, 30), at(2025, 6, 25, 11, 30)),
        (HOURLY_30, at(2025, 6, 25, 10, 31), at(2025, 6, 25, 11, 30)),
        (HOURLY_30, at(2025, 6, 25, 23, 45), at(2025, 6, 26, 0, 30)),  # day rollover
        (DigestSchedule("hourly"), at(2025, 12, 31, 23, 0), at(2026, 1, 1, 0, 0)),
        (DigestSchedule("hourly"), at(2025, 2, 28, 23, 59), at(2025, 3, 1, 0, 0)),
    ],
)
def test_next_boundary_is_the_first_digest_time_strictly_after(
    schedule: DigestSchedule, after: datetime, expected: datetime
) -> None:
    """Hour, day, month and year rollovers; exactly on a boundary gives the next one."""
    result = schedule.next_boundary(after)
    assert result == expected and result.tzinfo is UTC


def test_next_boundary_takes_any_aware_time_and_answers_in_utc() -> None:
    """07:30+02:00 is 05:30 UTC: the 08:00 UTC digest comes next, the same day."""
    after = datetime(2025, 6, 25, 7, 30, tzinfo=timezone(timedelta(hours=2)))
    assert DAILY_8.next_boundary(after) == at(2025, 6, 25, 8, 0)


def test_daily_digests_are_24_hours_apart_across_european_dst_changes() -> None:
    """UTC has no DST: around the last Sunday of March and of October a day is still 24 h."""
    for start in (at(2025, 3, 28, 12, 0), at(2025, 10, 24, 12, 0)):
        first = DAILY_8.next_boundary(start)
        boundaries = [first]
        for _ in range(5):
            boundaries.append(DAILY_8.next_boundary(boundaries[-1]))
        gaps = {b - a for a, b in pairwise(boundaries)}
        assert gaps == {timedelta(hours=24)}
        assert {b.hour for b in boundaries} == {8}


def test_naive_times_are_refused() -> None:
    """A naive datetime has no zone to convert from: ValueError saying so."""
    with pytest.raises(ValueError, match="after must be timezone-aware"):
        DAILY_8.next_boundary(datetime(2025, 6, 25, 8, 0))
    with pytest.raises(ValueError, match="boundary must be timezone-aware"):
        DAILY_8.period_start(datetime(2025, 6, 25, 8, 0))


def test_period_start_is_the_previous_boundary() -> None:
    """On a boundary: one period earlier; between boundaries: the last one before."""
    assert DAILY_8.period_start(at(2025, 6, 25, 8, 0)) == at(2025, 6, 24, 8, 0)
    assert DAILY_8.period_start(at(2025, 3, 1, 8, 0)) == at(2025, 2, 28, 8, 0)
    assert HOURLY_30.period_start(at(2026, 1, 1, 0, 30)) == at(2025, 12, 31, 23, 30)
    assert HOURLY_30.period_start(at(2025, 6, 25, 10, 45)) == at(2025, 6, 25, 10, 30)
    assert HOURLY_30.period_start(at(2025, 6, 25, 10, 30, 0, 1)) == at(2025, 6, 25, 10, 30)


@pytest.mark.parametrize(
    ("schedule", "key", "label"),
    [
        (DAILY_8, "daily@08:00", "daily at 08:00 UTC"),
        (DigestSchedule("daily", 17, 5), "daily@17:05", "daily at 17:05 UTC"),
        (HOURLY_30, "hourly@:30", "hourly at :30 past the hour"),
        (DigestSchedule("hourly"), "hourly@:00", "hourly at :00 past the hour"),
    ],
)
def test_key_and_label(schedule: DigestSchedule, key: str, label: str) -> None:
    """The key names the schedule for storage and comes back with from_key; the label reads."""
    assert (schedule.key, schedule.label) == (key, label)
    assert DigestSchedule.from_key(key) == schedule


@pytest.mark.parametrize(
    "key", ["daily@8:00", "daily@", "weekly@08:00", "hourly@:60", "daily@24:00", "daily", ""]
)
def test_from_key_refuses_what_key_cannot_have_written(key: str) -> None:
    """Only canonical keys name a schedule; anything else is a ValueError quoting it."""
    with pytest.raises(ValueError, match="not a digest schedule key"):
        DigestSchedule.from_key(key)


@pytest.mark.parametrize(
    ("kind", "hour", "minute"),
    [("weekly", 0, 0), ("daily", 24, 0), ("daily", 0, 60), ("daily", -1, 0), ("hourly", 3, 0)],
)
def test_impossible_schedules_are_refused(kind: str, hour: int, minute: int) -> None:
    """A schedule is checked when made, with the bad part named."""
    with pytest.raises(ValueError, match="digest"):
        DigestSchedule(kind, hour, minute)  # type: ignore[arg-type]


def test_parse_at_defaults() -> None:
    """No `at`: daily at 08:00, hourly on the hour."""
    assert parse_at("daily", None) == DAILY_8
    assert parse_at("hourly", None) == DigestSchedule("hourly", 0, 0)


SCHEDULES = st.one_of(
    st.builds(DigestSchedule, st.just("hourly"), st.just(0), st.integers(0, 59)),
    st.builds(DigestSchedule, st.just("daily"), st.integers(0, 23), st.integers(0, 59)),
)
TIMES = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(schedule=SCHEDULES, after=TIMES)
def test_next_boundary_properties(schedule: DigestSchedule, after: datetime) -> None:
    """next_boundary(x) > x, within one period of x, on the schedule; its period contains x."""
    boundary = schedule.next_boundary(after)
    assert after < boundary <= after + schedule.period
    assert (boundary.minute, boundary.second, boundary.microsecond) == (schedule.minute, 0, 0)
    if schedule.kind == "daily":
        assert boundary.hour == schedule.hour
    start = schedule.period_start(boundary)
    assert start == boundary - schedule.period
    assert start <= after < boundary
    assert DigestSchedule.from_key(schedule.key) == schedule


# --- the digest alert -----------------------------------------------------------------------


def test_digest_alert_groups_hits_by_signal() -> None:
    """One alert for the period: title, severity, time, and per signal its items."""
    alert = digest(
        hit(0),
        hit(1, signal_id="ukraine-truce", severity="medium", publisher="Reuters"),
        hit(2, also=others(3)),
    )
    assert alert.signal_id == "digest" and alert.destination == "channel:1"
    assert alert.title == "Daily digest · 3 hits for 2 signals"
    assert alert.severity == "high"
    assert alert.published == BOUNDARY and alert.link is None
    assert isinstance(alert, DigestAlert)
    assert digest_json(alert.digest) == {
        "schedule": "daily@08:00",
        "label": "daily at 08:00 UTC",
        "period_start": "2025-06-24T08:00:00+00:00",
        "period_end": "2025-06-25T08:00:00+00:00",
        "groups": [
            {
                "signal_id": "nato-5pct",
                "signal_title": "NATO spending hits 5%",
                "severity": "high",
                "items": [
                    {
                        "title": "Headline 0",
                        "link": "https://wire.example.org/0",
                        "source": "wire",
                        "publisher": None,
                        "published": "2025-06-25T07:00:00+00:00",
                        "sources": 0,
                    },
                    {
                        "title": "Headline 2",
                        "link": "https://wire.example.org/2",
                        "source": "wire",
                        "publisher": None,
                        "published": "2025-06-25T05:00:00+00:00",
                        "sources": 3,
                    },
                ],
            },
            {
                "signal_id": "ukraine-truce",
                "signal_title": "Ukraine truce terms land",
                "severity": "medium",
                "items": [
                    {
                        "title": "Headline 1",
                        "link": "https://wire.example.org/1",
                        "source": "wire",
                        "publisher": "Reuters",
                        "published": "2025-06-25T06:00:00+00:00",
                        "sources": 0,
                    }
                ],
            },
        ],
    }


def test_one_hit_reads_in_the_singular_and_hourly_says_so() -> None:
    """1 hit for 1 signal; an hourly digest is called hourly."""
    alert = digest_alert("webhook:HOOK", HOURLY_30, at(2025, 6, 25, 10, 30), [hit()], TITLES)
    assert alert.title == "Hourly digest · 1 hit for 1 signal"
    assert alert.digest.period_start == at(2025, 6, 25, 9, 30)


def test_id_is_stable_per_destination_schedule_and_boundary() -> None:
    """The same digest always has the same id, whatever it holds; any other digest another."""
    first = digest(hit(0)).alert_id
    assert first.startswith("digest-")
    assert digest(hit(0), hit(1)).alert_id == first  # a late hit does not make a second digest
    same_instant = BOUNDARY.astimezone(timezone(timedelta(hours=-5)))
    assert digest(hit(0), boundary=same_instant).alert_id == first
    others = {
        digest(hit(0), boundary=BOUNDARY + timedelta(days=1)).alert_id,
        digest_alert("channel:2", DAILY_8, BOUNDARY, [hit()], TITLES).alert_id,
        digest_alert("channel:1", DigestSchedule("daily", 8, 1), BOUNDARY, [hit()], {}).alert_id,
    }
    assert first not in others and len(others) == 3


def test_groups_by_severity_then_hit_count_then_title() -> None:
    """Critical before high before low; among equals the busier signal first, then by title."""
    items = [
        hit(0, signal_id="low-one", severity="low"),
        hit(1, signal_id="high-two", severity="high"),
        hit(2, signal_id="high-two", severity="high"),
        hit(3, signal_id="high-one", severity="high"),
        hit(4, signal_id="crit", severity="critical"),
        hit(5, signal_id="b-high", severity="high"),
    ]
    alert = digest(*items)
    assert [g["signal_id"] for g in groups(alert)] == [
        "crit",
        "high-two",
        "b-high",
        "high-one",
        "low-one",
    ]
    assert alert.severity == "critical"


def test_items_are_newest_first_undated_last_and_unknown_titles_fall_back_to_ids() -> None:
    """Newest first whatever order they came in; undated items go last in arrival order."""
    items = [
        hit(5),
        hit(7, published=None, title="undated a"),
        hit(1),
        hit(8, published=None, title="undated b"),
        hit(3, signal_id="no-title"),
    ]
    [nato, other] = groups(digest(*items))
    titles = [i["title"] for i in nato["items"]]  # type: ignore[attr-defined]
    assert titles == ["Headline 1", "Headline 5", "undated a", "undated b"]
    assert other["signal_title"] == "no-title"


def test_duplicates_by_link_are_removed_keeping_the_newest_and_most_sources() -> None:
    """The same link twice in one signal is one item; across signals each signal keeps it."""
    link = "https://wire.example.org/story"
    items = [
        hit(4, link=link, source_id="bbc", also=others(2)),
        hit(1, link=link, source_id="wire"),
        hit(2, link=None, title="no link"),
        hit(3, link=None, title="no link"),  # same source and title: the same item
        hit(5, link=None, title="no link", source_id="other"),
        hit(1, link=link, signal_id="ukraine-truce"),
    ]
    alert = digest(*items)
    [nato, truce] = groups(alert)
    nato_items = nato["items"]
    assert [(i["title"], i["source"], i["sources"]) for i in nato_items] == [  # type: ignore[attr-defined]
        ("Headline 1", "wire", 2),
        ("no link", "wire", 0),
        ("no link", "other", 0),
    ]
    assert len(truce["items"]) == 1  # type: ignore[arg-type]
    assert alert.title == "Daily digest · 4 hits for 2 signals"


def test_other_outlets_come_from_the_story_list() -> None:
    """A hit's `also` (its story's other outlets) gives the digest line's "+N"."""
    alert = digest(hit(0, also=others(4)), hit(1, also=others(2)), hit(2))
    assert [i["sources"] for i in groups(alert)[0]["items"]] == [4, 2, 0]  # type: ignore[attr-defined]


def test_an_empty_digest_or_a_naive_boundary_is_refused() -> None:
    """No items is nothing to send; a naive boundary has no zone."""
    with pytest.raises(ValueError, match="no items"):
        digest_alert("channel:1", DAILY_8, BOUNDARY, [], TITLES)
    with pytest.raises(ValueError, match="timezone-aware"):
        digest(hit(), boundary=datetime(2025, 6, 25, 8, 0))


def test_digest_survives_the_outbox_codec_and_plain_json() -> None:
    """The outbox's JSON round trip gives back an equal digest; its JSON form is plain."""
    alert = digest(*(hit(n, also=others(n)) for n in range(5)), hit(9, published=None))
    back = alert_from_json(alert_to_json(alert))
    assert back == alert and isinstance(back, DigestAlert) and back.digest == alert.digest
    json.dumps(digest_json(alert.digest), allow_nan=False)  # plain JSON: no datetimes, no tuples


# --- rendering ------------------------------------------------------------------------------


def assert_discord_accepts(message: dict[str, object]) -> None:
    """The payload passes the emulator's (Discord's) form checks and our own size count."""
    assert _message_errors(message) == {}
    [embed] = message["embeds"]  # type: ignore[misc]
    assert _size(embed) <= TOTAL_LIMIT
    assert len(embed.get("fields", [])) <= MAX_FIELDS
    assert all(0 < len(f["value"]) <= FIELD_LIMIT for f in embed.get("fields", []))


def test_digest_embed_lists_each_signal_with_linked_headlines() -> None:
    """Title, period as Discord timestamps, one field per signal, linked escaped headlines."""
    alert = digest(
        hit(0, title="Allies agree *5%*", publisher="Reuters", also=others(2)),
        hit(1, signal_id="ukraine-truce", severity="medium", link=None),
    )
    embed = alert_embed(alert)
    assert embed["title"] == "Daily digest · 2 hits for 2 signals"
    assert embed["color"] == SEVERITY_COLOURS["high"]
    assert embed["description"] == (
        "Hits from <t:1750752000:f> to <t:1750838400:f> (daily at 08:00 UTC)"
    )
    assert embed["timestamp"] == "2025-06-25T08:00:00+00:00"
    assert embed["footer"] == {"text": "digest: daily@08:00"}
    assert embed["fields"] == [
        {
            "name": "NATO spending hits 5% · 1 hit",
            "value": "• [Allies agree \\*5%\\*](https://wire.example.org/0) — Reuters, +2 sources",
        },
        {"name": "Ukraine truce terms land · 1 hit", "value": "• Headline 1 — wire"},
    ]
    assert "url" not in embed
    assert_discord_accepts(alert_message(alert))


@pytest.mark.parametrize("mention", ["@everyone", "@here", "<@&123456>", "<@987654>", "<#42>"])
def test_mentions_in_headlines_ping_no_one(mention: str) -> None:
    """A headline, outlet or signal title with a mention cannot form a live one."""
    alert = digest_alert(
        "channel:1",
        DAILY_8,
        BOUNDARY,
        [hit(0, title=f"Look {mention}", publisher=f"Wire {mention}")],
        {"nato-5pct": f"NATO {mention}"},
    )
    message = alert_message(alert)
    text = json.dumps(message["embeds"], ensure_ascii=False)
    assert "@everyone" not in text and "@here" not in text
    assert "<@" not in text and "<#" not in text
    assert message["allowed_mentions"]["parse"] == []
    assert "content" not in message


def test_links_cannot_break_out_of_markdown_and_only_http_is_linked() -> None:
    """Parentheses and spaces in a link are encoded; javascript: and huge links are not linked."""
    alert = digest(
        hit(0, link="https://x.example/a_(b) c"),
        hit(1, link="javascript:alert(1)"),
        hit(2, link="https://x.example/" + "p" * 2000),
    )
    value = alert_embed(alert)["fields"][0]["value"]
    assert value.split("\n") == [
        "• [Headline 0](https://x.example/a_%28b%29%20c) — wire",
        "• Headline 1 — wire",
        "• Headline 2 — wire",
    ]


def shown_and_hidden(value: str) -> tuple[int, int]:
    """Lines listed in a field value, and N of its "…and N more" (0 without one)."""
    lines = value.split("\n")
    more = re.fullmatch(r"…and (\d+) more", lines[-1])
    return (len(lines) - 1, int(more.group(1))) if more else (len(lines), 0)


def test_500_hits_for_one_signal_show_the_newest_and_how_many_more() -> None:
    """One busy signal: as many headlines as fit 1024, then "…and N more" — N exact."""
    alert = digest(*(hit(n) for n in range(500)))
    message = alert_message(alert)
    assert_discord_accepts(message)
    [field] = message["embeds"][0]["fields"]  # type: ignore[index]
    assert field["name"] == "NATO spending hits 5% · 500 hits"
    shown, hidden = shown_and_hidden(field["value"])
    assert shown > 5 and shown + hidden == 500
    assert field["value"].startswith("• [Headline 0](")  # newest first


def test_500_hits_over_40_signals_stay_within_every_limit() -> None:
    """40 signals: 24 fields and a 25th naming the other 16; 6000 in all, room shared fairly."""
    items = [hit(n, signal_id=f"signal-{n % 40:02d}", title="W" * 300) for n in range(500)]
    titles = {f"signal-{i:02d}": "T" * 300 for i in range(40)}
    alert = digest_alert("channel:1", DAILY_8, BOUNDARY, items, titles)
    message = alert_message(alert)
    assert_discord_accepts(message)
    fields = message["embeds"][0]["fields"]  # type: ignore[index]
    assert len(fields) == 25
    assert fields[-1]["name"] == "…and 16 more signals"
    for field in fields[:-1]:
        shown, hidden = shown_and_hidden(field["value"])
        assert shown + hidden in (12, 13)  # 500 hits over 40 signals


def test_small_groups_leave_their_room_to_big_ones() -> None:
    """A one-hit signal takes only what it needs; the busy one gets the rest of its 1024."""
    items = [hit(n) for n in range(200)] + [hit(0, signal_id="ukraine-truce")]
    fields = alert_embed(digest(*items))["fields"]
    assert fields[1]["value"] == "• [Headline 0](https://wire.example.org/0) — wire"
    assert len(fields[0]["value"]) > FIELD_LIMIT - 80


@settings(max_examples=60, deadline=None)
@given(
    shape=st.lists(st.integers(1, 40), min_size=1, max_size=35),
    title_length=st.integers(1, 400),
    name_length=st.integers(1, 300),
)
def test_any_digest_fits_discord(shape: list[int], title_length: int, name_length: int) -> None:
    """Whatever the number of signals, hits and lengths, Discord accepts the message."""
    items = [
        hit(n, signal_id=f"s{group}", title="x" * title_length, publisher="p" * name_length)
        for group, count in enumerate(shape)
        for n in range(count)
    ]
    titles = {f"s{group}": "t" * name_length for group in range(len(shape))}
    alert = digest_alert("channel:1", DAILY_8, BOUNDARY, items, titles)
    assert_discord_accepts(alert_message(alert))
    assert_discord_accepts(alert_message(alert_from_json(alert_to_json(alert))))


def test_console_text_lists_the_period_signals_and_headlines() -> None:
    """The text sink prints the period, each signal with its count, and its headlines."""
    alert = digest(
        hit(0, publisher="Reuters", also=others(2)),
        hit(1, signal_id="ukraine-truce", severity="medium", link=None),
    )
    stream = io.StringIO()
    asyncio.run(ConsoleSink("text", stream, colour=False).send(alert))
    assert stream.getvalue() == (
        "[digest] Daily digest · 2 hits for 2 signals\n"
        "    daily at 08:00 UTC: 2025-06-24 08:00 → 2025-06-25 08:00 UTC\n"
        "  NATO spending hits 5% (high) · 1 hit\n"
        "    - Headline 0  (Reuters, +2 sources)  https://wire.example.org/0\n"
        "  Ukraine truce terms land (medium) · 1 hit\n"
        "    - Headline 1  (wire)\n"
    )


def test_console_json_carries_the_whole_digest() -> None:
    """The JSON line has every item of every group, however many."""
    alert = digest(*(hit(n) for n in range(300)))
    stream = io.StringIO()
    asyncio.run(ConsoleSink("json", stream).send(alert))
    line = json.loads(stream.getvalue())
    assert line == json.loads(json.dumps(alert_json(alert)))
    assert line["signal"] == "digest" and line["alert_id"] == alert.alert_id
    assert len(line["digest"]["groups"][0]["items"]) == 300


def test_webhook_sink_posts_the_digest_embed_to_the_emulator() -> None:
    """The webhook sink posts the same one embed; the emulator accepts and stores it."""
    items = [hit(n, title=f"Headline {n} @everyone") for n in range(500)]
    alert = digest_alert("webhook:DIGEST", DAILY_8, BOUNDARY, items, TITLES)

    async def scenario() -> None:
        async with DiscordEmulator() as emu:
            hook = emu.add_webhook(emu.alerts)
            url = hook.url.replace("https://discord.com/api", emu.api_base)
            sink = WebhookSink({"DIGEST": url}, titles=lambda _sid: None)
            try:
                receipt = await asyncio.wait_for(sink.send(alert), 30)
            finally:
                await sink.aclose()
            [message] = emu.messages_in(emu.alerts)
            assert receipt == message["id"]
            assert message["mention_everyone"] is False
            [embed] = message["embeds"]
            assert {k: v for k, v in embed.items() if k != "flags"} == alert_embed(alert)

    asyncio.run(scenario())
