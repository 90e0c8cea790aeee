"""Read a watchlist from YAML and report every problem at once, each with its file and line.

    text ─ruamel round-trip─► CommentedMap ─plain copy─► dict ─pydantic─► Watchlist
              │ syntax error              │ YAML tags          │ field errors
              └─────────────► FILE:LINE: label: field: message ◄┘ + duplicate ids, unknown refs

Problems read `watchlist.yaml:42: signal 'nato-5pct': query: unexpected ')' at column 17`;
the line comes from ruamel's position info (`.lc`) of the key or item at fault.

Loading is safe: ruamel's round-trip loader builds only plain containers and scalars. A
`!!python/...` tag is kept as a tag on an inert node (never resolved to a Python object), and
we refuse any tag but `!!str` so nothing tagged reaches the schema.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from os import PathLike
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, ReusedAnchorWarning, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from bot.errors import WatchlistError
from bot.matching.normalize import scrub_surrogates
from bot.matching.query import regex_terms
from bot.watchlist.references import (
    REFERENCES_ERROR,
    Loc,
    ReferenceProblem,
    did_you_mean,
    reference_problems,
)
from bot.watchlist.schema import Watchlist

# A small YAML file can alias one list into itself a thousand times over ("billion laughs");
# the plain copy would expand that, so stop long before it hurts.
MAX_NODES = 100_000
# Limits that keep a hostile or mistaken file from stalling the bot: YAML parsing and
# validation cost about 8 s per megabyte, so a file is refused by its size before parsing.
# A real watchlist of a few hundred signals is well under 100 KB.
MAX_WATCHLIST_BYTES = 512 * 1024
MAX_BYTES_ENV = "SIGNALWATCH_MAX_WATCHLIST_BYTES"  # an operator's override of the byte limit
MAX_ITEMS = {"signals": 2_000, "sources": 1_000, "routes": 2_000}
MAX_TEXT_CHARS = 10_000  # any one text value (a query has its own, lower limit)
# Regex terms are run over every item, so their total is what matching an item costs.
MAX_REGEX_TERMS = 200

_STR_TAG = "tag:yaml.org,2002:str"
_SECTION_LABELS = {"signals": "signal", "sources": "source", "routes": "route"}


def make_yaml() -> YAML:
    """A round-trip YAML instance: safe (plain types only), keeps quotes, never re-wraps lines."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    # Long queries stay on one line when the editor writes the file back.
    yaml.width = 4096
    return yaml


def load_document(text: str, filename: str) -> Any:
    """Parse YAML text into ruamel's round-trip tree; a syntax error becomes WatchlistError."""
    try:
        with warnings.catch_warnings():
            # A reused anchor name is legal YAML (the later one wins); not worth failing on.
            warnings.simplefilter("ignore", ReusedAnchorWarning)
            return make_yaml().load(text)
    except MarkedYAMLError as err:
        raise WatchlistError([_syntax_problem(err, filename)]) from None
    except YAMLError as err:
        raise WatchlistError([f"{filename}:1: YAML error: {err}"]) from None
    except RecursionError:
        raise WatchlistError([f"{filename}:1: the YAML is nested too deeply"]) from None
    except Exception as err:
        # ruamel's round-trip reader has corners that fail with something other than a
        # YAMLError (a mapping as a key, some comment placements). It is still bad input,
        # and the running bot must keep its last good watchlist rather than crash.
        raise WatchlistError([_reader_failure(err, filename)]) from None


def max_watchlist_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The byte limit of a watchlist: $SIGNALWATCH_MAX_WATCHLIST_BYTES, else the default."""
    raw = (os.environ if environ is None else environ).get(MAX_BYTES_ENV, "").strip()
    if not raw:
        return MAX_WATCHLIST_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise WatchlistError([f"{MAX_BYTES_ENV} must be a whole number of bytes, not {raw!r}"])
    return int(raw)


def too_big(filename: str, size: int, limit: int) -> WatchlistError:
    """The error of a watchlist over its byte limit."""
    return WatchlistError(
        [
            f"{filename}:1: the file is {size:,} bytes, over the {limit:,}-byte limit"
            f" (raise it with {MAX_BYTES_ENV} if this is really a watchlist)"
        ]
    )


# A block-style list item that starts with its id: a signal or a source, as watchlists are
# written. Counting them costs a regex pass; parsing 13,000 of them costs seconds.
_ID_ITEM = re.compile(r"^[ \t]*-[ \t]+id[ \t]*:", re.MULTILINE)


def _check_item_lines(text: str, filename: str) -> None:
    """Refuse, before the slow YAML parse, a file with more `- id:` items than signals and
    sources together may have (flow-style items are counted after parsing, as before)."""
    limit = MAX_ITEMS["signals"] + MAX_ITEMS["sources"]
    count = sum(1 for _ in _ID_ITEM.finditer(text))
    if count > limit:
        raise WatchlistError(
            [
                f"{filename}:1: too many signals and sources: {count:,} `- id:` items"
                f" (the limits are {MAX_ITEMS['signals']:,} signals and"
                f" {MAX_ITEMS['sources']:,} sources)"
            ]
        )


def parse_watchlist(
    text: str, filename: str = "watchlist.yaml", *, max_bytes: int | None = None
) -> Watchlist:
    """Validate watchlist YAML text; raise WatchlistError listing every problem found."""
    limit = max_watchlist_bytes() if max_bytes is None else max_bytes
    if len(text) > limit:  # characters, a lower bound of bytes: cheap, and before parsing
        raise too_big(filename, len(text), limit)
    _check_item_lines(text, filename)
    document = load_document(text, filename)
    if document is None:
        raise WatchlistError(
            [f"{filename}:1: the file is empty (a watchlist needs at least a 'signals' list)"]
        )
    tag = _explicit_tag(document)
    if tag is not None:
        raise WatchlistError([f"{filename}:1: {_tag_message(tag)}"])
    if not isinstance(document, CommentedMap):
        raise WatchlistError(
            [
                f"{filename}:1: the top level must be a mapping with 'signals' (and optionally "
                f"'version', 'defaults', 'concepts', 'sources', 'routes'), not"
                f" {_describe(document)}"
            ]
        )
    return _Validation(document, filename).run()


def load_watchlist(path: str | PathLike[str], *, max_bytes: int | None = None) -> Watchlist:
    """Read and validate the watchlist file at `path`; raise WatchlistError on any problem.

    A file over `max_bytes` (default: `max_watchlist_bytes()`) is refused before parsing.
    """
    limit = max_watchlist_bytes() if max_bytes is None else max_bytes
    return parse_watchlist(read_text(path, max_bytes=limit), str(path), max_bytes=limit)


def read_text(path: str | PathLike[str], *, max_bytes: int | None = None) -> str:
    """Read a watchlist file as UTF-8 text; unreadable or undecodable files raise WatchlistError."""
    return decode_text(read_bytes(path, max_bytes=max_bytes), str(path))


def read_bytes(path: str | PathLike[str], *, max_bytes: int | None = None) -> bytes:
    """The file's bytes; a file that cannot be read, or is over `max_bytes`, raises WatchlistError.

    `max_bytes` None means no limit (the editor re-reads a file it already accepted).
    """
    try:
        with open(path, "rb") as file:
            if max_bytes is None:
                return file.read()
            size = os.fstat(file.fileno()).st_size
            if size > max_bytes:
                raise too_big(str(path), size, max_bytes)
            # Read one byte past the limit: a file still growing, or a device, stops there.
            data = file.read(max_bytes + 1)
    except OSError as err:
        raise WatchlistError([f"{path}: cannot read the file ({err.strerror or err})"]) from None
    if len(data) > max_bytes:
        raise too_big(str(path), len(data), max_bytes)
    return data


def decode_text(data: bytes, filename: str) -> str:
    """UTF-8 bytes to text with "\n" line ends; bad bytes raise WatchlistError with their line."""
    try:
        # utf-8-sig: editors on Windows like to start the file with a byte-order mark.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise WatchlistError([f"{filename}:{line}: not valid UTF-8 text ({err.reason})"]) from None
    return text.replace("\r\n", "\n")


def to_plain(node: Any) -> Any:
    """A round-trip YAML node as builtin dicts, lists and scalars (tags kept as their text)."""
    if isinstance(node, CommentedMap):
        return {str(key): to_plain(value) for key, value in node.items()}
    if isinstance(node, CommentedSeq):
        return [to_plain(value) for value in node]
    if isinstance(node, TaggedScalar):
        return str(node.value)
    return _builtin_scalar(node)


def _builtin_scalar(node: Any) -> Any:
    # ruamel's ScalarInt, ScalarFloat, ScalarString and ScalarBoolean (an int!) remember their
    # formatting; the schema wants the plain builtins.
    if isinstance(node, bool | ScalarBoolean):
        return bool(node)
    for kind in (int, float, str):
        if isinstance(node, kind):
            return kind(node)
    return node


def _syntax_problem(err: MarkedYAMLError, filename: str) -> str:
    mark = err.problem_mark or err.context_mark
    line = mark.line + 1 if mark is not None else 1
    problem = str(err.problem or err.context or "invalid YAML")
    duplicate = re.match(r'found duplicate key "(.*)" with value', problem)
    if duplicate:
        return f"{filename}:{line}: duplicate key '{duplicate.group(1)}'"
    context = ""
    if err.context and err.context_mark is not None and err.problem:
        context = f" ({err.context} on line {err.context_mark.line + 1})"
    if "'@' that cannot start any token" in problem:
        # YAML reserves "@" at the start of a plain value: a query starting with a concept.
        context += " (put a value that starts with @ in quotes: query: '@pact AND sign')"
    return f"{filename}:{line}: YAML syntax error: {problem}{context}"


def _reader_failure(err: Exception, filename: str) -> str:
    if isinstance(err, TypeError) and "unhashable" in str(err):
        return f"{filename}:1: a key must be a plain value, not a mapping or a list"
    where = re.search(r"line: (\d+)", str(err))
    line = int(where.group(1)) + 1 if where else 1
    if "comment" in str(err):
        return (
            f"{filename}:{line}: the YAML reader cannot place this comment; move it to its own line"
        )
    return f"{filename}:{line}: the YAML reader failed here ({type(err).__name__}: {err})"


def _is_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udfff"


def join_surrogates(text: str) -> str | None:
    """`text` with each surrogate pair ("\\ud83d\\ude42" in YAML) joined into its character;
    None when a lone half remains (no character can stand for it)."""
    if text.isascii() or not any(_is_surrogate(c) for c in text):
        return text
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return None


@dataclass(frozen=True, slots=True, order=True)
class _Problem:
    line: int
    text: str


class _Validation:
    """One validation run: the round-trip tree (for lines), its plain copy, the problems."""

    def __init__(self, document: CommentedMap, filename: str):
        self.document = document
        self.filename = filename
        self.problems: list[_Problem] = []
        self.tagged: list[Loc] = []
        # Problems met while copying; reported once the copy exists to name their items.
        self.copy_problems: list[tuple[Loc, str, int]] = []
        self.nodes = 0
        self.plain: dict[str, Any] = {}

    def run(self) -> Watchlist:
        self._check_counts()
        try:
            plain = self._plain(self.document, (), 1)
        except _TooLarge:
            raise WatchlistError(
                [f"{self.filename}:1: the document is too large (over {MAX_NODES} values)"]
            ) from None
        # parse_watchlist refused a tagged document, so an untagged mapping copies to a dict.
        assert isinstance(plain, dict)
        self.plain = plain
        for loc, message, line in self.copy_problems:
            self._add(loc, message, line)
        watchlist: Watchlist | None = None
        skipped: list[ErrorDetails] = []
        try:
            watchlist = Watchlist.model_validate(plain)
        except ValidationError as err:
            for error in err.errors(include_url=False):
                if error["type"] == REFERENCES_ERROR:
                    skipped.append(error)
                elif not self._under_tag(error["loc"]):
                    self._add_error(error)
        for problem in reference_problems(plain):
            self._add_reference(problem)
        if not self.problems and skipped:
            # The raw data looked fine but the validated data did not (a value normalised into
            # a duplicate); report the model's own wording rather than nothing.
            for error in skipped:
                self._add(error["loc"], str(error["msg"]))
        if watchlist is not None and not self.problems:
            self._check_regexes(watchlist)
        if self.problems or watchlist is None:
            lines = sorted(set(self.problems))
            raise WatchlistError([f"{self.filename}:{p.line}: {p.text}" for p in lines])
        return watchlist

    def _check_regexes(self, watchlist: Watchlist) -> None:
        """Refuse more than MAX_REGEX_TERMS regex terms over the whole watchlist."""
        total = 0
        for index, signal in enumerate(watchlist.signals):
            total += regex_terms(watchlist.query_node(signal))
            if total > MAX_REGEX_TERMS:
                self._add(
                    ("signals", index, "query"),
                    f"the watchlist's queries hold more than {MAX_REGEX_TERMS} regular"
                    " expressions in all (each is run over every item)",
                )
                return

    def _check_counts(self) -> None:
        """Refuse a section with too many items before validating any of them."""
        for section, limit in MAX_ITEMS.items():
            items = self.document.get(section)
            if isinstance(items, CommentedSeq) and len(items) > limit:
                line = _key_line(self.document, section, 1)
                raise WatchlistError(
                    [
                        f"{self.filename}:{line}: too many {section}: {len(items):,}"
                        f" (the limit is {limit:,})"
                    ]
                )

    # --- the plain copy ---

    def _text(self, value: str, loc: Loc, line: int) -> str | None:
        """A string as the schema may see it, or None (and a problem) when it is refused."""
        if len(value) > MAX_TEXT_CHARS:
            problem = f"is {len(value):,} characters long (the limit is {MAX_TEXT_CHARS:,})"
        else:
            joined = join_surrogates(value)
            if joined is not None:
                return joined
            lone = next(c for c in value if _is_surrogate(c))
            problem = (
                f"holds '\\u{ord(lone):04x}', half of a surrogate pair and not a character"
                " (write the character itself, or both halves of its pair)"
            )
        self.tagged.append(loc)  # refused: the schema's complaints about it would be noise
        self.copy_problems.append((loc, problem, line))
        return None

    def _key(self, key: Any, loc: Loc, line: int) -> str:
        """A mapping key as text; a key with a lone surrogate is reported and made printable."""
        text = str(key)
        joined = join_surrogates(text)
        if joined is None:
            self.copy_problems.append((loc, "a key holds half of a surrogate pair", line))
            return scrub_surrogates(text)
        return joined

    def _plain(self, node: Any, loc: Loc, line: int) -> Any:
        """Copy the round-trip tree into dicts, lists and builtin scalars, refusing tags."""
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooLarge
        tag = _explicit_tag(node)
        if tag is not None and tag != _STR_TAG:
            self.tagged.append(loc)
            self.copy_problems.append((loc, _tag_message(tag), line))
            return None
        if isinstance(node, TaggedScalar):
            return self._text(str(node.value), loc, line)
        # No cycle check: ruamel resolves an alias inside its own anchor's node to None.
        if isinstance(node, CommentedMap):
            out: dict[str, Any] = {}
            for key, value in node.items():
                key_line = _key_line(node, key, line)
                name = self._key(key, loc, key_line)
                out[name] = self._plain(value, (*loc, name), key_line)
            return out
        if isinstance(node, CommentedSeq):
            return [
                self._plain(value, (*loc, index), _item_line(node, index, line))
                for index, value in enumerate(node)
            ]
        plain = _builtin_scalar(node)
        return self._text(plain, loc, line) if isinstance(plain, str) else plain

    def _under_tag(self, loc: tuple[int | str, ...]) -> bool:
        return any(loc[: len(tagged)] == tagged for tagged in self.tagged)

    # --- errors to problems ---

    def _add_error(self, error: ErrorDetails) -> None:
        loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            allowed = _field_names(loc[:-1])
            hint = did_you_mean(key, allowed) or f" (expected one of: {', '.join(allowed)})"
            # The unknown key is the subject of the message, not a field to prefix it with.
            self._add(loc, f"unknown key '{key}'{hint}", name_field=False)
        else:
            self._add(loc, _friendly_message(error))

    def _add_reference(self, problem: ReferenceProblem) -> None:
        message = problem.message
        if problem.first is not None:
            message += f" (first defined on line {self._locate(problem.first)[0]})"
        self._add(problem.loc, message)

    def _add(
        self, loc: Loc, message: str, line: int | None = None, *, name_field: bool = True
    ) -> None:
        """Record `label: field: message` for the node at `loc` (or at `line` when given)."""
        found_line, path = self._locate(loc)
        label, rest = self._label(path)
        if not name_field:
            rest = rest[:-1]
        field = ".".join(str(part) for part in rest if isinstance(part, str))
        text = ": ".join(part for part in (label, field, message) if part)
        self.problems.append(_Problem(line if line is not None else found_line, text))

    def _locate(self, loc: Loc) -> tuple[int, Loc]:
        """The 1-based line of the node at `loc`, and the part of `loc` that names real nodes.

        A key that is missing stops the walk at its mapping (the item's line); a string that
        is not a key but is followed by more parts is a pydantic union tag and is skipped.
        """
        node: Any = self.document
        line = 1
        path: list[str | int] = []
        for position, part in enumerate(loc):
            last = position == len(loc) - 1
            if isinstance(node, CommentedMap):
                key = _find_key(node, part)
                if key is _MISSING:
                    if last:
                        path.append(part)
                        break
                    continue
                line = _key_line(node, key, line)
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line = _item_line(node, part, line)
                node = node[part]
            else:
                path.append(part)
                break
            path.append(part)
        return line, tuple(path)

    def _label(self, path: Loc) -> tuple[str, Loc]:
        """ "signal 'id'", "source #2", "route #1", "defaults" or "" and the rest of the path."""
        if not path:
            return "", ()
        section = path[0]
        if section == "defaults" and len(path) > 1:
            return "defaults", path[1:]
        if section == "concepts" and len(path) > 1:
            # A concept's terms are numbered by their lines; "[key]" is pydantic's name for
            # the key itself.
            return f"concept '{path[1]}'", tuple(p for p in path[2:] if p != "[key]")
        kind = _SECTION_LABELS.get(str(section))
        if kind is None or len(path) < 2 or not isinstance(path[1], int):
            return "", path
        index = path[1]
        items = self.plain.get(str(section))
        item = items[index] if isinstance(items, list) and index < len(items) else None
        item_id = item.get("id") if isinstance(item, dict) and kind != "route" else None
        if isinstance(item_id, str) and item_id:
            return f"{kind} '{item_id}'", path[2:]
        return f"{kind} #{index + 1}", path[2:]


class _TooLarge(Exception):
    pass


_MISSING = object()


def _find_key(node: CommentedMap, part: str | int) -> Any:
    if part in node:
        return part
    # Keys were turned into strings for the plain copy (`1: x` becomes "1").
    for key in node:
        if str(key) == str(part):
            return key
    return _MISSING


def _key_line(node: CommentedMap, key: Any, default: int) -> int:
    try:
        return int(node.lc.key(key)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        # Keys pulled in by a merge (`<<: *base`) have no position of their own.
        return int(node.lc.line) + 1 if node.lc.line is not None else default


def _item_line(node: CommentedSeq, index: int, default: int) -> int:
    try:
        return int(node.lc.item(index)[0]) + 1
    except (KeyError, TypeError, AttributeError):
        return default


def _explicit_tag(node: Any) -> str | None:
    tag = getattr(node, "tag", None)
    value = getattr(tag, "value", None)
    return value if isinstance(value, str) else None


def _tag_message(tag: str) -> str:
    short = tag.replace("tag:yaml.org,2002:", "!!")
    return f"YAML tag '{short}' is not allowed (tags are never executed)"


def _field_names(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at `loc`, found by walking the schema's annotations from Watchlist."""
    model: Any = Watchlist
    for part in loc:
        if isinstance(part, int):
            args = [arg for arg in get_args(model) if arg is not type(None)]
            model = args[0] if get_origin(model) is list and args else model
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _unwrap_optional(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return []


def _unwrap_optional(annotation: Any) -> Any:
    args = [arg for arg in get_args(annotation) if arg is not type(None)]
    if get_origin(annotation) is not list and len(args) == 1:
        return args[0]
    return annotation


_TYPE_MESSAGES = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "model_attributes_type": "must be a mapping of keys to values",
}


def _friendly_message(error: ErrorDetails) -> str:
    """Pydantic's message in the watchlist's words: YAML types, no "Value error," prefix."""
    kind = error["type"]
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind in _TYPE_MESSAGES:
        return f"{_TYPE_MESSAGES[kind]} (got {_describe(error['input'])})"
    if kind == "literal_error":
        return f"must be {ctx.get('expected')} (got {_describe(error['input'])})"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "greater_than_equal":
        return f"must be at least {ctx.get('ge')}"
    if kind == "greater_than":
        return f"must be greater than {ctx.get('gt')}"
    return str(error["msg"]).removeprefix("Value error, ")


def _describe(value: Any) -> str:
    """A YAML-flavoured description of a value for "(got …)"."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"'{shown}'"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, date):
        return f"a date ({value.isoformat()}); quote it to make it text"
    return type(value).__name__
