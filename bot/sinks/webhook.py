"""The Discord webhook sink: the alert's embed POSTed to a webhook URL, no bot needed.

A 429 is waited out as Discord asks (`retry_after` in the JSON body) and retried with
tenacity; 5xx and transport errors are left in the outbox for a later retry; a webhook that
is gone (401/403/404) is a permanent failure the admins are told about. A digest alert goes
out the same way: `alert_message` renders it as one embed with a field per signal.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from bot import __version__
from bot.errors import DeliveryError, PermanentDeliveryError
from bot.model import Alert
from bot.render import alert_message

__all__ = ["RateLimited", "WebhookSink"]

log = logging.getLogger("signalwatch.webhook")

MAX_RETRY_AFTER = 60.0  # a longer wait is left to the outbox's own backoff


class RateLimited(DeliveryError):
    """Discord answered 429; `retry_after` is how long it asked us to wait (seconds)."""

    def __init__(self, retry_after: float):
        self.retry_after = retry_after
        super().__init__(f"rate limited by Discord for {retry_after:.2f}s")


class WebhookSink:
    """Posts alerts to Discord webhooks; `urls` maps a destination name to its URL.

    `urls` is read at each send (the process environment, as the application wires it), so a
    route added to the watchlist while running works as soon as its variable is set.
    """

    def __init__(
        self,
        urls: Mapping[str, str],
        *,
        client: httpx.AsyncClient | None = None,
        titles: Callable[[str], str | None] = lambda _signal_id: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        attempts: int = 4,
    ):
        self.urls = urls
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0), headers={"User-Agent": f"signalwatch/{__version__}"}
        )
        self._own_client = client is None
        self._titles = titles
        self._sleep = sleep
        self._attempts = attempts

    async def aclose(self) -> None:
        """Close the HTTP client if we made it."""
        if self._own_client:
            await self._client.aclose()

    async def send(self, alert: Alert) -> str | None:
        """POST one alert to its webhook; return the created message id."""
        name = alert.destination.removeprefix("webhook:")
        url = (self.urls.get(name) or "").strip()
        if not url:
            raise PermanentDeliveryError(
                f"webhook '{name}': no URL (set the environment variable {name})"
            )
        if not url.lower().startswith(("https://", "http://")):
            # Never echoed: the variable may hold some other secret by mistake.
            raise PermanentDeliveryError(
                f"webhook '{name}': the environment variable {name} does not hold an http(s) URL"
            )
        payload = alert_message(alert, self._titles(alert.signal_id))
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(RateLimited),
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            sleep=self._sleep,
            reraise=True,
        ):
            with attempt:
                return await self._post(name, url, payload)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return exc.retry_after if isinstance(exc, RateLimited) else 1.0

    async def _post(self, name: str, url: str, payload: dict[str, Any]) -> str | None:
        try:
            response = await self._client.post(url, params={"wait": "true"}, json=payload)
        except httpx.InvalidURL:
            # Never echoed: the URL holds the webhook's secret token.
            raise PermanentDeliveryError(
                f"webhook '{name}': the environment variable {name} does not hold a valid URL"
            ) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook '{name}': {type(exc).__name__}: {exc}") from None
        if response.status_code == 429:
            retry_after = _retry_after(response)
            if retry_after > MAX_RETRY_AFTER:
                raise DeliveryError(f"webhook '{name}': rate limited for {retry_after:.0f}s")
            raise RateLimited(retry_after)
        if response.status_code in (401, 403, 404):
            raise PermanentDeliveryError(
                f"webhook '{name}': HTTP {response.status_code} {_discord_message(response)}"
                " (deleted or revoked?)"
            )
        if response.status_code >= 400:
            raise DeliveryError(
                f"webhook '{name}': HTTP {response.status_code} {_discord_message(response)}"
            )
        try:
            return str(response.json().get("id")) if response.content else None
        except (ValueError, AttributeError):
            return None


def _retry_after(response: httpx.Response) -> float:
    """Discord puts the wait in the JSON body; fall back to the header, then 1 s."""
    try:
        value = float(response.json()["retry_after"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        try:
            value = float(response.headers.get("Retry-After", "1"))
        except ValueError:
            value = 1.0
    return max(0.0, value)


def _discord_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))
    except (ValueError, AttributeError):
        return response.text[:200]
