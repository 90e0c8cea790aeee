"""The command line's aids: exit codes, settings checked up front, help texts with examples.

Exit codes (every command):
    0  done
    1  failed: a bad watchlist or input, an error while running
    2  usage: a bad argument or environment variable (settings), nothing was done
    3  `run --once`: every source polled failed (offline? every feed down?)
    4  `run --once --timeout S`: the deadline passed first; what was committed is kept
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from pydantic import ValidationError

from bot.ops.config import SETTINGS_MODELS, settings_error_lines

__all__ = [
    "EXIT_ALL_FAILED",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "Deadline",
    "add_help_texts",
    "settings_problems",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ALL_FAILED = 3
EXIT_TIMEOUT = 4


def settings_problems() -> list[str]:
    """Read every settings model from the environment; one line per bad variable."""
    from bot.chat.settings import DiscordSettings
    from bot.settings import Settings

    lines: list[str] = []
    for model in (Settings, DiscordSettings):
        try:
            model()
        except ValidationError as exc:
            if exc.title not in SETTINGS_MODELS:
                raise
            lines += settings_error_lines(exc.errors())
    return lines


# name → (what it does, examples). Commands without an entry keep argparse's defaults.
HELP: dict[str, tuple[str, str]] = {
    "check": (
        "Validate the watchlist: every query parses, every route and source is sound.",
        "signalwatch check --watchlist watchlist.yaml",
    ),
    "match": (
        "Match news items (JSON lines with id, title, summary) against the signals, or explain"
        " the match of one headline with --text.",
        'signalwatch match --text "NATO allies agree to spend 5% of GDP on defence"\n'
        "  signalwatch match --input items.jsonl > matches.jsonl",
    ),
    "eval": (
        "Precision, recall and F1 per signal on labelled JSON lines (id, title, summary, labels).",
        "signalwatch eval labelled.jsonl --errors --min-macro-f1 0.9",
    ),
    "eval-stories": (
        "Precision and recall of the same-story detector on labelled pairs.",
        "signalwatch eval-stories pairs.jsonl --min-precision 0.95",
    ),
    "search-reach": (
        "For each news API and signal: how many items the API's search would return (its"
        " syntax read by a reference implementation) against how many the signal's own query"
        " matches, the ratio, and every match the search would miss.",
        "signalwatch search-reach\n"
        "  signalwatch search-reach --api newsapi --items items.jsonl feed.xml",
    ),
    "run": (
        "Poll the sources, match, and deliver alerts: to Discord with SIGNALWATCH_DISCORD_TOKEN,"
        " to webhooks named by routes, else to the console. Exit codes: 0 done, 1 failed,"
        " 2 bad settings, 3 every polled source failed (--once), 4 --timeout reached.",
        "signalwatch run\n  signalwatch run --once --timeout 120   # from cron",
    ),
    "worker": (
        "Poll sources only, as one of any number of workers sharing one database (PostgreSQL):"
        " claim due sources, fetch, match, commit. Admin notices go to the gateway through the"
        " database; the watchlist is the one the gateway published there.",
        "SIGNALWATCH_DB=postgresql://sw@db/sw signalwatch worker",
    ),
    "gateway": (
        "The one process beside the workers: Discord (or the console), delivery, admin notices,"
        " digests, pruning; it syncs sources from the watchlist and publishes it to the workers.",
        "SIGNALWATCH_DB=postgresql://sw@db/sw signalwatch gateway --format json",
    ),
    "feedback": (
        "Subscribers' 👍 / 👎 verdicts on alerts. `export` writes them as labelled JSON lines"
        " (the schema of tests/data/labelled) that `signalwatch eval` reads: an item's majority"
        " 👍 on a signal labels it, a majority 👎 makes it a hard negative; ties are left out"
        " and counted.",
        "signalwatch feedback export --since 30 --out feedback.jsonl\n"
        "  signalwatch eval feedback.jsonl --errors",
    ),
    "export": (
        "Write subscribers' verdicts as labelled JSON lines for `signalwatch eval` (provenance"
        ' "feedback"): majority 👍 on signal S → labels [S]; majority 👎 → hard_negative_for'
        " [S]; ties left out and counted on stderr.",
        "signalwatch feedback export --since 30 --out feedback.jsonl",
    ),
    "migrate": (
        "Bring the database's schema up to date (run, worker and gateway also do at start).",
        "signalwatch migrate --db postgresql://sw@db/sw",
    ),
    "preview": (
        "Fetch one feed and list its entries with the signals each would alert.",
        "signalwatch preview https://feeds.bbci.co.uk/news/world/rss.xml",
    ),
    "sources": (
        "List the sources with their health, or switch one on or off.",
        "signalwatch sources\n  signalwatch sources disable bbc-world",
    ),
    "health": (
        "Exit 0 while the run loop's heartbeat file is fresh (a container health check).",
        "SIGNALWATCH_HEARTBEAT_FILE=/data/.heartbeat signalwatch health --max-age 180",
    ),
    "timeline": (
        "A signal's first and last hit, its total, and hits per day as a sparkline or a PNG.",
        "signalwatch timeline nato-5pct --png nato.png",
    ),
}

POSITIONALS: dict[tuple[str, str], str] = {
    ("eval", "files"): "labelled JSON-lines files",
    ("eval-stories", "files"): "labelled pairs files (JSON lines)",
    ("preview", "url"): "the feed's URL",
    ("sources", "action"): "list (default), enable or disable",
    ("sources", "source_id"): "the source to enable or disable",
    ("timeline", "signal_id"): "the signal's id, as in the watchlist",
}


def add_help_texts(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Give each known subcommand a description, an example, and help on its positionals."""
    for name, parser in sub.choices.items():
        if name in HELP:
            description, example = HELP[name]
            parser.description = description
            parser.epilog = f"example:\n  {example}"
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in parser._actions:
            if not action.option_strings and action.help is None:
                action.help = POSITIONALS.get((name, action.dest))


class Deadline:
    """`run --timeout`: sets the run's stop event when the time is up, and says so."""

    def __init__(self, stop: asyncio.Event, seconds: float | None) -> None:
        self.passed = False
        self._stop = stop
        self._seconds = seconds
        self._timer = None
        if seconds is not None:
            self._timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self.passed = True
        logging.getLogger("signalwatch.run").warning(
            "--timeout %g s reached: stopping; what was committed is kept", self._seconds
        )
        self._stop.set()

    def cancel(self) -> None:
        """The run ended first."""
        if self._timer is not None:
            self._timer.cancel()

    def exit_code(self, code: int) -> int:
        """The run's own code, or EXIT_TIMEOUT when the deadline stopped a clean run."""
        return EXIT_TIMEOUT if self.passed and code in (EXIT_OK, EXIT_ALL_FAILED) else code
