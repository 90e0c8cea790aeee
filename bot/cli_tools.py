"""`signalwatch check`, `match`, `eval` and `eval-stories`: the watchlist's tools, which read
files and print, and never touch the database or the network."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from bot.errors import SignalwatchError
from bot.evaluation import evaluate_file, format_report
from bot.matching import Matcher
from bot.matching.normalize import scrub_surrogates
from bot.model import Match
from bot.ops.progress import count_lines, progress_bar
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.sources.search.reach import SignalQueries
    from bot.watchlist import Watchlist

__all__ = [
    "MATCH_USAGE",
    "MAX_INPUT_LINE_BYTES",
    "cmd_check",
    "cmd_eval",
    "cmd_eval_stories",
    "cmd_match",
    "cmd_search_reach",
    "load_matcher",
    "watchlist_path",
]


def watchlist_path(args: argparse.Namespace) -> Path:
    """The watchlist a command reads: --watchlist, else SIGNALWATCH_WATCHLIST, else the default."""
    return Path(args.watchlist) if args.watchlist else Settings().watchlist


def load_matcher(args: argparse.Namespace) -> Matcher:
    """Load and validate the watchlist, and compile its enabled signals."""
    from bot.watchlist import load_watchlist

    watchlist = load_watchlist(watchlist_path(args))
    return Matcher.compile((s.id, watchlist.query_node(s)) for s in watchlist.signals if s.enabled)


def _match_json(item_id: Any, matches: list[Match]) -> str:
    """One output line of `signalwatch match`."""
    return json.dumps(
        {
            "id": _echo_id(item_id),
            "signals": [
                {"id": m.signal_id, "terms": m.terms, "snippet": m.snippet} for m in matches
            ],
        },
        ensure_ascii=False,
        allow_nan=False,
    )


def _echo_id(item_id: Any) -> Any:
    """An input id as it can be echoed in valid JSON.

    Strings (lone surrogates as U+FFFD), finite numbers, true/false and null as they are;
    NaN and ±Infinity as the strings "NaN", "Infinity", "-Infinity"; lists and objects as null.
    """
    if isinstance(item_id, str):
        return scrub_surrogates(item_id)
    if isinstance(item_id, float) and not math.isfinite(item_id):
        return json.dumps(item_id)  # Python's own spelling of the constant
    if item_id is None or isinstance(item_id, bool | int | float):
        return item_id
    return None


def _explain_text(text: str, matches: list[Match]) -> str:
    """The human-readable answer of `signalwatch match --text`."""
    if not matches:
        return f"no signal matches: {text!r}"
    lines = []
    for m in matches:
        where = ", ".join(f"{h.text!r} ({h.field})" for h in m.hits)
        lines += [f"✔ {m.signal_id}", f"    matched: {where}", f"    snippet: {m.snippet}"]
    return "\n".join(lines)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate the watchlist: exit 0 when valid, the errors on stderr and exit 1 when not."""
    from bot.watchlist import load_watchlist

    path = watchlist_path(args)
    watchlist = load_watchlist(path)
    Matcher.compile((s.id, watchlist.query_node(s)) for s in watchlist.signals)
    enabled = sum(1 for s in watchlist.signals if s.enabled)
    concepts = f"{len(watchlist.concepts)} concepts, " if watchlist.concepts else ""
    print(
        f"{path}: ok — {len(watchlist.signals)} signals ({enabled} enabled), "
        f"{concepts}{len(watchlist.sources)} sources, {len(watchlist.routes)} routes"
    )
    for name in watchlist.unused_concepts():
        print(
            f"{path}: warning: concept '{name}' is not named by any query (@{name})",
            file=sys.stderr,
        )
    for line in _search_warnings(watchlist):
        print(f"{path}: warning: {line}", file=sys.stderr)
    return 0


def _search_warnings(watchlist: Watchlist) -> list[str]:
    """What each news-API source cannot search for (a warning: feeds still cover it)."""
    from bot.sources.search.coverage import search_coverage

    lines = []
    for source in watchlist.enabled_sources():
        if not source.is_search:
            continue
        queries = [(s.id, watchlist.search_query(s)) for s in watchlist.signals_for(source)]
        for signal_id, reason in search_coverage(source.type, queries).unsearchable.items():
            lines.append(
                f"source '{source.id}' ({source.type}) cannot search for signal '{signal_id}':"
                f" {reason} — give the signal a `search:` query"
            )
    return lines


# One input line (one item) at most; longer lines are reported and skipped, not read whole.
MAX_INPUT_LINE_BYTES = 1 << 20
_BOM = b"\xef\xbb\xbf"


def _read_lines(path: str) -> BinaryIO:
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def _input_lines(stream: BinaryIO) -> Iterator[bytes | None]:
    """Each line's bytes; None for a line over MAX_INPUT_LINE_BYTES (its rest is skipped)."""
    while True:
        line = stream.readline(MAX_INPUT_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_INPUT_LINE_BYTES and not line.endswith(b"\n"):
            while True:
                rest = stream.readline(1 << 16)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line


def _parse_item(raw: bytes | None, number: int) -> tuple[Any, str, str]:
    """(id, title, summary) of one input line; ValueError says what is wrong with it."""
    if raw is None:
        raise ValueError(f"line longer than {MAX_INPUT_LINE_BYTES:,} bytes")
    if number == 1 and raw.startswith(_BOM):
        raw = raw[len(_BOM) :]  # a byte-order mark from a Windows editor is not an error
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not valid UTF-8 (byte {exc.start + 1}: {exc.reason})") from None
    try:
        item = json.loads(line)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    if not isinstance(item, dict):
        raise ValueError("expected a JSON object")
    missing = [k for k in ("id", "title", "summary") if k not in item]
    if missing:
        raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
    title, summary = item["title"], item["summary"]
    if not isinstance(title, str) or not isinstance(summary, (str, type(None))):
        raise ValueError("'title' and 'summary' must be strings")
    return item["id"], title, summary or ""


MATCH_USAGE = """signalwatch match: items on stdin (JSON lines: id, title, summary), or --text:
  signalwatch match --text "NATO allies agree to spend 5% of GDP on defence"
  signalwatch match --input items.jsonl
  echo '{"id": 1, "title": "...", "summary": ""}' | signalwatch match"""


def cmd_match(args: argparse.Namespace) -> int:
    """Match JSON-lines items (or one --text) against the watchlist."""
    if args.text is None and args.input == "-" and sys.stdin.isatty():
        # Nothing piped in: waiting silently for typed JSON helps no one.
        print(MATCH_USAGE, file=sys.stderr)
        return 2
    matcher = load_matcher(args)
    if args.text is not None:
        print(_explain_text(args.text, matcher.match(args.text, "")))
        return 0
    failures = 0
    stream = _read_lines(args.input)
    try:
        for number, raw in enumerate(_input_lines(stream), start=1):
            if raw is not None and not raw.strip():
                continue
            try:
                item_id, title, summary = _parse_item(raw, number)
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                failures += 1
                message = scrub_surrogates(f"{args.input}:{number}: {exc}")
                print(f"signalwatch match: {message}", file=sys.stderr)
                # Keep one output line per input line, so outputs still line up with inputs.
                print(json.dumps({"id": None, "line": number, "error": message, "signals": []}))
                continue
            print(_match_json(item_id, matcher.match(title, summary)))
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return 1 if failures else 0


def _no_empty_files(files: Sequence[str]) -> None:
    """Raise SignalwatchError naming a file with no labelled lines: it would score 1.000."""
    for name in files:
        with open(name, "rb") as handle:
            if not any(line.strip() for line in handle):
                raise SignalwatchError(f"{name}: no labelled items (the file is empty)")


def cmd_eval(args: argparse.Namespace) -> int:
    """Precision, recall and F1 per signal on labelled JSON lines; exit 1 under --min-macro-f1."""
    matcher = load_matcher(args)
    _no_empty_files(args.files)
    with progress_bar("eval", count_lines(args.files)) as bar:
        report = evaluate_file(matcher, [Path(p) for p in args.files], on_item=bar.advance)
    print(format_report(report, show_errors=args.errors))
    if args.min_macro_f1 is not None and report.macro_f1 < args.min_macro_f1:
        print(
            f"signalwatch eval: macro-F1 {report.macro_f1:.3f} is below the floor "
            f"{args.min_macro_f1:.3f}",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_eval_stories(args: argparse.Namespace) -> int:
    """Precision, recall and F1 of the same-story detector on labelled pairs files."""
    from datetime import timedelta

    from bot.story_eval import evaluate_pairs_file, format_story_report

    window = None if args.window_hours <= 0 else timedelta(hours=args.window_hours)
    _no_empty_files(args.files)
    paths = [Path(p) for p in args.files]
    with progress_bar("eval-stories", count_lines(args.files)) as bar:
        report = evaluate_pairs_file(paths, window=window, on_pair=bar.advance)
    print(format_story_report(report, show_errors=args.errors))
    if args.min_precision is not None and report.precision < args.min_precision:
        print(
            f"signalwatch eval-stories: precision {report.precision:.3f} is below the floor "
            f"{args.min_precision:.3f}",
            file=sys.stderr,
        )
        return 1
    return 0


# What `search-reach` reads when no --items are given: the repository's real news items.
REACH_ITEMS = ("tests/data/labelled/*.jsonl", "tests/data/stories/*.jsonl", "tests/data/feeds/*")


def cmd_search_reach(args: argparse.Namespace) -> int:
    """Per news API and signal: items the search would return against items the signal matches."""
    from bot.sources.search.reach import format_table, load_items, measure
    from bot.watchlist import load_watchlist

    watchlist = load_watchlist(watchlist_path(args))
    paths = [Path(p) for p in args.items] if args.items else _reach_defaults()
    if not paths:
        raise SignalwatchError(
            "search-reach: no items: pass --items FILE... (JSON lines or feeds); the default"
            f" files ({', '.join(REACH_ITEMS)}) are not here"
        )
    items = load_items(paths)
    signals = [s for s in reach_signals(watchlist) if watchlist.signal(s.signal_id).enabled]
    apis = args.api or None
    rows = measure(signals, items, apis) if apis else measure(signals, items)
    print(format_table(rows, len(items)))
    return 0


def _reach_defaults() -> list[Path]:
    return sorted(
        p
        for pattern in REACH_ITEMS
        for p in Path().glob(pattern)
        if p.is_file() and p.name != "README.md"
    )


def reach_signals(watchlist: Watchlist) -> list[SignalQueries]:
    """Each signal's own query and its news-API search, concepts written out in both."""
    from bot.matching.concepts import expand_concepts
    from bot.sources.search.reach import SignalQueries

    return [
        SignalQueries(s.id, expand_concepts(s.query, watchlist.concepts), watchlist.search_query(s))
        for s in watchlist.signals
    ]
