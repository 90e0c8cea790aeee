"""Delivery: the outbox to the sinks — claim → send (or edit/follow up) → mark."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.errors import DeliveryError, PermanentDeliveryError, StoreError
from bot.model import Alert, StoryUpdate, StoryUpdateAlert
from bot.notices import alert_notice
from bot.outlets import other_outlets
from bot.pipeline.alerts import followup_alert
from bot.pipeline.ports import Notifier, Sink, UpdatingSink
from bot.pipeline.storybook import outlet
from bot.pipeline.waits import sleep_until
from bot.schedule import delivery_retry_at
from bot.store import DEFAULT_HOLDER, PendingAlert, Store

__all__ = ["ALERT_LEASE", "EDIT_WINDOW", "Deliverer"]

log = logging.getLogger("signalwatch.pipeline")

ALERT_LEASE = timedelta(minutes=2)


EDIT_WINDOW = timedelta(hours=6)


@dataclass
class Deliverer:
    """Moves alerts from the outbox to a sink: claim → send → mark, one lane per destination.

    Each destination's pending alerts go out one at a time, oldest first: the store hands out
    only the head of each destination's queue, so a destination in backoff (a 429, a 5xx)
    holds its own later alerts back and no one else's, and per-destination order is kept.
    A deliverer holds the lease of only the alerts it is sending, so a stopped or killed
    process delays (or repeats, with the same alert id) only those.
    """

    store: Store
    sink: Sink
    notifier: Notifier
    clock: Callable[[], datetime]
    # Destinations delivered to at once (each one alert at a time).
    lanes: int = 16
    # Called after a send and before the outbox is told; tests use it to crash right there.
    after_send: Callable[[Alert], Awaitable[None]] | None = None
    # Who the alert leases are taken for (a restart releases its own).
    holder: str = DEFAULT_HOLDER
    # Called once per alert delivered (metrics, tests).
    on_delivered: Callable[[Alert], None] | None = None
    # Called once per failed attempt, with whether it was given up for good (metrics).
    on_failed: Callable[[Alert, bool], None] | None = None

    async def deliver_due(self, stop: asyncio.Event | None = None) -> int:
        """Deliver every alert due now, destinations side by side; return how many went."""
        delivered = 0
        while stop is None or not stop.is_set():
            claimed = await self._claim(())
            if not claimed:
                break
            results = await asyncio.gather(*(self._deliver(p) for p in claimed))
            delivered += sum(results)
        return delivered

    async def run(self, stop: asyncio.Event, wake: asyncio.Event, tick: float = 1.0) -> None:
        """Deliver until `stop`: woken by `wake` (a poll committed alerts, a digest closed),
        by a lane finishing, or every `tick` seconds for retries that came due.

        On stop, the alerts being sent are finished and recorded before this returns.
        """
        running: dict[str, asyncio.Task[bool]] = {}
        away = 0  # claims failed in a row: the database is unreachable
        while not stop.is_set():
            wake.clear()
            if len(running) < self.lanes:
                try:
                    claimed = await self._claim(running.keys())
                except Exception as exc:  # the store, or our bug: delivery must go on
                    away += 1
                    if away == 1:
                        log.warning("delivery cannot claim alerts: %s; retrying", exc)
                    await sleep_until(min(30.0, 2.0 ** (away - 1)), stop)
                    continue
                if away:
                    log.warning("delivery claims alerts again")
                    away = 0
                for pending in claimed:
                    task = asyncio.create_task(self._deliver(pending))
                    running[pending.alert.destination] = task
                    task.add_done_callback(lambda _task: wake.set())
            await sleep_until(tick, stop, wake)
            for destination, task in list(running.items()):
                if task.done():
                    del running[destination]
                    if not task.cancelled() and task.exception() is not None:
                        # Our bug after a send: the alert stays leased and goes again later;
                        # the other lanes go on.
                        log.error(
                            "delivery to %s failed unexpectedly",
                            destination,
                            exc_info=task.exception(),
                        )
        if running:
            await asyncio.gather(*running.values(), return_exceptions=True)

    async def _claim(self, busy: Collection[str]) -> list[PendingAlert]:
        """The head alert of each destination not in `busy`, leased to us."""
        return await asyncio.to_thread(
            self.store.claim_alerts,
            self.clock(),
            self.lanes - len(busy),
            ALERT_LEASE,
            holder=self.holder,
            heads_only=True,
            skip_destinations=tuple(busy),
        )

    async def _deliver(self, pending: PendingAlert) -> bool:
        """Deliver one claimed alert; True when the sink took it."""
        alert = pending.alert
        try:
            return await self._deliver_one(alert, pending.attempts, pending.created_at)
        except StoreError as exc:
            # Sent or not, the outbox could not be told: the alert stays leased and goes
            # again (same id) when the lease ends or this process restarts.
            log.warning(
                "alert %s to %s: the outbox could not record the outcome (%s);"
                " it will be sent again with the same id",
                alert.alert_id,
                alert.destination,
                exc,
            )
            return False

    def with_story(self, alert: Alert) -> Alert:
        """The alert with its story's other outlets (`also`), when it has any."""
        story = self.store.story_of_alert(alert.alert_id)
        if story is None:
            return alert
        also = other_outlets(story.copies, outlet(alert.source_id, alert.publisher, alert.link))
        return replace(alert, also=also) if also else alert

    async def _send(self, alert: Alert, queued_at: datetime) -> str | None:
        """Send an alert, or for a story update, edit or follow up what was delivered."""
        if not isinstance(alert, StoryUpdateAlert):
            return await self.sink.send(await asyncio.to_thread(self.with_story, alert))
        update = await asyncio.to_thread(self._story_update, alert, queued_at)
        if update is None:
            return None
        if isinstance(self.sink, UpdatingSink):
            return await self.sink.update(update)
        return await self.sink.send(followup_alert(update, alert.alert_id))

    def _story_update(self, alert: StoryUpdateAlert, queued_at: datetime) -> StoryUpdate | None:
        """What an update should change on the delivered original, or None for nothing.

        Blocking (the store): run in a thread.
        """
        record = self.store.outbox_record(alert.update_of)
        if (
            record is None
            or record.status != "delivered"
            or (record.delivered_at is not None and record.delivered_at > queued_at)
        ):
            # Still queued: it will show every outlet when it goes; delivered after this
            # update was queued: it showed them already; given up: nothing to edit.
            return None
        original = self.with_story(record.alert)
        edit = None
        delivered_at = record.delivered_at
        if record.receipt and delivered_at and self.clock() - delivered_at <= EDIT_WINDOW:
            edit = record.receipt
        else:
            earlier = self.store.last_update_receipt(alert.update_of)
            if earlier is not None and earlier.startswith("followup:"):
                edit = earlier
        return StoryUpdate(original, edit=edit, reply_to=record.receipt, merged_on=alert.merged_on)

    async def _deliver_one(self, alert: Alert, attempts: int, queued_at: datetime) -> bool:
        try:
            try:
                receipt = await self._send(alert, queued_at)
            except (DeliveryError, asyncio.CancelledError):
                raise
            except Exception as exc:
                # A sink's bug must not end delivery to every destination: this alert is
                # retried later like any failed one, and the error is logged in full.
                log.exception(
                    "alert %s to %s failed unexpectedly", alert.alert_id, alert.destination
                )
                raise DeliveryError(f"internal error: {type(exc).__name__}: {exc}") from exc
        except PermanentDeliveryError as exc:
            now = self.clock()
            await asyncio.to_thread(
                self.store.mark_failed,
                alert.alert_id,
                now,
                error=str(exc),
                next_attempt_at=now,
                permanent=True,
            )
            log.error(
                "alert %s to %s given up: %s",
                alert.alert_id,
                alert.destination,
                exc,
                extra={"alert_id": alert.alert_id, "signal": alert.signal_id},
            )
            if self.on_failed is not None:
                self.on_failed(alert, True)
            await self.notifier.notify(alert_notice(alert, str(exc)))
            return False
        except DeliveryError as exc:
            now = self.clock()
            retry = delivery_retry_at(now, attempts)
            await asyncio.to_thread(
                self.store.mark_failed,
                alert.alert_id,
                now,
                error=str(exc),
                next_attempt_at=retry,
                permanent=False,
            )
            log.warning(
                "alert %s to %s not delivered (attempt %d): %s; retry at %s",
                alert.alert_id,
                alert.destination,
                attempts,
                exc,
                retry.isoformat(timespec="seconds"),
                extra={"alert_id": alert.alert_id, "signal": alert.signal_id},
            )
            if self.on_failed is not None:
                self.on_failed(alert, False)
            return False
        if self.after_send is not None:
            await self.after_send(alert)
        await asyncio.to_thread(self.store.mark_delivered, alert.alert_id, self.clock(), receipt)
        if self.on_delivered is not None:
            self.on_delivered(alert)
        return True
