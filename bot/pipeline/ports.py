"""What the pipeline needs from the outside: somewhere alerts go, somewhere notices go."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.model import Alert, StoryUpdate
from bot.notices import Notice

__all__ = ["Notifier", "Sink", "UpdatingSink"]


class Sink(Protocol):
    """Somewhere alerts go. `send` returns a receipt (e.g. a message id) or raises.

    DeliveryError leaves the alert pending for a retry; PermanentDeliveryError gives it up.
    """

    async def send(self, alert: Alert) -> str | None:
        """Deliver one alert."""
        ...


@runtime_checkable
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
    """Where admin notices go: the log, or the Discord admin channel.

    A `Notice` (a typed problem: an alert lost, a broken watchlist) may be gathered with
    others of its kind and destination into one message (see bot.notices); text goes as is.
    """

    async def notify(self, message: str | Notice) -> None:
        """Tell the admins something needs their attention."""
        ...
