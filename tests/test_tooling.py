"""The project's own promises: lint, format and types are clean, so CI holds them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run a tool from this virtualenv in the project root."""
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_lint_is_clean() -> None:
    """ruff check finds nothing in bot/, tests/ and bench/."""
    result = run("ruff", "check", "bot", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    """Every file is formatted as ruff format would."""
    result = run("ruff", "format", "--check", "bot", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    """mypy (strict, configured in pyproject.toml) finds no type errors in bot/."""
    result = run("mypy", "bot")
    assert result.returncode == 0, result.stdout + result.stderr
