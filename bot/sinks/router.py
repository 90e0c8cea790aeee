"""One sink that hands each alert to the sink for its destination.

"default"         → the Discord default channel when a bot runs, else the console
"channel:<id>"    → the Discord bot (console when no bot runs, saying so once)
"webhook:<NAME>"  → the webhook whose URL is in the environment variable NAME
"""

from __future__ import annotations

import logging

from bot.errors import PermanentDeliveryError
from bot.model import Alert, StoryUpdate
from bot.pipeline import Sink, followup_alert

__all__ = ["RoutingSink"]

log = logging.getLogger("signalwatch.sinks")


class RoutingSink:
    """Dispatches alerts (and story updates) by destination prefix."""

    def __init__(self, *, default: Sink, discord: Sink | None = None, webhooks: Sink | None = None):
        self.default = default
        self.discord = discord
        self.webhooks = webhooks
        self._warned = False

    def _target(self, alert: Alert) -> Sink:
        kind = alert.destination.split(":", 1)[0]
        if kind == "webhook":
            if self.webhooks is None:
                raise PermanentDeliveryError(f"{alert.destination}: webhooks are not configured")
            return self.webhooks
        if kind == "channel" and self.discord is not None:
            return self.discord
        if kind == "channel" and not self._warned:
            self._warned = True
            log.warning("no Discord token: alerts routed to channels print on the console")
        return self.default

    async def send(self, alert: Alert) -> str | None:
        """Deliver through the sink that owns the alert's destination."""
        return await self._target(alert).send(alert)

    async def update(self, update: StoryUpdate) -> str | None:
        """Update through the sink that delivered the original; a follow-up where it can't."""
        target = self._target(update.original)
        updater = getattr(target, "update", None)
        if updater is not None:
            receipt: str | None = await updater(update)
            return receipt
        return await target.send(followup_alert(update, f"{update.original.alert_id}-followup"))
