"""Closing digests: a route's waiting hits become one digest alert per period."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from bot.digest import DigestSchedule, digest_alert
from bot.model import Alert
from bot.outlets import other_outlets
from bot.pipeline.compiled import Compiled
from bot.pipeline.storybook import outlet
from bot.store import Store

__all__ = ["close_due_digests"]


def close_due_digests(store: Store, compiled: Compiled, now: datetime) -> list[Alert]:
    """Enqueue every digest whose time has come; return the digests enqueued.

    A route's waiting hits go out in the digest of the first boundary after the oldest of
    them: each hit in the digest of the period it came in, and after a long stop one digest
    per period that had hits. Each hit shows how many other outlets its story has by now.
    Enqueueing a digest and marking its hits taken is one transaction, and a digest's id is
    its route and boundary, so a crash or a second worker never sends one twice.
    """
    titles = {signal.id: signal.title for signal in compiled.watchlist.signals}
    enqueued: list[Alert] = []
    for waiting in store.open_digests():
        schedule = DigestSchedule.from_key(waiting.schedule)
        boundary = schedule.next_boundary(waiting.oldest)
        left = waiting.items
        while boundary <= now and left > 0:
            items = store.digest_items(waiting.destination, waiting.schedule, boundary)
            left -= len(items)
            if items:
                shown = [_with_outlet_count(store, item) for item in items]
                digest = digest_alert(waiting.destination, schedule, boundary, shown, titles)
                if store.commit_digest(
                    waiting.destination,
                    waiting.schedule,
                    now,
                    item_ids=[item.alert_id for item in items],
                    digest=digest,
                ):
                    enqueued.append(digest)
            boundary = schedule.next_boundary(boundary)
    return enqueued


def _with_outlet_count(store: Store, item: Alert) -> Alert:
    """A digest hit with `also`: the other outlets its story has by now."""
    story = store.story_of_alert(item.alert_id)
    if story is None:
        return item
    others = other_outlets(story.copies, outlet(item.source_id, item.publisher, item.link))
    return replace(item, also=others) if others else item
