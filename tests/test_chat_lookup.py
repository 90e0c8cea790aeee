"""/signals, /signal, /latest, /search, /status and /test: against the Discord emulator, and
the pure formatting they share (`bot.chat.format`)."""

from __future__ import annotations

import re
from dataclasses import fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from discord_emulator import EmulatorFactory
from hypothesis import given
from hypothesis import strategies as st

# isort: split
# discord_emulator (through chat_harness too) first: it imports discord.py with the audioop
# DeprecationWarning filtered, which `filterwarnings = error` would turn into an error.
from chat_harness import MAIN_WATCHLIST, TEST_SOURCE, ChatHarness, run_chat

from bot.chat import format as fmt
from bot.model import Alert, StoryUpdateAlert
from bot.store import SignalStats
from bot.watchlist import SignalSpec

pytest_plugins = ["discord_emulator"]

EPHEMERAL = 64
COMMANDS = {"signals", "signal", "latest", "search", "status", "test"}
NATO_HEADLINE = "NATO allies agree 5% of GDP for defence spending"
TRUCE_HEADLINE = "Kyiv and Moscow agree a truce on energy strikes"


def is_ephemeral(callback: dict[str, Any]) -> bool:
    """Whether an interaction callback is visible to its user only."""
    return bool(callback["data"].get("flags", 0) & EPHEMERAL)


def embed_text(embed: dict[str, Any]) -> str:
    """Every visible string of an embed, joined (to search in)."""
    parts = [embed.get("title", ""), embed.get("description", "")]
    parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
    parts.append(embed.get("footer", {}).get("text", ""))
    return "\n".join(parts)


def field(embed: dict[str, Any], name: str) -> str:
    """The value of the embed field with this name."""
    return str(next(f["value"] for f in embed["fields"] if f["name"] == name))


async def ask(h: ChatHarness, name: str, **options: Any) -> dict[str, Any]:
    """Run a slash command; return the bot's answer (an immediate message, type 4)."""
    callback = await (await h.emu.send_interaction(name, options))
    assert callback["type"] == 4, callback
    return callback


# --- registration ---------------------------------------------------------------------------------


def test_lookup_commands_register_with_described_options(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Start-up syncs every lookup command: described options, types, ranges, autocomplete."""

    async def scenario(h: ChatHarness) -> None:
        registered = {c["name"]: c for c in h.emu.commands()}
        assert set(registered) >= COMMANDS
        for name in COMMANDS:
            command = h.command(name)
            assert command["type"] == 1 and command["description"]
            assert all(o["description"] for o in command.get("options", []))
        assert h.command("signals").get("options", []) == []
        assert h.command("status").get("options", []) == []
        (signal_id,) = h.command("signal")["options"]
        assert (signal_id["name"], signal_id["type"], signal_id["required"]) == ("id", 3, True)
        assert signal_id["autocomplete"] is True
        signal, count = h.command("latest")["options"]
        assert (signal["name"], signal["type"], signal["required"]) == ("signal", 3, False)
        assert signal["autocomplete"] is True
        assert (count["name"], count["type"], count["required"]) == ("count", 4, False)
        assert (count["min_value"], count["max_value"]) == (1, 20)
        words, count = h.command("search")["options"]
        assert (words["name"], words["type"], words["required"]) == ("words", 3, True)
        assert not words.get("autocomplete")
        assert (count["name"], count["min_value"], count["max_value"]) == ("count", 1, 20)
        (text,) = h.command("test")["options"]
        assert (text["name"], text["type"], text["required"]) == ("text", 3, True)
        assert "choices" not in text and not text.get("autocomplete")

    run_chat(discord_emulator, tmp_path, scenario)


def test_commands_register_in_the_configured_guild_only(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """With a guild configured, the commands go to that guild (instant), none globally."""

    async def scenario(h: ChatHarness) -> None:
        assert h.emu.commands() == []
        assert {c["name"] for c in h.emu.commands(h.emu.guild)} >= COMMANDS
        (put,) = h.emu.requests_to("PUT", r"/applications/\d+/guilds/\d+/commands")
        assert put.path.endswith(f"/guilds/{h.emu.guild.id}/commands")
        callback = await ask(h, "signal", id="nato-5pct")
        assert callback["data"]["embeds"][0]["title"] == "NATO spending hits 5%"

    run_chat(discord_emulator, tmp_path, scenario, guild_sync=True)


def test_autocomplete_offers_matching_signal_ids(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Typing part of an id or title offers the matching signals, ids as values."""

    async def scenario(h: ChatHarness) -> None:
        choices = await (await h.emu.send_autocomplete("signal", "id", {"id": "uk"})).choices()
        assert [c["value"] for c in choices] == ["ukraine-truce"]
        assert choices[0]["name"] == "ukraine-truce — Ukraine truce terms land"
        handle = await h.emu.send_autocomplete("latest", "signal", {"signal": "canal"})
        assert [c["value"] for c in await handle.choices()] == ["canal-deals"]
        everything = await (await h.emu.send_autocomplete("signal", "id")).choices()
        assert {c["value"] for c in everything} == {"nato-5pct", "ukraine-truce", "canal-deals"}

    run_chat(discord_emulator, tmp_path, scenario)


# --- /signals and /signal --------------------------------------------------------------------------


def test_signals_lists_every_signal_with_its_activity(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/signals: id, title, enabled or not, hits in 7 days and the last hit as a timestamp."""

    async def scenario(h: ChatHarness) -> None:
        h.seed_article(NATO_HEADLINE, matched_at=h.clock.now - timedelta(days=10))
        latest = h.seed_article("NATO members pledge five percent of GDP on defence")
        callback = await ask(h, "signals")
        assert not is_ephemeral(callback)
        (embed,) = callback["data"]["embeds"]
        assert embed["title"] == "Signals: 3 (2 enabled)"
        nato, truce, canal = embed["description"].split("\n")
        unix = int(latest.matched_at.timestamp())
        assert nato == (
            f"🟢 `nato-5pct` **NATO spending hits 5%** · 1 hit in 7 d · last <t:{unix}:R>"
        )
        assert truce.startswith("🟢 `ukraine-truce` **Ukraine truce terms land** · 0 hits")
        assert truce.endswith("no hits yet")
        assert canal.startswith("⏸️ *disabled* `canal-deals` **Canal deals close**")

    run_chat(discord_emulator, tmp_path, scenario)


def test_signals_over_the_real_watchlist(discord_emulator: EmulatorFactory, tmp_path: Path) -> None:
    """The project's own watchlist lists in full within one embed's limits."""

    async def scenario(h: ChatHarness) -> None:
        (embed,) = (await ask(h, "signals"))["data"]["embeds"]
        signals = h.compiled.watchlist.signals
        assert len(embed["description"].split("\n")) == len(signals)
        assert all(f"`{s.id}`" in embed["description"] for s in signals)

    run_chat(discord_emulator, tmp_path, scenario, watchlist=MAIN_WATCHLIST)


def test_signal_shows_meaning_query_routes_and_recent_hits(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/signal: description, query in a code block, severity, tags, routes, linked recent hits."""

    async def scenario(h: ChatHarness) -> None:
        old = h.seed_article(
            "Ukraine ceasefire talks resume", matched_at=h.clock.now - timedelta(1)
        )
        new = h.seed_article(TRUCE_HEADLINE, link="https://news.example.test/truce_(live)")
        callback = await ask(h, "signal", id="ukraine-truce")
        assert not is_ephemeral(callback)
        (embed,) = callback["data"]["embeds"]
        assert embed["title"] == "Ukraine truce terms land"
        assert embed["description"] == "Ceasefire or armistice terms agreed or published."
        assert field(embed, "Query") == (
            "```\n(Ukraine OR Kyiv) AND (truce OR ceasefire OR armistice)\n```"
        )
        assert field(embed, "Severity") == "critical"
        assert field(embed, "Tags") == "`ukraine`"
        assert field(embed, "Routes") == f"<#{h.emu.general.id}>"
        first, second = field(embed, "Recent hits").split("\n")
        assert first.startswith(
            f"• [{new.title}](https://news.example.test/truce_%28live%29) — {TEST_SOURCE} · <t:"
        )
        assert second.startswith(f"• [{old.title}]({old.link})")
        assert "2 in the last 7 days" in field(embed, "Hits")
        nato = (await ask(h, "signal", id="nato-5pct"))["data"]["embeds"][0]
        assert field(nato, "Routes") == f"<#{h.emu.alerts.id}> (default)"
        assert field(nato, "Recent hits") == "none yet"

    run_chat(discord_emulator, tmp_path, scenario)


def test_signal_shows_what_merged_into_its_stories_and_why(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/signal lists the copies lately merged into announced stories, with the outlets the
    story then had and the terms the copy shared with it, so an admin can see a wrong merge."""

    async def scenario(h: ChatHarness) -> None:
        record = h.seed_article(NATO_HEADLINE)
        original: Alert = h.alert_for(record)
        copy = replace(
            original,
            alert_id=f"upd-{original.alert_id}-3",
            title="Allies back Trump's 5% goal at The Hague",
            link="https://other.example.test/hague",
        )
        update = StoryUpdateAlert(
            **{f.name: getattr(copy, f.name) for f in fields(Alert)},
            update_of=original.alert_id,
            merged_on=("nato", "hague", "5%", "2035"),
            outlets=3,
        )
        h.store.commit_poll(TEST_SOURCE, h.clock.now, seen=[], articles=[], alerts=[original])
        h.store.commit_poll(TEST_SOURCE, h.clock.now, seen=[], articles=[], alerts=[update])
        (embed,) = (await ask(h, "signal", id=original.signal_id))["data"]["embeds"]
        assert field(embed, "Recent merges") == (
            "• merged 3 outlets on: nato, hague, 5%, 2035 — "
            "[Allies back Trump's 5% goal at The Hague](https://other.example.test/hague)"
        )
        truce = (await ask(h, "signal", id="ukraine-truce"))["data"]["embeds"][0]
        assert "Recent merges" not in [f["name"] for f in truce["fields"]]

    run_chat(discord_emulator, tmp_path, scenario)


def test_signal_with_an_unknown_id_says_so_privately(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """An unknown id: an ephemeral error naming it, with the closest id suggested."""

    async def scenario(h: ChatHarness) -> None:
        callback = await ask(h, "signal", id="ukriane-truce")
        assert is_ephemeral(callback)
        assert callback["data"]["content"] == (
            "There is no signal `ukriane-truce` (did you mean `ukraine-truce`?)."
            " `/signals` lists them all."
        )
        callback = await ask(h, "signal", id="@everyone `x`")
        assert "@\u200beveryone" in callback["data"]["content"]
        assert "did you mean" not in callback["data"]["content"]

    run_chat(discord_emulator, tmp_path, scenario)


# --- /latest and /search ---------------------------------------------------------------------------


def test_latest_lists_newest_first_optionally_for_one_signal(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/latest: newest matched articles, `count` of them, all signals or one."""

    async def scenario(h: ChatHarness) -> None:
        callback = await ask(h, "latest")
        assert is_ephemeral(callback)
        assert callback["data"]["content"] == "No article has matched any signal yet."
        for days in (3, 2, 1):
            h.seed_article(f"{NATO_HEADLINE} ({days})", matched_at=h.clock.now - timedelta(days))
        h.seed_article(TRUCE_HEADLINE)
        callback = await ask(h, "latest", count=3)
        assert not is_ephemeral(callback)
        (embed,) = callback["data"]["embeds"]
        assert embed["title"] == "Latest 3 matched articles"
        lines = embed["description"].split("\n")
        assert [line.split("](")[0] for line in lines] == [
            f"• [{TRUCE_HEADLINE}",
            f"• [{NATO_HEADLINE} (1)",
            f"• [{NATO_HEADLINE} (2)",
        ]
        assert lines[0].endswith("· `ukraine-truce`")
        (embed,) = (await ask(h, "latest", signal="nato-5pct"))["data"]["embeds"]
        assert embed["title"] == "Latest for NATO spending hits 5% (nato-5pct)"
        assert len(embed["description"].split("\n")) == 3
        assert "`nato-5pct`" not in embed["description"]  # one signal: not repeated per line
        callback = await ask(h, "latest", signal="canal-deals")
        assert is_ephemeral(callback)
        assert callback["data"]["content"] == "No article has matched `canal-deals` yet."
        callback = await ask(h, "latest", signal="nato")
        assert (
            is_ephemeral(callback) and "(did you mean `nato-5pct`?)" in callback["data"]["content"]
        )

    run_chat(discord_emulator, tmp_path, scenario)


def test_search_finds_stored_articles_or_says_none(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/search: stored matched articles holding every word (prefixes); none found, said privately."""

    async def scenario(h: ChatHarness) -> None:
        nato = h.seed_article(NATO_HEADLINE, "Allies met in The Hague.", publisher="Wire")
        h.seed_article(TRUCE_HEADLINE)
        callback = await ask(h, "search", words="hague defen")
        assert not is_ephemeral(callback)
        (embed,) = callback["data"]["embeds"]
        assert embed["title"] == "1 result for “hague defen”"
        assert embed["description"].startswith(
            f"• [{NATO_HEADLINE}]({nato.link}) — {TEST_SOURCE} (Wire) · <t:"
        )
        callback = await ask(h, "search", words="agree", count=1)
        assert len(callback["data"]["embeds"][0]["description"].split("\n")) == 1
        callback = await ask(h, "search", words="greenland *bold*")
        assert is_ephemeral(callback)
        assert callback["data"]["content"] == "No stored article matches “greenland \\*bold\\*”."

    run_chat(discord_emulator, tmp_path, scenario)


def test_feed_text_is_escaped_and_pings_no_one(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """A hostile headline shows as text: markdown escaped, mentions defused, link kept inside."""

    async def scenario(h: ChatHarness) -> None:
        title = "@everyone NATO **5%** of GDP <@&123> [click](https://evil.test) `x`"
        h.seed_article(title, link="https://news.example.test/a b)c", publisher="@here")
        for answer in (await ask(h, "latest"), await ask(h, "search", words="nato")):
            text = answer["data"]["embeds"][0]["description"]
            assert "@everyone" not in text and "@here" not in text and "<@&" not in text
            assert "\\*\\*5%\\*\\*" in text and "\\[click\\]" in text and "\\`x\\`" in text
            assert "](https://news.example.test/a%20b%29c)" in text
            assert answer["data"]["allowed_mentions"]["parse"] == []

    run_chat(discord_emulator, tmp_path, scenario)


def test_long_answers_stay_within_discord_limits(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """Twenty long headlines: /latest fits one description, and Discord accepts the answer."""

    async def scenario(h: ChatHarness) -> None:
        for n in range(25):
            h.seed_article(f"NATO allies agree 5% of GDP {n} " + "very long words " * 30)
        callback = await ask(h, "latest", count=20)
        embeds = callback["data"]["embeds"]
        assert len(embeds) == 2
        assert all(len(e["description"]) <= fmt.DESCRIPTION_LIMIT for e in embeds)
        assert sum(len(embed_text(e)) for e in embeds) <= fmt.EMBED_TOTAL_LIMIT
        lines = [line for e in embeds for line in e["description"].split("\n")]
        assert len(lines) == 20 and lines[0].startswith("• [NATO allies agree 5% of GDP 24 ")
        assert all(r.status < 300 for r in h.emu.requests_to("POST", r"/interactions/.*"))

    run_chat(discord_emulator, tmp_path, scenario)


# --- /status and /test -----------------------------------------------------------------------------


def test_status_reports_sources_polls_alerts_signals_and_uptime(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/status: source health, last poll, the outbox by status, signals, version, uptime."""

    async def scenario(h: ChatHarness) -> None:
        started = h.clock.now
        polled = h.clock.advance(hours=2, minutes=5)
        h.store.record_fetch_failed(
            TEST_SOURCE,
            polled,
            error="timeout",
            status=None,
            next_poll_at=polled,
            disable_reason=None,
        )
        record = h.seed_article(NATO_HEADLINE)
        alert: Alert = h.alert_for(record)
        h.store.commit_poll(TEST_SOURCE, polled, seen=[], articles=[], alerts=[alert])
        callback = await ask(h, "status")
        assert not is_ephemeral(callback)
        (embed,) = callback["data"]["embeds"]
        assert field(embed, "Sources") == "0 ok · 1 failing · 0 disabled"
        unix = int(polled.timestamp())
        assert field(embed, "Last poll") == f"<t:{unix}:f> (<t:{unix}:R>)"
        assert field(embed, "Alerts") == "1 pending · 0 delivered · 0 failed"
        assert field(embed, "Signals") == "2 of 3 enabled"
        assert field(embed, "Version") == h.services.version
        assert field(embed, "Uptime") == f"2 h 5 min (since <t:{int(started.timestamp())}:R>)"

    run_chat(discord_emulator, tmp_path, scenario)


def test_test_explains_which_signals_match_and_why(
    discord_emulator: EmulatorFactory, tmp_path: Path
) -> None:
    """/test: each matching signal with its terms and bold snippet; no match, said privately."""

    async def scenario(h: ChatHarness) -> None:
        text = "NATO and Kyiv: truce agreed as allies pledge 5% of GDP on defence"
        callback = await ask(h, "test", text=text)
        assert is_ephemeral(callback)  # a dry run is private
        (embed,) = callback["data"]["embeds"]
        assert embed["title"] == "Matches 2 signals"
        assert embed["description"] == f"> {text}"
        nato = field(embed, "nato-5pct — NATO spending hits 5%")
        assert nato.startswith("matched `NATO`, `5%`, `GDP`, `defence`\n")
        assert "**NATO**" in nato and "**5%**" in nato
        truce = field(embed, "ukraine-truce — Ukraine truce terms land")
        assert truce.startswith("matched `Kyiv`, `truce`\n")
        assert h.store.recent_articles(10) == []  # a dry run stores nothing
        callback = await ask(h, "test", text="Panama canal deal agreed")  # canal-deals is off
        assert is_ephemeral(callback)
        assert callback["data"]["content"] == fmt.NO_MATCH

    run_chat(discord_emulator, tmp_path, scenario)


# --- the pure formatting ---------------------------------------------------------------------------


def test_paginate_packs_lines_and_counts_what_is_left_out() -> None:
    """Lines fill pages up to the limits; the rest is "… and N more", always within the limit."""
    lines = [f"line {n:02d} " + "x" * 40 for n in range(100)]
    (page,) = fmt.paginate(lines, page_limit=500)
    assert len(page) <= 500
    kept = page.split("\n")
    assert kept[-1] == f"… and {100 - len(kept) + 1} more"
    assert kept[:-1] == lines[: len(kept) - 1]
    pages = fmt.paginate(lines, page_limit=500, max_pages=3, total_limit=1200)
    assert len(pages) == 3 and all(len(p) <= 500 for p in pages)
    assert sum(len(p) for p in pages) <= 1200
    assert pages[-1].endswith("more")
    assert fmt.paginate(lines[:3], page_limit=500) == ["\n".join(lines[:3])]
    assert fmt.paginate([], page_limit=10) == [""]
    assert fmt.paginate(["y" * 50], page_limit=20)[0] == "y" * 19 + "…"


@given(
    lines=st.lists(
        st.text(st.characters(exclude_characters="\n…"), min_size=1, max_size=80), max_size=60
    ),
    page_limit=st.integers(20, 300),
    max_pages=st.integers(1, 4),
    total=st.integers(20, 900),
)
def test_paginate_never_breaks_a_limit_nor_loses_count(
    lines: list[str], page_limit: int, max_pages: int, total: int
) -> None:
    """Any lines, any limits: every page and the total fit; shown + "N more" is every line."""
    pages = fmt.paginate(lines, page_limit=page_limit, max_pages=max_pages, total_limit=total)
    assert 1 <= len(pages) <= max_pages
    assert all(len(p) <= page_limit for p in pages)
    assert sum(len(p) for p in pages) <= total
    kept = [line for page in pages if page for line in page.split("\n")]
    marker = re.fullmatch(r"… and (\d+) more", kept[-1]) if kept else None
    shown = len(kept) - (1 if marker else 0)
    assert shown + (int(marker[1]) if marker else 0) == len(lines)


def test_signal_list_splits_into_embeds_within_the_message_total() -> None:
    """Hundreds of signals: at most 10 embeds, 6000 characters in all, "… and N more" at the end."""
    rows = [
        (
            SignalSpec(id=f"signal-{n}", title="A signal with a long title " * 4, query="x"),
            SignalStats(None, n),
        )
        for n in range(300)
    ]
    embeds = fmt.signal_list_embeds(rows)
    assert 1 < len(embeds) <= 10
    assert sum(len(e["description"]) + len(e.get("title", "")) for e in embeds) < 6000
    assert re.fullmatch(r"… and \d+ more", embeds[-1]["description"].split("\n")[-1])
    assert embeds[0]["footer"]["text"] == f"page 1 of {len(embeds)}"


def test_safe_url_keeps_links_inside_their_markdown() -> None:
    """Only http(s) links are linked, with characters that would end the link encoded."""
    assert fmt.safe_url("https://a.test/x_(y) z") == "https://a.test/x_%28y%29%20z"
    assert fmt.safe_url("javascript:alert(1)") is None
    assert fmt.safe_url(None) is None
    assert fmt.linked_title("t", "ftp://x") == "t"


def test_duration_words_reads_like_a_person_would_say_it() -> None:
    """Uptime in the largest two units that matter."""
    assert fmt.duration_words(timedelta(seconds=42)) == "42 s"
    assert fmt.duration_words(timedelta(minutes=12, seconds=5)) == "12 min"
    assert fmt.duration_words(timedelta(hours=3, minutes=5)) == "3 h 5 min"
    assert fmt.duration_words(timedelta(days=2, hours=4, minutes=1)) == "2 d 4 h"
