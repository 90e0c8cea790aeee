"""The run loop's start: gather what the banner says (the store read off the event loop)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

from bot import __version__
from bot.ops.banner import active_sources, banner_lines, next_poll_text
from bot.ops.observe import RunObserver
from bot.settings import Settings
from bot.store import Store
from bot.watchlist import Watchlist

__all__ = ["log_start"]


async def log_start(
    log: logging.Logger,
    observer: RunObserver,
    store: Store,
    watchlist: Watchlist,
    path: Path,
    settings: Settings,
    now: datetime,
) -> None:
    """Log the start-up banner: where alerts go, the database, watchlist, next poll, http."""
    sources = await asyncio.to_thread(store.sources)
    webhooks = sorted({r.webhook for r in watchlist.routes if r.webhook is not None})
    lines = banner_lines(
        version=__version__,
        alerts_to=observer.alerts_to,
        webhooks=webhooks,
        database=observer.database or settings.db,
        watchlist=path,
        signals=len(watchlist.enabled_signals()),
        sources=len(watchlist.enabled_sources()),
        next_poll=next_poll_text(sources, now),
        http_url=observer.http_url,
        contact=settings.contact or settings.user_agent,
    )
    for line in lines:
        log.info(line)
    if observer.progress is not None:
        active = active_sources(sources)
        due = active if observer.poll_all else [s for s in active if s.next_poll_at <= now]
        observer.progress.total(len(due))
