"""The console sink: readable text (coloured on a terminal) or one JSON object per line.

Each alert is written and flushed before the outbox marks it delivered, so a crash between
the two repeats at most that one line, and it carries the same `alert_id` to dedupe on.
A digest prints as its period, then each signal with its headlines; in JSON it is one line
with the whole digest (every item, nothing cut) under "digest".
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from typing import Any, Literal, TextIO

from bot.digest import digest_json
from bot.model import Alert, Digest, DigestAlert, FloodSummary, StoryUpdate
from bot.notices import Notice, notice_text
from bot.render import merged_on_text

__all__ = ["ConsoleNotifier", "ConsoleSink", "alert_json"]

log = logging.getLogger("signalwatch.admin")

_COLOURS = {"low": "36", "medium": "33", "high": "31", "critical": "1;31"}


def alert_json(alert: Alert) -> dict[str, Any]:
    """The JSON object of one alert (the console's --format json line)."""
    out: dict[str, Any] = {
        "alert_id": alert.alert_id,
        "signal": alert.signal_id,
        "severity": alert.severity,
        "title": alert.title,
        "link": alert.link,
        "source": alert.source_id,
        "publisher": alert.publisher,
        "published": alert.published.isoformat() if alert.published else None,
        "terms": list(alert.terms),
        "snippet": alert.snippet,
        "destination": alert.destination,
    }
    if isinstance(alert, FloodSummary):
        out["folded"] = [asdict(item) for item in alert.items]
    if isinstance(alert, DigestAlert):
        out["digest"] = digest_json(alert.digest)
    if alert.also:
        out["also"] = [asdict(copy) for copy in alert.also]
    return out


class ConsoleSink:
    """Writes alerts to a stream (stdout by default) as text or JSON lines."""

    def __init__(
        self,
        fmt: Literal["text", "json"] = "text",
        stream: TextIO | None = None,
        colour: bool | None = None,
    ):
        self.fmt = fmt
        self.stream = stream if stream is not None else sys.stdout
        self.colour = self.stream.isatty() if colour is None else colour

    async def send(self, alert: Alert) -> str | None:
        """Write one alert and flush it."""
        if self.fmt == "json":
            line = json.dumps(alert_json(alert), ensure_ascii=False)
        else:
            line = self.render_text(alert)
        self.stream.write(line + "\n")
        self.stream.flush()
        return None

    async def update(self, update: StoryUpdate) -> str | None:
        """A story's new outlets as one more line (JSON: an "update" object naming the alert).

        A console cannot edit what it printed, so every update is a follow-up line.
        """
        original = update.original
        if self.fmt == "json":
            line = json.dumps(
                {
                    "update": original.alert_id,
                    "signal": original.signal_id,
                    "also": [asdict(c) for c in update.also],
                    "merged_on": list(update.merged_on),
                },
                ensure_ascii=False,
            )
        else:
            names = ", ".join(copy.outlet for copy in update.also)
            head = f"[{original.signal_id}] {_sources(len(update.also))}"
            line = f"{head}: {original.title}\n    also reported by {names}"
            if update.merged_on:
                line += f"\n    {merged_on_text(update.merged_on)}"
        self.stream.write(line + "\n")
        self.stream.flush()
        return None

    def render_text(self, alert: Alert) -> str:
        """A few readable lines for a person at a terminal."""

        def paint(code: str, text: str) -> str:
            return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

        head = paint(_COLOURS.get(alert.severity, "0"), f"[{alert.signal_id}]")
        when = alert.published.strftime("%Y-%m-%d %H:%M UTC") if alert.published else "undated"
        source = alert.source_id + (f" ({alert.publisher})" if alert.publisher else "")
        lines = [f"{head} {paint('1', alert.title)}"]
        if isinstance(alert, DigestAlert):
            return "\n".join(lines + _digest_lines(alert.digest))
        if isinstance(alert, FloodSummary):
            for item in alert.items:
                lines.append(f"    - {item.title}  {item.link or ''}")
            return "\n".join(lines)
        lines.append(f"    {alert.link or '(no link)'}")
        lines.append(f"    {source} · {when} · matched: {', '.join(alert.terms)}")
        if alert.snippet:
            lines.append(f"    {alert.snippet}")
        if alert.also:
            names = ", ".join(copy.outlet for copy in alert.also)
            lines.append(f"    also reported by {names}")
        return "\n".join(lines)


def _digest_lines(digest: Digest) -> list[str]:
    """The period, then per signal its title, severity and count, then its headlines."""
    lines = []
    start = digest.period_start.strftime("%Y-%m-%d %H:%M")
    end = digest.period_end.strftime("%Y-%m-%d %H:%M")
    lines.append(f"    {digest.label}: {start} → {end} UTC")
    for group in digest.groups:
        count = f"{len(group.items)} hit" + ("" if len(group.items) == 1 else "s")
        title = group.signal_title or group.signal_id
        lines.append(f"  {title} ({group.severity}) · {count}")
        for item in group.items:
            outlet = item.publisher or item.source or ""
            where = outlet + (f", {_sources(item.sources)}" if item.sources else "")
            lines.append(f"    - {item.title}  ({where})  {item.link or ''}".rstrip())
    return lines


class ConsoleNotifier:
    """Admin notices as warnings in the log (stderr)."""

    async def notify(self, message: str | Notice) -> None:
        """Log an admin notice."""
        text = message if isinstance(message, str) else notice_text(message)
        log.warning("ADMIN NOTICE: %s", text)


def _sources(count: int) -> str:
    """ "+1 source", "+3 sources"."""
    return f"+{count} source" + ("" if count == 1 else "s")
