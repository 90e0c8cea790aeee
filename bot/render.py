"""Alerts as Discord message payloads (plain dicts, Discord's JSON shape): pure, no `discord`.

Feed text is escaped for markdown and its mentions are defused (a zero-width space after
every `@`, and `<@…>`/`<#…>` broken), and `allowed_mentions` permits only the users we mean
to ping — so a headline saying `@everyone` or `<@&role>` pings no one, twice over.
Discord's limits are kept: title 256, description 4096, field value 1024, footer 2048,
25 fields, 6000 characters in all.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bot.matching.snippet import escape_markdown
from bot.model import Alert

__all__ = [
    "SEVERITY_COLOURS",
    "alert_embed",
    "alert_message",
    "defuse",
    "digest_safe",
    "truncate",
]

SEVERITY_COLOURS = {
    "low": 0x3498DB,  # blue
    "medium": 0xF1C40F,  # yellow
    "high": 0xE67E22,  # orange
    "critical": 0xE74C3C,  # red
}
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_LIMIT = 1024
FOOTER_LIMIT = 2048
TOTAL_LIMIT = 6000
CONTENT_LIMIT = 2000  # message content: where the subscriber mentions go
MAX_MENTIONS = 100  # Discord's limit for allowed_mentions.users
_ZWSP = "\u200b"
_MENTION = re.compile(r"<([@#][!&]?|a?:\w+:)(\d+)>")


def defuse(text: str) -> str:
    """Make mentions inert as text: `@everyone` → `@\u200beveryone`, `<@123>` → `<\u200b@123>`."""
    text = _MENTION.sub(lambda m: f"<{_ZWSP}{m.group(1)}{m.group(2)}>", text)
    return text.replace("@", "@" + _ZWSP)


def digest_safe(text: str) -> str:
    """Feed text made safe to show: mentions defused, markdown escaped."""
    return escape_markdown(defuse(text))


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, ending in an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _timestamp(when: datetime) -> str:
    """A Discord timestamp that every reader sees in their own time zone."""
    unix = int(when.timestamp())
    return f"<t:{unix}:f> (<t:{unix}:R>)"


def alert_embed(alert: Alert, signal_title: str | None = None) -> dict[str, Any]:
    """The embed of one alert: signal, linked title, snippet, source, time, terms, footer."""
    colour = SEVERITY_COLOURS.get(alert.severity, SEVERITY_COLOURS["medium"])
    name = truncate(f"{signal_title or alert.signal_id} · {alert.severity}", 256)
    embed: dict[str, Any] = {
        "type": "rich",
        "title": truncate(digest_safe(alert.title), TITLE_LIMIT),
        "color": colour,
        "author": {"name": defuse(name)},
        "footer": {"text": truncate(f"signal: {alert.signal_id}", FOOTER_LIMIT)},
    }
    if alert.link:
        embed["url"] = alert.link
    if alert.published:
        embed["timestamp"] = alert.published.isoformat()
    if alert.extra.get("flood"):
        items = alert.extra.get("items", [])
        lines = []
        for item in items if isinstance(items, list) else []:
            title = truncate(digest_safe(str(item.get("title", ""))), 200)
            link = item.get("link")
            lines.append(f"• [{title}]({link})" if link else f"• {title}")
        embed["description"] = truncate("\n".join(lines), DESCRIPTION_LIMIT)
        return _fit(embed)
    # The snippet is already markdown-escaped with our **bold**; only mentions need defusing.
    if alert.snippet:
        embed["description"] = truncate(defuse(alert.snippet), DESCRIPTION_LIMIT)
    source = alert.source_id + (f" ({alert.publisher})" if alert.publisher else "")
    fields = [
        {"name": "Source", "value": truncate(digest_safe(source), FIELD_LIMIT), "inline": True}
    ]
    if alert.published:
        fields.append({"name": "Published", "value": _timestamp(alert.published), "inline": True})
    if alert.terms:
        terms = ", ".join(f"`{t.replace('`', 'ˋ')}`" for t in alert.terms)
        fields.append({"name": "Matched", "value": truncate(defuse(terms), FIELD_LIMIT)})
    embed["fields"] = fields
    return _fit(embed)


def _size(embed: dict[str, Any]) -> int:
    """Characters that count toward Discord's 6000 total."""
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("author", {}).get("name", ""))
    total += len(embed.get("footer", {}).get("text", ""))
    for f in embed.get("fields", []):
        total += len(f["name"]) + len(f["value"])
    return total


def _fit(embed: dict[str, Any]) -> dict[str, Any]:
    """Shorten the description until the whole embed is within Discord's total limit."""
    over = _size(embed) - TOTAL_LIMIT
    if over > 0 and "description" in embed:
        embed["description"] = truncate(
            embed["description"], max(1, len(embed["description"]) - over)
        )
    return embed


def alert_message(
    alert: Alert,
    signal_title: str | None = None,
    mention_user_ids: Sequence[int] = (),
) -> dict[str, Any]:
    """A whole message: subscriber mentions as content, the embed, and allowed_mentions.

    `allowed_mentions` names exactly the users in `mention_user_ids` and parses nothing else,
    so no text anywhere in the message can ping a role, @everyone or @here. Only as many users
    as Discord takes are mentioned (100, and the content within 2000 characters).
    """
    users: list[str] = []
    length = -1  # no space before the first mention
    for user in dict.fromkeys(str(u) for u in mention_user_ids):
        length += len(user) + 4  # a space and <@id>
        if length > CONTENT_LIMIT or len(users) == MAX_MENTIONS:
            break  # past Discord's content limit the whole message is refused (400), forever
        users.append(user)
    message: dict[str, Any] = {
        "embeds": [alert_embed(alert, signal_title)],
        "allowed_mentions": {"parse": [], "users": users, "roles": [], "replied_user": False},
    }
    if users:
        message["content"] = " ".join(f"<@{u}>" for u in users)
    return message
