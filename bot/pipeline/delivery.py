"""Delivery: the outbox to the sinks — claim → send (or edit/follow up) → mark."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.errors import DeliveryError, PermanentDeliveryError
from bot.model import Alert, OutletCopy, StoryUpdate, StoryUpdateAlert
from bot.pipeline.alerts import UPDATE_PREFIX, followup_alert
from bot.pipeline.ports import Notifier, Sink
from bot.pipeline.storybook import outlet
from bot.schedule import delivery_retry_at
from bot.store import Store

__all__ = ["ALERT_LEASE", "EDIT_WINDOW", "Deliverer"]

log = logging.getLogger("signalwatch.pipeline")

ALERT_LEASE = timedelta(minutes=2)


EDIT_WINDOW = timedelta(hours=6)


@dataclass
class Deliverer:
    """Moves alerts from the outbox to a sink: claim → send → mark."""

    store: Store
    sink: Sink
    notifier: Notifier
    clock: Callable[[], datetime]
    # One alert per claim: a deliverer only ever holds the lease of the alert it is sending,
    # so a stopped or killed process delays (or repeats) that one alert, not a whole batch.
    batch: int = 1
    # Called after a send and before the outbox is told; tests use it to crash right there.
    after_send: Callable[[Alert], Awaitable[None]] | None = None

    async def deliver_due(self, stop: asyncio.Event | None = None) -> int:
        """Deliver every alert due now; return how many were delivered."""
        delivered = 0
        while stop is None or not stop.is_set():
            now = self.clock()
            claimed = await asyncio.to_thread(self.store.claim_alerts, now, self.batch, ALERT_LEASE)
            if not claimed:
                break
            for pending in claimed:
                if stop is not None and stop.is_set():
                    break  # the rest (batch > 1) stay leased and come back when it ends
                if await self._deliver_one(pending.alert, pending.attempts, pending.created_at):
                    delivered += 1
        return delivered

    def with_story(self, alert: Alert) -> Alert:
        """The alert with its story's other outlets (`also`), when it has any."""
        story = self.store.story_of_alert(alert.alert_id)
        if story is None:
            return alert
        own = outlet(alert.source_id, alert.publisher, alert.link)
        also: dict[str, OutletCopy] = {}
        for copy in story.copies:
            key = outlet(copy.source_id, copy.publisher, copy.link)
            if key != own and key not in also:
                name = copy.publisher or copy.source_id  # the key is for comparing, not reading
                also[key] = OutletCopy(name, copy.title, copy.link)
        if not also:
            return alert
        return replace(alert, also=tuple(also.values()))

    async def _send(self, alert: Alert, queued_at: datetime) -> str | None:
        """Send an alert, or for a story update, edit or follow up what was delivered."""
        if not isinstance(alert, StoryUpdateAlert):
            return await self.sink.send(self.with_story(alert))
        original_id = alert.update_of
        record = self.store.outbox_record(original_id)
        if (
            record is None
            or record.status != "delivered"
            or (record.delivered_at is not None and record.delivered_at > queued_at)
        ):
            # Still queued: it will show every outlet when it goes; delivered after this
            # update was queued: it showed them already; given up: nothing to edit.
            return None
        original = self.with_story(record.alert)
        now = self.clock()
        edit = None
        if record.receipt and record.delivered_at and now - record.delivered_at <= EDIT_WINDOW:
            edit = record.receipt
        else:
            earlier = self.store.last_receipt_like(f"{UPDATE_PREFIX}{original_id}-")
            if earlier is not None and earlier.startswith("followup:"):
                edit = earlier
        update = StoryUpdate(original, edit=edit, reply_to=record.receipt)
        updater = getattr(self.sink, "update", None)
        if updater is not None:
            receipt: str | None = await updater(update)
            return receipt
        return await self.sink.send(followup_alert(update, alert.alert_id))

    async def _deliver_one(self, alert: Alert, attempts: int, queued_at: datetime) -> bool:
        try:
            receipt = await self._send(alert, queued_at)
        except PermanentDeliveryError as exc:
            now = self.clock()
            self.store.mark_failed(
                alert.alert_id, now, error=str(exc), next_attempt_at=now, permanent=True
            )
            log.error("alert %s to %s given up: %s", alert.alert_id, alert.destination, exc)
            await self.notifier.notify(f"alerts for {alert.destination} cannot be delivered: {exc}")
            return False
        except DeliveryError as exc:
            now = self.clock()
            retry = delivery_retry_at(now, attempts)
            self.store.mark_failed(
                alert.alert_id, now, error=str(exc), next_attempt_at=retry, permanent=False
            )
            log.warning(
                "alert %s to %s not delivered (attempt %d): %s; retry at %s",
                alert.alert_id,
                alert.destination,
                attempts,
                exc,
                retry.isoformat(timespec="seconds"),
            )
            return False
        if self.after_send is not None:
            await self.after_send(alert)
        self.store.mark_delivered(alert.alert_id, self.clock(), receipt)
        return True
