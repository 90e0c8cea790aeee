"""Alerts as Discord message payloads (plain dicts, Discord's JSON shape): pure, no `discord`.

Feed text is escaped for markdown and its mentions are defused (a zero-width space after
every `@`, and `<@…>`/`<#…>` broken), and `allowed_mentions` permits only the users we mean
to ping — so a headline saying `@everyone` or `<@&role>` pings no one, twice over.
Discord's limits are kept: title 256, description 4096, field value 1024, footer 2048,
25 fields, 6000 characters in all.

A `DigestAlert` (see bot.digest) is one embed with a field per signal; when its
hits do not fit, each field shows its newest and "…and N more", the room shared fairly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from bot.matching.snippet import escape_markdown
from bot.model import (
    Alert,
    DigestAlert,
    DigestGroup,
    DigestLine,
    FloodSummary,
    OutletCopy,
    StoryUpdate,
)

__all__ = [
    "SEVERITY_COLOURS",
    "alert_embed",
    "alert_message",
    "defuse",
    "digest_safe",
    "merged_on_text",
    "story_followup_message",
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
FIELD_NAME_LIMIT = 256
MAX_FIELDS = 25
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
    if isinstance(alert, DigestAlert):
        return _digest_embed(alert)
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
    if isinstance(alert, FloodSummary):
        lines = []
        for item in alert.items:
            title = truncate(digest_safe(item.title), 200)
            lines.append(f"• [{title}]({item.link})" if item.link else f"• {title}")
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
    also = alert.also
    if also:
        fields.append({"name": _also_name(len(also)), "value": _outlets(also, FIELD_LIMIT)})
    embed["fields"] = fields
    return _fit(embed)


# --- one alert per story ------------------------------------------------------------------------


def _also_name(count: int) -> str:
    return f"+{count} source" + ("" if count == 1 else "s")


def _outlets(also: Sequence[OutletCopy], budget: int) -> str:
    """ "[Reuters](link) · AP · …and 3 more": each outlet once, linked to its copy."""
    parts = []
    for copy in also:
        name = truncate(digest_safe(copy.outlet or "?"), 60)
        link = _safe_link(copy.link)
        parts.append(f"[{name}]({link})" if link else name)
    shown: list[str] = []
    for index, part in enumerate(parts):
        rest = len(parts) - index - 1
        tail = f" · …and {rest} more" if rest else ""
        if len(" · ".join([*shown, part])) + len(tail) > budget:
            shown.append(f"…and {len(parts) - index} more")
            break
        shown.append(part)
    return truncate(" · ".join(shown), budget)


def merged_on_text(merged_on: Sequence[str]) -> str:
    """ "merged on: nato, hague, 5%" — why the latest copy joined its story ("" for none)."""
    return "merged on: " + ", ".join(merged_on) if merged_on else ""


def _footer(signal_id: str, merged_on: Sequence[str]) -> str:
    why = merged_on_text(merged_on)
    return f"signal: {signal_id}" + (f" · {digest_safe(why)}" if why else "")


def story_followup_message(update: StoryUpdate, signal_title: str | None = None) -> dict[str, Any]:
    """One short message saying which other outlets now report an alert's story.

    Posted (as a reply to the alert) when the alert is too old to edit, then edited as more
    outlets come. It pings no one.
    """
    original = update.original
    also = original.also
    name = truncate(f"{signal_title or original.signal_id} · {original.severity}", 256)
    embed: dict[str, Any] = {
        "type": "rich",
        "title": truncate(f"{_also_name(len(also))}: {digest_safe(original.title)}", TITLE_LIMIT),
        "color": SEVERITY_COLOURS.get(original.severity, SEVERITY_COLOURS["medium"]),
        "author": {"name": defuse(name)},
        "description": "Also reported by " + _outlets(also, DESCRIPTION_LIMIT - 20),
        "footer": {"text": truncate(_footer(original.signal_id, update.merged_on), FOOTER_LIMIT)},
    }
    if original.link:
        embed["url"] = original.link
    return {
        "embeds": [_fit(embed)],
        "allowed_mentions": {"parse": [], "users": [], "roles": [], "replied_user": False},
    }


# --- digests -----------------------------------------------------------------------------------

_HEADLINE_LIMIT = 150  # a digest line's headline; the list matters more than one long title
_DIGEST_NAME_LIMIT = 100  # 25 signal titles of 256 would be most of the 6000 on their own
_LINK_LIMIT = 400  # longer links are left out rather than eat a field's 1024
_LINK_UNSAFE = {"(": "%28", ")": "%29", "<": "%3C", ">": "%3E", " ": "%20"}


def _digest_embed(alert: DigestAlert) -> dict[str, Any]:
    """A digest as one embed: the period, then one field per signal listing its headlines."""
    digest = alert.digest
    embed: dict[str, Any] = {
        "type": "rich",
        "title": truncate(digest_safe(alert.title), TITLE_LIMIT),
        "color": SEVERITY_COLOURS.get(alert.severity, SEVERITY_COLOURS["medium"]),
        "footer": {"text": truncate(f"digest: {digest.schedule}", FOOTER_LIMIT)},
    }
    start, end = digest.period_start, digest.period_end
    embed["description"] = truncate(
        f"Hits from <t:{int(start.timestamp())}:f> to <t:{int(end.timestamp())}:f> "
        f"({defuse(digest.label)})",
        DESCRIPTION_LIMIT,
    )
    embed["timestamp"] = end.isoformat()
    groups = digest.groups
    shown = groups if len(groups) <= MAX_FIELDS else groups[: MAX_FIELDS - 1]
    names = [_group_name(group) for group in shown]
    parts: list[list[str]] = [[_digest_line(item) for item in group.items] for group in shown]
    if len(shown) < len(groups):
        # The 25th field names the signals that did not get one of their own.
        rest = groups[len(shown) :]
        names.append(f"…and {len(rest)} more signals")
        parts.append([_group_name(group) for group in rest])
    room = TOTAL_LIMIT - _size(embed) - sum(len(name) for name in names)
    wants = [len(_listing(lines, FIELD_LIMIT)) for lines in parts]
    budgets = _share(wants, room)
    embed["fields"] = [
        {"name": name, "value": _listing(lines, budget) or "—"}
        for name, lines, budget in zip(names, parts, budgets, strict=True)
    ]
    return _fit(embed)


def _group_name(group: DigestGroup) -> str:
    """ "NATO spending hits 5% · 3 hits": the signal's title (an admin's words) and count."""
    count = len(group.items)
    title = truncate(group.signal_title or group.signal_id or "?", 80)
    name = f"{title} · {count} hit" + ("" if count == 1 else "s")
    return truncate(defuse(name), _DIGEST_NAME_LIMIT)


def _digest_line(item: DigestLine) -> str:
    """ "• [headline](link) — outlet, +2 sources": feed text escaped and defused."""
    title = truncate(digest_safe(item.title or "(untitled)"), _HEADLINE_LIMIT)
    link = _safe_link(item.link)
    line = f"• [{title}]({link})" if link else f"• {title}"
    outlet = item.publisher or item.source
    if outlet:
        line += " — " + truncate(digest_safe(outlet), 60)
    if item.sources > 0:
        line += f", +{item.sources} source" + ("" if item.sources == 1 else "s")
    return line


def _safe_link(link: object) -> str | None:
    """An http(s) link that cannot end the markdown link early, or None to show no link."""
    if not isinstance(link, str) or len(link) > _LINK_LIMIT:
        return None
    try:
        scheme = urlsplit(link).scheme.lower()
    except ValueError:
        return None
    if scheme not in ("http", "https") or any(c in link for c in "\r\n\t"):
        return None
    return "".join(_LINK_UNSAFE.get(c, c) for c in link)


def _listing(lines: Sequence[str], budget: int) -> str:
    """As many of `lines` as fit in `budget` characters, then "…and N more" for the rest."""
    # Room for the longest possible tail is kept, so the tail never pushes past the budget.
    tail_room = len(f"\n…and {len(lines)} more")
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        cost = len(line) + (1 if kept else 0)
        last = index == len(lines) - 1
        if used + cost + (0 if last else tail_room) > budget:
            break
        kept.append(line)
        used += cost
    hidden = len(lines) - len(kept)
    if hidden:
        kept.append(f"…and {hidden} more")
    return truncate("\n".join(kept), max(budget, 1))


def _share(wants: Sequence[int], room: int) -> list[int]:
    """Split `room` characters among fields: none gets more than it wants or than 1024,
    and what a small field leaves over goes to the bigger ones."""
    budgets = [0] * len(wants)
    left = max(room, 0)
    order = sorted(range(len(wants)), key=lambda i: wants[i])
    for position, index in enumerate(order):
        share = left // (len(wants) - position)
        budgets[index] = min(wants[index], share, FIELD_LIMIT)
        left -= budgets[index]
    return budgets


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
