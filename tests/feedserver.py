"""The local feed server for tests: `bench/feedserver.py` re-exported, plus its pytest fixture.

The server lives in bench/ so the benchmarks can import it without pytest. Test modules import
it from here as before (`from feedserver import FeedServer, LiveFeed, Reply`) and get the
fixture with `pytest_plugins = ["feedserver"]`.

PYTEST_DONT_REWRITE: test modules import this file before `pytest_plugins` registers it, and
it holds no test assertions for pytest to rewrite.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.feedserver import (
    DATA_DIR,
    MIB,
    FeedServer,
    LiveFeed,
    LiveItem,
    RecordedRequest,
    Reply,
    ThreadedServer,
)

__all__ = [
    "DATA_DIR",
    "MIB",
    "FeedServer",
    "LiveFeed",
    "LiveItem",
    "RecordedRequest",
    "Reply",
    "ThreadedServer",
    "feed_server",
]


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A running FeedServer on 127.0.0.1, stopped after the test."""
    with FeedServer() as server:
        yield server
