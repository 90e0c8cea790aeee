"""Waiting in the loop and the deliverer: a while, or less when something happens."""

from __future__ import annotations

import asyncio

__all__ = ["sleep_until"]


async def sleep_until(seconds: float, *events: asyncio.Event) -> None:
    """Sleep `seconds`, or less if any of `events` is set."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
