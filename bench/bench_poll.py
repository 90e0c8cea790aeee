"""Poll-cycle cost against lemon24/reader, measured in the same run.

A local FeedServer (bench/feedserver.py: aiohttp on 127.0.0.1, in a thread of THIS process)
serves N synthetic feeds (`/gen/{i}.xml`, 30 entries each, stable ETags, 304 on a match).
Each system runs in its own child process, so its CPU and peak RSS are its own (the server's
CPU is not counted; it is measured separately to show whether it kept up):

  raw     a bare aiohttp GET loop (no parse, no store): the floor this server allows
  ours    fresh SQLite store: sync_sources, Poller.poll_due(force=True) until every source
          was polled once (fetch, parse, unseen, match against watchlist.yaml's signals,
          commit); then a second cycle in which every feed answers 304
  reader  lemon24/reader: make_reader(db), add_feed × N, update_feeds(workers=W); then a
          second update_feeds(scheduled=False) (its own conditional GET: every feed 304)

Two kinds of feeds, each polled by ours and reader:

  dense      `/gen/{i}.xml`: every item unique, about 70% of them matching a signal (the most
             work per entry: match, file under a story, queue alerts)
  realistic  `/real/{i}.xml`: real headlines and ledes from tests/data/labelled, one item in 12
             matching a signal (8%), and feeds in groups of 5 carrying the same stories under
             their own links and GUIDs (copies to merge into one story, as wire stories are)

Plus a memory check: ours alone with 10,000 feeds, realistic (the aim) and dense (full cycle,
then the 304 cycle).

    python -m bench.bench_poll [--feeds N] [--workers W] [--memory-feeds M] [--quick] [--profile]
                               [--parser fast|feedparser]

`--parser feedparser` makes ours send every feed to feedparser (the path before the fast
parser), to measure the two parse paths in one checkout.

Needs the `bench` extra: pip install -e '.[bench]' (aiohttp for the feed server, reader>=3.12,<4
for the baseline, plus sgmllib3k: reader 3.x vendors a feedparser that imports `sgmllib`, and
feedparser 6.0.12+, which depends on feedparser-sgmllib instead, no longer pulls it in).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# Module level imports stay in the standard library: the children import this module too,
# and their peak RSS must hold only what the measured system itself loads.

ROOT = Path(__file__).resolve().parent.parent
FEEDS = 2000
ENTRIES = 30
WORKERS = 32  # Settings.fetch_concurrency's default
MEMORY_FEEDS = 10_000
AIM_SPEEDUP = 3.0
AIM_304_MS = 0.5
AIM_RSS_MB = 150.0


# --- parent: server, children, table ---------------------------------------------------------


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Run the benchmark (or, with --child, one measured system) and print the table."""
    args = _parser().parse_args(argv)
    if args.child:
        from bench.poll_children import run_child

        run_child(args)
        return []
    feeds = args.feeds if args.feeds is not None else (200 if args.quick else FEEDS)
    memory = args.memory_feeds
    if memory is None:
        memory = 0 if args.quick else MEMORY_FEEDS
    workers = args.workers

    from bench import feedserver

    # Entries are dated from the server's fixed epoch; polling "an hour later" keeps every
    # entry inside the 24 h backfill window, so the first poll matches all of them (the
    # steady-state work per new entry) instead of marking them seen as backlog.
    now = feedserver._EPOCH + timedelta(hours=1)
    have_reader = _has_module("reader")
    if have_reader and not _has_module("sgmllib"):
        # reader 3.x vendors a feedparser that imports `sgmllib` (sgmllib3k); feedparser
        # ≥ 6.0.12 depends on feedparser-sgmllib instead, so nothing installs it any more.
        print("reader is installed but `sgmllib` is not (pip install sgmllib3k): no baseline")
        have_reader = False
    mix = _story_mix(feedserver.StoryMix)
    rows: list[dict[str, Any]] = []
    with (
        feedserver.FeedServer(
            gen_feeds=max(feeds, memory), gen_entries=ENTRIES, gen_stories=mix
        ) as server,
        tempfile.TemporaryDirectory(prefix="bench_poll_") as tmp,
    ):
        print(
            f"poll cycle: {feeds} synthetic feeds × {ENTRIES} entries on {server.base_url},"
            f" concurrency {workers}; each system in its own process, server in the parent"
        )
        print(
            f"  full cycle: fresh DB, clock {now:%Y-%m-%d %H:%M} UTC so all {ENTRIES} entries of a"
            " feed are inside the 24 h backfill window: every entry is parsed, checked against"
            " seen, matched and stored (ours also queues alerts); 304 cycle: same feeds, all 304"
        )
        print(
            f"  all feeds share ONE host (127.0.0.1): ours per_host_concurrency = max_concurrency"
            f" = {workers}, per_host_spacing = 0, allow_private; reader update_feeds(workers="
            f"{workers}), its requests pool raised from 10 to {workers} connections"
        )
        print(
            f"  realistic feeds: {len(mix.hits)} matching and {len(mix.plain)} other real"
            f" stories (tests/data/labelled, matched against watchlist.yaml); 1 item in"
            f" {mix.hit_every} matches; feeds in groups of {mix.copies} carry the same stories"
        )
        if args.parser == "feedparser":
            print("  ours: --parser feedparser, every feed parsed by feedparser (no fast path)")
        plan = [("raw", feeds, "dense"), ("ours", feeds, "dense")]
        plan += [("reader", feeds, "dense")] if have_reader else []
        plan += [("ours", feeds, "realistic")]
        plan += [("reader", feeds, "realistic")] if have_reader else []
        plan += [("ours", memory, "dense"), ("ours", memory, "realistic")] if memory else []
        for system, n, kind in plan:
            rows += _run_child(
                server, system, n, workers, now, Path(tmp), args.verbose, kind, args.parser
            )
        if args.profile:
            _profile(server, feeds, workers, now, Path(tmp))
    _print_table(rows, feeds, memory, have_reader)
    return rows


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=None, help=f"feeds to poll (default {FEEDS})")
    parser.add_argument("--workers", type=int, default=WORKERS, help="fetch concurrency")
    parser.add_argument(
        "--memory-feeds",
        type=int,
        default=None,
        help=f"feeds for ours' memory row (default {MEMORY_FEEDS}; 0 skips it)",
    )
    parser.add_argument("--quick", action="store_true", help="200 feeds, no memory row")
    parser.add_argument("--profile", action="store_true", help="also cProfile ours' cycles")
    parser.add_argument("--verbose", action="store_true", help="show children's stderr")
    parser.add_argument(
        "--parser",
        choices=("fast", "feedparser"),
        default="fast",
        help="ours' parse path: the fast parser with feedparser as fallback (default), or"
        " feedparser for every feed (as before the fast parser)",
    )
    parser.add_argument("--kind", choices=("dense", "realistic"), help=argparse.SUPPRESS)
    # internal: one measured system in a child process
    parser.add_argument("--child", choices=("raw", "ours", "reader"), help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--now", help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    return parser


def _has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


class _CpuSampler:
    """Samples this process's CPU time (≈ the feed server's: the main thread only waits)."""

    def __init__(self, every: float = 0.05) -> None:
        self.samples: list[tuple[float, float]] = []
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def __enter__(self) -> _CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), time.process_time()))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), time.process_time()))
            self._stop.wait(self._every)

    def cpu_between(self, start: float, end: float) -> float:
        """CPU seconds used between two monotonic times (linear between samples)."""
        return self._at(end) - self._at(start)

    def _at(self, t: float) -> float:
        s = self.samples
        for (t0, c0), (t1, c1) in itertools.pairwise(s):
            if t0 <= t <= t1:
                return c0 + (c1 - c0) * ((t - t0) / (t1 - t0) if t1 > t0 else 0.0)
        return s[-1][1] if t > s[-1][0] else s[0][1]


def _story_mix(story_mix: Any) -> Any:
    """The realistic feeds' stories: labelled real items, split by whether they match."""
    from bot.pipeline import Compiled
    from bot.watchlist import load_watchlist

    matcher = Compiled.build(load_watchlist(ROOT / "watchlist.yaml")).matcher
    hits: list[tuple[str, str]] = []
    plain: list[tuple[str, str]] = []
    for path in sorted((ROOT / "tests" / "data" / "labelled").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            story = (item["title"], item.get("summary") or "")
            (hits if matcher.match_ids(*story) else plain).append(story)
    return story_mix(plain=tuple(plain), hits=tuple(hits))


def _run_child(
    server: Any,
    system: str,
    feeds: int,
    workers: int,
    now: datetime,
    tmp: Path,
    verbose: bool,
    kind: str = "dense",
    parser: str = "fast",
) -> list[dict[str, Any]]:
    """Run one system's two cycles in a child process; return a row per cycle."""
    server.clear()
    db = tmp / f"{system}-{feeds}-{kind}.db"
    cmd = [
        sys.executable, "-m", "bench.bench_poll", "--child", system,
        "--base-url", server.base_url, "--feeds", str(feeds), "--workers", str(workers),
        "--db", str(db), "--now", now.isoformat(), "--kind", kind, "--parser", parser,
    ]  # fmt: skip
    print(f"  running {system} with {feeds} {kind} feeds ...", flush=True)
    with _CpuSampler() as sampler:
        done = subprocess.run(cmd, cwd=ROOT, env=_child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"bench_poll: the {system} child failed (exit {done.returncode})")
    if verbose and done.stderr.strip():
        sys.stderr.write(done.stderr)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for cycle in report["cycles"]:
        server_cpu = sampler.cpu_between(cycle["start"], cycle["end"])
        rows.append(
            {
                "system": system,
                "feeds": feeds,
                "kind": kind,
                **cycle,
                "server_cpu": server_cpu,
                "server_busy": server_cpu / cycle["wall"] if cycle["wall"] else 0.0,
                "rss_setup_mb": report["rss_setup_mb"],
                "log": report["log"],
            }
        )
    for name, (count, first) in sorted(report["log"].items()):
        print(f"    note: {system} logged {count} × {name} (first: {first})")
    return rows


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONWARNINGS"] = "default"
    return env


def _profile(server: Any, feeds: int, workers: int, now: datetime, tmp: Path) -> None:
    """Profile ours' two cycles in a child of its own (so the measured rows stay clean)."""
    import io
    import pstats

    server.clear()
    prefix = tmp / "ours.prof"
    cmd = [
        sys.executable, "-m", "bench.bench_poll", "--child", "ours",
        "--base-url", server.base_url, "--feeds", str(feeds), "--workers", str(workers),
        "--db", str(tmp / "profile.db"), "--now", now.isoformat(), "--profile-out", str(prefix),
        "--kind", "dense",
    ]  # fmt: skip
    print(f"  profiling ours with {feeds} feeds (cProfile; times inflated by it) ...", flush=True)
    done = subprocess.run(cmd, cwd=ROOT, env=_child_env(), capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit("bench_poll: the profiling child failed")
    for cycle, key, top in (
        ("full", "cumulative", 10),
        ("full", "tottime", 15),
        ("304", "cumulative", 10),
        ("304", "tottime", 10),
    ):
        buffer = io.StringIO()
        stats = pstats.Stats(f"{prefix}.{cycle}", stream=buffer)
        stats.strip_dirs().sort_stats(key).print_stats(top)
        text = buffer.getvalue()
        body = text[text.find("   ncalls") :]
        print(f"\nours, {cycle} cycle, cProfile top {top} by {key}:\n{body.rstrip()}")
    print()


def _print_table(rows: list[dict[str, Any]], feeds: int, memory: int, have_reader: bool) -> None:
    print()
    header = (
        f"{'system':<7} {'feeds':>6} {'kind':<9} {'cycle':<5} {'wall s':>7} {'CPU s':>7}"
        f" {'CPU ms/feed':>11} {'peak RSS MB':>11} {'setup MB':>8} {'feeds/s':>8} {'server':>6}"
        "  results"
    )
    print(header)
    print("-" * (len(header) + 30))
    for r in rows:
        print(
            f"{r['system']:<7} {r['feeds']:>6} {r['kind']:<9} {r['cycle']:<5} {r['wall']:>7.2f}"
            f" {r['cpu']:>7.2f} {1000 * r['cpu'] / r['feeds']:>11.3f} {r['rss_mb']:>11.1f}"
            f" {r['rss_setup_mb']:>8.1f} {r['feeds'] / r['wall']:>8.0f}"
            f" {100 * r['server_busy']:>5.0f}%  {_results(r['results'])}"
        )
    print(
        "  CPU: user+sys of the system's own process during the cycle.\n"
        "  peak RSS: that process's high-water mark so far (VmHWM; imports and setup included;\n"
        "    'setup MB' is the mark before the first cycle). Not ru_maxrss: a child inherits\n"
        "    the parent's peak through fork, so its ru_maxrss reads at least the server's RSS.\n"
        "  server: feed server CPU ÷ cycle wall time (100% = its one core saturated).\n"
        "  raw: bare aiohttp GETs, nothing parsed or stored (what the server allows)."
    )

    def row(system: str, cycle: str, n: int, kind: str = "dense") -> dict[str, Any] | None:
        for r in rows:
            if (r["system"], r["cycle"], r["feeds"], r["kind"]) == (system, cycle, n, kind):
                return r
        return None

    ours_full, ours_304 = row("ours", "full", feeds), row("ours", "304", feeds)
    raw_full = row("raw", "full", feeds)
    big = row("ours", "full", memory, "realistic") if memory else None
    big_dense = row("ours", "full", memory, "dense") if memory else None
    assert ours_full is not None and ours_304 is not None
    wall_x = cpu_x = None
    for kind in ("dense", "realistic"):
        mine_full, mine_304 = row("ours", "full", feeds, kind), row("ours", "304", feeds, kind)
        theirs_full = row("reader", "full", feeds, kind)
        theirs_304 = row("reader", "304", feeds, kind)
        assert mine_full is not None and mine_304 is not None
        print()
        print(
            f"ours vs reader at {feeds} {kind} feeds (speed-up = reader ÷ ours; above 1: ours"
            " is cheaper)"
        )
        if not (have_reader and theirs_full is not None and theirs_304 is not None):
            print("  reader not available (pip install -e '.[bench]'): no baseline")
            continue
        if kind == "dense":
            wall_x = theirs_full["wall"] / mine_full["wall"]
            cpu_x = theirs_full["cpu"] / mine_full["cpu"]
        for label, ours, theirs, unit in (
            ("full cycle wall", mine_full["wall"], theirs_full["wall"], "s"),
            ("full cycle CPU", mine_full["cpu"], theirs_full["cpu"], "s"),
            ("304 cycle wall", mine_304["wall"], theirs_304["wall"], "s"),
            ("304 cycle CPU/feed", _ms(mine_304), _ms(theirs_304), "ms"),
            ("peak RSS (process)", mine_304["rss_mb"], theirs_304["rss_mb"], "MB"),
        ):
            print(
                f"  {label:<19} {theirs / ours:6.2f}x   ours {ours:8.3f} {unit:<2}"
                f"   reader {theirs:8.3f} {unit}"
            )
    if raw_full is not None:
        print(
            f"  floor: a bare aiohttp client GETs all {feeds} feeds in {raw_full['wall']:.2f} s;"
            f" ours' dense full cycle takes {ours_full['wall'] / raw_full['wall']:.0f}x that"
        )
    print()
    print("aims (from the issue; dense feeds):")
    if wall_x is not None and cpu_x is not None:
        print(
            f"  ≥{AIM_SPEEDUP:g}x reader, full cycle:        wall {wall_x:.2f}x"
            f" {_verdict(wall_x >= AIM_SPEEDUP)}, CPU {cpu_x:.2f}x {_verdict(cpu_x >= AIM_SPEEDUP)}"
        )
    else:
        print(f"  ≥{AIM_SPEEDUP:g}x reader, full cycle:        not measured (no reader)")
    ms = _ms(ours_304)
    print(f"  ≤{AIM_304_MS:g} ms CPU per feed, 304 cycle: {ms:.3f} ms {_verdict(ms <= AIM_304_MS)}")
    if big is not None:
        print(
            f"  {memory:,} realistic feeds within {AIM_RSS_MB:g} MB: peak RSS"
            f" {big['rss_mb']:.1f} MB {_verdict(big['rss_mb'] <= AIM_RSS_MB)} (its full cycle:"
            f" {big['wall']:.0f} s wall, {big['cpu']:.0f} s CPU)"
        )
    if big_dense is not None:
        print(
            f"  {memory:,} dense feeds (reported):  peak RSS {big_dense['rss_mb']:.1f} MB"
            f" (its full cycle: {big_dense['wall']:.0f} s wall, {big_dense['cpu']:.0f} s CPU)"
        )
    else:
        print(f"  {MEMORY_FEEDS:,} feeds within {AIM_RSS_MB:g} MB:     not run (--memory-feeds 0)")


def _results(results: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(results.items()))


def _ms(r: dict[str, Any]) -> float:
    return float(1000 * r["cpu"] / r["feeds"])


def _verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


if __name__ == "__main__":
    main()
