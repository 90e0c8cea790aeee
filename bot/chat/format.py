"""What the lookup and subscription commands say: pure functions, no `discord`, no I/O.

    cog: read the watchlist and the store ─► format.*(facts) ─► text / embed dicts ─► Discord

Embeds are plain dicts in Discord's JSON shape (the cogs wrap them with `Embed.from_dict`).
Feed text (titles, publishers, sources) goes through `digest_safe`, matcher snippets (already
escaped, with our **bold**) through `defuse`, and what a user typed is quoted inertly, so
nothing shown can format, hide or ping. Every answer keeps Discord's limits: 2000 characters
of content, 4096 per description, 1024 per field, 6000 per message's embeds; a list that does
not fit ends with "… and N more".
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot.model import Match, StoryUpdateAlert
from bot.render import SEVERITY_COLOURS, defuse, digest_safe, truncate
from bot.store import ArticleRecord, SignalStats, SignalTimeline, Subscription, SubscriptionMode
from bot.watchlist import SignalSpec

__all__ = [
    "CONTENT_LIMIT",
    "COUNT_MAX",
    "DESCRIPTION_LIMIT",
    "EMBED_TOTAL_LIMIT",
    "FIELD_LIMIT",
    "MAX_FIELDS",
    "NO_MATCH",
    "TIMELINE_FILENAME",
    "StatusFacts",
    "article_line",
    "articles_embeds",
    "did_you_mean",
    "duration_words",
    "inline_code",
    "latest_title",
    "linked_title",
    "match_embed",
    "mention_channels",
    "more_marker",
    "no_articles_message",
    "own_signal_choices",
    "paginate",
    "parse_mode",
    "route_labels",
    "safe_url",
    "search_empty_message",
    "search_title",
    "signal_embed",
    "signal_list_embeds",
    "status_embed",
    "subscribe_message",
    "subscriptions_message",
    "timeline_chart_title",
    "timestamp",
    "unknown_signal_message",
    "unsubscribe_message",
]

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_LIMIT = 1024
MAX_FIELDS = 25
EMBEDS_PER_MESSAGE = 10
EMBED_TOTAL_LIMIT = 6000
# What a list of embeds may use for descriptions: the total less room for titles and footers.
LIST_BUDGET = EMBED_TOTAL_LIMIT - 800
COUNT_MAX = 20  # /latest and /search show at most this many articles
ARTICLE_TITLE_CHARS = 150
URL_MAX_CHARS = 512  # a longer link would crowd out whole lines of a list: shown unlinked
NO_MATCH = "No signal matches that text (only enabled signals are checked)."
DM_HINT = "Keep DMs from this server's members open, or the bot cannot reach you."


def timestamp(when: datetime, style: str = "R") -> str:
    """A Discord timestamp, shown in each reader's own time zone (`R`: "3 hours ago")."""
    return f"<t:{int(when.timestamp())}:{style}>"


def more_marker(count: int) -> str:
    """The line that stands for `count` items left out."""
    return f"… and {count} more"


def paginate(
    lines: Sequence[str],
    *,
    page_limit: int = DESCRIPTION_LIMIT,
    total_limit: int | None = None,
    max_pages: int = 1,
) -> list[str]:
    """Pack lines into pages within the limits; what does not fit becomes "… and N more"."""
    # Each page holds at most `page_limit` characters, all of them together `total_limit`;
    # a line longer than a page is cut. There is always at least one page (maybe "").
    total_limit = page_limit * max_pages if total_limit is None else total_limit
    reserve = len(more_marker(len(lines))) + 1
    pages: list[list[str]] = [[]]
    sizes = [0]
    used = 0
    for index, raw in enumerate(lines):
        keep = reserve if index < len(lines) - 1 else 0  # room to say what is left out
        line = truncate(raw, max(1, page_limit - keep))
        sep = 1 if pages[-1] else 0
        grown = len(line) + keep
        if sizes[-1] + sep + grown <= page_limit and used + sep + grown <= total_limit:
            pages[-1].append(line)
            sizes[-1] += sep + len(line)
            used += sep + len(line)
        elif len(pages) < max_pages and used + grown <= total_limit:
            pages.append([line])
            sizes.append(len(line))
            used += len(line)
        else:
            pages[-1].append(more_marker(len(lines) - index))
            break
    return ["\n".join(page) for page in pages]


def inline_code(text: str) -> str:
    """`text` as inline code that no backtick inside can close early."""
    return "`" + text.replace("`", "ˋ") + "`"


def safe_url(url: str | None) -> str | None:
    """An http(s) link that cannot break out of a markdown link, or None (also if too long)."""
    if not url or len(url) > URL_MAX_CHARS or not url.lower().startswith(("http://", "https://")):
        return None
    for char, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(char, code)
    return url


def linked_title(title: str, link: str | None, limit: int = ARTICLE_TITLE_CHARS) -> str:
    """A feed title, escaped, as a markdown link when its link is usable."""
    text = digest_safe(truncate(" ".join(title.split()) or "(untitled)", limit))
    url = safe_url(link)
    return f"[{text}]({url})" if url else text


def article_line(article: ArticleRecord, *, signals: bool = True) -> str:
    """One article as a list line: linked title, source, when, and the signals it matched."""
    source = article.source_id + (f" ({article.publisher})" if article.publisher else "")
    when = article.published or article.matched_at
    line = f"• {linked_title(article.title, article.link)} — {digest_safe(source)}"
    line += f" · {timestamp(when)}"
    if signals and article.signal_ids:
        line += " · " + ", ".join(inline_code(s) for s in article.signal_ids)
    return line


def did_you_mean(typed: str, known: Sequence[str]) -> str:
    """ " (did you mean `x`?)" for the closest known id, or ""."""
    close = difflib.get_close_matches(typed, list(known), n=1, cutoff=0.6)
    return f" (did you mean {inline_code(close[0])}?)" if close else ""


def unknown_signal_message(typed: str, known: Sequence[str]) -> str:
    """The error for a signal id that is not in the watchlist, with a suggestion."""
    shown = inline_code(defuse(truncate(typed, 100)))
    return f"There is no signal {shown}{did_you_mean(typed, known)}. `/signals` lists them all."


def _signal_line(signal: SignalSpec, stats: SignalStats) -> str:
    """One signal in /signals: id, title, on/off, last hit, hits in 7 days."""
    state = "🟢" if signal.enabled else "⏸️ *disabled*"
    hits = f"{stats.hits_7d} hit{'s' if stats.hits_7d != 1 else ''} in 7 d"
    last = f"last {timestamp(stats.last_hit)}" if stats.last_hit else "no hits yet"
    title = digest_safe(truncate(signal.title, 120))
    return f"{state} {inline_code(signal.id)} **{title}** · {hits} · {last}"


def signal_list_embeds(rows: Sequence[tuple[SignalSpec, SignalStats]]) -> list[dict[str, Any]]:
    """The /signals answer: every signal, as many embeds as the lines need (10 at most)."""
    enabled = sum(1 for signal, _ in rows if signal.enabled)
    lines = [_signal_line(signal, stats) for signal, stats in rows]
    pages = paginate(lines, total_limit=LIST_BUDGET, max_pages=EMBEDS_PER_MESSAGE)
    embeds: list[dict[str, Any]] = []
    for number, page in enumerate(pages, start=1):
        embed: dict[str, Any] = {"type": "rich", "description": page or "No signals."}
        if number == 1:
            embed["title"] = f"Signals: {len(rows)} ({enabled} enabled)"
        if len(pages) > 1:
            embed["footer"] = {"text": f"page {number} of {len(pages)}"}
        embeds.append(embed)
    return embeds


def route_labels(destinations: Sequence[str], default_channel: int | None) -> list[str]:
    """Where a signal's alerts go, as readers see it: channel mentions, webhook names."""
    labels = []
    for destination in destinations:
        kind, _, value = destination.partition(":")
        if kind == "channel":
            labels.append(f"<#{value}>")
        elif kind == "webhook":
            labels.append(f"webhook {inline_code(value)}")
        elif default_channel is not None:
            labels.append(f"<#{default_channel}> (default)")
        else:
            labels.append("the default destination")
    return labels


def mention_channels(destinations: Sequence[str], default_channel: int | None) -> list[int]:
    """The Discord channels a signal's alerts are posted in (where subscribers get pinged)."""
    out: list[int] = []
    for destination in destinations:
        kind, _, value = destination.partition(":")
        if kind == "channel" and value.isdigit():
            out.append(int(value))
        elif kind == "default" and default_channel is not None:
            out.append(default_channel)
    return list(dict.fromkeys(out))


TIMELINE_FILENAME = "timeline.png"  # the chart /signal attaches and shows in its embed

# Our own month names: strftime("%b") follows the process locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _day_text(day: date) -> str:
    """'Tue 24 Jun 2025': a UTC day as words (a Discord timestamp would shift it by zone)."""
    weekday = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[day.weekday()]
    return f"{weekday} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def _moment(when: datetime) -> str:
    """The date and time in the reader's zone, then how long ago."""
    return f"{timestamp(when, 'f')}\n{timestamp(when)}"


def _hits(count: int) -> str:
    """'1 hit', '1,234 hits'."""
    return f"{count:,} hit{'' if count == 1 else 's'}"


def timeline_chart_title(signal: SignalSpec, days: int) -> str:
    """The heading drawn on /signal's chart (plain text: an image renders no markdown)."""
    return f"{truncate(' '.join(signal.title.split()), 60)} · hits per UTC day, last {days} days"


def _timeline_fields(stats: SignalStats, timeline: SignalTimeline) -> list[dict[str, Any]]:
    """The activity fields of /signal: totals, first and last hit, busiest day."""
    if timeline.total == 0 or timeline.first_hit is None or timeline.last_hit is None:
        return [{"name": "Hits", "value": "no hits yet"}]
    window = len(timeline.days)
    hits = (
        f"{_hits(timeline.total)} in total · {timeline.window_total:,} in the last {window} days"
        f" · {stats.hits_7d:,} in the last 7 days"
    )
    first, last = timeline.first_hit, timeline.last_hit
    busiest = timeline.busiest_day
    busiest_text = f"{_day_text(busiest[0])} (UTC) · {_hits(busiest[1])}" if busiest else "none"
    return [
        {"name": "Hits", "value": hits},
        {"name": "First hit", "value": _moment(first), "inline": True},
        {"name": "Last hit", "value": _moment(last), "inline": True},
        {"name": f"Busiest day ({window} d)", "value": busiest_text, "inline": True},
    ]


def signal_embed(
    signal: SignalSpec,
    stats: SignalStats,
    routes: Sequence[str],
    recent: Sequence[ArticleRecord],
    timeline: SignalTimeline | None = None,
    *,
    merges: Sequence[StoryUpdateAlert] = (),
) -> dict[str, Any]:
    """The /signal answer: meaning, query, severity, tags, routes, activity, recent hits, and
    the copies lately merged into announced stories with the terms they shared (so an admin
    can see a wrong merge).

    With a `timeline`, the activity is its totals, first and last hit and busiest day, and a
    signal with hits shows the chart attached as TIMELINE_FILENAME.
    """
    query = truncate(" ".join(signal.query.split()), FIELD_LIMIT - 8).replace("`", "ˋ")
    tags = ", ".join(inline_code(defuse(t)) for t in signal.tags) or "none"
    hits = f"{stats.hits_7d} in the last 7 days"
    if stats.last_hit:
        hits += f" · last {timestamp(stats.last_hit, 'f')} ({timestamp(stats.last_hit)})"
    activity = (
        [{"name": "Hits", "value": hits}] if timeline is None else _timeline_fields(stats, timeline)
    )
    recent_text = paginate([article_line(a, signals=False) for a in recent], page_limit=FIELD_LIMIT)
    description = digest_safe(truncate(" ".join(signal.description.split()), 1500))
    embed: dict[str, Any] = {
        "type": "rich",
        "title": truncate(digest_safe(signal.title), TITLE_LIMIT),
        "description": description or "*No description.*",
        "color": SEVERITY_COLOURS.get(signal.severity, SEVERITY_COLOURS["medium"]),
        "fields": [
            {"name": "Query", "value": f"```\n{query}\n```"},
            {"name": "Severity", "value": signal.severity, "inline": True},
            {"name": "Enabled", "value": "yes" if signal.enabled else "no", "inline": True},
            {"name": "Tags", "value": truncate(tags, FIELD_LIMIT), "inline": True},
            {"name": "Routes", "value": truncate(", ".join(routes) or "none", FIELD_LIMIT)},
            *activity,
            {"name": "Recent hits", "value": recent_text[0] or "none yet"},
        ],
        "footer": {"text": f"signal: {signal.id}"},
    }
    if merges:
        lines = paginate([merge_line(m) for m in merges], page_limit=FIELD_LIMIT)
        embed["fields"].append({"name": "Recent merges", "value": lines[0]})
    if timeline is not None and timeline.total > 0:
        embed["image"] = {"url": f"attachment://{TIMELINE_FILENAME}"}
    return embed


def merge_line(update: StoryUpdateAlert) -> str:
    """ "• merged 3 outlets on: nato, hague, 5% — [headline](link)": a copy that joined a
    story, and why."""
    headline = linked_title(truncate(update.title, 120), update.link)
    outlets = f"merged {update.outlets} outlets" if update.outlets > 1 else "merged"
    why = ", ".join(update.merged_on) if update.merged_on else "(not recorded)"
    return f"• {outlets} on: {digest_safe(truncate(why, 200))} — {headline}"


def articles_embeds(
    title: str, articles: Sequence[ArticleRecord], *, signals: bool = True
) -> list[dict[str, Any]]:
    """Matched articles under a title (already safe), in as many embeds as they need."""
    lines = [article_line(a, signals=signals) for a in articles]
    pages = paginate(lines, total_limit=LIST_BUDGET, max_pages=EMBEDS_PER_MESSAGE)
    embeds: list[dict[str, Any]] = [{"type": "rich", "description": page} for page in pages]
    embeds[0]["title"] = truncate(title, TITLE_LIMIT)
    return embeds


def latest_title(signal: SignalSpec | None, count: int) -> str:
    """The heading of /latest."""
    if signal is None:
        return f"Latest {count} matched article{'s' if count != 1 else ''}"
    return f"Latest for {digest_safe(truncate(signal.title, 150))} ({signal.id})"


def search_title(words: str, count: int) -> str:
    """The heading of /search results."""
    return f"{count} result{'s' if count != 1 else ''} for “{digest_safe(truncate(words, 100))}”"


def no_articles_message(signal_id: str | None) -> str:
    """/latest when nothing has matched yet."""
    if signal_id is None:
        return "No article has matched any signal yet."
    return f"No article has matched {inline_code(signal_id)} yet."


def search_empty_message(words: str) -> str:
    """/search when nothing stored holds the words."""
    return f"No stored article matches “{digest_safe(truncate(words, 100))}”."


def duration_words(span: timedelta) -> str:
    """A short human duration: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


@dataclass(frozen=True, slots=True)
class StatusFacts:
    """What /status reports, gathered by the cog from the store, watchlist and clock."""

    sources: Mapping[str, int]  # ok, failing, disabled, removed
    last_poll_at: datetime | None
    outbox: Mapping[str, int]  # pending, delivered, failed
    signals_enabled: int
    signals_total: int
    version: str
    started_at: datetime
    now: datetime


def status_embed(facts: StatusFacts) -> dict[str, Any]:
    """The /status answer: feed health, last poll, the outbox, signals, version, uptime."""
    src = facts.sources
    sources = (
        f"{src.get('ok', 0)} ok · {src.get('failing', 0)} failing"
        f" · {src.get('disabled', 0)} disabled"
    )
    if src.get("removed", 0):
        sources += f" · {src['removed']} removed"
    box = facts.outbox
    alerts = (
        f"{box.get('pending', 0)} pending · {box.get('delivered', 0)} delivered"
        f" · {box.get('failed', 0)} failed"
    )
    last = (
        f"{timestamp(facts.last_poll_at, 'f')} ({timestamp(facts.last_poll_at)})"
        if facts.last_poll_at
        else "never"
    )
    unhealthy = src.get("failing", 0) or box.get("failed", 0)
    return {
        "type": "rich",
        "title": "signalwatch status",
        "color": SEVERITY_COLOURS["high" if unhealthy else "low"],
        "fields": [
            {"name": "Sources", "value": sources},
            {"name": "Last poll", "value": last},
            {"name": "Alerts", "value": alerts},
            {
                "name": "Signals",
                "value": f"{facts.signals_enabled} of {facts.signals_total} enabled",
            },
            {"name": "Version", "value": facts.version, "inline": True},
            {
                "name": "Uptime",
                "value": f"{duration_words(facts.now - facts.started_at)}"
                f" (since {timestamp(facts.started_at)})",
                "inline": True,
            },
        ],
    }


def match_embed(text: str, matches: Sequence[Match], titles: Mapping[str, str]) -> dict[str, Any]:
    """The /test answer for a text that matched: each signal with its terms and snippet."""
    shown = matches[: MAX_FIELDS - 1] if len(matches) > MAX_FIELDS else matches
    fields = []
    for match in shown:
        title = titles.get(match.signal_id, match.signal_id)
        terms = ", ".join(inline_code(t) for t in match.terms)
        value = f"matched {terms}\n{match.snippet}" if terms else match.snippet
        fields.append(
            {
                "name": truncate(defuse(f"{match.signal_id} — {title}"), FIELD_NAME_LIMIT),
                "value": truncate(defuse(value) or "—", FIELD_LIMIT),
            }
        )
    if len(shown) < len(matches):
        fields.append({"name": "More", "value": more_marker(len(matches) - len(shown))})
    count = len(matches)
    return {
        "type": "rich",
        "title": f"Matches {count} signal{'s' if count != 1 else ''}",
        "description": "> " + digest_safe(truncate(" ".join(text.split()), 1000)),
        "color": SEVERITY_COLOURS["medium"],
        "fields": fields,
        "footer": {"text": "dry run: nothing was stored or sent"},
    }


def parse_mode(value: str | None) -> SubscriptionMode:
    """The subscription mode a command option gave ("dm" or, by default, "mention")."""
    return "dm" if value == "dm" else "mention"


def _channels_phrase(channels: Sequence[int]) -> str:
    """<#a>, <#b> and <#c>."""
    names = [f"<#{c}>" for c in channels]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def subscribe_message(
    signal: SignalSpec,
    mode: SubscriptionMode,
    previous: SubscriptionMode | None,
    channels: Sequence[int],
) -> str:
    """The /subscribe confirmation: what happened and what the user will now get."""
    name = f"**{digest_safe(truncate(signal.title, 150))}** ({inline_code(signal.id)})"
    if previous is None:
        head = f"Subscribed to {name}"
    elif previous == mode:
        head = f"You already follow {name}"
    else:
        head = f"Switched {name} from {previous} to {mode}"
    if mode == "dm":
        text = f"{head}: you'll get a DM when it moves. {DM_HINT}"
    elif channels:
        text = f"{head}: you'll be mentioned in {_channels_phrase(channels)} when it moves."
    else:
        text = (
            f"{head}, but its alerts go to no channel the bot posts in, so no mention can "
            "reach you. Use `/subscribe mode: dm` to get DMs instead."
        )
    if not signal.enabled:
        text += " It is disabled right now, so nothing arrives until an admin enables it."
    return truncate(text, CONTENT_LIMIT)


def unsubscribe_message(
    signal_id: str, title: str | None, was_following: bool, followed: Sequence[str] = ()
) -> str:
    """The /unsubscribe answer; for a signal not followed, a suggestion among `followed`."""
    name = inline_code(defuse(truncate(signal_id, 100)))
    if title:
        name = f"**{digest_safe(truncate(title, 150))}** ({name})"
    if not was_following:
        hint = did_you_mean(signal_id, followed)
        return f"You don't follow {name}{hint}. `/subscriptions` lists what you follow."
    return f"Unsubscribed from {name}: no more mentions or DMs for it."


def _mode_words(mode: SubscriptionMode, channels: Sequence[int]) -> str:
    """How a subscription reaches its user."""
    if mode == "dm":
        return "by DM"
    return f"mentioned in {_channels_phrase(channels)}" if channels else "by mention (no channel)"


def subscriptions_message(
    subscriptions: Sequence[Subscription],
    titles: Mapping[str, str],
    channels_of: Mapping[str, Sequence[int]],
) -> str:
    """The /subscriptions answer: each followed signal, how, and since when."""
    if not subscriptions:
        return "You follow no signals. `/subscribe` follows one; `/signals` lists them."
    lines = []
    for sub in subscriptions:
        title = titles.get(sub.signal_id)
        name = (
            f"**{digest_safe(truncate(title, 120))}** ({inline_code(sub.signal_id)})"
            if title
            else f"{inline_code(sub.signal_id)} (no longer in the watchlist)"
        )
        how = _mode_words(sub.mode, channels_of.get(sub.signal_id, ()))
        lines.append(f"• {name} — {how}, since {timestamp(sub.created_at, 'D')}")
    count = len(subscriptions)
    head = f"You follow {count} signal{'s' if count != 1 else ''}:"
    body = paginate(lines, page_limit=CONTENT_LIMIT - len(head) - 1)[0]
    return f"{head}\n{body}"


def own_signal_choices(
    subscriptions: Sequence[Subscription], titles: Mapping[str, str], typed: str
) -> list[tuple[str, str]]:
    """Autocomplete for /unsubscribe: (name, value) of the user's signals matching `typed`."""
    wanted = typed.casefold()
    out = []
    for sub in subscriptions:
        title = titles.get(sub.signal_id, "no longer in the watchlist")
        if wanted in f"{sub.signal_id} {title}".casefold():
            out.append((not sub.signal_id.startswith(wanted), sub.signal_id, title))
    out.sort()
    return [(f"{sid} — {title}"[:100], sid) for _, sid, title in out[:MAX_FIELDS]]
