"""`signalwatch run`: the long-running loop around the pipeline.

load watchlist → sync sources → loop:
    hot-reload the watchlist if the file changed (a broken file keeps the last good one)
    poll due sources → deliver due alerts → prune now and then → sleep until next tick
SIGINT/SIGTERM: stop polling, finish the alert being delivered, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from bot import __version__
from bot.errors import StoreError
from bot.notices import CoalescingNotifier, notice_from_json, scrub_paths, watchlist_notice
from bot.ops.config import user_agent_for
from bot.ops.observe import RunObserver
from bot.ops.start import log_start
from bot.pipeline.compiled import Compiled, source_configs
from bot.pipeline.delivery import Deliverer
from bot.pipeline.digests import close_due_digests
from bot.pipeline.live_source import WatchlistSource
from bot.pipeline.poller import Poller
from bot.pipeline.ports import Notifier, Sink
from bot.pipeline.search import StorePacer
from bot.pipeline.waits import sleep_until
from bot.settings import Settings
from bot.sources.fetch import Fetcher, FetchSettings
from bot.store import Store, default_holder
from bot.watchlist import Watchlist

__all__ = [
    "KEY_MISSING",
    "LiveWatchlist",
    "RunOptions",
    "check_api_keys",
    "missing_api_keys",
    "run_loop",
    "utc_now",
]

log = logging.getLogger("signalwatch.run")

TICK = 1.0  # seconds between loop turns when idle
LISTEN_WAIT = 1.0  # seconds one wait for the database's alert notification lasts
LISTEN_TICK = 5.0  # with notifications, how often delivery still looks for retries come due
PRUNE_EVERY = timedelta(hours=1)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the one place the loop reads the clock)."""
    return datetime.now(UTC)


class LiveWatchlist:
    """The watchlist in force, shared by the run loop (which reloads it) and the bot's commands.

    `request_reload()` makes the loop re-read the file on its next turn, so an admin's edit
    is live at once instead of after the next change check.
    """

    def __init__(self) -> None:
        self._compiled: Compiled | None = None
        self.reload_requested = asyncio.Event()

    @property
    def compiled(self) -> Compiled:
        """The current compiled watchlist."""
        if self._compiled is None:
            raise RuntimeError("the watchlist is not loaded yet")
        return self._compiled

    def set(self, compiled: Compiled) -> None:
        """Swap in a newly loaded watchlist."""
        self._compiled = compiled

    def get(self) -> Compiled:
        """The current compiled watchlist (a callable form of `compiled`)."""
        return self.compiled

    def signal_title(self, signal_id: str) -> str | None:
        """The title of a signal of the watchlist in force, or None (unknown, or not loaded)."""
        if self._compiled is None:
            return None
        try:
            return self._compiled.watchlist.signal(signal_id).title
        except KeyError:
            return None

    def request_reload(self) -> None:
        """Ask the loop to re-read the watchlist now."""
        self.reload_requested.set()


KEY_MISSING = "API key missing"


def missing_api_keys(watchlist: Watchlist, environ: Mapping[str, str]) -> dict[str, str]:
    """The enabled news-API sources whose key is not in the environment, each with why."""
    missing = {}
    for source in watchlist.enabled_sources():
        name = source.api_key_env
        if name is not None and not environ.get(name, "").strip():
            missing[source.id] = (
                f"{KEY_MISSING}: set the environment variable {name} to the {source.type}"
                " API key and restart signalwatch"
            )
    return missing


async def check_api_keys(
    store: Store,
    watchlist: Watchlist,
    environ: Mapping[str, str],
    now: datetime,
    notifier: Notifier,
) -> None:
    """Switch off each news-API source whose key is missing, saying so; switch back on one
    that was off only for that and now has its key. The other sources go on either way."""
    for text in await asyncio.to_thread(_apply_api_keys, store, watchlist, environ, now):
        await notifier.notify(text)


def _apply_api_keys(
    store: Store, watchlist: Watchlist, environ: Mapping[str, str], now: datetime
) -> list[str]:
    """`check_api_keys`' store work (blocking); returns the notices to send."""
    missing = missing_api_keys(watchlist, environ)
    notices = []
    for source in watchlist.enabled_sources():
        state = store.source(source.id)
        if state is None:
            continue
        reason = missing.get(source.id)
        was_missing = (state.disabled_reason or "").startswith(KEY_MISSING)
        if reason is not None and not was_missing:
            store.record_fetch_failed(
                source.id, now, error=reason, status=None, next_poll_at=now, disable_reason=reason
            )
            notices.append(f"source '{source.id}' is off: {reason}.")
        elif reason is None and was_missing:
            store.set_source_enabled(source.id, True, now)
            log.info("source %s has its API key now: on again", source.id)
    return notices


Role = Literal["all", "worker", "gateway"]


@dataclass(frozen=True)
class RunOptions:
    """How one `run` behaves, and which part of the work this process does.

    "all" (`signalwatch run`) does everything. Several processes share one database as N
    "worker"s (claim due sources → fetch → parse → plan → commit) and one "gateway" (the
    Discord gateway and commands, delivery, admin notices, and the jobs that must run once:
    syncing sources from the watchlist, digests, pruning).
    """

    once: bool = False  # one pass over due sources, deliver, exit
    force: bool = False  # poll every enabled source now, due or not
    role: Role = "all"

    @property
    def polls(self) -> bool:
        """Whether this process polls sources."""
        return self.role in ("all", "worker")

    @property
    def delivers(self) -> bool:
        """Whether this process delivers, posts notices and runs the once-only jobs."""
        return self.role in ("all", "gateway")


def fetch_settings(settings: Settings) -> FetchSettings:
    """The fetcher's settings from the operator's."""
    return FetchSettings(
        max_bytes=settings.max_feed_bytes,
        max_concurrency=settings.fetch_concurrency,
        per_host_concurrency=settings.per_host_concurrency,
        per_host_spacing=settings.per_host_spacing,
        allow_private=settings.allow_private_urls,
        user_agent=user_agent_for(__version__, settings.contact, settings.user_agent),
    )


async def run_loop(
    settings: Settings,
    watchlist_path: Path,
    store: Store,
    sink: Sink,
    notifier: Notifier,
    options: RunOptions,
    *,
    clock: Callable[[], datetime] = utc_now,
    stop: asyncio.Event | None = None,
    live: LiveWatchlist | None = None,
    environ: Mapping[str, str] | None = None,
    observer: RunObserver | None = None,
) -> int:
    """Run until stopped (or once); return the process exit code.

    `environ` (default: the process environment) holds the news APIs' keys; `observer`
    counts what happens (cycle lines, `--once`'s exit code, metrics, health).
    """
    environ = os.environ if environ is None else environ
    observer = observer if observer is not None else RunObserver()
    stop = stop or asyncio.Event()
    live = live or LiveWatchlist()
    # A one-shot pass (cron) takes the same name as the daemon it stands for, so a pass after a
    # killed one resumes its work at once; one beside a running daemon sets SIGNALWATCH_HOLDER.
    holder = settings.holder or default_holder("run" if options.role == "all" else options.role)
    source = WatchlistSource(
        watchlist_path,
        store,
        clock,
        follow_store=options.role == "worker",
        publish=options.role == "gateway",
    )
    compiled = Compiled.build(await asyncio.to_thread(source.load))
    live.set(compiled)
    if options.delivers:
        await asyncio.to_thread(store.sync_sources, source_configs(compiled.watchlist), clock())
    # Whatever this process held when it last died is free at once, not in a few minutes.
    released = await asyncio.to_thread(store.release_leases, holder)
    if any(released):
        log.info("released %d source and %d alert leases a previous run left behind", *released)
    if options.delivers:
        await check_api_keys(store, compiled.watchlist, environ, clock(), notifier)
    await log_start(log, observer, store, compiled.watchlist, watchlist_path, settings, clock())
    if options.role != "all":
        log.info(
            "role: %s (watchlist from %s)",
            "worker: polling only" if options.role == "worker" else "gateway: delivering only",
            source.name,
        )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)

    wake = asyncio.Event()  # set when a poll queued alerts or a digest closed
    outage = Outage("the run loop")

    def committed(queued: int) -> None:
        if queued:
            wake.set()

    async with Fetcher(fetch_settings(settings)) as fetcher:
        poller = Poller(
            store,
            fetcher,
            live.get,
            notifier,
            clock,
            settings.max_failures,
            environ=environ,
            on_commit=committed,
            holder=holder,
            fence=True,
            on_outcome=observer.poll_done,
            on_plan=observer.plan_committed,
        )
        if options.role == "worker":
            # API spacing and quotas hold across every worker: slots are reserved in the store.
            poller.pacer = StorePacer(store, clock)
        deliverer = Deliverer(
            store,
            sink,
            notifier,
            clock,
            holder=holder,
            on_delivered=observer.delivered,
            on_failed=observer.delivery_failed,
        )
        if settings.delivery_delay:
            delay = settings.delivery_delay

            async def pause(_alert: object) -> None:
                await asyncio.sleep(delay)

            deliverer.after_send = pause
        delivery: asyncio.Task[None] | None = None
        listening: asyncio.Task[None] | None = None
        if options.delivers and not options.once:
            tick = TICK
            if isinstance(store, AlertListener):
                # Woken by the database when any process commits alerts: the outbox is then
                # asked only for retries that came due, not every second.
                listening = asyncio.create_task(_listen_for_alerts(store, wake, stop))
                tick = LISTEN_TICK
            delivery = asyncio.create_task(deliverer.run(stop, wake, tick))
        jobs = _Jobs(
            settings, watchlist_path, store, notifier, options, clock, environ, live, source, wake
        )
        try:
            while not stop.is_set():
                try:
                    await jobs.reload_if_changed()
                    if options.polls and options.once:
                        # One pass: every due source polled (searches waited for), then delivered.
                        await _until_stopped(poller.poll_pass(force=options.force), stop)
                    elif options.polls:
                        # Each poll runs as its own task; delivery wakes on each commit.
                        await poller.poll_due(wait=False)
                    if options.delivers:
                        await jobs.gateway_duties()
                        if options.once and not stop.is_set():
                            await deliverer.deliver_due(stop)
                except StoreError as exc:
                    # The database went away (or refused): say so once, wait, try again.
                    # Nothing of a failed turn was committed; claimed work comes back when
                    # its lease ends (or at once, to this process, after a restart).
                    outage.failed(exc)
                    await sleep_until(outage.backoff(), stop)
                    continue
                outage.recovered()
                await _flush(notifier)
                # The heartbeat says the loop turns, not that any poll finished.
                if settings.heartbeat_file is not None:
                    settings.heartbeat_file.touch()
                cycle = observer.turn()
                if cycle is not None:
                    log.info(cycle)
                if options.once:
                    log.info(observer.take_line())
                    break
                await sleep_until(TICK, stop, live.reload_requested)
        finally:
            # Stopped: nothing of an unfinished poll was committed; its sources' leases are
            # released at the next start. The alert being delivered is finished first.
            stop.set()
            await poller.cancel()
            if delivery is not None:
                await delivery
            if listening is not None:
                await listening
            await _close(notifier)
    if not options.once and not observer.cycle.empty():
        log.info(observer.take_line())  # what the last, unfinished cycle did
    log.info("stopped")
    return observer.exit_code() if options.once else 0


class _Jobs:
    """The loop's steps besides polling: following the watchlist, and the gateway's duties
    (notices from workers, digests, pruning). State kept between turns lives here."""

    def __init__(
        self,
        settings: Settings,
        watchlist_path: Path,
        store: Store,
        notifier: Notifier,
        options: RunOptions,
        clock: Callable[[], datetime],
        environ: Mapping[str, str],
        live: LiveWatchlist,
        source: WatchlistSource,
        wake: asyncio.Event,
    ) -> None:
        self.settings = settings
        self.watchlist_path = watchlist_path
        self.store = store
        self.notifier = notifier
        self.options = options
        self.clock = clock
        self.environ = environ
        self.live = live
        self.source = source
        self.wake = wake
        self.reported_error: str | None = None
        self.last_reload = -math.inf
        self.last_prune = datetime.min.replace(tzinfo=UTC)

    async def reload_if_changed(self) -> None:
        """Every `reload_every` s (or when asked): take a new good watchlist, or tell the
        admins once about a broken one (the last good one stays)."""
        now = time.monotonic()
        due = now - self.last_reload >= self.settings.reload_every
        if not due and not self.live.reload_requested.is_set():
            return
        self.live.reload_requested.clear()
        self.last_reload = now
        fresh = await asyncio.to_thread(self.source.check)
        error = self.source.last_error
        if fresh is not None:
            self.live.set(Compiled.build(fresh))
            if self.options.delivers:
                configs = source_configs(fresh)
                await asyncio.to_thread(self.store.sync_sources, configs, self.clock())
                await check_api_keys(self.store, fresh, self.environ, self.clock(), self.notifier)
            self.reported_error = None
            log.info(
                "watchlist reloaded (%s): %d signals",
                self.source.name,
                len(fresh.enabled_signals()),
            )
        elif error is not None and str(error) != self.reported_error:
            self.reported_error = str(error)
            # Paths as the admins know them: relative to the watchlist's folder.
            shown = scrub_paths(self.reported_error, self.watchlist_path.parent)
            await self.notifier.notify(watchlist_notice(self.watchlist_path.name, shown))

    async def gateway_duties(self) -> None:
        """Post the notices workers queued, close due digests, prune now and then."""
        store = self.store
        for payload in await asyncio.to_thread(store.take_notices, 100):
            await self.notifier.notify(notice_from_json(payload))
        compiled = self.live.compiled
        digests = await asyncio.to_thread(close_due_digests, store, compiled, self.clock())
        if digests:
            log.info("%d digests queued", len(digests))
            self.wake.set()
        now = self.clock()
        if now - self.last_prune >= PRUNE_EVERY:
            self.last_prune = now
            retention = compiled.watchlist.defaults.retention
            pruned = await asyncio.to_thread(
                store.prune, now, seen_older_than=retention, delivered_older_than=retention
            )
            if pruned:
                log.info("pruned %d old records", pruned)


class Outage:
    """How a loop rides out a database that went away: one line when it goes, backoff while
    it stays away (1 s doubling to 30 s), one line when it is back."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.failures = 0

    def failed(self, exc: Exception) -> None:
        """Count a failure; say so on the first of a run of them."""
        self.failures += 1
        if self.failures == 1:
            log.warning("%s cannot reach the database: %s; retrying with backoff", self.what, exc)
        else:
            log.debug(
                "%s: database still unavailable (%d tries): %s", self.what, self.failures, exc
            )

    def backoff(self) -> float:
        """Seconds to wait before the next try."""
        return min(30.0, 2.0 ** (self.failures - 1))

    def recovered(self) -> None:
        """Say the database is back, if it was away."""
        if self.failures:
            log.warning("%s reaches the database again after %d tries", self.what, self.failures)
            self.failures = 0


@runtime_checkable
class AlertListener(Protocol):
    """A store that can say when another process queued alerts (PostgreSQL's LISTEN)."""

    def wait_for_alerts(self, timeout: float) -> bool:
        """Block until alerts were queued (True) or `timeout` seconds passed (False)."""
        ...


async def _listen_for_alerts(
    store: AlertListener, wake: asyncio.Event, stop: asyncio.Event
) -> None:
    """Wake delivery whenever the store hears of new alerts, until stopped."""
    while not stop.is_set():
        try:
            heard = await asyncio.to_thread(store.wait_for_alerts, LISTEN_WAIT)
        except Exception as exc:  # the database went away: delivery still ticks meanwhile
            log.warning("listening for new alerts failed (%s); retrying", exc)
            await sleep_until(LISTEN_TICK, stop)
            continue
        if heard:
            wake.set()


async def _until_stopped(work: Awaitable[object], stop: asyncio.Event) -> None:
    """Await `work`, or cancel it when `stop` is set first."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _flush(notifier: Notifier) -> None:
    """Send the admin notices whose gathering window has passed (if the notifier gathers)."""
    if isinstance(notifier, CoalescingNotifier):
        await notifier.flush()


async def _close(notifier: Notifier) -> None:
    """Send every admin notice still gathered (on the way out)."""
    if isinstance(notifier, CoalescingNotifier):
        await notifier.close()
