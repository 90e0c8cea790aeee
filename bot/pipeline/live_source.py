"""Where a process's watchlist comes from, and how it hears of a new one.

    the file   (run, gateway)   WatchlistReloader: re-read when it changes; a broken edit keeps
                                the last good one. The gateway also publishes each good one to
                                the store (`save_watchlist`), as the live watchlist.
    the store  (worker)         the newest version the gateway published, checked every turn
                                (one indexed read): an admin's edit reaches a worker on another
                                host within a turn or two. Until there is one, the file.

Blocking (files, the store): the loop calls these in a worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from bot.errors import StoreError, WatchlistError
from bot.store import Store
from bot.watchlist import Watchlist, WatchlistReloader, parse_watchlist

__all__ = ["WatchlistSource"]

log = logging.getLogger("signalwatch.run")


class WatchlistSource:
    """The watchlist of one process: from its file, or the live one in the store."""

    def __init__(
        self,
        path: Path,
        store: Store,
        clock: Callable[[], datetime],
        *,
        follow_store: bool = False,
        publish: bool = False,
    ) -> None:
        self.path = path
        self.store = store
        self.clock = clock
        self.follow_store = follow_store
        self.publish = publish
        self.reloader = WatchlistReloader(path)
        self.version = 0  # of the store's live watchlist this process runs (follow_store)
        self._seen = 0  # the newest version read from the store, good or not
        self._unpublished = False  # a good file the store has not taken yet
        self._store_error: WatchlistError | None = None

    @property
    def last_error(self) -> WatchlistError | None:
        """The error of the newest watchlist seen when it is broken (the last good runs)."""
        return self._store_error if self._seen else self.reloader.last_error

    @property
    def name(self) -> str:
        """Where the watchlist in force came from, for logs."""
        return f"the store's live watchlist v{self.version}" if self.version else str(self.path)

    def load(self) -> Watchlist:
        """The watchlist to start with; WatchlistError when there is none to be had."""
        if self.follow_store:
            fresh = self._from_store()
            if fresh is not None:
                return fresh
            log.info("no live watchlist in the store yet: starting from %s", self.path)
        watchlist = self.reloader.load(self.clock())
        self._publish()
        return watchlist

    def check(self) -> Watchlist | None:
        """A newer good watchlist, or None (unchanged, or broken: see `last_error`)."""
        if self.follow_store:
            fresh = self._from_store()
            if fresh is not None or self._seen:
                return fresh
        fresh = self.reloader.check(self.clock())
        if fresh is not None or self._unpublished:
            self._publish()
        return fresh

    def _from_store(self) -> Watchlist | None:
        latest = self.store.latest_watchlist(after=max(self.version, self._seen))
        if latest is None:
            return None
        version, text = latest
        self._seen = version  # a broken version is read once, not every turn
        try:
            watchlist = parse_watchlist(text, f"{self.path.name} (live v{version})")
        except WatchlistError as err:
            self._store_error = err
            return None
        self.version, self._store_error = version, None
        return watchlist

    def _publish(self) -> None:
        """Make the file's good watchlist the live one, for workers elsewhere."""
        if not self.publish:
            return
        try:
            text = self.path.read_text(encoding="utf-8")
            self.store.save_watchlist(text, self.clock())
        except (OSError, StoreError) as err:
            # Applied here all the same; published again on every check until it is.
            log.warning("could not publish %s to the store (will retry): %s", self.path, err)
            self._unpublished = True
            return
        self._unpublished = False
