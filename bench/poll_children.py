"""bench_poll's children: each measured system (raw aiohttp, ours, reader) in a process of its
own, reporting wall, CPU and peak RSS per cycle as one JSON line on stdout.

Run by `python -m bench.bench_poll --child SYSTEM ...`; only the standard library is imported
at module level, so a child's peak RSS holds only what the measured system itself loads.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import resource
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BATCH = 256  # Poller.batch's default: how many sources one poll_due claims
CYCLES = ("full", "304")


# --- children: one measured system each ------------------------------------------------------


class _Meter:
    """Wall, CPU (user+sys) and peak RSS of this process over one cycle."""

    def __init__(self, cycle: str) -> None:
        self.cycle = cycle
        self.results: dict[str, int] = {}
        self.digest = ""  # of the alerts queued, when the system queues any (ours)

    def __enter__(self) -> _Meter:
        self._usage = resource.getrusage(resource.RUSAGE_SELF)
        self.start = time.monotonic()
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t
        self.end = time.monotonic()
        after = resource.getrusage(resource.RUSAGE_SELF)
        self.cpu = (after.ru_utime - self._usage.ru_utime) + (after.ru_stime - self._usage.ru_stime)
        self.rss_mb = _peak_rss_mb()
        self.ru_maxrss_mb = after.ru_maxrss / 1024  # KiB on Linux; see _peak_rss_mb

    def report(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "wall": self.wall,
            "cpu": self.cpu,
            "rss_mb": self.rss_mb,
            "ru_maxrss_mb": self.ru_maxrss_mb,
            "start": self.start,
            "end": self.end,
            "results": {**self.results, **({"alerts_sha": self.digest} if self.digest else {})},
        }


class _CountingHandler:
    """Counts log records at WARNING and above by logger and level instead of printing them."""

    def __init__(self) -> None:
        import logging

        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}
        handler = logging.Handler(logging.WARNING)
        handler.emit = self._emit  # type: ignore[method-assign]
        root = logging.getLogger()
        root.addHandler(handler)
        logging.captureWarnings(True)

    def _emit(self, record: Any) -> None:
        key = f"{record.name} {record.levelname}"
        if record.name == "py.warnings":
            key += ": " + record.getMessage().strip().splitlines()[-1][:80]
        self.counts[key] = self.counts.get(key, 0) + 1
        self.first.setdefault(key, " ".join(record.getMessage().split())[:120])


def run_child(args: argparse.Namespace) -> None:
    log = _CountingHandler()
    route = "real" if args.kind == "realistic" else "gen"
    urls = [f"{args.base_url}/{route}/{i}.xml" for i in range(args.feeds)]
    run = {"raw": _child_raw, "ours": _child_ours, "reader": _child_reader}[args.child]
    setup_rss: list[float] = []
    cycles = run(args, urls, setup_rss)
    print(
        json.dumps(
            {
                "cycles": [c.report() for c in cycles],
                "rss_setup_mb": setup_rss[0] if setup_rss else 0.0,
                "log": {k: [n, log.first[k]] for k, n in log.counts.items()},
            }
        )
    )


def _peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM, else ru_maxrss.

    ru_maxrss survives exec: a child forked from the parent (which holds the feed server, its
    request log and cached feed bodies) starts with the parent's peak as its own, so a child's
    ru_maxrss reads at least the parent's RSS. VmHWM belongs to the address space exec made.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_now_peak() -> float:
    return _peak_rss_mb()


def _child_raw(args: argparse.Namespace, urls: list[str], setup_rss: list[float]) -> list[_Meter]:
    """The floor: GET every feed with a bare aiohttp client, keep validators, parse nothing."""
    import asyncio

    import aiohttp

    async def main() -> list[_Meter]:
        etags: dict[str, str] = {}
        connector = aiohttp.TCPConnector(limit=args.workers, limit_per_host=args.workers)
        async with aiohttp.ClientSession(connector=connector) as session:
            gate = asyncio.Semaphore(args.workers)

            async def get(url: str, meter: _Meter) -> None:
                headers = {"If-None-Match": etags[url]} if url in etags else {}
                async with gate, session.get(url, headers=headers) as response:
                    await response.read()
                    if "ETag" in response.headers:
                        etags[url] = response.headers["ETag"]
                    key = str(response.status)
                    meter.results[key] = meter.results.get(key, 0) + 1

            setup_rss.append(_rss_now_peak())
            meters = []
            for cycle in CYCLES:
                with _Meter(cycle) as meter:
                    await asyncio.gather(*(get(url, meter) for url in urls))
                meters.append(meter)
            return meters

    return asyncio.run(main())


def _child_ours(args: argparse.Namespace, urls: list[str], setup_rss: list[float]) -> list[_Meter]:
    """Ours: sync_sources, then poll_due(force=True) until each source was polled once; twice."""
    import asyncio

    from bot.pipeline import Compiled, Poller, source_configs
    from bot.sources.fetch import Fetcher, FetchSettings
    from bot.store import open_store
    from bot.watchlist import SourceSpec, Watchlist, load_watchlist

    if args.parser == "feedparser":
        from bot.sources import feeds
        from bot.sources.fastfeed import Unusual

        def decline(body: bytes, content_type: str | None) -> Any:
            raise Unusual("--parser feedparser")

        feeds.parse_fast = decline  # every body takes the feedparser path, as before

    shipped = load_watchlist(ROOT / "watchlist.yaml")
    watchlist = Watchlist(
        version=shipped.version,
        defaults=shipped.defaults,
        concepts=shipped.concepts,
        signals=shipped.signals,
        sources=[SourceSpec(id=f"gen-{i}", url=url) for i, url in enumerate(urls)],
        routes=shipped.routes,
    )
    compiled = Compiled.build(watchlist)
    configs = source_configs(watchlist)
    store = open_store(args.db)
    settings = FetchSettings(
        max_concurrency=args.workers,
        per_host_concurrency=args.workers,  # every feed is on 127.0.0.1
        per_host_spacing=0.0,
        allow_private=True,
    )
    clock = _Clock(datetime.fromisoformat(args.now))

    class Notices:
        async def notify(self, text: str) -> None:
            pass

    async def cycle(poller: Poller, meter: _Meter) -> None:
        # poll_due(force=True) claims every enabled source, oldest next_poll_at first, BATCH
        # at a time; the last claim asks for just what is left so no source is polled twice.
        polled: set[str] = set()
        while len(polled) < len(urls):
            poller.batch = min(BATCH, len(urls) - len(polled))
            outcomes = await poller.poll_due(force=True)
            if not outcomes:
                break
            for outcome in outcomes:
                if outcome.source_id in polled:
                    meter.results["repolled"] = meter.results.get("repolled", 0) + 1
                polled.add(outcome.source_id)
                meter.results[outcome.status] = meter.results.get(outcome.status, 0) + 1
                meter.results["alerts"] = meter.results.get("alerts", 0) + outcome.alerts

    async def main() -> list[_Meter]:
        meters = []
        async with Fetcher(settings) as fetcher:
            poller = Poller(store, fetcher, lambda: compiled, Notices(), clock)
            setup_rss.append(_rss_now_peak())
            with _Meter("full") as meter, _profiling(args.profile_out, "full"):
                store.sync_sources(configs, clock())
                await cycle(poller, meter)
            meter.results["stored"] = _count_rows(args.db, "seen")
            meter.results["articles"] = _count_rows(args.db, "articles")
            meter.digest = _outbox_digest(args.db)
            meters.append(meter)
            # A day later: every source is due again, and each poll's new next_poll_at sorts
            # after the sources not yet polled in this cycle.
            clock.now += timedelta(days=1)
            with _Meter("304") as meter, _profiling(args.profile_out, "304"):
                await cycle(poller, meter)
            meters.append(meter)
        return meters

    try:
        return asyncio.run(main())
    finally:
        store.close()


@contextlib.contextmanager
def _profiling(prefix: str | None, cycle: str) -> Iterator[None]:
    """cProfile the block into `{prefix}.{cycle}` when a prefix is given."""
    if not prefix:
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(f"{prefix}.{cycle}")


def _count_rows(db: str, table: str) -> int:
    """Rows in one table of our store, read on a connection of its own (not measured)."""
    import sqlite3

    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _outbox_digest(db: str) -> str:
    """The first 12 hex digits of a SHA-256 over every queued alert (id, kind, destination,
    signal, payload as stored), in id order: two runs over the same feeds queued the same
    alerts exactly when the digests agree (the check that a change kept what is alerted)."""
    import sqlite3

    digest = hashlib.sha256()
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT alert_id, kind, destination, signal_id, payload FROM outbox ORDER BY alert_id"
        )
        for row in rows:
            digest.update("\x1f".join(str(v) for v in row).encode() + b"\x1e")
    return digest.hexdigest()[:12]


class _Clock:
    """A fixed clock the benchmark moves between cycles."""

    def __init__(self, now: datetime) -> None:
        self.now = now.astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


def _child_reader(
    args: argparse.Namespace, urls: list[str], setup_rss: list[float]
) -> list[_Meter]:
    """lemon24/reader: add_feed × N + update_feeds(workers=W), then the 304 update."""
    from reader import make_reader

    reader = make_reader(args.db)
    _widen_reader_pool(reader, args.workers)
    setup_rss.append(_rss_now_peak())

    def update(meter: _Meter, **kwargs: Any) -> None:
        for _url, value in reader.update_feeds_iter(workers=args.workers, **kwargs):
            if value is None:
                key = "not-modified"
            elif isinstance(value, Exception):
                key = f"error:{type(value).__name__}"
            else:
                key = "ok"
            meter.results[key] = meter.results.get(key, 0) + 1

    meters = []
    with _Meter("full") as meter:
        for url in urls:
            reader.add_feed(url)
        update(meter)
    meter.results["stored"] = reader.get_entry_counts().total or 0
    meters.append(meter)
    with _Meter("304") as meter:
        # Feeds updated a moment ago are not scheduled again yet; scheduled=False asks anyway.
        update(meter, scheduled=False)
    meters.append(meter)
    reader.close()
    return meters


def _widen_reader_pool(reader: Any, workers: int) -> None:
    """Give reader's requests session as many pooled connections as it has workers.

    requests keeps 10 connections per host by default; with 32 threads on one host the rest
    would be opened and thrown away on every request (and urllib3 warns about each), which
    is the benchmark's doing (one host for all feeds), not reader's.
    """
    parser = reader._parser
    parser.do_lazy_init()  # import errors here are reader's own: let them surface
    try:
        from reader._parser.http import TimeoutHTTPAdapter

        retriever = parser.retrievers["http://"]
        timeout = retriever.timeout
        for prefix in ("http://", "https://"):
            retriever.session.mount(
                prefix, TimeoutHTTPAdapter(timeout, pool_connections=10, pool_maxsize=workers)
            )
    except (ImportError, AttributeError, KeyError) as exc:  # reader internals moved
        import logging

        logging.getLogger("bench").warning("could not widen reader's pool: %r", exc)
