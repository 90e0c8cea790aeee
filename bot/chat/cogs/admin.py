"""Admin commands: /watch and /source groups (Manage Server or the admin role).

    /watch  add | edit | remove | route | preview | history     signals, routes, the audit log
    /source add | remove | list | enable                        feeds and their health

Every edit runs the same way, and a refused one changes nothing:

    validate input (ids, query, URL, interval)        Refused / QueryError → the reason, ephemeral
    | editor.<edit>() under services.lock, in a thread  WatchlistError → its lines, file untouched
    | services.reload()                                 the run loop re-reads the file now
    | store.record_audit(now, actor, action, target, before, after)
    → reply with what changed

The deciding (ids from hosts, intervals, query previews, history and health lines, diffs) is
in pure functions below the cog, so it is tested without Discord; the cog only wires them up.
Discord hides both groups from members without Manage Server (their default permissions),
and `admin_only` checks again on our side, since a server can change what Discord shows.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import discord
from discord import app_commands
from discord.ext import commands
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from bot.chat.bot import is_admin
from bot.chat.cogs.common import MAX_CHOICES, admin_only, bot_of, signal_choices
from bot.errors import FetchError, QueryError, StoreError, WatchlistError
from bot.matching import Matcher, parse_query
from bot.render import digest_safe, truncate
from bot.settings import Settings
from bot.sources.safety import check_url_allowed_async
from bot.store import ArticleRecord, AuditEntry, SeenText, SourceState, source_health
from bot.watchlist import (
    Change,
    Severity,
    SignalSpec,
    SourceSpec,
    Watchlist,
    WatchlistEditor,
    format_duration,
    load_watchlist,
    parse_duration,
)
from bot.watchlist.schema import MIN_INTERVAL, SLUG_MAX, did_you_mean

if TYPE_CHECKING:
    from bot.chat.bot import SignalBot

__all__ = [
    "AdminCog",
    "PreviewItem",
    "PreviewResult",
    "Refused",
    "build_signal_spec",
    "build_source_spec",
    "derive_source_id",
    "describe_change",
    "diff_fields",
    "enable_record",
    "fit_lines",
    "format_history",
    "format_preview",
    "format_problems",
    "format_source_list",
    "history_line",
    "json_safe",
    "parse_interval",
    "preview_items",
    "preview_query",
    "query_problem",
    "signal_changes",
    "source_line",
    "switched_off",
]

MESSAGE_LIMIT = 2000  # Discord's limit for message content
PREVIEW_SEEN_LIMIT = 500  # recent seen entries a preview scans
PREVIEW_ARTICLE_LIMIT = 200  # recent matched articles a preview adds
PREVIEW_SAMPLES = 5
HISTORY_DEFAULT = 10
CLEAR = "-"  # `/watch edit description:-` removes the description
_MANAGE_SERVER = discord.Permissions(manage_guild=True)
_SERVERS_ONLY = app_commands.AppCommandContext(guild=True, dm_channel=False, private_channel=False)
_T = TypeVar("_T")


class Refused(Exception):
    """An admin's input we will not act on; the message is shown to them as written."""


# --- validating input ----------------------------------------------------------------------------


def query_problem(query: str, error: QueryError) -> str:
    """The QueryError with the query and a caret under its column (a window of a long query)."""
    lines = [f"Bad query: {error}."]
    if error.column is not None:
        flat = query.replace("\n", " ").replace("`", "ˋ")
        start = max(0, min(error.column - 1 - 30, len(flat) - 60))
        window = flat[start : start + 60]
        caret = " " * max(0, error.column - 1 - start) + "^"
        lines += ["```", window, caret, "```"]
    return "\n".join(lines)


def _pydantic_problems(error: ValidationError) -> list[str]:
    """`field: message` lines of a model's validation error."""
    lines = []
    for problem in error.errors(include_url=False):
        where = ".".join(str(part) for part in problem["loc"])
        lines.append(f"{where}: {problem['msg']}" if where else str(problem["msg"]))
    return lines


def _checked_query(query: str) -> str:
    """The query, stripped, if it parses; Refused with the column where it does not."""
    text = query.strip()
    try:
        parse_query(text)
    except QueryError as error:
        raise Refused(query_problem(text, error)) from None
    return text


def build_signal_spec(
    signal_id: str,
    title: str,
    query: str,
    severity: str | None = None,
    description: str | None = None,
) -> SignalSpec:
    """A new signal from /watch add's options; only given optional fields are set."""
    values: dict[str, Any] = {
        "id": signal_id.strip(),
        "title": title,
        "query": _checked_query(query),
    }
    if severity is not None:
        values["severity"] = severity
    if description is not None and description.strip() not in ("", CLEAR):
        values["description"] = description.strip()
    try:
        return SignalSpec(**values)
    except ValidationError as error:
        raise Refused("Not added: " + "; ".join(_pydantic_problems(error))) from None


def signal_changes(
    title: str | None = None,
    query: str | None = None,
    severity: str | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> dict[str, Any]:
    """The fields /watch edit was given; description "-" removes it (None tells the editor so)."""
    changes: dict[str, Any] = {}
    if title is not None:
        if not title.strip():
            raise Refused("The title must not be empty.")
        changes["title"] = title.strip()
    if query is not None:
        changes["query"] = _checked_query(query)
    if severity is not None:
        changes["severity"] = severity
    if description is not None:
        text = description.strip()
        changes["description"] = None if text in ("", CLEAR) else text
    if enabled is not None:
        changes["enabled"] = enabled
    if not changes:
        raise Refused("Nothing to change: give a title, query, severity, description or enabled.")
    return changes


def parse_interval(text: str) -> timedelta:
    """A polling interval like "15m", "1h30m" or "900" (seconds); at least a minute."""
    try:
        interval = parse_duration(text.strip())
    except PydanticCustomError as error:
        raise Refused(f"Interval: {error.message()}.") from None
    if interval < MIN_INTERVAL:
        raise Refused(
            f"Interval {format_duration(interval)} is too short: poll at most once a minute."
        )
    return interval


_HOST_PREFIXES = ("www.", "feeds.", "feed.", "rss.")


def derive_source_id(url: str, taken: Iterable[str]) -> str:
    """A source id from the URL's host ("feeds.bbci.co.uk" → "bbci-co-uk"), unique in `taken`."""
    host = (urlsplit(url.strip()).hostname or "").lower()
    for prefix in _HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            host = host.removeprefix(prefix)
            break
    base = re.sub(r"[^a-z0-9]+", "-", host).strip("-")[: SLUG_MAX - 3].strip("-") or "source"
    used = set(taken)
    candidate, number = base, 2
    while candidate in used:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def build_source_spec(
    url: str,
    source_id: str | None,
    interval: str | None,
    existing: Sequence[SourceSpec],
) -> SourceSpec:
    """A new source from /source add's options, its id derived from the host if not given."""
    url = url.strip()
    same_url = [s.id for s in existing if s.url == url]
    if same_url:
        raise Refused(f"Already watched as source `{same_url[0]}`.")
    taken = [s.id for s in existing]
    if source_id is not None and source_id.strip() in taken:
        raise Refused(f"There is already a source `{source_id.strip()}`: choose another id.")
    values: dict[str, Any] = {
        "id": source_id.strip() if source_id is not None else derive_source_id(url, taken),
        "url": url,
    }
    if interval is not None:
        values["interval"] = parse_interval(interval)
    try:
        return SourceSpec(**values)
    except ValidationError as error:
        raise Refused("Not added: " + "; ".join(_pydantic_problems(error))) from None


def format_problems(problems: Sequence[str], path: str, shown_as: str) -> str:
    """A refused edit's WatchlistError lines, naming the file without its directory."""
    lines = [f"• {truncate(p.replace(path, shown_as), 300)}" for p in problems]
    return fit_lines("Nothing changed: the watchlist would not be valid.", lines)


# --- describing what changed ---------------------------------------------------------------------


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


def _code(value: object, limit: int = 60) -> str:
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
    return _code(value, 40)


def _diff_text(before: Mapping[str, object] | None, after: Mapping[str, object] | None) -> str:
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
        detail = ", ".join(f"{k} {_code(v)}" for k, v in (change.after or {}).items())
        text = f"Added {change.item}: {detail}."
    elif change.after is None:
        text = f"Removed {change.item}."
    else:
        text = f"Updated {change.item}: {_diff_text(change.before, change.after)}."
    return truncate(text, MESSAGE_LIMIT)


def history_line(entry: AuditEntry) -> str:
    """One audit entry, compact: `#id <time> who action target — before → after`."""
    when = f"<t:{int(entry.at.timestamp())}:f>"
    who = digest_safe(entry.actor_name) or "?"
    diff = _diff_text(entry.before, entry.after)
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


# --- /watch preview ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewItem:
    """A recent item a preview matches against."""

    source_id: str
    key: str
    title: str
    summary: str
    link: str | None


@dataclass(frozen=True, slots=True)
class PreviewResult:
    """How many items a query matched out of how many, with a few (title, terms) samples."""

    scanned: int
    matched: int
    samples: tuple[tuple[PreviewItem, tuple[str, ...]], ...]


def preview_items(seen: Sequence[SeenText], articles: Sequence[ArticleRecord]) -> list[PreviewItem]:
    """Recent seen entries, then matched articles not among them (by source and key)."""
    items: dict[tuple[str, str], PreviewItem] = {}
    for s in seen:
        items.setdefault(
            (s.source_id, s.key), PreviewItem(s.source_id, s.key, s.title, s.summary, s.link)
        )
    for a in articles:
        items.setdefault(
            (a.source_id, a.key), PreviewItem(a.source_id, a.key, a.title, a.summary, a.link)
        )
    return list(items.values())


def preview_query(
    query: str, items: Sequence[PreviewItem], samples: int = PREVIEW_SAMPLES
) -> PreviewResult:
    """Run a draft query over `items`; raises QueryError when it does not parse."""
    matcher = Matcher.compile([("preview", parse_query(query))])
    matched = 0
    found: list[tuple[PreviewItem, tuple[str, ...]]] = []
    for item in items:
        hits = matcher.match(item.title, item.summary)
        if hits:
            matched += 1
            if len(found) < samples:
                found.append((item, tuple(hits[0].terms)))
    return PreviewResult(len(items), matched, tuple(found))


def _plain_link(link: str | None) -> bool:
    """Whether a feed's link can sit in markdown link syntax without breaking out of it."""
    return bool(link) and re.fullmatch(r"https?://[^\s<>()\[\]]+", link or "") is not None


def format_preview(query: str, result: PreviewResult) -> str:
    """The preview's answer: the count and up to five samples, feed text made safe."""
    head = (
        f"{_code(query, 200)} would have matched **{result.matched}** of {result.scanned} "
        "recent items."
    )
    if not result.scanned:
        head = "No recent items stored yet: nothing to preview against."
    lines = []
    for item, terms in result.samples:
        title = truncate(digest_safe(item.title or item.summary or "(untitled)"), 150)
        shown = f"[{title}](<{item.link}>)" if _plain_link(item.link) else title
        lines.append(f"• {shown} — {', '.join(_code(t, 30) for t in terms)} ({item.source_id})")
    return fit_lines(head, lines)


# --- /source enable and list --------------------------------------------------------------------


def switched_off(state: SourceState | None) -> bool:
    """Whether the store keeps a source from polling: switched off, or auto-disabled."""
    return state is not None and (not state.enabled or state.disabled_reason is not None)


def enable_record(
    in_file: bool, off_in_store: SourceState | None
) -> tuple[dict[str, object], dict[str, object]]:
    """The audit's before and after for /source enable: the file's switch, the store's state."""
    before: dict[str, object] = {"enabled": in_file}
    after: dict[str, object] = {"enabled": True}
    if off_in_store is not None:
        before |= {
            "store_enabled": off_in_store.enabled,
            "disabled_reason": off_in_store.disabled_reason,
            "consecutive_failures": off_in_store.consecutive_failures,
        }
        after |= {"store_enabled": True, "disabled_reason": None, "consecutive_failures": 0}
    return before, after


_HEALTH_MARK = {"ok": "🟢", "failing": "🟠", "disabled": "🔴", "removed": "⚪", "new": "🆕"}
_HEALTH_ORDER = {"failing": 0, "disabled": 1, "ok": 2, "new": 3, "removed": 4}


def _ago(when: datetime | None) -> str:
    return f"<t:{int(when.timestamp())}:R>" if when is not None else "never"


def _health(state: SourceState, spec: SourceSpec | None) -> str:
    """`source_health`, except that a source switched off in the file is disabled, not removed."""
    health = source_health(state)
    # The run loop registers only enabled sources, so one turned off in the file looks removed.
    return "disabled" if health == "removed" and spec is not None and not spec.enabled else health


def source_line(state: SourceState, spec: SourceSpec | None = None) -> str:
    """One source's health: state, failures, last success, last error (feed text made safe)."""
    health = _health(state, spec)
    parts = [f"{_HEALTH_MARK[health]} `{state.id}` {health}"]
    if spec is not None and not spec.enabled:
        parts.append("off in the watchlist")
    if state.disabled_reason:
        parts.append(f"auto-disabled: {truncate(digest_safe(state.disabled_reason), 80)}")
    if state.consecutive_failures:
        count = state.consecutive_failures
        parts.append(f"{count} failure{'s' if count > 1 else ''} in a row")
    parts.append(f"last ok {_ago(state.last_success_at)}")
    if state.last_error and health != "ok":
        status = f"HTTP {state.last_status}: " if state.last_status else ""
        parts.append(f"last error: {status}{truncate(digest_safe(state.last_error), 100)}")
    return " · ".join(parts)


def format_source_list(states: Sequence[SourceState], configured: Sequence[SourceSpec]) -> str:
    """Every source with its health, problems first; file sources not polled yet as "new"."""
    stored = {s.id for s in states}
    specs = {spec.id: spec for spec in configured}
    rows = [
        (_HEALTH_ORDER[_health(s, specs.get(s.id))], s.id, source_line(s, specs.get(s.id)))
        for s in states
    ]
    for spec in configured:
        if spec.id not in stored:
            state = "disabled in the watchlist" if not spec.enabled else "not polled yet"
            rows.append(
                (_HEALTH_ORDER["new"], spec.id, f"{_HEALTH_MARK['new']} `{spec.id}` {state}")
            )
    if not rows:
        return "No sources yet: add one with /source add."
    counts: dict[str, int] = {}
    for s in states:
        health = _health(s, specs.get(s.id))
        counts[health] = counts.get(health, 0) + 1
    parts = [f"{counts[h]} {h}" for h in sorted(counts, key=_HEALTH_ORDER.__getitem__)]
    if len(rows) > len(states):
        parts.append(f"{len(rows) - len(states)} new")
    rows.sort()
    return fit_lines(
        f"**{len(rows)} sources** ({', '.join(parts)}):", [line for _, _, line in rows]
    )


# --- the cog -------------------------------------------------------------------------------------


def _checked(func: _T) -> _T:
    """`common.admin_only()` on a command, typed for mypy (the check itself is untyped)."""
    checked: _T = admin_only()(func)
    return checked


def _route_name(signal: str) -> str:
    return "every signal" if signal == "*" else f"`{signal}`"


def _is_admin(interaction: discord.Interaction[Any]) -> bool:
    """The same rule as `admin_only`, as a boolean (for autocomplete)."""
    member = interaction.user
    if not isinstance(member, discord.Member):
        return False
    roles = [role.id for role in member.roles]
    return is_admin(member.guild_permissions, roles, bot_of(interaction).settings.admin_role)


async def admin_signal_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Signal ids for admins; nothing for anyone else."""
    if not _is_admin(interaction):
        return []
    return await signal_choices(interaction, current)


async def admin_route_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Signal ids and "*" (every signal) for /watch route."""
    choices = await admin_signal_choices(interaction, current)
    if _is_admin(interaction) and current.strip() in ("", "*"):
        choices = [app_commands.Choice(name="* — every signal", value="*"), *choices]
    return choices[:MAX_CHOICES]


async def admin_source_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """Source ids (watchlist and store) that contain what the admin typed, prefixes first."""
    if not _is_admin(interaction):
        return []
    services = bot_of(interaction).services
    names = {s.id: s.url for s in services.compiled().watchlist.sources}
    for state in await asyncio.to_thread(services.store.sources):
        names.setdefault(state.id, state.url)
    typed = current.strip().casefold()
    scored = sorted(
        (not sid.startswith(typed), sid, url)
        for sid, url in names.items()
        if typed in f"{sid} {url}".casefold()
    )
    return [
        app_commands.Choice(name=truncate(f"{sid} — {url}", 100), value=sid)
        for _, sid, url in scored[:MAX_CHOICES]
    ]


class AdminCog(commands.Cog):
    """Edit the watchlist and sources."""

    watch = app_commands.Group(
        name="watch",
        description="Edit the signals signalwatch watches for (admins)",
        default_permissions=_MANAGE_SERVER,
        guild_only=True,
        allowed_contexts=_SERVERS_ONLY,
    )
    source = app_commands.Group(
        name="source",
        description="Manage the feeds signalwatch polls (admins)",
        default_permissions=_MANAGE_SERVER,
        guild_only=True,
        allowed_contexts=_SERVERS_ONLY,
    )

    def __init__(self, bot: SignalBot, *, allow_private_urls: bool | None = None):
        self.bot = bot
        # Read once: an admin-added feed may reach private addresses only if the operator says so.
        self.allow_private_urls = (
            Settings().allow_private_urls if allow_private_urls is None else allow_private_urls
        )

    # --- plumbing shared by the commands ---

    @property
    def _editor(self) -> WatchlistEditor:
        return self.bot.services.editor

    async def _reply(self, interaction: discord.Interaction[Any], text: str) -> None:
        """Answer privately, whether or not the command deferred."""
        text = truncate(text, MESSAGE_LIMIT)
        if interaction.response.is_done():
            await interaction.edit_original_response(content=text)
        else:
            await interaction.response.send_message(text, ephemeral=True)

    async def _defer(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)

    def _refusal(self, error: Exception) -> str:
        """What to tell the admin about an edit we did not make."""
        if isinstance(error, WatchlistError):
            return format_problems(error.problems, self._editor.filename, self._editor.path.name)
        return str(error)

    def _current(self) -> Watchlist:
        """The watchlist as now on disk (the live one may lag an edit by a loop turn)."""
        return load_watchlist(self._editor.path)

    async def _locked(self, work: Callable[[], _T]) -> _T:
        """Run a blocking edit in a thread, one edit at a time."""
        async with self.bot.services.lock:
            return await asyncio.to_thread(work)

    async def _audit(
        self,
        interaction: discord.Interaction[Any],
        action: str,
        target: str,
        before: Mapping[str, object] | None,
        after: Mapping[str, object] | None,
    ) -> None:
        services = self.bot.services
        user = interaction.user
        await asyncio.to_thread(
            services.store.record_audit,
            services.clock(),
            actor_id=user.id,
            actor_name=user.name,
            action=action,
            target=target,
            before=json_safe(before) if before is not None else None,
            after=json_safe(after) if after is not None else None,
        )

    async def _apply(
        self,
        interaction: discord.Interaction[Any],
        action: str,
        target: str | Callable[[Change], str],
        edit: Callable[[WatchlistEditor], Change],
    ) -> Change | None:
        """Edit the file (validated, under the lock), reload, audit; None (and say why) if refused.

        `target` names the edited item in the audit log, or computes it from the change.
        """
        try:
            change = await self._locked(lambda: edit(self._editor))
        except (Refused, WatchlistError) as error:
            await self._reply(interaction, self._refusal(error))
            return None
        if change.before == change.after:
            await self._reply(interaction, f"Nothing changed: {change.item} already says that.")
            return None
        self.bot.services.reload()
        name = target if isinstance(target, str) else target(change)
        await self._audit(interaction, action, name, change.before, change.after)
        return change

    async def _edit_and_report(
        self,
        interaction: discord.Interaction[Any],
        action: str,
        target: str,
        edit: Callable[[WatchlistEditor], Change],
    ) -> None:
        """The common shape of an edit command: think, apply, and say what changed."""
        await self._defer(interaction)
        change = await self._apply(interaction, action, target, edit)
        if change is not None:
            await self._reply(interaction, describe_change(change))

    # --- /watch ---

    @watch.command(name="add", description="Add a signal to the watchlist")
    @app_commands.rename(signal_id="id")
    @app_commands.describe(
        signal_id="New signal id: lower-case letters, digits and hyphens (e.g. nato-5pct)",
        title="What the signal is, as people should read it in alerts",
        query='The query, e.g. NATO AND ("5%" OR "five percent") NEAR/12 spending',
        severity="How loud its alerts are (default medium)",
        description="A longer note on what counts as a hit",
    )
    @_checked
    async def watch_add(
        self,
        interaction: discord.Interaction[Any],
        signal_id: app_commands.Range[str, 1, 63],
        title: app_commands.Range[str, 1, 200],
        query: str,
        severity: Severity | None = None,
        description: str | None = None,
    ) -> None:
        """/watch add: a new signal, written to the watchlist file."""
        try:
            spec = build_signal_spec(signal_id, title, query, severity, description)
        except Refused as error:
            await self._reply(interaction, str(error))
            return
        await self._defer(interaction)
        change = await self._apply(
            interaction, "signal.add", f"signal:{spec.id}", lambda e: e.add_signal(spec)
        )
        if change is not None:
            await self._reply(interaction, describe_change(change) + "\nLive now.")

    @watch.command(name="edit", description="Change a signal's title, query, severity, ...")
    @app_commands.rename(signal_id="id")
    @app_commands.describe(
        signal_id="The signal to change",
        title="New title",
        query="New query (checked before anything is written)",
        severity="New severity",
        description=f"New description ('{CLEAR}' removes it)",
        enabled="Switch the signal on or off",
    )
    @app_commands.autocomplete(signal_id=admin_signal_choices)
    @_checked
    async def watch_edit(
        self,
        interaction: discord.Interaction[Any],
        signal_id: str,
        title: app_commands.Range[str, 1, 200] | None = None,
        query: str | None = None,
        severity: Severity | None = None,
        description: str | None = None,
        enabled: bool | None = None,
    ) -> None:
        """/watch edit: change the given fields of a signal."""
        try:
            changes = signal_changes(title, query, severity, description, enabled)
        except Refused as error:
            await self._reply(interaction, str(error))
            return
        await self._edit_and_report(
            interaction,
            "signal.edit",
            f"signal:{signal_id}",
            lambda e: e.update_signal(signal_id, **changes),
        )

    @watch.command(name="remove", description="Delete a signal from the watchlist")
    @app_commands.rename(signal_id="id")
    @app_commands.describe(signal_id="The signal to delete (its routes must go first)")
    @app_commands.autocomplete(signal_id=admin_signal_choices)
    @_checked
    async def watch_remove(self, interaction: discord.Interaction[Any], signal_id: str) -> None:
        """/watch remove: delete a signal."""
        await self._edit_and_report(
            interaction,
            "signal.remove",
            f"signal:{signal_id}",
            lambda e: e.remove_signal(signal_id),
        )

    @watch.command(name="route", description="Send a signal's alerts to a channel, or clear it")
    @app_commands.describe(
        signal="The signal, or * for every signal",
        channel="The channel its alerts go to",
        clear="Remove the signal's route instead (alerts go to the default channel)",
    )
    @app_commands.autocomplete(signal=admin_route_choices)
    @_checked
    async def watch_route(
        self,
        interaction: discord.Interaction[Any],
        signal: str,
        channel: discord.TextChannel | None = None,
        clear: bool = False,
    ) -> None:
        """/watch route: set (or clear) where a signal's alerts go."""
        if clear == (channel is not None):
            await self._reply(interaction, "Give a channel, or clear: True (not both).")
            return
        await self._defer(interaction)
        if clear:
            change = await self._apply(
                interaction, "route.clear", f"route:{signal}", lambda e: e.remove_route(signal)
            )
            if change is not None:
                await self._reply(
                    interaction,
                    f"Removed the route for {_route_name(signal)}: its alerts go to the default "
                    "channel.",
                )
            return
        assert channel is not None
        channel_id = channel.id

        def set_route(editor: WatchlistEditor) -> Change:
            # A route may also name a webhook; setting the channel keeps it.
            current = next((r for r in self._current().routes if r.signal == signal), None)
            webhook = current.webhook if current is not None else None
            return editor.set_route(signal, channel=channel_id, webhook=webhook)

        change = await self._apply(interaction, "route.set", f"route:{signal}", set_route)
        if change is None:
            return
        text = f"Alerts for {_route_name(signal)} now go to {channel.mention}."
        me = channel.guild.me
        if me is not None and not channel.permissions_for(me).send_messages:
            text += f"\n⚠️ I cannot post in {channel.mention}: give me Send Messages there."
        await self._reply(interaction, text)

    @watch.command(name="preview", description="How many recent items a draft query would match")
    @app_commands.describe(query="The draft query to try (nothing is saved)")
    @_checked
    async def watch_preview(self, interaction: discord.Interaction[Any], query: str) -> None:
        """/watch preview: count and sample the recent items a query matches."""
        text = query.strip()
        try:
            parse_query(text)
        except QueryError as error:
            await self._reply(interaction, query_problem(text, error))
            return
        await self._defer(interaction)
        store = self.bot.services.store
        seen = await asyncio.to_thread(store.recent_seen, PREVIEW_SEEN_LIMIT)
        articles = await asyncio.to_thread(store.recent_articles, PREVIEW_ARTICLE_LIMIT)
        result = await asyncio.to_thread(preview_query, text, preview_items(seen, articles))
        await self._reply(interaction, format_preview(text, result))

    @watch.command(name="history", description="Recent admin edits: who, what, when")
    @app_commands.describe(count="How many entries (default 10)")
    @_checked
    async def watch_history(
        self,
        interaction: discord.Interaction[Any],
        count: app_commands.Range[int, 1, 50] = HISTORY_DEFAULT,
    ) -> None:
        """/watch history: the audit log, newest first."""
        await self._defer(interaction)
        entries = await asyncio.to_thread(self.bot.services.store.audit_history, count)
        await self._reply(interaction, format_history(entries))

    # --- /source ---

    @source.command(name="add", description="Add a feed to poll")
    @app_commands.rename(source_id="id")
    @app_commands.describe(
        url="The feed's http(s) URL (RSS or Atom)",
        source_id="Source id (default: made from the host name)",
        interval="How often to poll it, e.g. 15m or 1h (default from the watchlist)",
    )
    @_checked
    async def source_add(
        self,
        interaction: discord.Interaction[Any],
        url: str,
        source_id: app_commands.Range[str, 1, 63] | None = None,
        interval: str | None = None,
    ) -> None:
        """/source add: a new feed, checked to be http(s) on a public address."""
        await self._defer(interaction)
        try:
            # Every check that needs no network first, so a typo costs no DNS lookup; they
            # run again under the lock, against the file as it is then.
            existing = (await asyncio.to_thread(self._current)).sources
            build_source_spec(url, source_id, interval, existing)
        except (Refused, WatchlistError) as error:
            await self._reply(interaction, self._refusal(error))
            return
        try:
            await check_url_allowed_async(url.strip(), allow_private=self.allow_private_urls)
        except FetchError as error:
            await self._reply(interaction, f"Not added: {error}.")
            return

        def add(editor: WatchlistEditor) -> Change:
            spec = build_source_spec(url, source_id, interval, self._current().sources)
            return editor.add_source(spec)

        change = await self._apply(
            interaction, "source.add", lambda c: f"source:{(c.after or {}).get('id')}", add
        )
        if change is None:
            return
        added = next(s for s in change.watchlist.sources if s.url == url.strip())
        await self._reply(
            interaction,
            f"Added source `{added.id}`: <{added.url}>, polled every "
            f"{format_duration(added.interval)}. Its first poll is on the next turn.",
        )

    @source.command(name="remove", description="Stop polling a feed and delete it")
    @app_commands.rename(source_id="id")
    @app_commands.describe(source_id="The source to delete")
    @app_commands.autocomplete(source_id=admin_source_choices)
    @_checked
    async def source_remove(self, interaction: discord.Interaction[Any], source_id: str) -> None:
        """/source remove: delete a source from the watchlist."""
        await self._edit_and_report(
            interaction,
            "source.remove",
            f"source:{source_id}",
            lambda e: e.remove_source(source_id),
        )

    @source.command(name="list", description="Every feed with its health")
    @_checked
    async def source_list(self, interaction: discord.Interaction[Any]) -> None:
        """/source list: each source's state, failures, last success and last error."""
        await self._defer(interaction)
        states = await asyncio.to_thread(self.bot.services.store.sources)
        configured = self.bot.services.compiled().watchlist.sources
        await self._reply(interaction, format_source_list(states, configured))

    @source.command(name="enable", description="Switch a disabled feed back on")
    @app_commands.rename(source_id="id")
    @app_commands.describe(source_id="The source to re-enable")
    @app_commands.autocomplete(source_id=admin_source_choices)
    @_checked
    async def source_enable(self, interaction: discord.Interaction[Any], source_id: str) -> None:
        """/source enable: on in the watchlist file and in the store, failures reset."""
        await self._defer(interaction)
        services = self.bot.services
        now = services.clock()

        def enable() -> tuple[dict[str, object], dict[str, object]]:
            current = self._current()
            ids = [s.id for s in current.sources]
            if source_id not in ids:
                raise Refused(
                    f"No source `{source_id}` in the watchlist{did_you_mean(source_id, ids)}."
                )
            in_file = current.source(source_id).enabled
            state = services.store.source(source_id)
            off_in_store = state if switched_off(state) else None
            if in_file and off_in_store is None:
                raise Refused(f"Source `{source_id}` is already enabled: nothing changed.")
            if not in_file:
                self._editor.set_source_enabled(source_id, True)
            if off_in_store is not None:
                services.store.set_source_enabled(source_id, True, now)
            return enable_record(in_file, off_in_store)

        try:
            before, after = await self._locked(enable)
        except (Refused, WatchlistError, StoreError) as error:
            await self._reply(interaction, self._refusal(error))
            return
        services.reload()
        await self._audit(interaction, "source.enable", f"source:{source_id}", before, after)
        where = [] if before["enabled"] else ["in the watchlist"]
        if "store_enabled" in before:
            where.append("failures reset, polled on the next turn")
        await self._reply(
            interaction,
            f"Enabled source `{source_id}` ({'; '.join(where)}).\n{_diff_text(before, after)}",
        )
