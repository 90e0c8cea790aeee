"""The poller: claim due sources, fetch, parse, plan, commit; the thin I/O around planning."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.errors import LeaseLost, ParseError, StoreError
from bot.model import Entry
from bot.pipeline.batching import GroupWriter
from bot.pipeline.compiled import Compiled
from bot.pipeline.outcome import PollOutcome
from bot.pipeline.planning import Identities, PollPlan, plan_poll, source_spec
from bot.pipeline.ports import Notifier
from bot.pipeline.search import poll_search
from bot.pipeline.storybook import StoredStories
from bot.schedule import next_poll_after_failure, next_poll_after_success
from bot.sources.feeds import parse_feed
from bot.sources.fetch import (
    Fetched,
    Fetcher,
    FetchFailed,
    FetchRequest,
    NotModified,
    redact_url,
)
from bot.sources.search.pacing import Pacer, SearchPacer
from bot.store import DEFAULT_HOLDER, Lease, NotModifiedRecord, SourceState, Store
from bot.store.leases import lease_lost

__all__ = ["SOURCE_LEASE", "PollOutcome", "Poller"]

log = logging.getLogger("signalwatch.pipeline")

SOURCE_LEASE = timedelta(minutes=2)


@dataclass
class Poller:
    """Claims due sources, fetches (or searches), parses, plans and commits each poll.

    `pacer` spaces news-API requests per API across sources; `environ` holds their keys.
    """

    store: Store
    fetcher: Fetcher
    compiled: Callable[[], Compiled]  # the live watchlist (hot reload swaps it)
    notifier: Notifier
    clock: Callable[[], datetime]
    max_failures: int = 10
    batch: int = 256
    pacer: SearchPacer = field(default_factory=lambda: Pacer(time.monotonic, asyncio.sleep))
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    # (source, signal, reason) already logged as unsearchable: said once, not every poll
    told_unsearchable: set[tuple[str, str, str]] = field(default_factory=set, repr=False)
    story_book: StoredStories | None = field(default=None, repr=False)
    # The most one feed's poll may take, retries included: a server that drips its answer
    # byte by byte fails its own poll instead of holding a lease (and a worker) for minutes.
    poll_budget: float = 90.0
    # Called after each poll's commit with the number of alerts it queued (wakes delivery).
    on_commit: Callable[[int], None] | None = None
    # Who the source leases are taken for (a restart releases its own: see Store.release_leases).
    holder: str = DEFAULT_HOLDER
    # Fence every write of a poll with the lease it was claimed under (several workers on one
    # database): a poll that outlived its lease commits nothing (LeaseLost).
    fence: bool = False
    # Told each poll's outcome and how long it took, and each committed plan (bot.ops).
    on_outcome: Callable[[PollOutcome, float], None] | None = None
    on_plan: Callable[[PollPlan, int], None] | None = None
    # polls running in the background, by source id (see poll_due)
    _running: dict[str, asyncio.Task[PollOutcome]] = field(
        default_factory=dict, init=False, repr=False
    )
    _commit_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _cpu_turn: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _not_modified: GroupWriter[NotModifiedRecord] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._not_modified = GroupWriter(self._record_not_modified, _not_recorded)

    def _record_not_modified(self, records: Sequence[NotModifiedRecord]) -> list[NotModifiedRecord]:
        """Blocking: the 304s of a batch in one transaction; those not recorded."""
        lost = set(self.store.record_not_modified_many(records))
        return [r for r in records if r.source_id in lost]

    async def poll_pass(self, *, force: bool = False) -> list[PollOutcome]:
        """Poll every due source once (every enabled one with `force`), claim after claim,
        however many there are (a claim takes at most `batch`): one pass, as `--once` does."""
        results: list[PollOutcome] = []
        polled: set[str] = set()
        while True:
            batch = await self.poll_due(force=force, wait=True, exclude=polled)
            if not batch:
                return results
            results.extend(batch)
            polled.update(outcome.source_id for outcome in batch)

    async def poll_due(
        self, *, force: bool = False, wait: bool = True, exclude: Collection[str] = ()
    ) -> list[PollOutcome]:
        """Start a poll of every due source (every enabled source with `force`), concurrently.

        With `wait` this returns when they are all done. Without (the run loop), each poll
        runs as its own task and this returns at once with the outcomes of the polls that
        finished since the last call: no slow feed or paced news-API search holds up another
        source, and each poll's alerts are delivered as soon as it commits. A source still
        being polled is not started twice.
        """
        claimed = await asyncio.to_thread(
            self.store.claim_due_sources,
            self.clock(),
            self.batch,
            SOURCE_LEASE,
            force=force,
            holder=self.holder,
            skip=(*self._running, *exclude),
        )
        for source in claimed:
            if source.id not in self._running:
                self._running[source.id] = asyncio.create_task(self._poll_guarded(source))
        if wait and self._running:
            await asyncio.wait(self._running.values())
        results = []
        for source_id, task in list(self._running.items()):
            if task.done():
                del self._running[source_id]
                results.append(task.result())
        return results

    async def cancel(self) -> None:
        """Stop the polls still running: nothing of an unfinished poll was committed, and
        their sources' leases run out (or are released at the next start), so they are
        polled again later."""
        tasks = list(self._running.values())
        self._running.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _poll_guarded(self, source: SourceState) -> PollOutcome:
        """Poll one source; an unexpected error (our bug, the database) fails that source only.

        The poll's own transaction was not committed, so nothing of it is lost; the source is
        recorded as failing (and backs off) while every other source goes on.
        """
        started = time.monotonic()
        outcome = await self._poll_or_fail(source)
        if self.on_outcome is not None:
            self.on_outcome(outcome, time.monotonic() - started)
        return outcome

    async def _poll_or_fail(self, source: SourceState) -> PollOutcome:
        renewing = asyncio.create_task(self._renew(source)) if self.fence else None
        try:
            return await self.poll(source)
        except asyncio.CancelledError:
            raise
        except LeaseLost as exc:
            # Not this source's fault and not ours to record: its next holder polls it again.
            log.warning("polled %s: %s", source.id, exc)
            return PollOutcome(source.id, "lost", error=str(exc))
        except StoreError as exc:
            # The database went away mid-poll: nothing of it was committed; the source is
            # polled again when its lease ends (or at once after a restart).
            log.warning("polled %s: not stored, the database failed: %s", source.id, exc)
            return PollOutcome(source.id, "failed", error=str(exc))
        except Exception as exc:
            log.exception("polling %s failed unexpectedly", source.id)
            error = f"internal error: {type(exc).__name__}: {exc}"
            try:
                return await self.failed(source, self.clock(), error, None, None)
            except Exception:  # the store itself is failing: leave the lease to expire
                log.exception("could not record the failure of %s", source.id)
                return PollOutcome(source.id, "failed", error=error)
        finally:
            if renewing is not None:
                renewing.cancel()

    def lease_of(self, source: SourceState) -> Lease | None:
        """The lease a claimed source's writes carry (None when writes are not fenced)."""
        return Lease(self.holder, source.lease_token) if self.fence else None

    async def _renew(self, source: SourceState) -> None:
        """Keep a long poll's lease (a paced search) from running out while it works."""
        lease = Lease(self.holder, source.lease_token)
        while True:
            await asyncio.sleep(SOURCE_LEASE.total_seconds() / 3)
            now = self.clock()
            kept = await asyncio.to_thread(
                self.store.renew_source_lease, source.id, lease, now, now + SOURCE_LEASE
            )
            if not kept:
                log.warning("polled %s: its lease was lost while polling", source.id)
                return

    async def poll(self, source: SourceState) -> PollOutcome:
        """Poll one claimed source; never raises for a feed's fault."""
        compiled = self.compiled()
        spec = source_spec(compiled.watchlist, source.id)
        if spec is not None and spec.is_search:
            return await poll_search(self, source, spec, compiled)
        request = FetchRequest(source.id, source.url, source.etag, source.last_modified)
        try:
            async with asyncio.timeout(self.poll_budget):
                result = await self.fetcher.fetch(request)
        except TimeoutError:
            result = FetchFailed(
                f"no whole answer within {self.poll_budget:g} s (retries included)",
                None,
                None,
                transient=True,
            )
        now = self.clock()
        interval = timedelta(seconds=source.interval_s)
        if isinstance(result, NotModified):
            next_at = next_poll_after_success(source.id, interval, now, result.max_age)
            # Recorded with the other 304s of the moment, in one transaction.
            await self._not_modified.put(
                NotModifiedRecord(source.id, now, next_at, self.lease_of(source))
            )
            log.debug("polled %s: not modified", source.id)
            return PollOutcome(source.id, "not-modified")
        if isinstance(result, FetchFailed):
            return await self.failed(source, now, result.error, result.status, result.retry_after)
        assert isinstance(result, Fetched)
        try:
            # `now` turns dates far in the future (feed bugs) into "undated": as backlog on a
            # first poll they must not pass for news.
            # One poll's CPU work (parsing, then planning) at a time: parallel threads would
            # not go faster under the GIL, and would starve the event loop between them.
            async with self._cpu_turn:
                feed = await asyncio.to_thread(
                    parse_feed,
                    source.id,
                    result.body,
                    url=result.final_url,
                    content_type=result.content_type,
                    now=now,
                )
        except ParseError as exc:
            return await self.failed(source, now, str(exc), result.status, None)
        fresh, plan, queued = await self.commit_off_loop(compiled, source, feed.entries, now)
        next_at = next_poll_after_success(source.id, interval, now, result.max_age)
        await asyncio.to_thread(
            self.store.record_fetch_ok,
            source.id,
            now,
            status=result.status,
            etag=result.etag,
            last_modified=result.last_modified,
            next_poll_at=next_at,
            entries_seen_delta=len(fresh),
            # A feed over the entry cap: the newest are kept, and `sources` says so.
            warning=feed.cap_note(),
            lease=self.lease_of(source),
        )
        if feed.dropped:
            log.warning("polled %s: %s", source.id, feed.cap_note())
        # DEBUG: the loop's cycle line sums these up at INFO.
        log.debug(
            "polled %s: %d entries, %d new%s, %d matched, %d alerts queued%s%s",
            source.id,
            len(feed.entries),
            len(fresh),
            f" ({plan.backfilled} backlog, not alerted)" if plan.backfilled else "",
            plan.matched,
            queued,
            f" ({plan.updates} story updates)" if plan.updates else "",
            f", {len(plan.digest_items)} kept for digests" if plan.digest_items else "",
        )
        return PollOutcome(source.id, "ok", len(feed.entries), len(fresh), queued)

    async def commit_off_loop(
        self, compiled: Compiled, source: SourceState, entries: Sequence[Entry], now: datetime
    ) -> tuple[list[Entry], PollPlan, int]:
        """`commit` in a worker thread, then wake delivery: the event loop (and the Discord
        gateway on it) never waits for matching or the database."""
        # Polls wait their turn here, holding no thread: a thread is taken only to work.
        async with self._cpu_turn:
            fresh, plan, queued = await asyncio.to_thread(
                self.commit, compiled, source, entries, now
            )
        if self.on_commit is not None:
            self.on_commit(queued)
        if self.on_plan is not None:
            self.on_plan(plan, queued)
        return fresh, plan, queued

    def commit(
        self, compiled: Compiled, source: SourceState, entries: Sequence[Entry], now: datetime
    ) -> tuple[list[Entry], PollPlan, int]:
        """Plan what the entries not seen before mean and store it in one transaction.

        Blocking. One poll at a time plans and commits: the story book is shared, and two
        outlets' copies of one story filed side by side must find each other.
        """
        with self._commit_lock:
            return self._commit(compiled, source, entries, now)

    def _commit(
        self, compiled: Compiled, source: SourceState, entries: Sequence[Entry], now: datetime
    ) -> tuple[list[Entry], PollPlan, int]:
        identities = Identities()
        fresh = self.store.unseen(source.id, entries, identities)
        # Only a poll with new entries can file a story: it plans and commits under the
        # store's story lock, which other processes' polls respect too.
        with self.store.story_lock() if fresh else contextlib.nullcontext():
            return self._plan_and_commit(compiled, source, fresh, now, identities)

    def _plan_and_commit(
        self,
        compiled: Compiled,
        source: SourceState,
        fresh: list[Entry],
        now: datetime,
        identities: Identities,
    ) -> tuple[list[Entry], PollPlan, int]:
        plan = plan_poll(
            compiled,
            source.id,
            fresh,
            now,
            first_poll=not source.first_fetch_done,
            backfill=self._backfill(compiled, source.id),
            # Counted only as far as the guard looks: past the limit on every destination.
            sent_last_hour=lambda sid: self.store.alerts_for_signal_since(
                sid,
                now - timedelta(hours=1),
                limit=(compiled.watchlist.defaults.flood_per_hour + 1)
                * max(1, len(compiled.destinations(sid))),
            ),
            stories=self._stories(now),
            identities=identities,
        )
        queued = self.store.commit_poll(
            source.id,
            now,
            seen=plan.seen,
            articles=plan.articles,
            alerts=plan.alerts,
            stories=plan.stories,
            digest_items=plan.digest_items,
            lease=self.lease_of(source),
        )
        return fresh, plan, queued

    def _stories(self, now: datetime) -> StoredStories:
        """The stored stories of the window ending now (fingerprints parsed once a process)."""
        if self.story_book is None:
            self.story_book = StoredStories(self.store)
        self.story_book.now = now
        return self.story_book

    def _backfill(self, compiled: Compiled, source_id: str) -> timedelta:
        spec = source_spec(compiled.watchlist, source_id)
        return spec.backfill if spec is not None else compiled.watchlist.defaults.backfill

    async def failed(
        self,
        source: SourceState,
        now: datetime,
        error: str,
        status: int | None,
        retry_after: float | None,
    ) -> PollOutcome:
        plan = next_poll_after_failure(
            timedelta(seconds=source.interval_s),
            now,
            consecutive_failures=source.consecutive_failures + 1,
            retry_after=retry_after,
            error=error,
            max_failures=self.max_failures,
        )
        await asyncio.to_thread(
            self.store.record_fetch_failed,
            source.id,
            now,
            error=error,
            status=status,
            next_poll_at=plan.next_poll_at,
            disable_reason=plan.disable_reason,
            lease=self.lease_of(source),
        )
        # One line when a source starts failing or its cause changes; the same failure
        # again is DEBUG (the cycle line lists the failing sources).
        news = source.consecutive_failures == 0 or source.last_error != error
        log.log(
            logging.WARNING if news or plan.disable_reason else logging.DEBUG,
            "polled %s: failed (%d in a row): %s; next try %s",
            source.id,
            source.consecutive_failures + 1,
            error,
            plan.next_poll_at.isoformat(timespec="seconds"),
            extra={"source": source.id},
        )
        if plan.disable_reason:
            await self.notifier.notify(
                f"source '{source.id}' ({redact_url(source.url)}) {plan.disable_reason}. "
                f"Re-enable it with `signalwatch sources enable {source.id}` once it is fixed."
            )
        return PollOutcome(
            source.id, "failed", error=error, disabled=plan.disable_reason is not None
        )


def _not_recorded(record: NotModifiedRecord) -> StoreError:
    """Why a 304 was not recorded: its lease was lost (or the source is gone)."""
    if record.lease is not None:
        return lease_lost(record.source_id, record.lease)
    return StoreError(f"no source {record.source_id!r}")
