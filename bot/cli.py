"""The `signalwatch` command: check, match, eval (and run, preview, sources as they land)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot import __version__
from bot.cli_tools import (
    MAX_INPUT_LINE_BYTES,
    cmd_check,
    cmd_eval,
    cmd_eval_stories,
    cmd_match,
    cmd_search_reach,
    load_matcher,
    watchlist_path,
)
from bot.errors import ParseError, SignalwatchError, WatchlistError
from bot.ops.cliaid import EXIT_USAGE, Deadline, add_help_texts, settings_problems
from bot.ops.progress import progress_bar
from bot.settings import Settings, db_url_problem

if TYPE_CHECKING:
    from bot.pipeline.loop import RunOptions
    from bot.store import Store

__all__ = ["MAX_INPUT_LINE_BYTES", "build_parser", "main"]


def _setup_logging(settings: Settings) -> None:
    from bot.ops.logs import setup_logging

    # Text or JSON lines (SIGNALWATCH_LOG_FORMAT), URLs shortened.
    setup_logging(settings.log_level, settings.log_format)


def cmd_run(args: argparse.Namespace) -> int:
    """Poll, match and deliver until stopped (or once with --once)."""
    from bot.pipeline.loop import RunOptions
    from bot.store import open_store
    from bot.watchlist import load_watchlist

    settings = Settings()
    _setup_logging(settings)
    path = watchlist_path(args)
    load_watchlist(path)  # a bad watchlist fails before any database file is created
    store = open_store(args.db or settings.db)
    try:
        options = RunOptions(once=args.once or args.all, force=args.all, role=args.role)
        db = args.db or settings.db
        return asyncio.run(_run(settings, path, store, args.format, options, db, args.timeout))
    finally:
        store.close()


async def _run(
    settings: Settings,
    path: Path,
    store: Store,
    fmt: Literal["text", "json"],
    options: RunOptions,
    database: str | None = None,
    timeout: float | None = None,
) -> int:
    """Hand the run to the one assembly (bot.app), after saying which webhooks are unset."""
    import os

    from bot.app import Wiring, run_app
    from bot.watchlist import load_watchlist

    watchlist = load_watchlist(path)
    names = {r.webhook for r in watchlist.routes if r.webhook is not None}
    for name in sorted(n for n in names if not os.environ.get(n)):
        logging.getLogger("signalwatch.run").warning(
            "route webhook %s: environment variable %s is not set; its alerts will fail", name, name
        )
    wiring = Wiring(settings, path, store, fmt)
    wiring.observer.database = database
    wiring.observer.poll_all = options.force
    stop = asyncio.Event()
    deadline = Deadline(stop, timeout)
    # A bar over the pass on a terminal; none in JSON output or a long run.
    bar_on = options.once and fmt == "text" and settings.log_format == "text"
    try:
        with progress_bar("polling", enabled=bar_on) as bar:
            wiring.observer.progress = bar
            code = await run_app(wiring, options, stop=stop)
    finally:
        deadline.cancel()
    return deadline.exit_code(code)


def cmd_preview(args: argparse.Namespace) -> int:
    """Fetch and parse one feed; list its entries with the signals each would match."""
    from bot.pipeline.loop import fetch_settings
    from bot.sources.feeds import parse_feed
    from bot.sources.fetch import Fetched, Fetcher, FetchFailed, FetchRequest, FetchResult

    matcher = load_matcher(args)
    # The operator typed this URL on their own machine: private addresses are theirs to read.
    settings = dataclasses.replace(fetch_settings(Settings()), allow_private=True, retries=1)

    async def fetch() -> FetchResult:
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch(FetchRequest("preview", args.url))

    result = asyncio.run(fetch())
    if not isinstance(result, Fetched):
        error = result.error if isinstance(result, FetchFailed) else f"HTTP {result.status}"
        print(f"signalwatch preview: {args.url}: {error}", file=sys.stderr)
        return 1
    try:
        feed = parse_feed(
            "preview", result.body, url=result.final_url, content_type=result.content_type
        )
    except ParseError as exc:
        print(f"signalwatch preview: {args.url}: {exc}", file=sys.stderr)
        return 1
    if feed.dropped:
        print(f"signalwatch preview: {args.url}: {feed.cap_note()}", file=sys.stderr)
    rows = []
    for entry in feed.entries:
        matches = matcher.match(entry.title, entry.summary)
        rows.append((entry, matches))
    if args.json:
        for entry, matches in rows:
            print(
                json.dumps(
                    {
                        "title": entry.title,
                        "link": entry.link,
                        "published": entry.published.isoformat() if entry.published else None,
                        "signals": [
                            {"id": m.signal_id, "terms": m.terms, "snippet": m.snippet}
                            for m in matches
                        ],
                    },
                    ensure_ascii=False,
                )
            )
        return 0
    hits = sum(1 for _, m in rows if m)
    print(f"{feed.title or args.url}: {len(rows)} entries, {hits} would alert")
    for entry, matches in rows:
        when = entry.published.strftime("%Y-%m-%d %H:%M") if entry.published else "undated"
        mark = ", ".join(m.signal_id for m in matches) if matches else "-"
        print(f"  {when}  {entry.title[:90]}")
        print(f"      → {mark}")
    return 0


def _ago(when: datetime | None, now: datetime) -> str:
    """'5m ago' for the past, 'in 5m' for the future, 'never' for None."""
    if when is None:
        return "never"
    seconds = int((now - when).total_seconds())
    span = abs(seconds)
    text = f"{span}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if span >= size:
            text = f"{span // size}{unit}"
            break
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def cmd_sources(args: argparse.Namespace) -> int:
    """Print source health, or enable/disable a source."""
    from bot.pipeline.loop import utc_now
    from bot.store import open_store, source_health

    store = open_store(args.db or Settings().db, read_only=True)
    now = utc_now()
    try:
        if args.action in ("enable", "disable"):
            if not args.source_id:
                print(f"signalwatch sources {args.action}: give a source id", file=sys.stderr)
                return 2
            store.set_source_enabled(args.source_id, args.action == "enable", now)
            print(f"source '{args.source_id}' {args.action}d")
            return 0
        states = store.sources()
        if args.json:
            for s in states:
                print(json.dumps({
                    "id": s.id, "type": s.type, "url": s.url, "enabled": s.enabled,
                    "configured": s.configured,
                    "disabled_reason": s.disabled_reason,
                    "consecutive_failures": s.consecutive_failures,
                    "last_success_at": s.last_success_at.isoformat() if s.last_success_at else None,
                    "last_error": s.last_error, "last_status": s.last_status,
                    "entries_seen": s.entries_seen, "next_poll_at": s.next_poll_at.isoformat(),
                }))  # fmt: skip
            return 0
        if not states:
            print("no sources yet: run `signalwatch run` once to register the watchlist's sources")
            return 0
        # A news API's type follows its id ("gdelt-all (gdelt)"); a feed's, rss, goes unsaid.
        names = {s.id: s.id if s.type == "rss" else f"{s.id} ({s.type})" for s in states}
        width = max(22, *map(len, names.values()))
        print(f"{'source':<{width}} {'state':<9} {'last ok':>10} {'fails':>5} {'http':>4} "
              f"{'seen':>6} {'next poll':>10}  last error")  # fmt: skip
        for s in states:
            state = source_health(s)
            print(
                f"{names[s.id]:<{width}} {state:<9} {_ago(s.last_success_at, now):>10} "
                f"{s.consecutive_failures:>5} {s.last_status or '-':>4} {s.entries_seen:>6} "
                f"{_ago(s.next_poll_at, now):>10}  {s.disabled_reason or s.last_error or ''}"
            )
        return 0
    finally:
        store.close()


def cmd_health(args: argparse.Namespace) -> int:
    """Exit 0 while the run loop's heartbeat is fresh (for container health checks)."""
    import time

    settings = Settings()
    if settings.http_port is not None:  # the run serves /healthz: ask it
        from bot.ops.http import probe_health

        healthy, why = probe_health(settings.http_host, settings.http_port)
        print(why if healthy else f"unhealthy: {why}", file=sys.stdout if healthy else sys.stderr)
        return 0 if healthy else 1
    if settings.heartbeat_file is None:
        print(
            "signalwatch health: set SIGNALWATCH_HTTP_PORT or SIGNALWATCH_HEARTBEAT_FILE",
            file=sys.stderr,
        )
        return 2
    try:
        age = time.time() - settings.heartbeat_file.stat().st_mtime
    except OSError:
        print(f"unhealthy: no heartbeat at {settings.heartbeat_file}", file=sys.stderr)
        return 1
    if age > args.max_age:
        print(f"unhealthy: last heartbeat {age:.0f}s ago", file=sys.stderr)
        return 1
    print(f"healthy: last heartbeat {age:.0f}s ago")
    return 0


SPARK_LEVELS = "▁▂▃▄▅▆▇█"


def _sparkline(counts: Sequence[int]) -> str:
    """One character per day: '·' for none, else a bar as high as the day's share of the max."""
    peak = max(counts, default=0)
    if peak == 0:
        return "·" * len(counts)
    levels = len(SPARK_LEVELS)
    # Ceiling division: any hit shows at least the lowest bar, the busiest day the full one.
    return "".join(
        "·" if count == 0 else SPARK_LEVELS[-(-count * levels // peak) - 1] for count in counts
    )


def _known_signal(args: argparse.Namespace, signal_id: str) -> bool:
    """Whether the watchlist has this signal; if not, say so (with the ids it has)."""
    from bot.watchlist import load_watchlist

    path = watchlist_path(args)
    if not path.exists():
        print(
            f"signalwatch timeline: signal '{signal_id}' has no hits, and there is no watchlist"
            f" at {path} to check the id against (give --watchlist)",
            file=sys.stderr,
        )
        return False
    ids = [s.id for s in load_watchlist(path).signals]
    if signal_id in ids:
        return True
    print(
        f"signalwatch timeline: unknown signal '{signal_id}' (not in {path}, no hits stored);"
        f" signals: {', '.join(ids) or 'none'}",
        file=sys.stderr,
    )
    return False


def cmd_timeline(args: argparse.Namespace) -> int:
    """Print a signal's first and last hit, total and 30-day sparkline; write its chart."""
    from bot.charts import hits_per_day_png
    from bot.pipeline.loop import utc_now
    from bot.store import open_store

    store = open_store(args.db or Settings().db, read_only=True)
    try:
        timeline = store.signal_timeline(args.signal_id, utc_now(), args.days)
    finally:
        store.close()
    if timeline.total == 0 and not _known_signal(args, args.signal_id):
        return 2
    if timeline.total == 0 or timeline.first_hit is None or timeline.last_hit is None:
        note = " (no chart written)" if args.png else ""
        print(f"signal {args.signal_id}: no hits yet{note}")
        return 0
    window = len(timeline.days)
    counts = [count for _, count in timeline.days]
    plural = "" if timeline.total == 1 else "s"
    print(
        f"signal {args.signal_id}: {timeline.total} hit{plural} in total,"
        f" {timeline.window_total} in the last {window} days"
    )
    print(f"first hit  {timeline.first_hit:%Y-%m-%d %H:%M} UTC")
    print(f"last hit   {timeline.last_hit:%Y-%m-%d %H:%M} UTC")
    first_day, last_day = timeline.days[0][0], timeline.days[-1][0]
    print(f"{first_day} {_sparkline(counts)} {last_day}  max {max(counts)}/day")
    if args.png:
        title = f"{args.signal_id} · hits per UTC day, last {window} days"
        png = Path(args.png)
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(hits_per_day_png(timeline.days, title))
        print(f"chart written to {png}")
    return 0


def cmd_feedback(args: argparse.Namespace) -> int:
    """`feedback export`: subscribers' verdicts as labelled JSON lines for `signalwatch eval`."""
    from datetime import timedelta

    from bot.feedback import labelled_items
    from bot.pipeline.loop import utc_now
    from bot.store import open_store

    now = utc_now()
    since = (
        now - timedelta(days=args.since) if args.since else datetime.min.replace(tzinfo=now.tzinfo)
    )
    store = open_store(args.db or Settings().db, read_only=True)
    try:
        judgements = store.feedback_since(since)
    finally:
        store.close()
    export = labelled_items(judgements)
    lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in export.items)
    if args.out in (None, "-"):
        sys.stdout.write(lines)
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(lines, encoding="utf-8")
    window = f"the last {args.since} days" if args.since else "all time"
    positives = sum(1 for item in export.items if item["labels"])
    print(
        f"signalwatch feedback export: {len(export.items)} items ({positives} with a label,"
        f" {len(export.items) - positives} hard negatives only) from {len(judgements)} verdicts"
        f" of {window}; {export.ties} tied (item, signal) verdicts left out"
        + ("" if args.out in (None, "-") else f"; written to {args.out}"),
        file=sys.stderr,
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply the database's schema migrations not applied yet, and say how many ran."""
    from bot.store import open_store

    store = open_store(args.db or Settings().db, migrate=False)
    try:
        applied = store.migrate()
    finally:
        store.close()
    print(f"{applied} migration{'' if applied == 1 else 's'} applied; the schema is current")
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

    evs = sub.add_parser("eval-stories", help="precision/recall of the same-story detector")
    evs.add_argument("files", nargs="+", metavar="FILE.jsonl", help="labelled pairs")
    evs.add_argument("--errors", action="store_true", help="list every wrong and missed merge")
    evs.add_argument(
        "--window-hours",
        type=float,
        default=48,
        metavar="H",
        help="never merge pairs published further apart (default 48; 0 = content only)",
    )
    evs.add_argument("--min-precision", type=float, metavar="P", help="exit 1 below this precision")
    evs.set_defaults(func=cmd_eval_stories)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--db",
            type=_db_url,
            metavar="URL",
            help="database (default: $SIGNALWATCH_DB or sqlite:///signalwatch.db)",
        )
        return p

    run = with_db(with_watchlist(sub.add_parser("run", help="poll, match and deliver alerts")))
    run.add_argument("--once", action="store_true", help="one pass over due sources, then exit")
    run.add_argument(
        "--all", action="store_true", help="with --once: poll every enabled source, due or not"
    )
    run.add_argument("--format", choices=["text", "json"], default="text", help="console output")
    run.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="stop cleanly after this long, keeping what was committed (exit 4)",
    )
    run.set_defaults(func=cmd_run, role="all")

    # The same options for the two roles of a several-process setup on one database.
    for role, text in (
        ("worker", "poll sources only (run any number, on any machine, on one database)"),
        ("gateway", "deliver, post notices, serve Discord and run the once-only jobs (one)"),
    ):
        part = with_db(with_watchlist(sub.add_parser(role, help=text)))
        part.add_argument("--once", action="store_true", help="one pass, then exit")
        part.add_argument(
            "--all", action="store_true", help="with --once: poll every enabled source"
        )
        part.add_argument(
            "--format", choices=["text", "json"], default="text", help="console output"
        )
        part.add_argument(
            "--timeout",
            type=_positive_float,
            metavar="SECONDS",
            help="stop cleanly after this long, keeping what was committed (exit 4)",
        )
        part.set_defaults(func=cmd_run, role=role)

    preview = with_watchlist(sub.add_parser("preview", help="show what one feed would alert"))
    preview.add_argument("url")
    preview.add_argument("--json", action="store_true", help="one JSON object per entry")
    preview.set_defaults(func=cmd_preview)

    sources = with_db(sub.add_parser("sources", help="source health; enable/disable a source"))
    sources.add_argument("action", nargs="?", choices=["list", "enable", "disable"], default="list")
    sources.add_argument("source_id", nargs="?")
    sources.add_argument("--json", action="store_true", help="one JSON object per source")
    sources.set_defaults(func=cmd_sources)

    health = sub.add_parser("health", help="exit 0 while the run loop is alive")
    health.add_argument("--max-age", type=float, default=180, help="seconds (default 180)")
    health.set_defaults(func=cmd_health)

    timeline = sub.add_parser("timeline", help="a signal's hits per day, as text or PNG")
    timeline = with_watchlist(with_db(timeline))
    timeline.add_argument("signal_id", metavar="SIGNAL_ID")
    timeline.add_argument("--png", metavar="FILE", help="also write the hits-per-day chart here")
    timeline.add_argument(
        "--days", type=_positive_int, default=30, metavar="N", help="days to show (default 30)"
    )
    timeline.set_defaults(func=cmd_timeline)

    feedback = sub.add_parser("feedback", help="subscribers' verdicts on alerts")
    feedback_sub = feedback.add_subparsers(
        dest="feedback_command",
        required=True,
        metavar="ACTION",
        help="export: write the verdicts as labelled JSON lines",
    )
    export = with_db(
        feedback_sub.add_parser("export", help="verdicts as labelled JSON lines for eval")
    )
    export.add_argument(
        "--since",
        type=_positive_int,
        metavar="DAYS",
        help="only verdicts of the last DAYS days (default: all)",
    )
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout (- = stdout)")
    export.set_defaults(func=cmd_feedback)
    add_help_texts(feedback_sub)
    reach = with_watchlist(
        sub.add_parser("search-reach", help="what each news-API search returns vs. matches")
    )
    reach.add_argument(
        "--items",
        nargs="+",
        metavar="FILE",
        help="JSON lines (items or story pairs) and feed files (default: tests/data's)",
    )
    reach.add_argument(
        "--api",
        action="append",
        choices=["gdelt", "google_news", "newsapi", "guardian"],
        help="only this API (repeatable; default: all four)",
    )
    reach.set_defaults(func=cmd_search_reach)

    migrate = with_db(sub.add_parser("migrate", help="bring the database schema up to date"))
    migrate.set_defaults(func=cmd_migrate)
    add_help_texts(sub)
    return parser


def _db_url(text: str) -> str:
    """An argparse type: a database URL with its scheme."""
    problem = db_url_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a database URL: expected {problem}")
    return text


def _positive_float(text: str) -> float:
    """An argparse type: a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, not {text}")
    return value


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `signalwatch` command."""
    args = build_parser().parse_args(argv)
    problems = settings_problems()
    if problems:  # every command: one line per bad variable, exit 2
        for line in problems:
            print(f"signalwatch {args.command}: {line}", file=sys.stderr)
        return EXIT_USAGE
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
