"""The pure core stays pure: deciding code imports no Discord, HTTP or database driver.

Each pure module is imported alone in a fresh interpreter, and what that import pulled in is
checked, so a dependency that sneaks in through another module (or a package's __init__)
counts as much as a direct import.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "bot.matching",
    "bot.model",
    "bot.pipeline.planning",
    "bot.pipeline.alerts",
    "bot.pipeline.compiled",
    "bot.pipeline.storybook",
    "bot.schedule",
    "bot.stories",
    "bot.outlets",
    "bot.digest",
    "bot.render",
    "bot.charts",
    "bot.notices",
    "bot.feedback",
    "bot.admin",
    "bot.watchlist.schema",
    "bot.watchlist.fields",
    "bot.watchlist.references",
    "bot.matching.text",
    "bot.ops.config",
    "bot.ops.cliaid",
    "bot.ops.banner",
    "bot.ops.observe",
    "bot.ops.status",
    "bot.ops.logs",
]
IO = ["discord", "aiohttp", "httpx", "httpcore", "sqlite3", "psycopg", "psycopg_pool"]
PROBE = "import sys, importlib; importlib.import_module(sys.argv[1]); print(' '.join(sorted(sys.modules)))"


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_imports_no_io_library(module: str) -> None:
    """Importing the module alone loads none of discord, aiohttp, httpx, sqlite3, psycopg."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, module], capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    assert module in loaded
    assert sorted(name for name in IO if name in loaded) == []


def test_the_probe_sees_an_io_library_when_one_is_imported() -> None:
    """The check itself works: a module that does import httpx is caught."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "bot.pipeline.poller"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "httpx" in done.stdout.split()
