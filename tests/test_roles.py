"""`signalwatch worker` and `signalwatch gateway` on one database, end to end: real
subprocesses, a real SQLite file, local feeds. The worker polls and commits; only the
gateway delivers, and the worker's admin notices reach the admins through it."""

from __future__ import annotations

from pathlib import Path

from feedserver import FeedServer
from test_run_e2e import EXPECTED, Cli, alerts_of, pairs

pytest_plugins = ["feedserver"]


def test_a_worker_polls_and_the_gateway_delivers(tmp_path: Path, feed_server: FeedServer) -> None:
    """The gateway publishes the watchlist and syncs sources; a worker polls and queues; the
    gateway's next pass delivers every alert the all-in-one run would, once."""
    cli = Cli(tmp_path, feed_server)
    first = cli.run("gateway", "--once", "--format", "json")
    assert first.returncode == 0, first.stderr
    assert alerts_of(first.stdout.splitlines()) == []  # nothing polled yet: nothing to send
    worker = cli.run("worker", "--once", "--all", "--format", "json")
    assert worker.returncode == 0, worker.stderr
    assert worker.stdout == ""  # a worker delivers nothing
    assert "live v1" in worker.stderr or "store's live watchlist" in worker.stderr
    delivered = cli.run("gateway", "--once", "--format", "json")
    assert delivered.returncode == 0, delivered.stderr
    assert pairs(alerts_of(delivered.stdout.splitlines())) == EXPECTED
    again = cli.run("gateway", "--once", "--format", "json")
    assert alerts_of(again.stdout.splitlines()) == []  # each alert once


def test_a_workers_notice_is_posted_by_the_gateway(tmp_path: Path, feed_server: FeedServer) -> None:
    """A source the worker finds broken enough to disable: the notice crosses the store and the
    gateway says it (on the console log, with no admin channel)."""
    cli = Cli(tmp_path, feed_server)
    cli.write_watchlist("\n  - id: gone\n    url: " + feed_server.url("/status/404") + "\n")
    assert cli.run("gateway", "--once").returncode == 0
    env = {"SIGNALWATCH_MAX_FAILURES": "1"}
    worker = cli.run("worker", "--once", "--all", env=env)
    assert worker.returncode == 0, worker.stderr
    assert "ADMIN NOTICE" not in worker.stderr  # queued for the gateway, not said here
    gateway = cli.run("gateway", "--once")
    assert "ADMIN NOTICE: source 'gone'" in gateway.stderr, gateway.stderr
