"""Describing admin edits in text: changes, diffs, the audit log, and fitting lines in a message.

Pure: no Discord, no store; the admin cogs call these and post what they return.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.render import digest_safe, truncate
from bot.store import AuditEntry
from bot.watchlist import Change

__all__ = [
    "MESSAGE_LIMIT",
    "code_span",
    "describe_change",
    "diff_fields",
    "diff_text",
    "fit_lines",
    "format_history",
    "history_line",
    "json_safe",
]

MESSAGE_LIMIT = 2000  # Discord's limit for message content


def json_safe(value: Any) -> Any:
    """`value` with only what the audit log stores exactly: JSON types and aware datetimes."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def code_span(value: object, limit: int = 60) -> str:
    """A value as a short inline code span (markdown and mentions do nothing inside)."""
    if value is None:
        return "(unset)"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    text = truncate(" ".join(text.replace("`", "ˋ").split()), limit)
    return f"`{text}`" if text else "(empty)"


def diff_fields(
    before: Mapping[str, object] | None, after: Mapping[str, object] | None
) -> list[tuple[str, object, object]]:
    """(key, old, new) for each key whose value differs, keys in first-seen order."""
    old, new = before or {}, after or {}
    keys = list(dict.fromkeys([*old, *new]))
    return [(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]


def _field(key: str, value: object) -> str:
    """A field's value for a diff; a route's channel id as a channel mention (never pings)."""
    if key == "channel" and isinstance(value, int) and not isinstance(value, bool):
        return f"<#{value}>"
    return code_span(value, 40)


def diff_text(before: Mapping[str, object] | None, after: Mapping[str, object] | None) -> str:
    """`key: old → new; ...`, or the whole item for a creation, or "removed"."""
    if before is None and after is None:
        return ""
    if before is None:
        assert after is not None
        return "added: " + ", ".join(f"{k} {_field(k, v)}" for k, v in after.items())
    if after is None:
        return "removed"
    changed = diff_fields(before, after)
    if not changed:
        return "no change"
    return "; ".join(f"{k}: {_field(k, old)} → {_field(k, new)}" for k, old, new in changed)


def describe_change(change: Change) -> str:
    """What an edit did, for the reply: `Added signal 'x'` with its fields, or the diff."""
    if change.before is None:
        detail = ", ".join(f"{k} {code_span(v)}" for k, v in (change.after or {}).items())
        text = f"Added {change.item}: {detail}."
    elif change.after is None:
        text = f"Removed {change.item}."
    else:
        text = f"Updated {change.item}: {diff_text(change.before, change.after)}."
    return truncate(text, MESSAGE_LIMIT)


def history_line(entry: AuditEntry) -> str:
    """One audit entry, compact: `#id <time> who action target — before → after`."""
    when = f"<t:{int(entry.at.timestamp())}:f>"
    who = digest_safe(entry.actor_name) or "?"
    diff = diff_text(entry.before, entry.after)
    line = f"`#{entry.id}` {when} **{who}** {entry.action} `{entry.target}`"
    return truncate(f"{line} — {diff}" if diff else line, 400)


def format_history(entries: Sequence[AuditEntry]) -> str:
    """The audit log, newest first, within one message."""
    if not entries:
        return "No admin edits recorded yet."
    return fit_lines(f"Last {len(entries)} admin edits, newest first:", map(history_line, entries))


def fit_lines(header: str, lines: Iterable[str], limit: int = MESSAGE_LIMIT) -> str:
    """`header` and as many lines as fit in `limit` characters, then "… and N more"."""
    pending = list(lines)
    text = header
    for index, line in enumerate(pending):
        rest = len(pending) - index - 1
        tail = f"\n… and {rest} more" if rest else ""
        if len(text) + 1 + len(line) + len(tail) > limit:
            more = f"\n… and {len(pending) - index} more"
            return text + more if len(text) + len(more) <= limit else truncate(text, limit)
        text += "\n" + line
    return text
