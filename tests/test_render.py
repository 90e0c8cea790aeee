"""Alert rendering for Discord: limits, colours, escaping, and mentions that ping no one."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from bot.model import Alert, FloodSummary, FoldedItem
from bot.render import (
    DESCRIPTION_LIMIT,
    FIELD_LIMIT,
    SEVERITY_COLOURS,
    TITLE_LIMIT,
    TOTAL_LIMIT,
    _size,
    alert_embed,
    alert_message,
    defuse,
)

WHEN = datetime(2025, 6, 25, 9, 30, tzinfo=UTC)


def alert(**changes: object) -> Alert:
    """An alert with sensible defaults, overridden by `changes`."""
    base: dict[str, object] = {
        "alert_id": "a1",
        "signal_id": "nato-5pct",
        "destination": "channel:1",
        "title": "NATO allies agree 5% target",
        "link": "https://example.org/nato",
        "source_id": "bbc-world",
        "published": WHEN,
        "terms": ("NATO", "5%"),
        "snippet": "**NATO** allies agree **5%** target",
        "severity": "high",
    }
    base.update(changes)
    return Alert(**base)  # type: ignore[arg-type]


def test_embed_carries_signal_link_source_time_terms_footer() -> None:
    """Every part the issue names is in the embed."""
    embed = alert_embed(alert(), "NATO spending hits 5%")
    assert embed["title"] == "NATO allies agree 5% target"
    assert embed["url"] == "https://example.org/nato"
    assert embed["color"] == SEVERITY_COLOURS["high"]
    assert embed["author"]["name"] == "NATO spending hits 5% · high"
    assert embed["description"] == "**NATO** allies agree **5%** target"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Source"] == "bbc-world"
    assert fields["Published"] == "<t:1750843800:f> (<t:1750843800:R>)"
    assert fields["Matched"] == "`NATO`, `5%`"
    assert embed["footer"]["text"] == "signal: nato-5pct"
    assert embed["timestamp"] == "2025-06-25T09:30:00+00:00"


@pytest.mark.parametrize("severity", ["low", "medium", "high", "critical"])
def test_colour_by_severity(severity: str) -> None:
    """Each severity has its own colour."""
    assert alert_embed(alert(severity=severity))["color"] == SEVERITY_COLOURS[severity]


@pytest.mark.parametrize(
    "title", ["@everyone look", "@here now", "<@&123456> role", "<@987654> user", "<@!42> nick"]
)
def test_mentions_in_feed_text_ping_no_one(title: str) -> None:
    """Feed text cannot form a live mention, and allowed_mentions parses nothing."""
    message = alert_message(alert(title=title, snippet=title))
    embed = message["embeds"][0]
    for text in (embed["title"], embed["description"]):
        assert "@everyone" not in text and "@here" not in text
        assert "<@" not in text
    assert message["allowed_mentions"] == {
        "parse": [],
        "users": [],
        "roles": [],
        "replied_user": False,
    }
    assert "content" not in message


def test_subscribers_are_the_only_mentions() -> None:
    """Subscribers are mentioned in content and are the only users allowed to be pinged."""
    message = alert_message(alert(), mention_user_ids=[11, 22, 11])
    assert message["content"] == "<@11> <@22>"
    assert message["allowed_mentions"]["users"] == ["11", "22"]
    assert message["allowed_mentions"]["parse"] == []


def test_feed_markdown_is_escaped_in_title() -> None:
    """A headline's own markdown is shown, not rendered."""
    assert alert_embed(alert(title="*big* _news_ ~x~"))["title"] == "\\*big\\* \\_news\\_ \\~x\\~"


def test_limits_are_respected() -> None:
    """Title, description, fields and the total stay within Discord's limits."""
    huge = alert(
        title="T" * 1000,
        snippet="S" * 10_000,
        terms=tuple(f"term{i}" * 20 for i in range(200)),
        source_id="s" * 3000,
    )
    embed = alert_embed(huge)
    assert len(embed["title"]) <= TITLE_LIMIT
    assert len(embed["description"]) <= DESCRIPTION_LIMIT
    assert all(len(f["value"]) <= FIELD_LIMIT for f in embed["fields"])
    assert _size(embed) <= TOTAL_LIMIT


def test_flood_summary_lists_items_as_links() -> None:
    """A folded summary lists the items it stands for."""
    base = alert(title="3 more hits for nato-5pct (over 10 in an hour)", link=None, snippet="")
    summary = FloodSummary(
        **{f.name: getattr(base, f.name) for f in fields(Alert)},
        items=(FoldedItem("A @everyone", "https://a", "wire"),),
    )
    embed = alert_embed(summary)
    assert embed["description"] == "• [A @\u200beveryone](https://a)"
    assert "url" not in embed


def test_defuse_breaks_every_mention_form() -> None:
    """User, role, channel mentions and @everyone/@here are made inert."""
    out = defuse("@everyone @here <@1> <@!2> <@&3> <#4>")
    assert "@everyone" not in out and "@here" not in out
    assert "<@" not in out and "<#" not in out
