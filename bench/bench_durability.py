"""What `PRAGMA synchronous = FULL` costs the SQLite store against NORMAL, on this disk.

Under WAL, NORMAL syncs only at checkpoints: a commit that returned can still be lost to a
power cut (not to a crash of the process). FULL syncs the WAL at every commit. This times
three kinds of commit, each on a fresh database file, with every commit NORMAL (the store
before), every commit FULL, and as the store ships (FULL only for its `durable` commits:
commit_poll, mark_delivered, commit_digest):

  commit_poll     N polls of one source, each marking E new entries seen and enqueueing
                  one alert (the transaction that must not be lost once a poll moved on)
  mark_delivered  the N alerts, each claimed and then marked delivered one by one
  not_modified    N record_not_modified (a 304): bookkeeping a power cut may lose at no cost,
                  since the source is only polled once more

    python -m bench.bench_durability [--polls N] [--entries E] [--dir DIR] [--repeat R]

DIR must be on the disk to measure (default: the current directory; /tmp may be a tmpfs).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.model import Alert
from bot.ops.progress import progress_bar
from bot.store import EntryIdentity, SourceConfig
from bot.store.sqlite import SQLiteStore, _base

T0 = datetime(2025, 6, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)
# name: (the connection's level, the level of durable commits)
SETTINGS = {
    "NORMAL": ("NORMAL", "NORMAL"),
    "FULL": ("FULL", "FULL"),
    "shipped": (_base.SYNCHRONOUS, _base.DURABLE_SYNCHRONOUS),
}


def run_once(directory: Path, setting: str, polls: int, entries: int) -> dict[str, float]:
    """Seconds for `polls` calls of each measured commit, on a fresh database file."""
    # The store reads both levels when it opens and around each durable commit.
    _base.SYNCHRONOUS, _base.DURABLE_SYNCHRONOUS = SETTINGS[setting]
    try:
        return _timed(directory, polls, entries)
    finally:
        _base.SYNCHRONOUS, _base.DURABLE_SYNCHRONOUS = SETTINGS["shipped"]


def _timed(directory: Path, polls: int, entries: int) -> dict[str, float]:
    with (
        tempfile.TemporaryDirectory(dir=directory) as tmp,
        SQLiteStore(Path(tmp) / "bench.db") as store,
    ):
        store.migrate()
        store.sync_sources([SourceConfig("feed", "https://feed.example/rss", "rss", 600)], T0)
        started = time.perf_counter()
        for poll in range(polls):
            now = T0 + timedelta(seconds=poll)
            seen = [
                EntryIdentity(
                    f"k{poll}-{i}",
                    f"https://feed.example/{poll}/{i}",
                    f"title {poll} {i}",
                    now,
                    title=f"Title {poll} {i}",
                    summary="A summary of the kind a feed gives. " * 6,
                )
                for i in range(entries)
            ]
            store.commit_poll("feed", now, seen=seen, articles=[], alerts=[_alert(f"a{poll}")])
        commit_s = time.perf_counter() - started
        now = T0 + timedelta(seconds=polls)
        started = time.perf_counter()
        while batch := store.claim_alerts(now, 64, LEASE):
            for pending in batch:
                store.mark_delivered(pending.alert.alert_id, now, "message:1")
        deliver_s = time.perf_counter() - started
        started = time.perf_counter()
        for _ in range(polls):
            store.record_not_modified("feed", now, next_poll_at=now + LEASE)
        not_modified_s = time.perf_counter() - started
    return {"commit_poll": commit_s, "mark_delivered": deliver_s, "not_modified": not_modified_s}


def _alert(alert_id: str) -> Alert:
    return Alert(
        alert_id=alert_id,
        signal_id="nato",
        destination="console",
        title="NATO allies agree",
        link=f"https://feed.example/{alert_id}",
        source_id="feed",
        published=T0,
        terms=("NATO",),
        snippet="**NATO** allies agree",
    )


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Time each setting `repeat` times, alternating, and print the medians per call."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=Path(os.getcwd()))
    args = parser.parse_args(argv)
    times: dict[str, dict[str, list[float]]] = {s: {} for s in SETTINGS}
    # A bar on a terminal only: the printed table is the output.
    with progress_bar("durability", args.repeat * len(SETTINGS)) as bar:
        for _ in range(args.repeat):
            for setting in SETTINGS:  # alternating, so a slow spell of the disk hits each
                for name, seconds in run_once(args.dir, setting, args.polls, args.entries).items():
                    times[setting].setdefault(name, []).append(seconds)
                bar.advance()
    medians = {s: {n: statistics.median(v) for n, v in t.items()} for s, t in times.items()}
    print(f"{args.polls} polls x {args.entries} entries, median of {args.repeat}, in {args.dir}")
    print(f"{'ms per call':15}" + "".join(f"{s:>12}" for s in SETTINGS))
    for name in medians["NORMAL"]:
        cells = "".join(f"{medians[s][name] / args.polls * 1000:12.3f}" for s in SETTINGS)
        print(f"{name:15}{cells}")
    return medians


if __name__ == "__main__":
    main()
