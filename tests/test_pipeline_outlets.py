"""One article found by several news APIs is one outlet: the Poller searching local stand-ins of
GDELT, NewsAPI and Google News (tests/apiserver.py on 127.0.0.1), the Deliverer, a real store.

GDELT names an article's outlet by its domain ("reuters.com"), NewsAPI and Google News by its
name ("Reuters"); the outlet keys themselves are tested in test_stories.py. Here the question is
what an alert says: no "+1 source" for the outlet that alerted, one for a real second outlet,
and the signal's timeline counting the article once.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from apiserver import GDELT_PATH, GOOGLE_PATH, NEWSAPI_PATH, ApiServer
from test_pipeline import FETCH, CollectingSink, FakeClock, Notices

from bot.pipeline import Compiled, Deliverer, Poller, source_configs
from bot.sources.fetch import Fetcher
from bot.sources.search.pacing import Pacer
from bot.store import Store
from bot.watchlist import parse_watchlist

pytest_plugins = ["apiserver"]

NOW = datetime(2025, 6, 25, 16, 0, tzinfo=UTC)
KEYS = {"SIGNALWATCH_NEWSAPI_KEY": "test-newsapi-key"}
TITLE = "NATO allies agree truce monitoring mission"
REUTERS = "https://www.reuters.com/world/europe/nato-allies-agree-truce-monitoring-2025-06-25/"
AP = "https://apnews.com/article/nato-truce-monitoring-mission-2025"


def gdelt(*links: str) -> bytes:
    """A GDELT answer: each link under its domain, as GDELT names outlets."""
    articles = [
        {"url": link, "title": TITLE, "seendate": "20250625T150000Z", "language": "English"}
        | {"domain": link.split("/")[2].removeprefix("www.")}
        for link in links
    ]
    return json.dumps({"articles": articles}).encode()


def newsapi(*copies: tuple[str, str, str, str]) -> bytes:
    """A NewsAPI answer: (outlet name, title, link, published) per article."""
    articles = [
        {
            "source": {"id": None, "name": name},
            "author": None,
            "title": title,
            "description": "Allies agreed on a truce monitoring mission.",
            "url": link,
            "publishedAt": published,
        }
        for name, title, link, published in copies
    ]
    return json.dumps(
        {"status": "ok", "totalResults": len(articles), "articles": articles}
    ).encode()


def google(*outlets: str) -> bytes:
    """A Google News answer: one redirect link per outlet, the outlet named in <source>."""
    items = "".join(
        f"<item><title>{TITLE} - {name}</title>"
        f"<link>https://news.google.com/rss/articles/CBMi{n}?oc=5</link>"
        f'<guid isPermaLink="false">CBMi{n}</guid><pubDate>Wed, 25 Jun 2025 14:56:00 GMT</pubDate>'
        f"<description>{TITLE} {name}</description>"
        f'<source url="https://www.{name.lower()}.com">{name}</source></item>'
        for n, name in enumerate(outlets)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>x</title>'
        f"{items}</channel></rss>"
    ).encode()


class Rig:
    """GDELT, NewsAPI and Google News sources on the server, a fake clock and a plain sink."""

    def __init__(self, store: Store, server: ApiServer) -> None:
        text = f"""
version: 1
signals:
  - {{id: truce, title: Truce, query: truce}}
sources:
  - {{id: gdelt, type: gdelt, url: "{server.url(GDELT_PATH)}"}}
  - {{id: newsapi, type: newsapi, url: "{server.url(NEWSAPI_PATH)}"}}
  - {{id: google, type: google_news, url: "{server.url(GOOGLE_PATH)}"}}
"""
        self.store = store
        self.server = server
        self.compiled = Compiled.build(parse_watchlist(text))
        self.clock = FakeClock(NOW)
        self.sink = CollectingSink()  # no update(): a story update comes as a follow-up alert
        store.sync_sources(source_configs(self.compiled.watchlist), NOW)

    def answer(self, *, gdelt: bytes, newsapi: bytes, google: bytes) -> None:
        """What each API answers from now on."""
        self.server.results.update({GDELT_PATH: gdelt, NEWSAPI_PATH: newsapi, GOOGLE_PATH: google})

    def poll_and_deliver(self) -> None:
        """Poll every source now, then deliver what is due, a minute later."""

        async def noop(_seconds: float) -> None:
            pass

        async def go() -> None:
            async with Fetcher(FETCH) as fetcher:
                poller = Poller(
                    self.store,
                    fetcher,
                    lambda: self.compiled,
                    Notices(),
                    self.clock,
                    pacer=Pacer(lambda: 0.0, noop),
                    environ=KEYS,
                )
                await poller.poll_due(force=True)
            self.clock.advance(timedelta(minutes=1))
            await Deliverer(self.store, self.sink, Notices(), self.clock).deliver_due()

        asyncio.run(go())
        self.clock.advance(timedelta(minutes=10))


# NewsAPI's copy of the Reuters article; AP's comes later, in the third poll's window, in
# other words (a source's second item with a title it has seen is a re-publish, not news).
BY_REUTERS = ("Reuters", TITLE, REUTERS, "2025-06-25T14:55:00Z")
BY_AP = ("Associated Press", f"{TITLE} for Ukraine", AP, "2025-06-25T16:15:00Z")
NOTHING = {"gdelt": gdelt(), "newsapi": newsapi(), "google": google()}


def test_one_article_through_three_apis_is_one_alert_without_other_sources(
    store: Store, api_server: ApiServer
) -> None:
    """GDELT finds the Reuters article, then NewsAPI and Google News: one alert, no update."""
    rig = Rig(store, api_server)
    rig.answer(**{**NOTHING, "gdelt": gdelt(REUTERS)})
    rig.poll_and_deliver()
    rig.answer(gdelt=gdelt(REUTERS), newsapi=newsapi(BY_REUTERS), google=google("Reuters"))
    rig.poll_and_deliver()
    (alert,) = rig.sink.sent
    assert alert.title == TITLE and alert.also == ()
    assert store.outbox_counts()["pending"] == 0
    timeline = store.signal_timeline("truce", rig.clock())
    assert (timeline.total, timeline.days[-1]) == (1, (NOW.date(), 1))


def test_a_second_outlet_of_the_story_still_follows_up(store: Store, api_server: ApiServer) -> None:
    """After the Reuters copies, AP's article through NewsAPI is "+1 source" naming AP only."""
    rig = Rig(store, api_server)
    rig.answer(**{**NOTHING, "gdelt": gdelt(REUTERS)})
    rig.poll_and_deliver()
    rig.answer(gdelt=gdelt(REUTERS), newsapi=newsapi(BY_REUTERS), google=google())
    rig.poll_and_deliver()
    rig.answer(
        gdelt=gdelt(REUTERS),
        newsapi=newsapi(BY_REUTERS, BY_AP),
        google=google("Reuters"),
    )
    rig.poll_and_deliver()
    original, followup = rig.sink.sent
    assert followup.title == f"+1 source: {TITLE}"
    # with what the copies share, so an admin can see a wrong merge
    assert followup.snippet.startswith("Also reported by Associated Press (merged on: nato")
    assert [copy.outlet for copy in followup.also] == ["Associated Press"]
    assert original.publisher == "Reuters"  # GDELT gave reuters.com: named as NewsAPI names it
