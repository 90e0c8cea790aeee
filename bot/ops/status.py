"""The status page: signals with their last hits and 30-day chart, source health, the outbox
and recent alerts — one HTML page, no script, everything from feeds escaped.

`gather_status` reads a snapshot from the store (blocking); `render_status` is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from html import escape
from urllib.parse import urlsplit

from bot.store import Store, source_health
from bot.store.records import ArticleRecord, PendingAlert, SourceState
from bot.watchlist import Watchlist

__all__ = ["SignalStatus", "StatusData", "gather_status", "render_status"]

HITS_SHOWN = 5
ALERTS_SHOWN = 20
CHART_DAYS = 30


@dataclass
class SignalStatus:
    """One signal's row: its last hits and hits per day."""

    id: str
    title: str
    enabled: bool
    hits: list[ArticleRecord]
    days: Sequence[tuple[date, int]]
    total: int


@dataclass
class StatusData:
    """A snapshot of everything the page shows."""

    now: datetime
    signals: list[SignalStatus] = field(default_factory=list)
    sources: list[SourceState] = field(default_factory=list)
    outbox: dict[str, int] = field(default_factory=dict)
    alerts: list[tuple[PendingAlert, str | None]] = field(default_factory=list)


def gather_status(store: Store, watchlist: Watchlist | None, now: datetime) -> StatusData:
    """Read the page's snapshot from the store (blocking: call it off the event loop)."""
    data = StatusData(now=now)
    for spec in watchlist.signals if watchlist is not None else []:
        timeline = store.signal_timeline(spec.id, now, CHART_DAYS)
        data.signals.append(
            SignalStatus(
                spec.id,
                spec.title,
                spec.enabled,
                store.recent_articles(HITS_SHOWN, spec.id),
                timeline.days,
                timeline.total,
            )
        )
    data.sources = store.sources()
    data.outbox = store.outbox_counts()
    data.alerts = store.delivered_alerts_since(None, now - timedelta(days=7), ALERTS_SHOWN)
    return data


def _e(value: object) -> str:
    """Escaped for HTML text and attribute values (quotes included)."""
    return escape(str(value), quote=True)


def _link(url: str | None, text: str) -> str:
    """A link to an http(s) URL, else the text alone: a feed's `javascript:` link stays text."""
    if url and urlsplit(url).scheme.lower() in ("http", "https"):
        return f'<a href="{_e(url)}" rel="noopener noreferrer nofollow">{_e(text)}</a>'
    return _e(text)


def _when(moment: datetime | None, now: datetime) -> str:
    """'5m ago', 'in 3m', 'never', with the UTC time as a tooltip."""
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    span, text = abs(seconds), f"{abs(seconds)}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if span >= size:
            text = f"{span // size}{unit}"
            break
    words = f"{text} ago" if seconds >= 0 else f"in {text}"
    stamp = f"{moment:%Y-%m-%d %H:%M} UTC"
    return f'<time datetime="{moment.isoformat()}" title="{stamp}">{words}</time>'


def chart_svg(days: Sequence[tuple[date, int]]) -> str:
    """Hits per day as an inline SVG bar chart (one bar a day, labelled for screen readers)."""
    width, height, bar = 240, 40, 8
    peak = max((count for _, count in days), default=0)
    total = sum(count for _, count in days)
    bars = []
    for index, (day, count) in enumerate(days):
        h = 0 if peak == 0 else max(1, round(count / peak * (height - 2)))
        bars.append(
            f'<rect x="{index * bar}" y="{height - h}" width="{bar - 1}" height="{h}">'
            f"<title>{day.isoformat()}: {count}</title></rect>"
        )
    label = f"{total} hits in the last {len(days)} days"
    return (
        f'<svg class="chart" role="img" aria-label="{label}" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}">{"".join(bars)}</svg>'
    )


STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222;max-width:1100px}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.25rem .5rem;
border-bottom:1px solid #ddd;vertical-align:top}
.ok{color:#176f2c}.failing{color:#a15c00}.disabled,.removed{color:#999}
.chart rect{fill:#3b6fb6}ul{margin:0;padding-left:1.1rem}.muted{color:#777}
"""


def render_status(data: StatusData) -> str:
    """The whole page."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>signalwatch status</title><style>{STYLE}</style></head><body>",
        "<h1>signalwatch status</h1>",
        f'<p class="muted">as of {data.now:%Y-%m-%d %H:%M:%S} UTC · read-only</p>',
        _signals(data),
        _sources(data),
        _outbox(data),
        _alerts(data),
        "</body></html>",
    ]
    return "\n".join(parts)


def _signals(data: StatusData) -> str:
    rows = []
    for s in data.signals:
        hits = "".join(
            f"<li>{_link(a.link, a.title)} <span class=muted>{_e(a.source_id)},"
            f" {_when(a.matched_at, data.now)}</span></li>"
            for a in s.hits
        )
        state = "" if s.enabled else " <span class=disabled>(off)</span>"
        rows.append(
            f'<tr id="signal-{_e(s.id)}"><td><strong>{_e(s.title)}</strong>{state}'
            f"<br><code>{_e(s.id)}</code></td><td>{s.total}</td>"
            f"<td>{chart_svg(s.days)}</td>"
            f"<td>{f'<ul>{hits}</ul>' if hits else 'no hits yet'}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="4">the watchlist is not loaded yet</td></tr>'
    return (
        '<section id="signals"><h2>Signals</h2><table><thead><tr><th>signal</th><th>hits</th>'
        f"<th>last {CHART_DAYS} days</th><th>last hits</th></tr></thead><tbody>{body}"
        "</tbody></table></section>"
    )


def _sources(data: StatusData) -> str:
    rows = []
    for s in data.sources:
        state = source_health(s)
        error = s.disabled_reason or s.last_error or ""
        rows.append(
            f'<tr id="source-{_e(s.id)}"><td>{_e(s.id)} <span class=muted>({_e(s.type)})</span>'
            f'</td><td class="{state}">{state}</td><td>{_when(s.last_success_at, data.now)}</td>'
            f"<td>{_e(error)}</td><td>{_when(s.next_poll_at, data.now)}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="5">no sources yet</td></tr>'
    return (
        '<section id="sources"><h2>Sources</h2><table><thead><tr><th>source</th><th>state</th>'
        "<th>last success</th><th>last error</th><th>next poll</th></tr></thead>"
        f"<tbody>{body}</tbody></table></section>"
    )


def _outbox(data: StatusData) -> str:
    cells = "".join(
        f'<tr><td>{_e(status)}</td><td class="count">{count}</td></tr>'
        for status, count in sorted(data.outbox.items())
    )
    return (
        '<section id="outbox"><h2>Outbox</h2><table><thead><tr><th>status</th><th>alerts</th>'
        f"</tr></thead><tbody>{cells}</tbody></table></section>"
    )


def _alerts(data: StatusData) -> str:
    rows = "".join(
        f"<tr><td>{_link(p.alert.link, p.alert.title)}</td><td>{_e(p.alert.signal_id)}</td>"
        f"<td>{_e(p.alert.destination)}</td><td>{_when(p.created_at, data.now)}</td></tr>"
        for p, _receipt in data.alerts
    )
    body = rows or '<tr><td colspan="4">no alerts delivered in the last 7 days</td></tr>'
    return (
        '<section id="alerts"><h2>Recent alerts</h2><table><thead><tr><th>alert</th>'
        f"<th>signal</th><th>to</th><th>queued</th></tr></thead><tbody>{body}</tbody>"
        "</table></section>"
    )
