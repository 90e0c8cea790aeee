"""`signalwatch match` on hostile input: every bad line is an error naming it; the rest go on."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli

WATCHLIST = "signals:\n  - {id: nato, title: NATO, query: nato}\n"
GOOD = b'{"id": 1, "title": "NATO meets", "summary": ""}'


@pytest.fixture
def watchlist(tmp_path: Path) -> Path:
    """A one-signal watchlist file."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(WATCHLIST, encoding="utf-8")
    return path


def run_match(
    watchlist: Path, lines: list[bytes], capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[dict[str, object]], str]:
    """Run `match --input FILE` in process; the exit code, output objects and stderr."""
    path = watchlist.parent / "items.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    code = cli.main(["match", "--watchlist", str(watchlist), "--input", str(path)])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (b'{"id": 2, "title": "NATO \xff", "summary": ""}', "not valid UTF-8 (byte 26"),
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
        (b'{"id": 2, "title": "NATO", "summary": "' + b"x" * (2 << 20) + b'"}', "line longer"),
    ],
)
def test_a_bad_line_is_an_error_naming_its_line(
    watchlist: Path, capsys: pytest.CaptureFixture[str], bad: bytes, error: str
) -> None:
    """Bad bytes, deep JSON, huge lines: an error for that line, and the next line matches."""
    code, out, err = run_match(watchlist, [GOOD, bad, GOOD], capsys)
    assert code == 1
    assert [o["id"] for o in out] == [1, None, 1]
    assert out[1]["line"] == 2 and error in str(out[1]["error"])
    assert f"items.jsonl:2: {error}" in err


def test_surrogates_bom_and_odd_ids_give_valid_json(
    watchlist: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A BOM is not an error; lone surrogates, NaN and object ids still echo as valid JSON."""
    lines = [
        b"\xef\xbb\xbf" + GOOD,
        rb'{"id": "\ud800", "title": "NATO \ud800", "summary": "\udcff"}',
        b'{"id": NaN, "title": "NATO", "summary": null}',
        b'{"id": -Infinity, "title": "NATO", "summary": null}',
        b'{"id": {"a": [1]}, "title": "NATO", "summary": null}',
    ]
    code, out, err = run_match(watchlist, lines, capsys)
    assert (code, err) == (0, "")
    assert [o["id"] for o in out] == [1, "\ufffd", "NaN", "-Infinity", None]
    assert all(o["signals"] for o in out)


def test_stdin_through_the_real_command(watchlist: Path) -> None:
    """The installed entry point reads stdin as bytes: a bad byte does not end the run."""
    stdin = b"\xef\xbb\xbf" + GOOD + b"\n\xff\xfe\n" + GOOD + b"\n"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "match", "--watchlist", str(watchlist)],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    out = [json.loads(line) for line in done.stdout.decode("utf-8").splitlines()]
    assert [o["id"] for o in out] == [1, None, 1]
    assert b"-:2: not valid UTF-8" in done.stderr
