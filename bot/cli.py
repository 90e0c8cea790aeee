"""The `signalwatch` command: check, match, eval (and run, preview, sources as they land)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bot import __version__
from bot.errors import SignalwatchError, WatchlistError
from bot.evaluation import evaluate_file, format_report
from bot.matching import Matcher
from bot.model import Match
from bot.settings import Settings

__all__ = ["main"]


def _watchlist_path(args: argparse.Namespace) -> Path:
    """--watchlist, else SIGNALWATCH_WATCHLIST, else ./watchlist.yaml."""
    return Path(args.watchlist) if args.watchlist else Settings().watchlist


def _load_matcher(args: argparse.Namespace) -> Matcher:
    """Load and validate the watchlist, and compile its enabled signals."""
    from bot.watchlist import load_watchlist

    watchlist = load_watchlist(_watchlist_path(args))
    return Matcher.compile((s.id, s.query) for s in watchlist.signals if s.enabled)


def _match_json(item_id: Any, matches: list[Match]) -> str:
    """One output line of `signalwatch match`."""
    return json.dumps(
        {
            "id": item_id,
            "signals": [
                {"id": m.signal_id, "terms": m.terms, "snippet": m.snippet} for m in matches
            ],
        },
        ensure_ascii=False,
    )


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

    path = _watchlist_path(args)
    watchlist = load_watchlist(path)
    Matcher.compile((s.id, s.query) for s in watchlist.signals)
    enabled = sum(1 for s in watchlist.signals if s.enabled)
    print(
        f"{path}: ok — {len(watchlist.signals)} signals ({enabled} enabled), "
        f"{len(watchlist.sources)} sources, {len(watchlist.routes)} routes"
    )
    return 0


def _read_lines(path: str) -> TextIO:
    return sys.stdin if path == "-" else open(path, encoding="utf-8")


def cmd_match(args: argparse.Namespace) -> int:
    """Match JSON-lines items (or one --text) against the watchlist."""
    matcher = _load_matcher(args)
    if args.text is not None:
        print(_explain_text(args.text, matcher.match(args.text, "")))
        return 0
    failures = 0
    stream = _read_lines(args.input)
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise ValueError("expected a JSON object")
                missing = [k for k in ("id", "title", "summary") if k not in item]
                if missing:
                    raise ValueError(f"missing {', '.join(repr(k) for k in missing)}")
                title, summary = item["title"], item["summary"]
                if not isinstance(title, str) or not isinstance(summary, (str, type(None))):
                    raise ValueError("'title' and 'summary' must be strings")
            except ValueError as exc:  # json.JSONDecodeError is a ValueError
                failures += 1
                message = f"{args.input}:{number}: {exc}"
                print(f"signalwatch match: {message}", file=sys.stderr)
                # Keep one output line per input line, so outputs still line up with inputs.
                print(json.dumps({"id": None, "line": number, "error": message, "signals": []}))
                continue
            print(_match_json(item["id"], matcher.match(title, summary or "")))
    finally:
        if stream is not sys.stdin:
            stream.close()
    return 1 if failures else 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Precision, recall and F1 per signal on labelled JSON lines; exit 1 under --min-macro-f1."""
    matcher = _load_matcher(args)
    report = evaluate_file(matcher, [Path(p) for p in args.files])
    print(format_report(report, show_errors=args.errors))
    if args.min_macro_f1 is not None and report.macro_f1 < args.min_macro_f1:
        print(
            f"signalwatch eval: macro-F1 {report.macro_f1:.3f} is below the floor "
            f"{args.min_macro_f1:.3f}",
            file=sys.stderr,
        )
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="signalwatch", description="Watch the news for the geopolitical signals you track."
    )
    parser.add_argument("--version", action="version", version=f"signalwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_watchlist(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--watchlist",
            metavar="PATH",
            help="watchlist file (default: $SIGNALWATCH_WATCHLIST or ./watchlist.yaml)",
        )
        return p

    check = with_watchlist(sub.add_parser("check", help="validate the watchlist"))
    check.set_defaults(func=cmd_check)

    match = with_watchlist(sub.add_parser("match", help="match news items against the signals"))
    source = match.add_mutually_exclusive_group()
    source.add_argument(
        "--input",
        default="-",
        metavar="FILE",
        help="JSON lines with id, title, summary (- = stdin)",
    )
    source.add_argument("--text", help="explain the match of one headline, for humans")
    match.set_defaults(func=cmd_match)

    ev = with_watchlist(sub.add_parser("eval", help="precision/recall on a labelled set"))
    ev.add_argument("files", nargs="+", metavar="FILE.jsonl")
    ev.add_argument("--errors", action="store_true", help="list every false positive/negative")
    ev.add_argument("--min-macro-f1", type=float, metavar="F", help="exit 1 below this macro-F1")
    ev.set_defaults(func=cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `signalwatch` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except WatchlistError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    except (SignalwatchError, OSError) as exc:
        print(f"signalwatch {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
