"""Hot reload by polling: the caller asks "anything new?" as often as it likes.

    stat ─same (mtime, size, inode)─► None
      └ changed ─► read + sha256 ─same content─► None
                                  └ new ─► parse ─ok─► new Watchlist
                                                 └ bad─► None, last_error set, last good kept

No threads and no file-watching dependency: the scheduler calls `check(now)` on its own
cadence, and a test calls it directly.
"""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime
from os import PathLike
from pathlib import Path

from bot.errors import WatchlistError
from bot.matching.normalize import scrub_surrogates
from bot.watchlist.loader import (
    decode_text,
    max_watchlist_bytes,
    parse_watchlist,
    read_bytes,
    too_big,
)
from bot.watchlist.schema import Watchlist

# File-system timestamps are coarse (a tick is several milliseconds, up to seconds on some
# file systems), so a file written twice within one tick can keep its mtime and size. Until
# a file is older than this, its stat is not trusted and every check hashes its content.
RACY_WINDOW_NS = 2_000_000_000


class WatchlistReloader:
    """Polls one watchlist file and hands back a new Watchlist when it changed and validates.

    `current` is the last good Watchlist (None before the first successful load);
    `last_error` is the WatchlistError of the newest content when that content is bad.
    A file over `max_bytes` (default: `max_watchlist_bytes()`, read at each check) is bad
    content, refused before it is read. `check` raises nothing: whatever goes wrong leaves
    the last good watchlist in place and is reported in `last_error`.
    """

    def __init__(self, path: str | PathLike[str], *, max_bytes: int | None = None):
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.filename = str(path)
        self.current: Watchlist | None = None
        self.last_error: WatchlistError | None = None
        self.checked_at: datetime | None = None
        self.loaded_at: datetime | None = None
        self.failed_at: datetime | None = None
        self._signature: tuple[int, int, int] | None = None
        self._seen_digest: bytes | None = None
        self._loaded_digest: bytes | None = None

    def load(self, now: datetime) -> Watchlist:
        """Read the file regardless of what was seen before (start-up); raise if it is bad."""
        self._signature = self._seen_digest = self._loaded_digest = None
        watchlist = self.check(now)
        if watchlist is None:
            assert self.last_error is not None  # nothing was loaded before, so it failed
            raise self.last_error
        return watchlist

    def check(self, now: datetime) -> Watchlist | None:
        """The new Watchlist if the file changed and validates; None if unchanged or invalid."""
        self.checked_at = now
        try:
            stat = os.stat(self.path)
        except OSError as err:
            self._fail(
                WatchlistError([f"{self.filename}: cannot read the file ({err.strerror})"]), now
            )
            return None
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return None
        try:
            limit = max_watchlist_bytes() if self.max_bytes is None else self.max_bytes
            # The stat's size first, so an oversized file is never read; the read's size
            # too, for a file that grew in between.
            if stat.st_size > limit:
                raise too_big(self.filename, stat.st_size, limit)
            data = read_bytes(self.path)
            if len(data) > limit:
                raise too_big(self.filename, len(data), limit)
        except WatchlistError as err:
            self._fail(err, now)
            return None
        # time.time_ns, not `now`: this compares against the file system's own clock.
        settled = time.time_ns() - stat.st_mtime_ns > RACY_WINDOW_NS
        self._signature = signature if settled else None

        digest = hashlib.sha256(data).digest()
        if digest == self._seen_digest:
            return None  # touched, or rewritten with the same bytes
        self._seen_digest = digest
        if digest == self._loaded_digest:
            # Back to the content we are running (a bad edit was reverted): nothing to apply.
            self.last_error = None
            return None
        try:
            text = decode_text(data, self.filename)
            watchlist = parse_watchlist(text, self.filename, max_bytes=limit)
        except WatchlistError as err:
            self.last_error = err
            self.failed_at = now
            return None
        except Exception as err:  # a loader bug must not stop the running bot
            reason = scrub_surrogates(f"{type(err).__name__}: {err}")[:300]
            self.last_error = WatchlistError(
                [f"{self.filename}:1: the watchlist could not be loaded ({reason})"]
            )
            self.failed_at = now
            return None
        self.current = watchlist
        self._loaded_digest = digest
        self.last_error = None
        self.loaded_at = now
        return watchlist

    def _fail(self, error: WatchlistError, now: datetime) -> None:
        # Forget what was seen so the same content, once readable again, is looked at anew.
        self._signature = self._seen_digest = None
        self.last_error = error
        self.failed_at = now
