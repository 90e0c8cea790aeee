"""What every test module may use without importing it.

Fixtures: `store`, a migrated SQLite store in a file of the test's own (a module may define
its own `store` to override it), and `clock`, a FakeClock at a fixed time. The fakes
themselves (one clock, one monotonic clock, one notifier) are in `fakes.py`; the local
servers (feeds, news APIs, Discord) in `feedserver.py`, `apiserver.py`, `discord_emulator.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fakes import FakeClock

from bot.store import Store, open_store

FIXED_NOW = datetime(2025, 6, 25, 13, 0, tzinfo=UTC)  # an hour after the feed server's epoch


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A migrated SQLite store in a file of its own."""
    with open_store(f"sqlite:///{tmp_path / 'db.sqlite'}") as opened:
        yield opened


@pytest.fixture
def clock() -> FakeClock:
    """A clock standing at FIXED_NOW until the test moves it."""
    return FakeClock(FIXED_NOW)
