"""The poll → match → alert flow, and delivery from the outbox. One module per stage:

    loop        every turn: reload the watchlist if changed; start due polls; close digests;
                prune now and then; the deliverer runs beside it and wakes on each commit
    poller      for source in store.claim_due_sources(now):        leased: no two share one
                    result  = fetcher.fetch(source)                 Fetched|NotModified|FetchFailed
                    entries = parse_feed(result.body)               off the event loop
                    fresh   = store.unseen(source, entries)         by key, canonical link, title
    search      (a news-API source instead: one search per signal, each from its own cursor)
    planning    plan    = plan_poll(compiled, fresh, now, ...)      PURE: entries in, a plan out
                    matches = matcher.match(entry)                  the source's signals only
                    story   = storybook.file(entry)                 of the last 48 h, indexed
                    alerts  = route(matches)                        once per story, signal, route;
                              an announced story's new outlet → a StoryUpdateAlert;
                              a digest route → a digest item; past the flood limit → a summary
                store.commit_poll(plan)                             ONE transaction
    delivery    store.claim_alerts() → sink.send(alert) → store.mark_delivered | mark_failed,
                each destination in its own lane (one in backoff never holds another)
    digests     a route's digest is due → DigestAlert(items) → store.commit_digest

`planning`, `alerts`, `compiled` and the story index decide; `poller`, `search`, `delivery`,
`digests` and `loop` do the I/O around them. An entry becomes seen only in the transaction that
enqueues its alerts, and an alert leaves the outbox only after the sink took it, so a crash
anywhere loses nothing; alert ids are stable, so a replayed poll cannot enqueue an alert twice.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.pipeline.alerts import UPDATE_PREFIX, alert_id, followup_alert
    from bot.pipeline.compiled import DEFAULT_DESTINATION, Compiled, Route, source_configs
    from bot.pipeline.delivery import ALERT_LEASE, EDIT_WINDOW, Deliverer
    from bot.pipeline.digests import close_due_digests
    from bot.pipeline.planning import PollPlan, identify, plan_poll
    from bot.pipeline.poller import SOURCE_LEASE, Poller, PollOutcome
    from bot.pipeline.ports import Notifier, Sink, UpdatingSink
    from bot.pipeline.search import StoreQuota, search_config, search_interval
    from bot.pipeline.storybook import STORY_WINDOW, GivenStories, StoredStories, StoryBook, outlet

# Names load from their module on first use, so importing one pure stage (planning, alerts,
# the story book) does not import the I/O stages (the poller's HTTP client, the deliverer).
_WHERE = {
    "ALERT_LEASE": "bot.pipeline.delivery",
    "Compiled": "bot.pipeline.compiled",
    "DEFAULT_DESTINATION": "bot.pipeline.compiled",
    "Deliverer": "bot.pipeline.delivery",
    "EDIT_WINDOW": "bot.pipeline.delivery",
    "GivenStories": "bot.pipeline.storybook",
    "Notifier": "bot.pipeline.ports",
    "PollOutcome": "bot.pipeline.poller",
    "PollPlan": "bot.pipeline.planning",
    "Poller": "bot.pipeline.poller",
    "Route": "bot.pipeline.compiled",
    "SOURCE_LEASE": "bot.pipeline.poller",
    "STORY_WINDOW": "bot.pipeline.storybook",
    "Sink": "bot.pipeline.ports",
    "StoreQuota": "bot.pipeline.search",
    "StoredStories": "bot.pipeline.storybook",
    "StoryBook": "bot.pipeline.storybook",
    "UPDATE_PREFIX": "bot.pipeline.alerts",
    "UpdatingSink": "bot.pipeline.ports",
    "alert_id": "bot.pipeline.alerts",
    "close_due_digests": "bot.pipeline.digests",
    "followup_alert": "bot.pipeline.alerts",
    "identify": "bot.pipeline.planning",
    "outlet": "bot.pipeline.storybook",
    "plan_poll": "bot.pipeline.planning",
    "search_config": "bot.pipeline.search",
    "search_interval": "bot.pipeline.search",
    "source_configs": "bot.pipeline.compiled",
}


def __getattr__(name: str) -> Any:
    """Import a name of the package from its module the first time it is asked for."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bot.pipeline' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ALERT_LEASE",
    "DEFAULT_DESTINATION",
    "EDIT_WINDOW",
    "SOURCE_LEASE",
    "STORY_WINDOW",
    "UPDATE_PREFIX",
    "Compiled",
    "Deliverer",
    "GivenStories",
    "Notifier",
    "PollOutcome",
    "PollPlan",
    "Poller",
    "Route",
    "Sink",
    "StoreQuota",
    "StoredStories",
    "StoryBook",
    "UpdatingSink",
    "alert_id",
    "close_due_digests",
    "followup_alert",
    "identify",
    "outlet",
    "plan_poll",
    "search_config",
    "search_interval",
    "source_configs",
]
