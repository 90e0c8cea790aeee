"""The chaos test: 3 workers and 1 gateway on one PostgreSQL schema, killed at random.

A feed server whose feeds keep changing (LiveFeeds that gain an item every half second or
so for CHANGE_FOR seconds), GDELT on the local API server, and the Discord emulator
deduplicating message nonces as Discord does. While the feeds change and until the cluster
has drained, a random worker is killed with SIGKILL every 2-5 s and started again; the
gateway is killed once, as the second round of alerts is being delivered.

Then:
    lost = 0        every alert of the reference run was posted by the cluster
    duplicates = 0  no (signal, headline) was posted more often than the reference posts it
    GDELT           no two GDELT requests of the cluster closer than 5 s (the API's rule)
    overlaps = 0    no feed fetched by two clients at once (live feeds answer slowly, so two
                    polls of one feed at once would overlap at the server)

The reference is a single `python -m bot run --once --all` on a fresh schema, against the
feeds' final contents and its own emulator, rather than alerts computed with the matcher:
it is the same program end to end (parsing, backfill, story detection across the GDELT
copies, rendering), so the comparison is of what Discord received in both cases, embed for
embed, and nothing of the pipeline is modelled twice in the test. Every item ever published
stays in its feed, so the final contents hold everything the cluster could have seen.

Sources poll every 60 s, the shortest interval a watchlist allows: each is polled on start
and once more after the feeds stopped changing, so the run takes about 1.5-2 minutes.
Every process's stdout and stderr are files under tmp_path; a failure prints their tails.

Each worker slot (0-2) runs with SIGNALWATCH_HOLDER=chaos-worker-<slot>, its lease holder's
name, which a restart of that slot takes again, as a container keeps its hostname: its start
then releases what its killed predecessor held at once, and never a running sibling's leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from apiserver import GDELT_PATH, ApiServer
from discord_emulator import DiscordEmulator
from feedserver import FeedServer, LiveFeed

# isort: split
# discord_emulator first: it imports discord.py with its import-time warning filtered.
import psycopg
from psycopg import sql
from test_chat_delivery import NonceEmulator

from bot.store import Store, open_store

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("SIGNALWATCH_TEST_PG", "")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not PG_URL,
        reason="SIGNALWATCH_TEST_PG is unset: set it to a PostgreSQL URL (e.g."
        " postgresql://postgres@127.0.0.1:5432/test) to run the chaos test of workers and gateway",
    ),
]

WORKERS = 3
FEEDS = 6
GDELT_SOURCES = 3
# Seconds the feeds keep changing: a source's second poll comes 30-90 s after its first (half an
# interval, then its phase), so every second poll sees the feeds' final contents.
CHANGE_FOR = 25.0
KILL_EVERY = (2.0, 5.0)  # seconds between two worker kills, drawn uniformly
LIVE_DELAY = 0.3  # seconds each live feed takes to answer, so concurrent fetches overlap
DRAIN_LIMIT = 110.0  # seconds from the cluster's start by which everything must be delivered
STEP = 30.0  # seconds the most any one start, stop or reference run may take
GDELT_SPACING = 5.0  # seconds: GDELT's rule, one request per 5 s
SEED_ITEMS = 3  # items in each feed before the cluster starts

WATCHLIST = """\
version: 1
defaults:
  interval: 60s
  backfill: 3650d   # items are dated June 2025, GDELT's recorded answer too: alert them all
  flood_per_hour: 100000
signals:
  - id: nato
    title: NATO moves
    query: NATO
    search: NATO
  - id: truce
    title: Truce talk
    query: ceasefire
sources:
{sources}
routes: []
"""

# Pseudo-words for headlines: every headline shares at most its keyword (and the feed's serial
# number) with any other, so the story detector files each item as a story of its own
# whichever order the polls come in. A word is never used twice in a run: seed 938309 once
# gave two headlines "Kazelvor", and the two merged in one run and not in the other.
SYLLABLES = ("ka", "lo", "mir", "sen", "tu", "vor", "zel", "pa", "dri", "quo", "fen", "bar")
PSEUDO_WORDS = ["".join(s).capitalize() for s in itertools.product(SYLLABLES, repeat=3)]


def headline(rng: random.Random, used: set[str]) -> str:
    """A headline of pseudo-words none of which `used` holds (it gains them), with NATO,
    ceasefire, both or neither in it."""
    words = rng.sample([w for w in PSEUDO_WORDS if w not in used], 5)
    used.update(words)
    keywords = rng.choice([["NATO"], ["ceasefire"], ["NATO", "ceasefire"], []])
    for keyword in keywords:
        words.insert(rng.randrange(len(words) + 1), keyword)
    return " ".join(words)


def schema_url(schema: str) -> str:
    """The test database's URL with `schema` as every connection's search_path."""
    joiner = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{joiner}options={quote(f'-csearch_path={schema}', safe='')}"


@pytest.fixture
def schemas() -> Iterator[list[str]]:
    """Two fresh schemas (the cluster's and the reference's), dropped afterwards."""
    names = [f"sw_chaos_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield names
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@dataclass
class Proc:
    """One `python -m bot` process of the run and where its output goes."""

    name: str
    process: asyncio.subprocess.Process
    log: Path


@dataclass
class Cluster:
    """Starts, kills and stops `python -m bot` processes; every one's output in a file."""

    tmp_path: Path
    env: dict[str, str]
    started: int = 0
    procs: list[Proc] = field(default_factory=list)

    async def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        """Start `python -m bot ARGS` with stdout and stderr both to tmp_path/NAME-N.log."""
        self.started += 1
        log = self.tmp_path / f"{self.started:03d}-{name}.log"
        with log.open("w", encoding="utf-8") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                *args,
                env={**self.env, **(env or {})},
                cwd=self.tmp_path,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        proc = Proc(name, process, log)
        self.procs.append(proc)
        return proc

    async def run(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        """Run a command to its end (at most STEP seconds); it must exit 0."""
        proc = await self.start(name, *args, env=env)
        code = await asyncio.wait_for(proc.process.wait(), STEP)
        assert code == 0, f"{name} exited {code}:\n{tail(proc.log, 40)}"
        return proc

    @staticmethod
    async def kill(proc: Proc) -> None:
        """SIGKILL, and reap."""
        if proc.process.returncode is None:
            proc.process.kill()
        await asyncio.wait_for(proc.process.wait(), STEP)

    async def stop_all(self) -> None:
        """SIGTERM every process still running, SIGKILL those still there after STEP s."""
        running = [p for p in self.procs if p.process.returncode is None]
        for proc in running:
            proc.process.send_signal(signal.SIGTERM)
        for proc in running:
            try:
                await asyncio.wait_for(proc.process.wait(), STEP)
            except TimeoutError:
                await self.kill(proc)

    def kill_all_now(self) -> None:
        """SIGKILL whatever still runs (the last resort of a finally block)."""
        for proc in self.procs:
            if proc.process.returncode is None:
                proc.process.kill()

    def tails(self, lines: int = 12) -> str:
        """The end of each process's log, the latest process of each name in full length."""
        return "\n".join(
            f"--- {p.log.name} (exit {p.process.returncode}) ---\n{tail(p.log, lines)}"
            for p in self.procs
        )


def tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a file."""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def alert_keys(emu: DiscordEmulator) -> Counter[tuple[str, str]]:
    """(signal, headline) of each alert message in #alerts, counted."""
    keys: Counter[tuple[str, str]] = Counter()
    for message in emu.messages_in(emu.alerts):
        for embed in message.get("embeds", []):
            footer = (embed.get("footer") or {}).get("text", "")
            if footer.startswith("signal: "):
                keys[(footer.removeprefix("signal: "), embed.get("title", ""))] += 1
    return keys


def overlapping_fetches(spans: list[tuple[str, float, float]], prefix: str) -> int:
    """How many requests for a path under `prefix` began before an earlier one had ended."""
    by_path: dict[str, list[tuple[float, float]]] = {}
    for path, start, end in spans:
        if path.startswith(prefix):
            by_path.setdefault(path, []).append((start, end))
    overlaps = 0
    for intervals in by_path.values():
        intervals.sort()
        latest_end = -1.0
        for start, end in intervals:
            if start < latest_end:
                overlaps += 1
            latest_end = max(latest_end, end)
    return overlaps


def min_gap(times: list[float]) -> float | None:
    """The smallest gap between consecutive times, or None with fewer than two."""
    ordered = sorted(times)
    gaps = [b - a for a, b in itertools.pairwise(ordered)]
    return min(gaps) if gaps else None


def drained(store: Store, since: datetime, feed_ids: set[str]) -> tuple[bool, str]:
    """Whether every feed was polled successfully after `since`, every GDELT source at least
    once, and the outbox holds nothing pending; with what is still missing."""
    missing = []
    for state in store.sources():
        done = state.last_success_at
        if state.id in feed_ids:
            if done is None or done < since:
                missing.append(state.id)
        elif done is None:
            missing.append(state.id)
    counts = store.outbox_counts()
    pending = counts.get("pending", 0)
    return not missing and pending == 0, f"sources not done {missing}, {pending} alerts pending"


def test_workers_and_gateway_killed_at_random_lose_and_duplicate_nothing(
    tmp_path: Path, schemas: list[str]
) -> None:
    """3 workers (one SIGKILLed every 2-5 s), 1 gateway (SIGKILLed once), changing feeds:
    every alert of a single-process reference run is posted exactly once, GDELT is never
    asked twice within 5 s, and no feed is fetched by two workers at once."""
    seed = uuid.uuid4().int % 10**6
    rng = random.Random(seed)  # printed with the counts, to replay a run's schedule
    used: set[str] = set()  # the pseudo-words headlines have taken
    cluster_url, reference_url = (schema_url(s) for s in schemas)
    with FeedServer() as feeds, ApiServer() as apis:
        feeds.live_delay = LIVE_DELAY
        lives = [
            feeds.live(
                f"/chaos/{i}.xml",
                LiveFeed(title=f"Chaos wire {i}", link=f"https://chaos{i}.example.com/"),
            )
            for i in range(FEEDS)
        ]
        for live in lives:
            for _ in range(SEED_ITEMS):
                live.add_items(1, title=headline(rng, used))
        sources = [
            f"  - id: wire-{i}\n    url: {feeds.url(f'/chaos/{i}.xml')}" for i in range(FEEDS)
        ]
        # GDELT by the name "localhost": a host of its own, as GDELT's is in production, so
        # that its requests never queue behind feed fetches for the per-host concurrency
        # limit (the fetcher's per-host queues are by host name, not port).
        gdelt_url = apis.url(GDELT_PATH).replace("127.0.0.1", "localhost")
        sources += [
            f"  - id: gdelt-{i}\n    type: gdelt\n    url: {gdelt_url}\n    signals: [nato]"
            for i in range(GDELT_SOURCES)
        ]
        watchlist = tmp_path / "watchlist.yaml"
        watchlist.write_text(WATCHLIST.format(sources="\n".join(sources)), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALWATCH_")}
        env.update(
            SIGNALWATCH_ALLOW_PRIVATE_URLS="1",
            SIGNALWATCH_PER_HOST_SPACING="0",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        )
        cluster = Cluster(tmp_path, env)
        stats: dict[str, Any] = {"seed": seed, "worker kills": 0, "gateway kills": 0}

        def discord_env(emu: DiscordEmulator) -> dict[str, str]:
            return {
                "SIGNALWATCH_DISCORD_TOKEN": emu.token,
                "SIGNALWATCH_DISCORD_API_BASE": emu.api_base,
                "SIGNALWATCH_DISCORD_GATEWAY": emu.gateway_url,
                "SIGNALWATCH_DISCORD_CHANNEL": str(emu.alerts.id),
            }

        async def chaos() -> tuple[Counter[tuple[str, str]], int, str | None]:
            """The cluster's run; returns its alert messages, how many POSTs Discord
            deduplicated by nonce, and what was left undone if it did not drain in time."""
            common = ["--watchlist", str(watchlist), "--db", cluster_url]

            async def start_worker(index: int) -> Proc:
                # Each worker slot names its own lease holder, which its restart takes again
                # (as a container's restart keeps its hostname): a restart then releases only
                # what its predecessor held, never a running sibling's leases.
                holder = {"SIGNALWATCH_HOLDER": f"chaos-worker-{index}"}
                return await cluster.start(f"worker{index}", "worker", *common, env=holder)

            await cluster.run("migrate", "migrate", "--db", cluster_url)
            store = await asyncio.to_thread(open_store, cluster_url)
            try:
                async with NonceEmulator() as emu:
                    # A little delivery delay (between Discord taking a message and the
                    # outbox recording it) widens the window the gateway kill aims at.
                    gateway_env = {**discord_env(emu), "SIGNALWATCH_DELIVERY_DELAY": "0.2"}
                    gateway = await cluster.start("gateway", "gateway", *common, env=gateway_env)
                    deadline = time.monotonic() + STEP
                    while len(await asyncio.to_thread(store.sources)) < FEEDS + GDELT_SOURCES:
                        assert time.monotonic() < deadline, "the gateway synced no sources"
                        await asyncio.sleep(0.2)
                    workers = [await start_worker(i) for i in range(WORKERS)]
                    started = time.monotonic()
                    changes_done = asyncio.Event()
                    last_change = datetime.now(UTC)

                    async def change() -> None:
                        nonlocal last_change
                        while time.monotonic() - started < CHANGE_FOR:
                            await asyncio.sleep(rng.uniform(0.2, 0.8))
                            rng.choice(lives).add_items(1, title=headline(rng, used))
                            last_change = datetime.now(UTC)
                        changes_done.set()

                    async def kill_workers() -> None:
                        while True:
                            await asyncio.sleep(rng.uniform(*KILL_EVERY))
                            index = rng.randrange(len(workers))
                            await cluster.kill(workers[index])
                            stats["worker kills"] += 1
                            workers[index] = await start_worker(index)

                    async def kill_gateway_once() -> None:
                        nonlocal gateway
                        await changes_done.wait()
                        before = len(emu.requests_to("POST", r"/channels/\d+/messages"))
                        # The first post of the second round, or 45 s on at the latest.
                        with contextlib.suppress(TimeoutError):
                            await emu.wait_for_request(
                                "POST", r"/channels/\d+/messages", count=before + 1, timeout=45.0
                            )
                        await cluster.kill(gateway)
                        stats["gateway kills"] += 1
                        gateway = await cluster.start(
                            "gateway", "gateway", *common, env=gateway_env
                        )

                    tasks = [
                        asyncio.create_task(change()),
                        asyncio.create_task(kill_workers()),
                        asyncio.create_task(kill_gateway_once()),
                    ]
                    undone: str | None = "not started"
                    try:
                        while True:
                            await asyncio.sleep(1.0)
                            for task in tasks:
                                if task.done() and task.exception() is not None:
                                    raise task.exception()  # type: ignore[misc]
                            if time.monotonic() - started > DRAIN_LIMIT:
                                break  # counted and reported all the same
                            if not changes_done.is_set() or not tasks[2].done():
                                continue
                            # Polled after the last change, by a poll that began after it.
                            since = last_change + timedelta(seconds=LIVE_DELAY + 2)
                            done, undone = await asyncio.to_thread(
                                drained, store, since, {f"wire-{i}" for i in range(FEEDS)}
                            )
                            if done:
                                undone = None
                                break
                    finally:
                        for task in tasks:
                            task.cancel()
                        await asyncio.gather(*tasks, return_exceptions=True)
                    stats["chaos seconds"] = round(time.monotonic() - started, 1)
                    await cluster.stop_all()
                    posts = emu.requests_to("POST", rf"/channels/{emu.alerts.id}/messages")
                    nonces = Counter(p.json.get("nonce") for p in posts if p.json)
                    deduplicated = sum(n - 1 for n in nonces.values() if n > 1)
                    return alert_keys(emu), deduplicated, undone
            finally:
                await asyncio.to_thread(store.close)

        async def reference() -> Counter[tuple[str, str]]:
            """One `run --once --all` on a fresh schema, against the final feeds."""
            async with NonceEmulator() as emu:
                await cluster.run(
                    "reference",
                    "run",
                    "--once",
                    "--all",
                    "--watchlist",
                    str(watchlist),
                    "--db",
                    reference_url,
                    env=discord_env(emu),
                )
                return alert_keys(emu)

        async def scenario() -> None:
            try:
                posted, deduplicated, undone = await chaos()
                gdelt_requests = apis.requests_to(GDELT_PATH)
                gdelt_times = [r.at for r in gdelt_requests]
                for r in gdelt_requests:  # the record, for a failure's report
                    print(f"GDELT {r.at:.3f} {getattr(r, 'query', '')}"[:300])
                spans = feeds.spans
                expected = await reference()
            finally:
                cluster.kill_all_now()
            lost = sum((expected - posted).values())
            duplicates = sum((posted - expected).values())
            gap = min_gap(gdelt_times)
            overlaps = overlapping_fetches(spans, "/chaos/")
            counts = {
                "expected alerts": sum(expected.values()),
                "posted alerts": sum(posted.values()),
                "lost": lost,
                "duplicates": duplicates,
                "re-sent, deduplicated by nonce": deduplicated,
                **stats,
                "GDELT requests": len(gdelt_times),
                "min GDELT gap s": None if gap is None else round(gap, 2),
                "feed fetches": sum(1 for s in spans if s[0].startswith("/chaos/")),
                "overlapping fetches": overlaps,
            }
            print("\nchaos: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
            report = (
                f"{counts}\nlost {sorted(expected - posted)}\nduplicated {sorted(posted - expected)}"
                f"\n{cluster.tails()}"
            )
            assert undone is None, f"not drained after {DRAIN_LIMIT:.0f} s: {undone}\n{report}"
            assert len(expected) >= FEEDS, report  # the reference did alert (sanity)
            assert lost == 0, report
            assert duplicates == 0, report
            assert stats["gateway kills"] == 1 and stats["worker kills"] >= 5, report
            assert len(gdelt_times) >= GDELT_SOURCES, report
            assert gap is not None and gap >= GDELT_SPACING, report
            assert overlaps == 0, report

        asyncio.run(asyncio.wait_for(scenario(), 170.0))
