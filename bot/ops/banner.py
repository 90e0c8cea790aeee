"""The start-up banner: what this run will do, said once, so the operator knows it works.

    signalwatch 0.1.0 started
      alerts to   the console (SIGNALWATCH_DISCORD_TOKEN is not set); webhooks: OPS_HOOK
      database    sqlite:///signalwatch.db
      watchlist   watchlist.yaml: 13 signals, 20 sources
      next poll   now (20 sources due)
      http        off (set SIGNALWATCH_HTTP_PORT for /metrics, /healthz and the status page)
      contact     not set: set SIGNALWATCH_CONTACT (an email or URL) so feed owners can reach you

Pure: `banner_lines` renders from values; the run loop logs them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from bot.store.records import SourceState

__all__ = ["active_sources", "banner_lines", "hide_password", "next_poll_text"]


def hide_password(url: str) -> str:
    """A database URL as it may be logged: `postgresql://u:secret@h/db` → `postgresql://u:***@h/db`."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user, colon, _password = credentials.partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{host}"


def _span(seconds: float) -> str:
    """'45s', '4m', '2h' for a wait."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def active_sources(sources: Iterable[SourceState]) -> list[SourceState]:
    """The sources that are polled: configured, on, not disabled."""
    return [s for s in sources if s.configured and s.enabled and s.disabled_reason is None]


def next_poll_text(sources: Iterable[SourceState], now: datetime) -> str:
    """When the next poll is: 'now (N sources due)', 'in 4m (bbc-world)', or 'no source on'."""
    active = active_sources(sources)
    if not active:
        return "never: no source is on"
    due = [s for s in active if s.next_poll_at <= now]
    if due:
        return f"now ({len(due)} source{'s' if len(due) != 1 else ''} due)"
    first = min(active, key=lambda s: s.next_poll_at)
    return f"in {_span((first.next_poll_at - now).total_seconds())} ({first.id})"


def banner_lines(
    *,
    version: str,
    alerts_to: str,
    webhooks: Sequence[str],
    database: str | None,
    watchlist: Path,
    signals: int,
    sources: int,
    next_poll: str,
    http_url: str | None,
    contact: str | None,
) -> list[str]:
    """The banner, one line per fact (each is logged as its own line)."""
    where = alerts_to + (f"; webhooks: {', '.join(webhooks)}" if webhooks else "")
    http = (
        f"{http_url} (status page; /metrics, /healthz, /readyz)"
        if http_url
        else "off (set SIGNALWATCH_HTTP_PORT for /metrics, /healthz and a status page)"
    )
    lines = [
        f"signalwatch {version} started",
        f"  alerts to   {where}",
        f"  database    {hide_password(database) if database else 'as configured'}",
        f"  watchlist   {watchlist}: {signals} signals, {sources} sources",
        f"  next poll   {next_poll}",
        f"  http        {http}",
    ]
    if not contact:
        lines.append(
            "  contact     not set: set SIGNALWATCH_CONTACT (an email or URL) so feed owners"
            " can reach you"
        )
    return lines
