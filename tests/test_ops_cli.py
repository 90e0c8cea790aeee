"""Operators' first minute at the command line: settings errors, usage, help, exit codes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot import cli
from bot.ops.config import settings_error_lines, user_agent_for
from bot.settings import Settings
from bot.sources import fetch

ROOT = Path(__file__).resolve().parent.parent
WATCHLIST = "signals:\n  - {id: nato, title: NATO, query: nato}\n"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No SIGNALWATCH_* variable from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith("SIGNALWATCH_") or name == "DISCORD_TOKEN":
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("variable", "value", "line"),
    [
        (
            "SIGNALWATCH_LOG_LEVEL",
            "verbose",
            "SIGNALWATCH_LOG_LEVEL='verbose' is not valid: expected one of DEBUG, INFO, WARNING, ERROR (any case)",
        ),
        (
            "SIGNALWATCH_MAX_FAILURES",
            "lots",
            "SIGNALWATCH_MAX_FAILURES='lots' is not valid: expected a whole number",
        ),
        (
            "SIGNALWATCH_MAX_FAILURES",
            "0",
            "SIGNALWATCH_MAX_FAILURES='0' is not valid: expected a number at least 1",
        ),
        (
            "SIGNALWATCH_DISCORD_CHANNEL",
            "alerts",
            "SIGNALWATCH_DISCORD_CHANNEL='alerts' is not valid: expected a whole number",
        ),
        (
            "SIGNALWATCH_ALLOW_PRIVATE_URLS",
            "maybe",
            "SIGNALWATCH_ALLOW_PRIVATE_URLS='maybe' is not valid: expected true or false (also 1/0, yes/no, on/off)",
        ),
        (
            "SIGNALWATCH_DB",
            "bogus",
            "SIGNALWATCH_DB='bogus' is not valid: expected a URL such as sqlite:///signalwatch.db or postgresql://user@host/db",
        ),
        (
            "SIGNALWATCH_HTTP_PORT",
            "99999",
            "SIGNALWATCH_HTTP_PORT='99999' is not valid: expected a number at most 65535",
        ),
    ],
)
@pytest.mark.parametrize("command", [["check"], ["sources"], ["timeline", "nato"], ["health"]])
def test_a_bad_variable_is_one_line_and_exit_2_for_every_command(
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
    line: str,
    command: list[str],
) -> None:
    """Each command: one stderr line naming the variable, its value and what it accepts; exit 2."""
    clean_env.setenv(variable, value)
    assert cli.main(command) == 2
    out, err = capsys.readouterr()
    assert err == f"signalwatch {command[0]}: {line}\n"
    assert out == ""


def test_a_bad_variable_in_a_real_process_gives_no_traceback(tmp_path: Path) -> None:
    """The installed command, not just main(): one line, exit 2, no pydantic traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWATCH_")}
    env.update(SIGNALWATCH_LOG_LEVEL="loud", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "signalwatch check: SIGNALWATCH_LOG_LEVEL='loud' is not valid: expected one of DEBUG, INFO, WARNING, ERROR (any case)"
    ]


@pytest.mark.parametrize(
    ("typed", "level"), [("debug", "DEBUG"), (" Warning ", "WARNING"), ("INFO", "INFO")]
)
def test_log_levels_are_read_in_any_case(
    clean_env: pytest.MonkeyPatch, typed: str, level: str
) -> None:
    """`debug` is DEBUG: the level is not case-sensitive."""
    clean_env.setenv("SIGNALWATCH_LOG_LEVEL", typed)
    assert Settings().log_level == level


def test_several_bad_variables_give_one_line_each() -> None:
    """Two bad fields: two lines, each naming its variable."""
    errors = [
        {"loc": ("max_failures",), "input": "x", "type": "int_parsing", "msg": "", "ctx": {}},
        {"loc": ("SIGNALWATCH_DISCORD_GUILD",), "input": "y", "type": "int_parsing", "msg": ""},
    ]
    assert settings_error_lines(errors) == [
        "SIGNALWATCH_MAX_FAILURES='x' is not valid: expected a whole number",
        "SIGNALWATCH_DISCORD_GUILD='y' is not valid: expected a whole number",
    ]


def test_a_db_flag_without_a_scheme_is_a_usage_error(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--db bogus` is refused (exit 2) and no file named bogus appears."""
    clean_env.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["sources", "--db", "bogus"])
    assert exit_info.value.code == 2
    assert "'bogus' is not a database URL" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_run_with_a_bad_watchlist_creates_no_database(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`run` in a folder without a watchlist fails before it creates signalwatch.db."""
    clean_env.chdir(tmp_path)
    assert cli.main(["run", "--once"]) == 1
    assert "watchlist" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_timeline_of_an_unknown_signal_is_an_error(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An id neither in the watchlist nor in the store: exit 2 naming the known ids."""
    watchlist = tmp_path / "w.yaml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    code = cli.main(["timeline", "no-such", "--db", db, "--watchlist", str(watchlist)])
    assert code == 2
    assert "unknown signal 'no-such'" in capsys.readouterr().err
    assert cli.main(["timeline", "nato", "--db", db, "--watchlist", str(watchlist)]) == 0
    assert capsys.readouterr().out == "signal nato: no hits yet\n"


def test_match_on_a_terminal_without_input_prints_usage(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --text and stdin a terminal: usage with examples on stderr, exit 2, no waiting."""

    class Tty:
        def isatty(self) -> bool:
            return True

    clean_env.setattr(sys, "stdin", Tty())
    assert cli.main(["match"]) == 2
    err = capsys.readouterr().err
    assert "signalwatch match --text" in err


@pytest.mark.parametrize("command", ["eval", "eval-stories"])
def test_an_empty_evaluation_file_is_an_error(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """An empty labelled file does not score a perfect 1.000: it is an error naming the file."""
    watchlist = tmp_path / "w.yaml"
    watchlist.write_text(WATCHLIST, encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n", encoding="utf-8")
    args = [command, str(empty)] + (["--watchlist", str(watchlist)] if command == "eval" else [])
    assert cli.main(args) == 1
    assert f"{empty}: no labelled items" in capsys.readouterr().err


def test_every_subcommand_has_a_description_and_an_example() -> None:
    """`signalwatch X --help` says what X does and shows one example; positionals have help."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert sub.choices
    for name, subparser in sub.choices.items():
        assert subparser.description, name
        assert subparser.epilog and "example:" in subparser.epilog, name
        for action in subparser._actions:
            if not action.option_strings:
                assert action.help, (name, action.dest)


def test_the_user_agent_names_the_operators_contact() -> None:
    """SIGNALWATCH_CONTACT goes into the User-Agent; SIGNALWATCH_USER_AGENT replaces it."""
    assert user_agent_for("1.0", None, None) == "signalwatch/1.0"
    assert user_agent_for("1.0", "ops@example.org", None) == "signalwatch/1.0 (+ops@example.org)"
    assert user_agent_for("1.0", "x", "MyBot/2") == "MyBot/2"


def test_a_dns_failure_is_not_retried_as_transient() -> None:
    """Offline (no name resolution), a fetch fails at once; the scheduler backs off instead."""
    try:
        raise socket.gaierror(-3, "Temporary failure in name resolution")
    except socket.gaierror as dns:
        try:
            raise httpx.ConnectError("All connection attempts failed") from dns
        except httpx.ConnectError as exc:
            error, transient = fetch._describe_connect_error(exc, str(exc))
    assert error == "DNS lookup failed: Temporary failure in name resolution"
    assert transient is False


@pytest.mark.parametrize("command", [["sources"], ["timeline", "nato-5pct"]])
def test_a_reading_command_leaves_no_empty_database_behind(
    tmp_path: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`sources` and `timeline` with no database there read it as empty; no file is made."""
    db = tmp_path / "nothing.db"
    code = cli.main([*command, "--db", f"sqlite:///{db}"])
    out = capsys.readouterr().out
    assert code == 0 and ("no sources yet" in out or "no hits yet" in out)
    assert not db.exists()
