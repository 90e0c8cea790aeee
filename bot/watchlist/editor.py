"""Edit the watchlist file in place for admin commands, keeping its comments and layout.

    read file ─► locate the item (ruamel positions) ─► splice new text ─► parse_watchlist
                                                                           │ ok: write atomically
                                                                           └ bad: WatchlistError,
                                                                             file untouched

Only the lines of the item being edited change. A new item is rendered by ruamel in the
file's own list style and inserted after the last item of its list; a changed item is
re-emitted by ruamel from its own lines (so its comments stay); a removed item takes its
lines and, except for the first item, the comment lines directly above it. Everything else
stays byte for byte, which ruamel's whole-document round trip cannot promise (it moves
comments that follow a list's last item). Flow-style lists (`sources: [{...}]`) are rare
enough that they fall back to that whole-document round trip.

Errors from an edit are reported against the proposed text, as `watchlist.yaml (after
edit):LINE: ...`, since that text was never written.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from os import PathLike
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.errors import WatchlistError
from bot.watchlist.fields import format_duration
from bot.watchlist.loader import (
    decode_text,
    load_document,
    make_yaml,
    parse_watchlist,
    read_bytes,
    to_plain,
)
from bot.watchlist.references import did_you_mean
from bot.watchlist.schema import RouteSpec, SignalSpec, SourceSpec, Watchlist

Plain = dict[str, Any]

_ROUTE_KEYS = list(RouteSpec.model_fields)


@dataclass(frozen=True, slots=True)
class Change:
    """What one edit did, for the audit log; `before`/`after` are None where the item is absent."""

    item: str  # "signal 'nato-5pct'", "source 'bbc-world'", "route for 'nato-5pct'"
    before: Plain | None
    after: Plain | None
    watchlist: Watchlist  # the validated result, as now on disk


class WatchlistEditor:
    """Validated, comment-keeping, atomic edits of one watchlist file.

    Each edit re-reads the file, so hand edits made since the last one are kept; when the
    result does not validate it raises WatchlistError and leaves the file as it was.
    """

    def __init__(self, path: str | PathLike[str]):
        self.path = Path(path)
        self.filename = str(path)
        # Admin commands may run edits from worker threads; one edit at a time per file.
        self._lock = threading.Lock()

    # --- signals ---

    def add_signal(self, spec: SignalSpec) -> Change:
        """Append a signal to the `signals` list."""
        after = _spec_to_yaml(spec)

        def edit(doc: _Document) -> tuple[str, Plain | None, Plain | None]:
            return doc.append("signals", after), None, to_plain(after)

        return self._edit(f"signal '{spec.id}'", edit)

    def update_signal(self, signal_id: str, **changes: Any) -> Change:
        """Change fields of a signal; a value of None removes the key (back to its default)."""
        return self._update("signals", "signal", SignalSpec, signal_id, changes)

    def remove_signal(self, signal_id: str) -> Change:
        """Delete a signal (fails if a source or route still names it)."""
        return self._remove("signals", "signal", signal_id)

    # --- sources ---

    def add_source(self, spec: SourceSpec) -> Change:
        """Append a source to the `sources` list."""
        after = _spec_to_yaml(spec)

        def edit(doc: _Document) -> tuple[str, Plain | None, Plain | None]:
            return doc.append("sources", after), None, to_plain(after)

        return self._edit(f"source '{spec.id}'", edit)

    def update_source(self, source_id: str, **changes: Any) -> Change:
        """Change fields of a source; a value of None removes the key (back to its default)."""
        return self._update("sources", "source", SourceSpec, source_id, changes)

    def remove_source(self, source_id: str) -> Change:
        """Delete a source."""
        return self._remove("sources", "source", source_id)

    def set_source_enabled(self, source_id: str, enabled: bool) -> Change:
        """Switch a source on or off."""
        return self.update_source(source_id, enabled=enabled)

    # --- routes ---

    def set_route(
        self, signal: str, *, channel: int | None = None, webhook: str | None = None
    ) -> Change:
        """Send `signal` ("*" = all) to exactly this channel and/or webhook env var name.

        Updates the first route for `signal` in place, or appends one; other routes for the
        same signal are left alone.
        """
        values = {"signal": signal, "channel": channel, "webhook": webhook}

        def edit(doc: _Document) -> tuple[str, Plain | None, Plain | None]:
            index = doc.find("routes", "signal", signal)
            if index is None:
                item = _to_yaml_map({k: v for k, v in values.items() if v is not None})
                return doc.append("routes", item), None, to_plain(item)
            before = doc.plain_item("routes", index)
            text, after = doc.replace(
                "routes", index, lambda item: _apply(item, values, _ROUTE_KEYS)
            )
            return text, before, after

        return self._edit(f"route for '{signal}'", edit)

    def remove_route(self, signal: str) -> Change:
        """Delete the first route for `signal`."""

        def edit(doc: _Document) -> tuple[str, Plain | None, Plain | None]:
            index = doc.find("routes", "signal", signal)
            if index is None:
                raise WatchlistError([f"{self.filename}: no route for '{signal}'"])
            before = doc.plain_item("routes", index)
            return doc.remove("routes", index), before, None

        return self._edit(f"route for '{signal}'", edit)

    # --- the edit cycle ---

    def _update(
        self,
        section: str,
        kind: str,
        model: type[BaseModel],
        item_id: str,
        changes: Mapping[str, Any],
    ) -> Change:
        fields = list(model.model_fields)
        for key in changes:
            if key not in fields:
                hint = did_you_mean(key, fields) or f" (expected one of: {', '.join(fields)})"
                raise WatchlistError(
                    [f"{self.filename}: {kind} '{item_id}': unknown key '{key}'{hint}"]
                )

        def edit(doc: _Document) -> tuple[str, Plain | None, Plain | None]:
            index = doc.require(section, kind, item_id)
            before = doc.plain_item(section, index)
            text, after = doc.replace(section, index, lambda item: _apply(item, changes, fields))
            return text, before, after

        return self._edit(f"{kind} '{item_id}'", edit)

    def _remove(self, section: str, kind: str, item_id: str) -> Change:
        def edit(doc: _Document) -> tuple[str, Plain | None, Plain | None]:
            index = doc.require(section, kind, item_id)
            before = doc.plain_item(section, index)
            return doc.remove(section, index), before, None

        return self._edit(f"{kind} '{item_id}'", edit)

    def _edit(
        self, item: str, edit: Callable[[_Document], tuple[str, Plain | None, Plain | None]]
    ) -> Change:
        with self._lock:
            original = read_bytes(self.path)
            text = decode_text(original, self.filename)
            doc = _Document(text, self.filename)
            new_text, before, after = edit(doc)
            watchlist = parse_watchlist(new_text, f"{self.filename} (after edit)")
            if new_text != doc.text:
                # Keep the file's line ends; we work in "\n" throughout.
                newline = "\r\n" if b"\r\n" in original else "\n"
                data = new_text.replace("\n", newline).encode("utf-8")
                if read_bytes(self.path) != original:
                    raise WatchlistError(
                        [f"{self.filename}: changed on disk during the edit; nothing written"]
                    )
                atomic_write(self.path, data)
            return Change(item, before, after, watchlist)


def atomic_write(path: str | PathLike[str], data: bytes) -> None:
    """Replace the file at `path` with `data` so readers see the old or the new file, never half.

    The temporary file lives in the same directory (os.replace is atomic only within one
    file system) and is fsynced before the rename; the directory is fsynced after it so the
    rename itself survives a crash. A symlink is followed: its target is replaced.
    """
    target = Path(os.path.realpath(path))
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            # mkstemp makes the file 0600; keep the permissions the watchlist had.
            os.chmod(temp, target.stat().st_mode & 0o7777)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # not possible on every platform (Windows); the data itself is synced
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- values to YAML -----------------------------------------------------------------------------


def _spec_to_yaml(spec: BaseModel) -> CommentedMap:
    # exclude_unset: write what the caller gave, so an unset interval keeps following defaults.
    return _to_yaml_map(spec.model_dump(mode="json", exclude_unset=True))


def _to_yaml_map(values: Mapping[str, Any]) -> CommentedMap:
    return CommentedMap((key, _to_yaml(value)) for key, value in values.items())


def _to_yaml(value: Any) -> Any:
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, list | tuple):
        # Short lists (tags, signal scopes) read best on one line.
        seq = CommentedSeq(_to_yaml(item) for item in value)
        seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot write a {type(value).__name__} to the watchlist")


def _apply(item: CommentedMap, changes: Mapping[str, Any], order: list[str]) -> None:
    """Set or (for None) delete keys of `item`; new keys go where the schema's order puts them."""
    for key, value in changes.items():
        if value is None:
            item.pop(key, None)
        elif key in item:
            item[key] = _to_yaml(value)
        else:
            rank = order.index(key) if key in order else len(order)
            earlier = [
                position
                for position, existing in enumerate(item)
                if existing in order and order.index(existing) < rank
            ]
            item.insert(max(earlier) + 1 if earlier else len(item), key, _to_yaml(value))


# --- the document as lines ----------------------------------------------------------------------

_EMPTY_VALUE = re.compile(
    r"(?P<key>[^\s#][^#]*?:)\s*(?:\[\s*\]|~|null|Null|NULL)?\s*(?P<comment>#.*)?"
)


@dataclass(frozen=True, slots=True)
class _Span:
    start: int  # the line with the item's dash
    end: int  # one past the item's last content line
    dash_col: int
    content_col: int


class _Document:
    """The file as lines plus ruamel's tree of it, for locating and splicing items."""

    def __init__(self, text: str, filename: str):
        self.filename = filename
        self.text = text if not text or text.endswith("\n") else text + "\n"
        # Split on "\n" only: str.splitlines also splits on characters YAML keeps in scalars.
        self.lines = [line + "\n" for line in self.text.split("\n")[:-1]]
        tree = load_document(self.text, filename)
        if tree is None:
            tree = CommentedMap()
        if not isinstance(tree, CommentedMap):
            raise WatchlistError([f"{filename}:1: the top level must be a mapping"])
        self.tree = tree

    # --- finding items ---

    def items(self, section: str) -> list[Any]:
        value = self.tree.get(section)
        return list(value) if isinstance(value, CommentedSeq) else []

    def find(self, section: str, key: str, value: str) -> int | None:
        for index, item in enumerate(self.items(section)):
            if isinstance(item, CommentedMap) and item.get(key) == value:
                return index
        return None

    def require(self, section: str, kind: str, item_id: str) -> int:
        index = self.find(section, "id", item_id)
        if index is None:
            ids = [str(item.get("id")) for item in self.items(section) if isinstance(item, Mapping)]
            raise WatchlistError(
                [f"{self.filename}: no {kind} '{item_id}'{did_you_mean(item_id, ids)}"]
            )
        return index

    def plain_item(self, section: str, index: int) -> Plain | None:
        plain = to_plain(self.items(section)[index])
        return plain if isinstance(plain, dict) else None

    # --- edits, each returning the new text ---

    def append(self, section: str, item: CommentedMap) -> str:
        seq = self._block_seq(section)
        if seq is not None:
            last = self._span(seq, len(seq) - 1, section)
            rendered = self._render(item, last.dash_col, last.content_col)
            if len(seq) > 1 and self._blank_above(last):
                rendered = ["\n", *rendered]
            return self._splice(last.end, last.end, rendered)
        dash_col, content_col = self._style()
        rendered = self._render(item, dash_col, content_col)
        if section not in self.tree:
            gap = ["\n"] if self.lines and self.lines[-1].strip() else []
            return "".join([*self.lines, *gap, f"{section}:\n", *rendered])
        key_line = self._empty_key_line(section)
        if key_line is not None:
            return self._splice(key_line, key_line + 1, [self._key_text(key_line, ""), *rendered])
        return self._round_trip(lambda tree: _append_to(tree, section, item))

    def replace(
        self, section: str, index: int, change: Callable[[CommentedMap], None]
    ) -> tuple[str, Plain | None]:
        """The text with item `index` changed by `change`, and the changed item as plain data."""
        seq = self._block_seq(section)
        if seq is not None:
            span = self._span(seq, index, section)
            yaml = self._yaml(span.dash_col, span.content_col)
            try:
                items = yaml.load("".join(self.lines[span.start : span.end]))
            except YAMLError:  # an alias to an anchor outside the item, say
                items = None
            if isinstance(items, CommentedSeq) and len(items) == 1:
                change(items[0])
                text = self._splice(span.start, span.end, self._dump(yaml, items))
                return text, to_plain(items[0])

        item = self.tree[section][index]
        return self._round_trip(lambda _: change(item)), to_plain(item)

    def remove(self, section: str, index: int) -> str:
        seq = self._block_seq(section)
        if seq is None:
            return self._round_trip(lambda tree: tree[section].pop(index))
        span = self._span(seq, index, section)
        start, end = span.start, span.end
        if index > 0:
            # The comment lines right above an item (at the dash's indentation) describe it.
            while start > 0 and self._is_between_comment(self.lines[start - 1], span):
                start -= 1
        before_blank = start > 0 and not self.lines[start - 1].strip()
        if before_blank or (index == 0 and len(seq) > 1):
            while end < len(self.lines) and not self.lines[end].strip():
                end += 1
        if len(seq) > 1:
            return self._splice(start, end, [])
        key_line = self.tree.lc.key(section)[0]
        emptied = self._key_text(key_line, " []")
        return "".join(
            [*self.lines[:key_line], emptied, *self.lines[key_line + 1 : start], *self.lines[end:]]
        )

    # --- helpers ---

    def _block_seq(self, section: str) -> CommentedSeq | None:
        value = self.tree.get(section)
        if isinstance(value, CommentedSeq) and len(value) and not value.fa.flow_style():
            return value
        return None

    def _span(self, seq: CommentedSeq, index: int, section: str) -> _Span:
        """Where item `index` is: its dash line through its last line of content."""
        start = self._dash_line(seq, index)
        content_col = int(seq.lc.item(index)[1])
        if index + 1 < len(seq):
            limit = self._dash_line(seq, index + 1)
        else:
            limit = self._next_key_line(section)
        end = limit
        # Trailing blank lines and comments left of the item's keys belong to what follows.
        while end > start + 1 and not _is_content(self.lines[end - 1], content_col):
            end -= 1
        return _Span(start, end, self.lines[start].index("-"), content_col)

    def _dash_line(self, seq: CommentedSeq, index: int) -> int:
        line, column = seq.lc.item(index)
        # The dash may sit on a line of its own above the content ("-\n    id: x").
        while line > 0 and not self.lines[line][:column].strip().startswith("-"):
            line -= 1
        return int(line)

    def _next_key_line(self, section: str) -> int:
        keys = list(self.tree)
        position = keys.index(section)
        if position + 1 < len(keys):
            return int(self.tree.lc.key(keys[position + 1])[0])
        return len(self.lines)

    def _blank_above(self, span: _Span) -> bool:
        line = span.start - 1
        while line >= 0 and self._is_between_comment(self.lines[line], span):
            line -= 1
        return line >= 0 and not self.lines[line].strip()

    @staticmethod
    def _is_between_comment(line: str, span: _Span) -> bool:
        stripped = line.lstrip()
        return stripped.startswith("#") and len(line) - len(stripped) < span.content_col

    def _empty_key_line(self, section: str) -> int | None:
        """The line of `section:` when its value is empty (nothing, ~ or []) and editable."""
        value = self.tree.get(section)
        if not (value is None or (isinstance(value, CommentedSeq) and not value)):
            return None
        key_line = int(self.tree.lc.key(section)[0])
        if not _EMPTY_VALUE.fullmatch(self.lines[key_line].rstrip("\n")):
            return None
        following = self.lines[key_line + 1 : self._next_key_line(section)]
        if any(line.strip() and not line.lstrip().startswith("#") for line in following):
            return None  # the value sits on a later line (`~` alone); leave it to ruamel
        return key_line

    def _key_text(self, key_line: int, value: str) -> str:
        match = _EMPTY_VALUE.fullmatch(self.lines[key_line].rstrip("\n"))
        if match is None:
            raise WatchlistError([f"{self.filename}:{key_line + 1}: cannot edit this line"])
        comment = f"  {match['comment']}" if match["comment"] else ""
        return f"{match['key']}{value}{comment}\n"

    def _style(self) -> tuple[int, int]:
        """The dash and content columns of list items, copied from the signals list."""
        seq = self._block_seq("signals")
        if seq is None:
            return 2, 4
        span = self._span(seq, 0, "signals")
        return span.dash_col, span.content_col

    @staticmethod
    def _yaml(dash_col: int, content_col: int) -> YAML:
        yaml = make_yaml()
        yaml.indent(mapping=max(2, content_col - dash_col), sequence=content_col, offset=dash_col)
        return yaml

    def _render(self, item: CommentedMap, dash_col: int, content_col: int) -> list[str]:
        yaml = self._yaml(dash_col, content_col)
        return self._dump(yaml, CommentedSeq([item]))

    @staticmethod
    def _dump(yaml: YAML, data: Any) -> list[str]:
        buffer = io.StringIO()
        yaml.dump(data, buffer)
        return buffer.getvalue().splitlines(keepends=True)

    def _splice(self, start: int, end: int, new: list[str]) -> str:
        return "".join([*self.lines[:start], *new, *self.lines[end:]])

    def _round_trip(self, change: Callable[[CommentedMap], Any]) -> str:
        dash_col, content_col = self._style()
        change(self.tree)
        return "".join(self._dump(self._yaml(dash_col, content_col), self.tree))


def _append_to(tree: CommentedMap, section: str, item: CommentedMap) -> None:
    value = tree.get(section)
    if isinstance(value, CommentedSeq):
        value.append(item)
    else:
        tree[section] = CommentedSeq([item])


def _is_content(line: str, content_col: int) -> bool:
    """Whether a line belongs to the item above: not blank, and not a comment left of its keys."""
    stripped = line.lstrip()
    if not stripped:
        return False
    return not stripped.startswith("#") or len(line) - len(stripped) >= content_col
