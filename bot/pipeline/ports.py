"""What the pipeline needs from the outside: somewhere alerts go, somewhere notices go."""

from __future__ import annotations

from typing import Protocol

from bot.model import Alert, StoryUpdate

__all__ = ["Notifier", "Sink", "UpdatingSink"]


class Sink(Protocol):
    """Somewhere alerts go. `send` returns a receipt (e.g. a message id) or raises.

    DeliveryError leaves the alert pending for a retry; PermanentDeliveryError gives it up.
    """

    async def send(self, alert: Alert) -> str | None:
        """Deliver one alert."""
        ...


class UpdatingSink(Sink, Protocol):
    """A sink that can show a story's new outlets on what it delivered (edit or follow up).

    `update` returns the receipt of the message it touched: the original's when it edited
    it, `followup:<id>` when it posted or edited a follow-up. A sink without `update` gets
    the follow-up as an ordinary alert through `send`.
    """

    async def update(self, update: StoryUpdate) -> str | None:
        """Show the story's new outlets."""
        ...


class Notifier(Protocol):
    """Where admin notices go (console log now; the Discord admin channel later)."""

    async def notify(self, text: str) -> None:
        """Tell the admins something needs their attention."""
        ...
