"""The watchlist: what to watch, where to look, where to send alerts; loaded, edited, reloaded.

load_watchlist(path) / parse_watchlist(text, filename) -> Watchlist   raises WatchlistError
WatchlistEditor(path).add_signal(spec) ... -> Change                  validated, atomic
WatchlistReloader(path).check(now) -> Watchlist | None               polling hot reload
"""

from bot.watchlist.editor import Change, WatchlistEditor, atomic_write
from bot.watchlist.fields import Severity, SourceType, format_duration, parse_duration
from bot.watchlist.loader import load_watchlist, parse_watchlist
from bot.watchlist.reload import WatchlistReloader
from bot.watchlist.schema import (
    Defaults,
    RouteSpec,
    SignalSpec,
    SourceSpec,
    Watchlist,
    search_query,
)

__all__ = [
    "Change",
    "Defaults",
    "RouteSpec",
    "Severity",
    "SignalSpec",
    "SourceSpec",
    "SourceType",
    "Watchlist",
    "WatchlistEditor",
    "WatchlistReloader",
    "atomic_write",
    "format_duration",
    "load_watchlist",
    "parse_duration",
    "parse_watchlist",
    "search_query",
]
