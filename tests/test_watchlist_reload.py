"""The watchlist reloader: new content is picked up, bad content never replaces good."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.errors import WatchlistError
from bot.watchlist import WatchlistReloader
from bot.watchlist.loader import read_bytes

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
GOOD = "signals:\n  - {id: a, title: A, query: x}\n"
BETTER = "signals:\n  - {id: b, title: B, query: y}\n"
BROKEN = "signals:\n  - {id: a, title: A, querry: x}\n"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A watchlist file holding GOOD."""
    file = tmp_path / "watchlist.yaml"
    file.write_text(GOOD, encoding="utf-8")
    return file


def ids(reloader: WatchlistReloader) -> list[str]:
    """The signal ids of the reloader's current watchlist."""
    assert reloader.current is not None
    return [signal.id for signal in reloader.current.signals]


def test_first_check_loads_and_an_unchanged_file_gives_none(path: Path) -> None:
    """The first check returns the watchlist; later checks of the same file return None."""
    reloader = WatchlistReloader(path)
    first = reloader.check(NOW)
    assert first is not None and first is reloader.current
    assert reloader.loaded_at == NOW
    assert reloader.check(NOW + timedelta(seconds=5)) is None
    assert reloader.checked_at == NOW + timedelta(seconds=5)


def test_valid_change_is_returned(path: Path) -> None:
    """New valid content comes back as a new Watchlist and becomes current."""
    reloader = WatchlistReloader(path)
    reloader.check(NOW)
    path.write_text(BETTER, encoding="utf-8")
    changed = reloader.check(NOW)
    assert changed is not None and [s.id for s in changed.signals] == ["b"]
    assert ids(reloader) == ["b"]


def test_broken_change_keeps_the_last_good_watchlist(path: Path) -> None:
    """Invalid content returns None, keeps the current watchlist and records the error."""
    reloader = WatchlistReloader(path)
    reloader.check(NOW)
    path.write_text(BROKEN, encoding="utf-8")
    assert reloader.check(NOW) is None
    assert ids(reloader) == ["a"]
    assert reloader.last_error is not None
    assert reloader.last_error.problems == [
        f"{path}:2: signal 'a': query: is required",
        f"{path}:2: signal 'a': unknown key 'querry' (did you mean 'query'?)",
    ]
    assert reloader.failed_at == NOW
    assert reloader.check(NOW) is None  # the same bad content is not reported again


def test_fixing_the_file_clears_the_error(path: Path) -> None:
    """After a broken edit, valid content loads and the error goes away."""
    reloader = WatchlistReloader(path)
    reloader.check(NOW)
    path.write_text(BROKEN, encoding="utf-8")
    reloader.check(NOW)
    path.write_text(BETTER, encoding="utf-8")
    assert reloader.check(NOW) is not None
    assert reloader.last_error is None


def test_reverting_to_the_running_content_gives_none_and_clears_the_error(path: Path) -> None:
    """Undoing a broken edit changes nothing to apply, but the file is healthy again."""
    reloader = WatchlistReloader(path)
    running = reloader.check(NOW)
    path.write_text(BROKEN, encoding="utf-8")
    reloader.check(NOW)
    path.write_text(GOOD, encoding="utf-8")
    assert reloader.check(NOW) is None
    assert reloader.last_error is None
    assert reloader.current is running


def test_touch_without_change_gives_none(path: Path) -> None:
    """A new mtime with the same bytes is not a change."""
    reloader = WatchlistReloader(path)
    reloader.check(NOW)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000_000))
    assert reloader.check(NOW) is None
    assert reloader.loaded_at == NOW


def test_same_size_rewrite_within_one_timestamp_tick_is_seen(path: Path) -> None:
    """A fresh file is hashed even when mtime and size look unchanged (coarse clocks)."""
    reloader = WatchlistReloader(path)
    reloader.check(NOW)
    stat = path.stat()
    path.write_text(GOOD.replace("A", "Z"), encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = reloader.check(NOW)
    assert changed is not None and changed.signals[0].title == "Z"


def test_settled_file_with_unchanged_stat_is_not_read(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a file is older than the racy window, an unchanged stat skips the read."""
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
    os.utime(path, (hour_ago, hour_ago))
    reads: list[Path] = []

    def counting_read(file: Path) -> bytes:
        reads.append(file)
        return read_bytes(file)

    monkeypatch.setattr("bot.watchlist.reload.read_bytes", counting_read)
    reloader = WatchlistReloader(path)
    reloader.check(NOW)
    reloader.check(NOW)
    assert reads == [path]


def test_missing_file_keeps_the_last_good_one(path: Path) -> None:
    """A file that disappears is an error until it comes back."""
    reloader = WatchlistReloader(path)
    reloader.check(NOW)
    path.unlink()
    assert reloader.check(NOW) is None
    assert reloader.last_error is not None
    assert reloader.last_error.problems == [
        f"{path}: cannot read the file (No such file or directory)"
    ]
    assert ids(reloader) == ["a"]
    path.write_text(BETTER, encoding="utf-8")
    assert reloader.check(NOW) is not None
    assert reloader.last_error is None


def test_load_raises_on_a_bad_file_at_start(path: Path) -> None:
    """load() is the start-up path: a bad file raises instead of returning None."""
    path.write_text(BROKEN, encoding="utf-8")
    reloader = WatchlistReloader(path)
    with pytest.raises(WatchlistError, match="did you mean 'query'"):
        reloader.load(NOW)
    path.write_text(GOOD, encoding="utf-8")
    assert [s.id for s in reloader.load(NOW).signals] == ["a"]
