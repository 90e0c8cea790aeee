"""Progress bars: drawn on a terminal, never in piped or JSON output."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot import cli
from bot.ops.progress import count_lines, progress_bar, tracked


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_a_bar_is_drawn_on_a_terminal() -> None:
    """On a TTY the bar writes its description and counts."""
    out = Terminal()
    with progress_bar("eval", 3, stream=out) as bar:
        assert list(tracked("abc", bar)) == ["a", "b", "c"]
    assert "eval" in out.getvalue()


@pytest.mark.parametrize("enabled", [True, False])
def test_no_bar_off_a_terminal_or_when_disabled(enabled: bool) -> None:
    """Piped output (or JSON mode, disabled): not one byte."""
    out = io.StringIO() if enabled else Terminal()
    with progress_bar("eval", 3, stream=out, enabled=enabled) as bar:
        bar.advance()
        bar.total(5)
    assert out.getvalue() == ""


def test_eval_piped_prints_only_its_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signalwatch eval` with stderr not a terminal: the report on stdout, nothing on stderr."""
    watchlist = tmp_path / "w.yaml"
    watchlist.write_text("signals:\n  - {id: nato, title: NATO, query: nato}\n", "utf-8")
    labelled = tmp_path / "l.jsonl"
    items = [{"id": 1, "title": "NATO meets", "labels": ["nato"]}, {"id": 2, "title": "x"}]
    labelled.write_text("\n".join(json.dumps(i) for i in items) + "\n\n", "utf-8")
    assert count_lines([labelled]) == 2
    assert cli.main(["eval", str(labelled), "--watchlist", str(watchlist)]) == 0
    out, err = capsys.readouterr()
    assert "nato" in out and err == ""


def test_run_once_moves_its_bar_once_per_poll() -> None:
    """The run's observer advances the bar for each finished poll, whatever its outcome."""
    from bot.ops.observe import RunObserver
    from bot.pipeline.outcome import PollOutcome

    class Bar:
        def __init__(self) -> None:
            self.done = 0
            self.size: int | None = None

        def advance(self, steps: int = 1) -> None:
            self.done += steps

        def total(self, total: int | None) -> None:
            self.size = total

    bar = Bar()
    observer = RunObserver(progress=bar)
    for status in ("ok", "failed", "not-modified"):
        observer.poll_done(PollOutcome("s", status))
    assert bar.done == 3
