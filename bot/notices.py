"""Admin notices that help: coalesced per destination and kind, naming what was lost.

A dead channel used to cost one identical notice per alert, naming only `channel:<id>`. Now
each problem is a typed `Notice`; a `NoticeBatcher` gathers the notices of one (kind,
destination) for a window and renders one message listing the signals, routes and headlines
affected and how many alerts. A key that was just reported waits longer (`repeat_after`)
before its next message, so a channel that stays dead is a notice every few minutes, not
every alert. Paths are shown relative to the watchlist's folder, never as the server's
absolute path.

    notice ─► NoticeBatcher.add(notice, now) ─► due(now) / drain() ─► one text per group
    CoalescingNotifier: the async edge, plain text passed through, Notices batched.

Pure apart from `CoalescingNotifier`, which only awaits its inner notifier: no discord here.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from enum import Enum
from pathlib import PurePath
from typing import Protocol

from bot.model import Alert
from bot.render import digest_safe, truncate

__all__ = [
    "CoalescingNotifier",
    "Notice",
    "NoticeBatcher",
    "NoticeKind",
    "NoticeQueue",
    "QueuedNotifier",
    "TextNotifier",
    "alert_notice",
    "display_destination",
    "display_path",
    "notice_from_json",
    "notice_text",
    "notice_to_json",
    "scrub_paths",
    "source_notice",
    "watchlist_notice",
]

WINDOW = timedelta(seconds=30)  # notices of one kind and destination gathered into one message
REPEAT_AFTER = timedelta(minutes=10)  # a key just reported waits this long before the next one
SHOWN = 5  # signals, routes, headlines or sources named before "and N more"
SHOWN_DETAILS = 10  # distinct error lines (a watchlist's problems) shown before "and N more"
SEEN_LIMIT = 200  # distinct error lines a group remembers, to count each once
NOTICE_LIMIT = 1900  # under Discord's 2000, leaving room for the notifier's prefix


class NoticeKind(Enum):
    """What went wrong; one message per kind and destination."""

    DESTINATION_UNREACHABLE = "destination_unreachable"
    ALERT_DROPPED = "alert_dropped"
    SOURCE_DISABLED = "source_disabled"
    WATCHLIST_INVALID = "watchlist_invalid"
    API_KEY_MISSING = "api_key_missing"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Notice:
    """One problem to tell the admins about, with whatever is known of what it cost.

    `destination` is an alert destination ("channel:<id>", "default", "webhook:<name>", ...);
    `route` a label for the route that sent there; `headline` the lost alert's title;
    `source_id` the source a source notice is about; `path` a file a watchlist notice is
    about (shown relative to the watchlist's folder); `detail` the error, one line.
    """

    kind: NoticeKind
    detail: str = ""
    destination: str | None = None
    signal_id: str | None = None
    route: str | None = None
    headline: str | None = None
    source_id: str | None = None
    path: str | None = None


GroupKey = tuple[NoticeKind, str | None]


def alert_notice(
    alert: Alert,
    detail: str,
    kind: NoticeKind = NoticeKind.DESTINATION_UNREACHABLE,
    route: str | None = None,
) -> Notice:
    """The notice for an alert that was not delivered: its destination, signal and headline."""
    return Notice(
        kind,
        detail,
        destination=alert.destination,
        signal_id=alert.signal_id,
        route=route,
        headline=alert.title or alert.snippet or None,
    )


def source_notice(
    source_id: str, reason: str, kind: NoticeKind = NoticeKind.SOURCE_DISABLED
) -> Notice:
    """The notice for a source switched off (SOURCE_DISABLED, or API_KEY_MISSING)."""
    return Notice(kind, reason, source_id=source_id)


def watchlist_notice(path: str | os.PathLike[str], error: str) -> Notice:
    """The notice for a watchlist file that does not load (the last good one is kept)."""
    return Notice(NoticeKind.WATCHLIST_INVALID, error, path=os.fspath(path))


# --- paths -----------------------------------------------------------------------------------


def display_path(path: str | os.PathLike[str], watchlist_dir: str | os.PathLike[str] | None) -> str:
    """`path` relative to the watchlist's folder when inside it, else just its file name."""
    target = PurePath(path)
    if watchlist_dir is not None:
        for base, candidate in _path_pairs(target, PurePath(watchlist_dir)):
            if candidate.is_relative_to(base):
                relative = candidate.relative_to(base)
                return relative.as_posix() if relative.parts else target.name
    if not target.is_absolute() and ".." not in target.parts:
        return target.as_posix()
    return target.name


def _path_pairs(target: PurePath, folder: PurePath) -> list[tuple[PurePath, PurePath]]:
    """(folder, path) as given, then both made absolute and normalised, to compare them.

    No symlinks are resolved: that would read the disk, and callers pass the paths they use.
    """
    absolute = (PurePath(os.path.abspath(folder)), PurePath(os.path.abspath(target)))
    return [(folder, target), absolute]


def scrub_paths(text: str, watchlist_dir: str | os.PathLike[str] | None) -> str:
    """`text` with the watchlist folder's absolute path removed from the paths it names."""
    if watchlist_dir is None:
        return text
    # Only absolute prefixes: a relative folder is no server path, and its name may be a word.
    prefixes = {os.path.abspath(watchlist_dir)}
    if os.path.isabs(watchlist_dir):
        prefixes.add(os.path.normpath(watchlist_dir))
    # Longest first, so one prefix is not left half-replaced by a shorter one.
    for prefix in sorted((p.rstrip("/\\") for p in prefixes), key=len, reverse=True):
        if not prefix:  # the root folder: every absolute path would be "inside" it
            continue
        text = re.sub(re.escape(prefix) + r"[\\/]", "", text)
        text = re.sub(re.escape(prefix) + r"(?![\w.-])", ".", text)
    return text


# --- rendering -------------------------------------------------------------------------------


def display_destination(destination: str | None) -> str:
    """A destination as admins know it: a channel mention, "the default channel", a webhook."""
    if destination is None:
        return "(unknown)"
    if destination == "default":
        return "the default channel"
    kind, _, rest = destination.partition(":")
    if kind == "channel" and rest.isdigit():
        return f"<#{rest}>"  # a mention of a channel never pings anyone
    if kind == "webhook" and rest:
        return f"webhook `{_inline(rest)}`"
    if kind == "dm" and rest.isdigit():
        return f"DMs to <@{rest}>"  # the notifier posts with every mention switched off
    return f"`{_inline(destination)}`"


def _inline(text: str, limit: int = 80) -> str:
    """Text for inside an inline code span: one line, no backticks, short."""
    return truncate(" ".join(text.replace("`", "ˋ").split()), limit)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _named(items: list[str], total: int, code: bool = True) -> str:
    """The first SHOWN items, comma-separated, then "and N more"."""
    shown = [f"`{_inline(i)}`" if code else i for i in items[:SHOWN]]
    rest = total - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")


@dataclass
class _Group:
    """The notices of one key gathered so far."""

    kind: NoticeKind
    destination: str | None
    opened: datetime
    count: int = 0
    signals: dict[str, None] = field(default_factory=dict)  # insertion-ordered sets
    routes: dict[str, None] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # source id → its latest detail
    headlines: list[str] = field(default_factory=list)
    headline_count: int = 0
    details: list[str] = field(default_factory=list)
    detail_count: int = 0
    seen_details: set[str] = field(default_factory=set)
    paths: dict[str, None] = field(default_factory=dict)

    def add(self, notice: Notice, watchlist_dir: str | os.PathLike[str] | None) -> None:
        """Count one notice in; keep the first few of each list (memory stays bounded)."""
        self.count += 1
        text = scrub_paths(notice.detail, watchlist_dir)
        one_line = truncate(" ".join(text.split()), 300)
        if notice.signal_id:
            self.signals.setdefault(notice.signal_id, None)
        if notice.route:
            self.routes.setdefault(notice.route, None)
        if notice.path:
            self.paths.setdefault(display_path(notice.path, watchlist_dir), None)
        if notice.source_id:
            self.sources[notice.source_id] = one_line
        if notice.headline:
            self.headline_count += 1
            if len(self.headlines) < SHOWN:
                self.headlines.append(truncate(digest_safe(" ".join(notice.headline.split())), 150))
        if notice.source_id is None:
            # A watchlist's error lists its problems one a line: each is its own bullet.
            pieces = text.splitlines() if self.kind in _LISTS_DETAILS else [text]
            for piece in pieces:
                self._note_detail(truncate(" ".join(piece.split()), 300))

    def _note_detail(self, line: str) -> None:
        """Count a distinct detail; keep the first few to show."""
        if not line or line in self.seen_details:
            return
        self.detail_count += 1
        if len(self.seen_details) < SEEN_LIMIT:  # past that, repeats count again: bounded memory
            self.seen_details.add(line)
        if len(self.details) < SHOWN_DETAILS:
            self.details.append(line)

    def render(self) -> str:
        """The one message for this group."""
        lines = [self._head()]
        if self.signals:
            lines.append("Signals: " + _named(list(self.signals), len(self.signals)))
        if self.routes:
            lines.append("Routes: " + _named(list(self.routes), len(self.routes)))
        if self.headlines:
            lines.append("Headlines not delivered:")
            lines += [f"• {h}" for h in self.headlines]
            if self.headline_count > len(self.headlines):
                lines.append(f"… and {self.headline_count - len(self.headlines)} more")
        for source_id, reason in list(self.sources.items())[:SHOWN]:
            lines.append(f"• `{_inline(source_id)}`" + (f": {reason}" if reason else ""))
        if len(self.sources) > SHOWN:
            lines.append(f"… and {len(self.sources) - SHOWN} more sources")
        if self.kind in _LISTS_DETAILS or self.detail_count > 1:
            lines += [f"• {d}" for d in self.details]
            if self.detail_count > len(self.details):
                lines.append(f"… and {self.detail_count - len(self.details)} more")
        hint = _HINTS.get(self.kind)
        if hint:
            lines.append(hint)
        return truncate("\n".join(lines), NOTICE_LIMIT)

    def _head(self) -> str:
        where = display_destination(self.destination)
        alerts = _plural(self.count, "alert")
        reason = f": {self.details[0]}" if self.details and self.detail_count == 1 else ""
        match self.kind:
            case NoticeKind.DESTINATION_UNREACHABLE:
                return f"Cannot deliver to {where}{reason}. {alerts} not delivered."
            case NoticeKind.ALERT_DROPPED:
                return f"{alerts} for {where} given up{reason}."
            case NoticeKind.SOURCE_DISABLED:
                return f"{_plural(len(self.sources) or self.count, 'source')} switched off:"
            case NoticeKind.API_KEY_MISSING:
                count = len(self.sources) or self.count
                return f"{_plural(count, 'source')} off for a missing API key:"
            case NoticeKind.WATCHLIST_INVALID:
                files = ", ".join(f"`{_inline(p)}`" for p in self.paths) or "The watchlist"
                return f"{files} has errors; keeping the last good watchlist:"
            case _:
                if self.destination is not None:
                    return f"Problem with {where} ({_plural(self.count, 'notice')}):"
                return f"{_plural(self.count, 'notice')}:" if self.count > 1 else "Notice:"


# Kinds whose head cannot say the detail, so every distinct one is listed below it.
_LISTS_DETAILS = {NoticeKind.WATCHLIST_INVALID, NoticeKind.OTHER}
_HINTS = {
    NoticeKind.DESTINATION_UNREACHABLE: (
        "Give me access to the channel again, or route these signals elsewhere with /watch route."
    ),
    NoticeKind.SOURCE_DISABLED: "Re-enable a source with /source enable once it is fixed.",
}


# Kinds raised once per alert, so a lasting problem would repeat them: after one is sent, the
# next group of its key waits `repeat_after`. The others are raised once per change already.
_QUIETED = {NoticeKind.DESTINATION_UNREACHABLE, NoticeKind.ALERT_DROPPED}


class NoticeBatcher:
    """Gathers notices per (kind, destination) and says when each group is due to be sent.

    A group opens with its first notice and is due `window` later; for the per-alert kinds,
    if its key was sent less than `repeat_after` ago, once that much time has passed since.
    """

    def __init__(
        self,
        window: timedelta = WINDOW,
        repeat_after: timedelta = REPEAT_AFTER,
        watchlist_dir: str | os.PathLike[str] | None = None,
    ):
        self.window = window
        self.repeat_after = repeat_after
        self.watchlist_dir = watchlist_dir
        self._groups: dict[GroupKey, _Group] = {}
        self._sent: dict[GroupKey, datetime] = {}

    def add(self, notice: Notice, now: datetime) -> None:
        """Count a notice into its group, opening the group at `now` if there is none."""
        key = (notice.kind, notice.destination)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(notice.kind, notice.destination, now)
        group.add(notice, self.watchlist_dir)

    def due_at(self, key: GroupKey) -> datetime | None:
        """When the open group of `key` is due, or None if there is none."""
        group = self._groups.get(key)
        if group is None:
            return None
        due = group.opened + self.window
        sent = self._sent.get(key) if key[0] in _QUIETED else None
        return max(due, sent + self.repeat_after) if sent is not None else due

    def due(self, now: datetime) -> list[str]:
        """One message per group whose time has come, oldest group first; those groups close."""
        ready = []
        for key, group in self._groups.items():
            at = self.due_at(key)
            if at is not None and at <= now:
                ready.append((group.opened, key))
        ready.sort(key=lambda item: item[0])
        out = []
        for _, key in ready:
            out.append(self._groups.pop(key).render())
            self._sent[key] = now
        # Forget keys whose quiet time is over, so a long run does not keep every key.
        for key in [k for k, at in self._sent.items() if at + self.repeat_after <= now]:
            if key not in self._groups:
                del self._sent[key]
        return out

    def drain(self) -> list[str]:
        """Every open group's message now, window or not (on shutdown)."""
        groups = sorted(self._groups.values(), key=lambda g: g.opened)
        self._groups.clear()
        return [group.render() for group in groups]

    def __len__(self) -> int:
        """How many groups are open."""
        return len(self._groups)


def notice_text(notice: Notice, watchlist_dir: str | os.PathLike[str] | None = None) -> str:
    """One notice on its own, as the message a group of one would be."""
    group = _Group(notice.kind, notice.destination, datetime.min)
    group.add(notice, watchlist_dir)
    return group.render()


def notice_to_json(message: str | Notice) -> str:
    """An admin notice as JSON, to cross from a worker to the gateway through the store."""
    if isinstance(message, str):
        return json.dumps({"text": message}, ensure_ascii=False)
    doc = {f.name: getattr(message, f.name) for f in fields(Notice)}
    doc["kind"] = message.kind.value
    return json.dumps({"notice": doc}, ensure_ascii=False)


def notice_from_json(text: str) -> str | Notice:
    """The notice `notice_to_json` wrote; anything unreadable comes back as its text."""
    try:
        doc = json.loads(text)
        if "notice" in doc:
            values = dict(doc["notice"])
            values["kind"] = NoticeKind(values["kind"])
            return Notice(**values)
        return str(doc["text"])
    except (ValueError, KeyError, TypeError):
        return text


# --- the async edge --------------------------------------------------------------------------


class TextNotifier(Protocol):
    """What CoalescingNotifier wraps: anything that posts an admin notice's text."""

    def notify(self, text: str) -> Awaitable[None]:
        """Post one notice."""
        ...


class CoalescingNotifier:
    """A notifier that passes plain text straight on and batches `Notice`s into fewer messages.

    The run loop calls `flush(now)` every turn and `close()` on the way out.
    """

    def __init__(
        self,
        inner: TextNotifier,
        clock: Callable[[], datetime],
        *,
        window: timedelta = WINDOW,
        repeat_after: timedelta = REPEAT_AFTER,
        watchlist_dir: str | os.PathLike[str] | None = None,
    ):
        self.inner = inner
        self.clock = clock
        self.watchlist_dir = watchlist_dir
        self.batcher = NoticeBatcher(window, repeat_after, watchlist_dir)

    async def notify(self, message: str | Notice) -> None:
        """Text now (its watchlist paths made relative); a Notice into its batch."""
        if isinstance(message, Notice):
            self.batcher.add(message, self.clock())
            await self.flush(self.clock())
        else:
            await self.inner.notify(scrub_paths(message, self.watchlist_dir))

    async def flush(self, now: datetime | None = None) -> int:
        """Send every group due at `now` (default: the clock); return how many were sent."""
        messages = self.batcher.due(self.clock() if now is None else now)
        for text in messages:
            await self.inner.notify(text)
        return len(messages)

    async def close(self) -> None:
        """Send whatever is still gathered, due or not."""
        for text in self.batcher.drain():
            await self.inner.notify(text)


class NoticeQueue(Protocol):
    """Where a worker leaves notices for the gateway (the store's `queue_notice`)."""

    def queue_notice(self, payload: str, now: datetime) -> None:
        """Queue one notice's JSON."""
        ...


class QueuedNotifier:
    """A worker's notifier: notices go into the store, and the gateway posts them."""

    def __init__(self, queue: NoticeQueue, clock: Callable[[], datetime]) -> None:
        self.queue = queue
        self.clock = clock

    async def notify(self, message: str | Notice) -> None:
        """Queue the notice (written in a worker thread)."""
        await asyncio.to_thread(self.queue.queue_notice, notice_to_json(message), self.clock())
