"""Scale-out: feeds per minute for 1 and 2 workers, and SQLite vs PostgreSQL, in one run.

A local FeedServer (bench/feedserver.py: aiohttp on 127.0.0.1, in a thread of THIS process)
serves N synthetic feeds (`/gen/{i}.xml`, 30 entries each). For each row, a fresh database:

  setup   `python -m bot gateway --once`: migrates, registers the N sources from the bench
          watchlist (the shipped signals; backfill long enough that every entry of a first
          poll is matched, as in bench_poll's full cycle) and publishes the watchlist to the
          store for the workers. Not timed.
  timed   W × `python -m bot worker` started together on that database; the clock runs from
          their start until every source has been polled once (this process asks the database
          every 0.1 s), then they are stopped. Every source is due, so the workers split the
          sources between them through their leases (FOR UPDATE SKIP LOCKED on PostgreSQL).

`worker --once --all` is not used: one pass claims a single batch (Poller.batch, 256 sources)
and exits, so it would not poll every source of a larger set. A running worker also claims up
to 256 sources a turn, more than its 32 fetches at once: with few sources the first worker to
claim takes them all (`split` shows it), hence 600 feeds even for --quick.

Each worker runs under a host name of its own (see _AS_HOST: two workers on one host share a
lease holder name and free each other's leases at start).

Rows: SQLite × 1 worker (the baseline), PostgreSQL × 1 worker, PostgreSQL × 2 workers; ratios
are against the baseline of the same run. Each PostgreSQL row runs in a schema of its own
(`?options=-csearch_path%3D<schema>`), created first and dropped after.

    python -m bench.bench_scale [--feeds N] [--repeat R] [--quick] [--pg URL] [--diagnose]
                                [--rows sqlite:1,postgres:1,postgres:2] [--keep DIR] [--verbose]

--diagnose also times each worker's commits and counts the SQL statements it sends.

PostgreSQL: --pg, else $SIGNALWATCH_TEST_PG, else postgresql://postgres@127.0.0.1:5432/test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bench_poll import _child_env, _CpuSampler

ROOT = Path(__file__).resolve().parent.parent
FEEDS = 1000
QUICK_FEEDS = 600
ENTRIES = 30
CONCURRENCY = 32  # Settings.fetch_concurrency's default; every feed is on one host here
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
AIM_WORKERS = 1.6  # 2 workers ≥ 1.6 × one worker
AIM_PG = 1.5  # PostgreSQL single-process within 1.5 × SQLite's time
TIMEOUT = 600.0  # seconds one row may take before the bench gives up on it
ROWS = (("sqlite", 1), ("postgres", 1), ("postgres", 2))


@dataclass
class Row:
    """One measured configuration: a backend and a number of workers."""

    backend: str
    workers: int
    feeds: int
    wall: float = 0.0  # start of the workers → every source polled
    startup: float = 0.0  # start of the workers → first source polled
    worker_cpu: list[float] = field(default_factory=list)  # user+sys of each worker
    server_cpu: float = 0.0  # the feed server's (this process's) CPU during the row
    db_cpu: float = 0.0  # PostgreSQL's processes' CPU during the row (0 for SQLite)
    machine_busy: float = 0.0  # share of all cores busy during the row
    cores: int = 1
    polled_by: list[int] = field(default_factory=list)  # "polled" log lines of each worker
    requests: int = 0  # feed requests the server saw
    repolled: int = 0  # feeds requested more than once
    seen: int = 0  # seen-entry rows stored
    alerts: int = 0  # alerts queued
    notes: Counter[str] = field(default_factory=Counter)
    diagnosis: list[dict[str, Any]] = field(default_factory=list)  # per worker, --diagnose

    @property
    def cpu_per_feed(self) -> float:
        """Milliseconds of CPU per feed: workers, database and feed server together."""
        return 1000 * (sum(self.worker_cpu) + self.db_cpu + self.server_cpu) / self.feeds

    @property
    def other_cpu(self) -> float:
        """CPU the machine spent during the row on anything but the workers, server and db."""
        busy = self.machine_busy * self.cores * self.wall
        return max(0.0, busy - sum(self.worker_cpu) - self.server_cpu - self.db_cpu)

    @property
    def per_minute(self) -> float:
        """Feeds polled per minute of wall time."""
        return 60.0 * self.feeds / self.wall if self.wall else 0.0


def main(argv: list[str] | None = None) -> list[Row]:
    """Run every row (fresh database each), print the table and the ratios."""
    args = _parser().parse_args(argv)
    feeds = args.feeds if args.feeds is not None else (QUICK_FEEDS if args.quick else FEEDS)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 2)
    pg = args.pg or os.environ.get("SIGNALWATCH_TEST_PG") or PG_DEFAULT
    from bench import feedserver

    plan = _rows(args.rows)
    if any(backend == "postgres" for backend, _ in plan) and not _reachable(pg):
        plan = [(backend, workers) for backend, workers in plan if backend != "postgres"]
    with (
        feedserver.FeedServer(gen_feeds=feeds, gen_entries=ENTRIES) as server,
        tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp_name,
    ):
        tmp = Path(args.keep or tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        watchlist = _write_watchlist(tmp / "watchlist.yaml", server.base_url, feeds)
        print(
            f"scale-out: {feeds} synthetic feeds × {ENTRIES} entries on {server.base_url};"
            f" {os.cpu_count()} cores; workers are `python -m bot worker` processes, the feed"
            " server a thread of this process"
        )
        print(
            f"  per worker: fetch concurrency {CONCURRENCY}, per-host concurrency {CONCURRENCY},"
            " per-host spacing 0, private URLs allowed; every entry is new and matched against"
            f" the shipped signals; best of {repeat}"
        )
        # Rows take turns (round-robin over the repeats), so a load that comes and goes on a
        # shared machine falls on every row alike rather than on one.
        runs: dict[tuple[str, int], list[Row]] = {key: [] for key in plan}
        for attempt in range(repeat):
            for backend, workers in plan:
                print(f"  {backend} × {workers} worker(s), run {attempt + 1} ...", flush=True)
                with _database(backend, tmp, pg, f"{backend}{workers}_{attempt}") as url:
                    row = _measure(server, backend, workers, feeds, url, watchlist, args)
                runs[(backend, workers)].append(row)
        rows = [min(runs[key], key=lambda r: r.wall) for key in plan]
    _print(rows)
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=None, help=f"feeds (default {FEEDS})")
    parser.add_argument("--repeat", type=int, default=None, help="runs per row, best kept")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_FEEDS} feeds, one run")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL server to use")
    parser.add_argument("--verbose", action="store_true", help="show the workers' warnings")
    parser.add_argument(
        "--rows",
        default=",".join(f"{b}:{w}" for b, w in ROWS),
        help="rows to run, BACKEND:WORKERS,... (the first is the baseline)",
    )
    parser.add_argument(
        "--diagnose",
        action="store_true",
        help="also time each worker's commits and count its SQL statements (slightly slower)",
    )
    parser.add_argument("--keep", metavar="DIR", help="keep the watchlist and workers' logs here")
    return parser


def _rows(text: str) -> list[tuple[str, int]]:
    """Parse --rows: "sqlite:1,postgres:2" → [("sqlite", 1), ("postgres", 2)]."""
    rows = []
    for part in text.split(","):
        backend, _, workers = part.strip().partition(":")
        if backend not in ("sqlite", "postgres") or not workers.isdigit() or int(workers) < 1:
            raise SystemExit(f"bench_scale: --rows: {part!r} is not sqlite:N or postgres:N")
        rows.append((backend, int(workers)))
    return rows


def _reachable(pg: str) -> bool:
    """Whether the PostgreSQL server answers; if not, say so in one line."""
    try:
        import psycopg

        with psycopg.connect(pg, connect_timeout=5):
            return True
    except Exception as exc:  # ImportError, psycopg.Error: either way no PostgreSQL rows
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"bench_scale: PostgreSQL at {pg} is not usable ({first}): its rows are skipped")
        return False


def _write_watchlist(path: Path, base_url: str, feeds: int) -> Path:
    """The shipped watchlist's signals over the N generated feeds, every entry fresh."""
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    shipped = yaml.load((ROOT / "watchlist.yaml").read_text(encoding="utf-8"))
    shipped["defaults"] = {
        **shipped.get("defaults", {}),
        # The generated entries are dated mid-2025: a long backfill makes a first poll match
        # every entry (the steady-state work per new entry) instead of filing it as backlog.
        "backfill": "3650d",
        "flood_per_hour": 100_000,
    }
    shipped["sources"] = [
        {"id": f"gen-{i}", "type": "rss", "url": f"{base_url}/gen/{i}.xml"} for i in range(feeds)
    ]
    shipped["routes"] = []
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(shipped, out)
    return path


@contextmanager
def _database(backend: str, tmp: Path, pg: str, name: str) -> Any:
    """A fresh database URL: a new SQLite file, or a new PostgreSQL schema dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / (name + '.db')}"
        return
    import psycopg

    schema = f"bench_scale_{os.getpid()}_{name}"
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in pg else "?"
    try:
        yield f"{pg}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _env() -> dict[str, str]:
    env = _child_env()
    for key in [k for k in env if k.startswith("SIGNALWATCH_") or k == "DISCORD_TOKEN"]:
        del env[key]  # no token, no heartbeat, no operator's settings: only the bench's
    env.update(
        SIGNALWATCH_ALLOW_PRIVATE_URLS="1",
        SIGNALWATCH_PER_HOST_SPACING="0",
        SIGNALWATCH_PER_HOST_CONCURRENCY=str(CONCURRENCY),
        SIGNALWATCH_FETCH_CONCURRENCY=str(CONCURRENCY),
        SIGNALWATCH_LOG_LEVEL="INFO",
        PYTHONWARNINGS="ignore",
    )
    return env


def _measure(
    server: Any,
    backend: str,
    workers: int,
    feeds: int,
    url: str,
    watchlist: Path,
    args: argparse.Namespace,
) -> Row:
    """Set the database up with a gateway pass, then time W workers until all is polled."""
    env = _env()
    common = ["--watchlist", str(watchlist), "--db", url]
    setup = subprocess.run(
        [sys.executable, "-m", "bot", "gateway", "--once", *common],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if setup.returncode != 0:
        sys.stderr.write(setup.stderr)
        raise SystemExit(f"bench_scale: the setup gateway failed (exit {setup.returncode})")
    server.clear()
    row = Row(backend, workers, feeds)
    logs = [watchlist.parent / f"worker-{backend}-{workers}-{i}.log" for i in range(workers)]
    probe = _Probe(url)
    db_before = _postgres_cpu()
    idle_before = _machine_times()
    with _CpuSampler() as sampler:
        start = time.monotonic()
        procs = []
        for i, log in enumerate(logs):
            with log.open("w") as err:
                cmd = [sys.executable, "-c", _AS_HOST, f"bench-worker-{i}"]
                cmd += ["--diagnose"] if args.diagnose else []
                cmd += ["worker", *common]
                procs.append(
                    subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
                )
        try:
            first = None
            while True:
                done = probe.polled()
                now = time.monotonic()
                if first is None and done:
                    first = now
                if done >= feeds:
                    break
                if now - start > TIMEOUT or any(p.poll() is not None for p in procs):
                    raise SystemExit(
                        f"bench_scale: {backend} × {workers}: {done}/{feeds} polled after"
                        f" {now - start:.0f} s (workers: {[p.poll() for p in procs]});"
                        f" logs in {watchlist.parent}"
                    )
                time.sleep(0.1)
            end = time.monotonic()
            # Before the workers exit: their database backends' CPU leaves /proc with them.
            db_after = _postgres_cpu()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs:
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                row.worker_cpu.append(usage.ru_utime + usage.ru_stime)
    row.wall = end - start
    row.startup = (first or end) - start
    row.server_cpu = sampler.cpu_between(start, end)
    row.db_cpu = db_after - db_before if backend == "postgres" else 0.0
    row.machine_busy = _busy_share(idle_before, _machine_times())
    row.cores = os.cpu_count() or 1
    paths = Counter(r.path for r in server.requests if r.path.startswith("/gen/"))
    row.requests = sum(paths.values())
    row.repolled = sum(1 for n in paths.values() if n > 1)
    row.seen, row.alerts = probe.counts()
    probe.close()
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        row.polled_by.append(text.count(" polled gen-"))
        for line in text.splitlines():
            if line.startswith(DIAGNOSIS):
                row.diagnosis.append(json.loads(line.removeprefix(DIAGNOSIS)))
                continue
            if " WARNING " in line or " ERROR " in line:
                row.notes[" ".join(line.split()[1:4])] += 1
                if args.verbose:
                    print(f"    {log.name}: {line}")
    for note, count in sorted(row.notes.items()):
        print(f"    note: {count} × {note}")
    return row


# `python -m bot` under a host name of its own. A worker's lease holder is "<hostname>:worker"
# (bot.store.leases.default_holder), and each worker frees its holder's leases when it starts
# (a crashed run's leases): two workers on ONE host would free each other's claims, and every
# source would be polled twice (the fenced first poll then commits nothing). On separate
# hosts or containers the names differ; this gives each bench worker a host of its own.
_AS_HOST = (
    "import socket, sys\n"
    "host = sys.argv.pop(1)\n"
    "socket.gethostname = lambda: host\n"
    "if sys.argv[1] == '--diagnose':\n"
    "    sys.argv.pop(1)\n"
    "    from bench.bench_scale import _instrument\n"
    "    _instrument()\n"
    "from bot.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)
DIAGNOSIS = "bench_scale diagnosis: "


def _instrument() -> None:
    """In a worker (--diagnose): time each poll's commit (Poller._commit, which runs under the
    poller's commit lock, one at a time per process) and count the SQL statements sent to
    PostgreSQL by kind; write the totals to stderr as one JSON line when the worker exits."""
    import atexit
    import json
    import threading

    from bot.pipeline import poller

    totals: Counter[str] = Counter()
    statements: Counter[str] = Counter()
    lock = threading.Lock()
    commit = poller.Poller._commit

    def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            return commit(self, *args, **kwargs)
        finally:
            with lock:
                totals["commits"] += 1
                totals["commit_wall"] += time.perf_counter() - wall
                totals["commit_cpu"] += time.thread_time() - cpu

    poller.Poller._commit = timed  # type: ignore[method-assign]
    try:
        import psycopg
    except ImportError:
        psycopg = None  # type: ignore[assignment]
    if psycopg is not None:
        execute = psycopg.Connection.execute

        def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                statements[" ".join(str(query).split())[:60]] += 1
            return execute(self, query, *args, **kwargs)

        psycopg.Connection.execute = counted  # type: ignore[assignment,method-assign]

    def report() -> None:
        sys.stderr.write(
            DIAGNOSIS
            + json.dumps({"totals": totals, "statements": statements, "cpu": time.process_time()})
            + "\n"
        )

    atexit.register(report)


class _Probe:
    """Asks the row's database how far the workers got (a connection of its own)."""

    def __init__(self, url: str) -> None:
        self._sqlite = url.startswith("sqlite:")
        if self._sqlite:
            import sqlite3

            self._conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)
        else:
            import psycopg

            self._conn = psycopg.connect(url, autocommit=True)

    def _one(self, sql: str) -> int:
        return int(self._conn.execute(sql).fetchone()[0])

    def polled(self) -> int:
        """Sources polled at least once."""
        return self._one("SELECT COUNT(*) FROM sources WHERE last_attempt_at IS NOT NULL")

    def counts(self) -> tuple[int, int]:
        """Seen entries stored and alerts queued (the outbox)."""
        return self._one("SELECT COUNT(*) FROM seen"), self._one("SELECT COUNT(*) FROM outbox")

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()


def _postgres_cpu() -> float:
    """CPU seconds used so far by every process named postgres (0 when none is visible)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        if name.startswith("postgres"):
            fields = stat[stat.rfind(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _machine_times() -> tuple[int, int]:
    """(idle, total) jiffies of all cores, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return parts[3] + parts[4], sum(parts)


def _busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    idle, total = after[0] - before[0], after[1] - before[1]
    return 1.0 - idle / total if total else 0.0


def _print(rows: list[Row]) -> None:
    if not rows:
        print("bench_scale: no rows were run")
        return
    print()
    print(
        f"{'backend':<9} {'W':>2} {'feeds':>6} {'wall s':>7} {'start s':>7} {'feeds/min':>10}"
        f" {'ratio':>6} {'worker CPU s':>14} {'server':>7} {'db CPU':>7} {'busy':>5} {'other':>6}"
        f" {'CPU/feed':>9}  {'split':<11} checks"
    )
    base = rows[0]
    for r in rows:
        ratio = r.per_minute / base.per_minute if base.per_minute else 0.0
        cpu = "+".join(f"{c:.1f}" for c in r.worker_cpu)
        split = "/".join(str(n) for n in r.polled_by)
        checks = f"requests={r.requests} repolled={r.repolled} seen={r.seen} alerts={r.alerts}"
        print(
            f"{r.backend:<9} {r.workers:>2} {r.feeds:>6} {r.wall:>7.2f} {r.startup:>7.2f}"
            f" {r.per_minute:>10.0f} {ratio:>5.2f}x {cpu:>14} {r.server_cpu:>6.1f}s"
            f" {r.db_cpu:>6.1f}s {100 * r.machine_busy:>4.0f}% {r.other_cpu:>5.1f}s"
            f" {r.cpu_per_feed:>6.1f} ms  {split:<11} {checks}"
        )
    print(
        "  wall: workers started → every source polled once (startup included); start: → first\n"
        "    source polled. ratio: feeds/min ÷ the first row's. worker CPU: user+sys of each\n"
        "    worker process (to its exit). server: the feed server's CPU (this process).\n"
        "    db CPU: all postgres processes. busy: share of all cores busy during the row;\n"
        "    other: the CPU of that not accounted for by the rest (other programs, the kernel).\n"
        "    CPU/feed: workers + db + server CPU ÷ feeds. split: sources each worker polled\n"
        "    (its log's 'polled' lines)."
    )
    cores = rows[0].cores
    print()
    print(f"CPU ceiling on {cores} otherwise idle cores (cores ÷ CPU per feed):")
    for r in rows:
        ceiling = 60_000 * cores / r.cpu_per_feed if r.cpu_per_feed else 0.0
        print(
            f"  {r.backend} × {r.workers}: {ceiling:,.0f} feeds/min; measured {r.per_minute:,.0f}"
            f" with {r.machine_busy:.0%} of the machine busy, {r.other_cpu:.0f} CPU-s of it"
            " other programs'"
        )
    _print_diagnosis(rows)

    def find(backend: str, workers: int) -> Row | None:
        return next((r for r in rows if (r.backend, r.workers) == (backend, workers)), None)

    sqlite1, pg1, pg2 = find("sqlite", 1), find("postgres", 1), find("postgres", 2)
    print()
    print("aims (from the issue):")
    if pg1 and pg2:
        x = pg2.per_minute / pg1.per_minute
        print(
            f"  2 workers ≥ {AIM_WORKERS:g}× one worker (PostgreSQL):"
            f" {x:.2f}× {'MET' if x >= AIM_WORKERS else 'NOT MET'}"
        )
    if sqlite1 and pg1:
        x = pg1.wall / sqlite1.wall
        print(
            f"  PostgreSQL single-process within {AIM_PG:g}× SQLite's time:"
            f" {x:.2f}× {'MET' if x <= AIM_PG else 'NOT MET'}"
        )


def _print_diagnosis(rows: list[Row]) -> None:
    """With --diagnose: each row's commit times and SQL statements per poll."""
    if not any(r.diagnosis for r in rows):
        return
    print()
    print("diagnosis (--diagnose; commits run one at a time per worker, under its commit lock):")
    for r in rows:
        totals: Counter[str] = Counter()
        statements: Counter[str] = Counter()
        for d in r.diagnosis:
            totals.update(d["totals"])
            statements.update(d["statements"])
        commits = totals["commits"] or 1
        per_worker = "/".join(f"{d['totals'].get('commit_wall', 0.0):.1f}" for d in r.diagnosis)
        print(
            f"  {r.backend} × {r.workers}: {totals['commits']:.0f} commits,"
            f" {1000 * totals['commit_wall'] / commits:.1f} ms wall and"
            f" {1000 * totals['commit_cpu'] / commits:.1f} ms CPU each;"
            f" the workers spent {per_worker} s of the row's {r.wall:.1f} s committing"
        )
        if statements:
            print(
                f"    {sum(statements.values()) / commits:.0f} SQL statements per poll,"
                " each a round trip; the most frequent:"
            )
            for text, n in statements.most_common(8):
                print(f"    {n / commits:6.1f}/poll  {text}")


if __name__ == "__main__":
    main()
