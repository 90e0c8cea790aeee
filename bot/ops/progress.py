"""Progress bars for long work on a terminal (rich); nothing at all anywhere else.

A bar is drawn only when its stream is a terminal, output is not JSON, and rich is installed
(the `ops` extra): piped output, CI logs and JSON consumers never see one. The bar is
transient: it is gone before the command prints its results.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

__all__ = ["Bar", "count_lines", "progress_bar", "tracked"]

T = TypeVar("T")


class Bar(Protocol):
    """What long work tells a progress bar."""

    def advance(self, steps: int = 1) -> None:
        """`steps` more units done."""

    def total(self, total: int | None) -> None:
        """The number of units, once known."""


class _NoBar:
    """Not a terminal (or no rich): say nothing."""

    def advance(self, steps: int = 1) -> None:
        """Nothing to draw."""

    def total(self, total: int | None) -> None:
        """Nothing to draw."""


class _RichBar:
    """A rich progress task."""

    def __init__(self, progress: Any, task: Any) -> None:
        self._progress = progress
        self._task = task

    def advance(self, steps: int = 1) -> None:
        """Move the bar on."""
        self._progress.advance(self._task, steps)

    def total(self, total: int | None) -> None:
        """Set how far the bar goes."""
        self._progress.update(self._task, total=total)


@contextmanager
def progress_bar(
    description: str,
    total: int | None = None,
    *,
    stream: TextIO | None = None,
    enabled: bool = True,
) -> Iterator[Bar]:
    """A bar on `stream` (stderr) while the block runs, if it is a terminal; else a no-op."""
    out = stream if stream is not None else sys.stderr
    if not enabled or not _is_tty(out):
        yield _NoBar()
        return
    try:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
    except ImportError:  # the ops extra is not installed: no bar, same results
        yield _NoBar()
        return
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=out),
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with progress:
        yield _RichBar(progress, progress.add_task(description, total=total))


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def tracked(items: Iterable[T], bar: Bar) -> Iterator[T]:
    """`items`, advancing `bar` by one for each."""
    for item in items:
        yield item
        bar.advance()


def count_lines(paths: Iterable[str | Path]) -> int | None:
    """Non-blank lines in the files (a bar's total); None if one cannot be read."""
    total = 0
    try:
        for path in paths:
            with open(path, "rb") as handle:
                total += sum(1 for line in handle if line.strip())
    except OSError:
        return None
    return total
