"""News-API sources in the pipeline: the Poller searching local stand-ins of GDELT, NewsAPI and
the Guardian (tests/apiserver.py on 127.0.0.1) through the real Fetcher into a real SQLite store.

The adapters themselves (query translation, request shapes, error texts) are tested in
test_search_*.py; here the question is what a poll of a search source does: one request per
signal in scope, its window since the last success, entries matched and alerted like a feed's,
keys checked at start-up, quotas and API errors recorded where an admin will see them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from apiserver import GDELT_PATH, GUARDIAN_PATH, NEWSAPI_PATH, ApiServer
from test_pipeline import FETCH, CollectingSink, FakeClock, Notices

from bot.pipeline import Compiled, Deliverer, Poller, PollOutcome, source_configs
from bot.pipeline.loop import KEY_MISSING, check_api_keys, missing_api_keys
from bot.sources.fetch import Fetcher
from bot.sources.search.pacing import PACING_MARGIN, Pacer
from bot.store import Store
from bot.watchlist import parse_watchlist

pytest_plugins = ["apiserver"]

# The recorded answers are from the afternoon of the NATO summit's second day.
NOW = datetime(2025, 6, 25, 16, 0, tzinfo=UTC)
KEYS = {"SIGNALWATCH_NEWSAPI_KEY": "test-newsapi-key", "GUARDIAN_KEY": "test-guardian-key"}


def watchlist(server: ApiServer, extra: str = "") -> Compiled:
    """Two signals; GDELT, NewsAPI and Guardian sources pointed at the local server."""
    text = f"""
version: 1
signals:
  - id: nato
    title: NATO spending hits 5%
    query: NATO AND "5%" NOT quiz
  - id: truce
    title: Truce terms land
    query: ceasefire OR truce
sources:
  - id: gdelt
    type: gdelt
    url: {server.url(GDELT_PATH)}
  - id: newsapi
    type: newsapi
    url: {server.url(NEWSAPI_PATH)}
    signals: [nato]
  - id: guardian
    type: guardian
    url: {server.url(GUARDIAN_PATH)}
    key_env: GUARDIAN_KEY
{extra}"""
    return Compiled.build(parse_watchlist(text))


class Search:
    """A store, the compiled watchlist, a fake clock and a Poller that never really sleeps."""

    def __init__(self, store: Store, compiled: Compiled, environ: Mapping[str, str]) -> None:
        self.store = store
        self.compiled = compiled
        self.environ = environ
        self.clock = FakeClock(NOW)
        self.notices = Notices()
        self.slept: list[float] = []
        self.pacer = Pacer(lambda: 0.0, self._sleep)
        self.told: set[tuple[str, str, str]] = set()  # the Poller's memory across polls
        store.sync_sources(source_configs(compiled.watchlist), NOW)

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def poll(self) -> dict[str, PollOutcome]:
        """Poll every enabled source once, as `run --once --all` does."""

        async def go() -> list[PollOutcome]:
            async with Fetcher(FETCH) as fetcher:
                poller = Poller(
                    self.store,
                    fetcher,
                    lambda: self.compiled,
                    self.notices,
                    self.clock,
                    pacer=self.pacer,
                    environ=self.environ,
                )
                poller.told_unsearchable = self.told  # one run loop keeps one Poller
                return await poller.poll_due(force=True)

        return {o.source_id: o for o in asyncio.run(go())}

    def check_keys(self) -> None:
        """What the run loop does at start-up: switch off sources whose key is missing."""
        asyncio.run(
            check_api_keys(
                self.store, self.compiled.watchlist, self.environ, self.clock(), self.notices
            )
        )


def query_of(server: ApiServer, path: str) -> list[dict[str, str]]:
    """The query parameters of the requests the server got on `path`."""
    return [r.query for r in server.requests_to(path)]


def test_each_api_is_searched_per_signal_and_its_hits_alert(
    store: Store, api_server: ApiServer
) -> None:
    """A first poll: one request per signal in scope, backlog silent, today's hits alerted."""
    search = Search(store, watchlist(api_server), KEYS)
    outcomes = search.poll()
    assert {s: o.status for s, o in outcomes.items()} == {
        "gdelt": "ok",
        "newsapi": "ok",
        "guardian": "ok",
    }
    assert len(api_server.requests_to(GDELT_PATH)) == 2  # nato and truce
    assert len(api_server.requests_to(NEWSAPI_PATH)) == 1  # its scope: nato only
    newsapi = api_server.requests_to(NEWSAPI_PATH)[0]
    assert newsapi.headers["x-api-key"] == "test-newsapi-key"
    (gdelt_nato, _) = query_of(api_server, GDELT_PATH)
    assert gdelt_nato["startdatetime"] == "20250624160000"  # the 24 h backfill
    assert "quiz" not in gdelt_nato["query"]  # NOT dropped: searched broader

    sink = CollectingSink()
    asyncio.run(Deliverer(store, sink, search.notices, search.clock).deliver_due())
    titles = sink.titles
    assert titles, "the summit's 5% headlines alert"
    assert all("5%" in t or "5 %" in t for t in titles)
    assert not any("Spain reaches deal" in t for t in titles)  # 3 days old: backlog
    assert not any("[Removed]" in t for t in titles)
    state = store.source("gdelt")
    assert state is not None and state.first_fetch_done and state.consecutive_failures == 0
    publishers = {a.publisher for a in sink.sent}
    assert publishers and None not in publishers


def test_the_next_search_starts_at_the_last_success(store: Store, api_server: ApiServer) -> None:
    """A second poll asks GDELT for the window since the first (with a little overlap)."""
    search = Search(store, watchlist(api_server), KEYS)
    search.poll()
    queued = store.outbox_counts()["pending"]
    search.clock.advance(timedelta(minutes=30))
    outcomes = search.poll()
    last = query_of(api_server, GDELT_PATH)[-1]
    assert last["startdatetime"] == "20250625154500"  # 16:00 less 15 minutes of overlap
    assert last["enddatetime"] == "20250625163000"
    # The same answers again: every item is seen already, nothing new is queued.
    assert all(o.fresh == 0 for o in outcomes.values())
    assert store.outbox_counts()["pending"] == queued


def test_gdelt_requests_are_paced_five_seconds_apart(store: Store, api_server: ApiServer) -> None:
    """GDELT asks for one request per 5 s: the second signal's request waits, on the fake clock."""
    search = Search(store, watchlist(api_server), KEYS)
    search.poll()
    assert 5.0 + PACING_MARGIN in search.slept


def test_a_missing_key_switches_its_source_off_at_start_up_and_the_others_go_on(
    store: Store, api_server: ApiServer
) -> None:
    """No Guardian key: the source is disabled with a notice naming the variable; on with it."""
    environ = {"SIGNALWATCH_NEWSAPI_KEY": "test-newsapi-key"}
    search = Search(store, watchlist(api_server), environ)
    assert missing_api_keys(search.compiled.watchlist, environ) == {
        "guardian": f"{KEY_MISSING}: set the environment variable GUARDIAN_KEY to the"
        " guardian API key and restart signalwatch"
    }
    search.check_keys()
    (notice,) = search.notices.texts
    assert "guardian" in notice and "GUARDIAN_KEY" in notice
    state = store.source("guardian")
    assert state is not None and state.disabled_reason is not None
    assert set(search.poll()) == {"gdelt", "newsapi"}
    assert api_server.requests_to(GUARDIAN_PATH) == []

    search.check_keys()  # a restart without the key: said once only
    assert len(search.notices.texts) == 1

    search.environ = KEYS  # restarted with the key
    search.check_keys()
    state = store.source("guardian")
    assert state is not None and state.disabled_reason is None and state.enabled
    assert "guardian" in search.poll()


def test_an_api_error_fails_the_source_with_the_api_s_own_words(
    store: Store, api_server: ApiServer
) -> None:
    """NewsAPI says apiKeyInvalid: the poll fails with that reason; the others are fine."""
    api_server.script(NEWSAPI_PATH, ApiServer.reply("newsapi_error_apiKeyInvalid.json", 401))
    search = Search(store, watchlist(api_server), KEYS)
    outcomes = search.poll()
    assert outcomes["newsapi"].status == "failed"
    error = outcomes["newsapi"].error or ""
    assert "NewsAPI" in error and "apiKeyInvalid" in error and "nato" in error
    state = store.source("newsapi")
    assert state is not None and state.consecutive_failures == 1 and state.last_error == error
    assert outcomes["gdelt"].status == "ok"


def test_a_gdelt_rate_limit_backs_the_source_off(store: Store, api_server: ApiServer) -> None:
    """GDELT's plain-text 429 stops the poll, is recorded as the error, and backs off."""
    api_server.script(GDELT_PATH, ApiServer.reply("gdelt_429.txt", 429))
    search = Search(store, watchlist(api_server), KEYS)
    outcome = search.poll()["gdelt"]
    assert outcome.status == "failed" and "GDELT" in (outcome.error or "")
    assert len(api_server.requests_to(GDELT_PATH)) == 1  # the second signal was not sent
    state = store.source("gdelt")
    assert state is not None and state.last_status == 429 and state.next_poll_at > NOW


def test_the_daily_quota_holds_searches_until_midnight(store: Store, api_server: ApiServer) -> None:
    """A quota of 3 a day with two signals: polls at most every 16 h; the quota stops requests."""
    extra = f"""  - id: newsapi-all
    type: newsapi
    url: {api_server.url(NEWSAPI_PATH)}
    daily_quota: 3
"""
    search = Search(store, watchlist(api_server, extra), KEYS)
    outcome = search.poll()["newsapi-all"]
    assert outcome.status == "ok"
    state = store.source("newsapi-all")
    assert state is not None
    # Two requests a poll, three a day: at most one poll every 16 hours.
    assert state.next_poll_at >= NOW + timedelta(hours=8)
    search.poll()  # forced: 1 left today for 2 signals, then the quota stops it
    assert store.api_calls_on("newsapi", NOW.date()) == 3 + 1  # + the scoped source's one
    state = store.source("newsapi-all")
    assert state is not None and state.consecutive_failures == 0
    # Spent: the next search is when the quota resets, midnight UTC, and not a day later.
    assert state.next_poll_at == datetime(2025, 6, 26, tzinfo=UTC)


def test_a_signal_an_api_cannot_search_is_skipped_not_failed(
    store: Store, api_server: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A query of prefixes only cannot be sent to GDELT: the source still polls, said once."""
    compiled = Compiled.build(
        parse_watchlist(f"""
version: 1
signals:
  - id: prefixes
    title: Prefixes only
    query: sign* NEAR seal*
sources:
  - id: gdelt-prefixes
    type: gdelt
    url: {api_server.url(GDELT_PATH)}
""")
    )
    search = Search(store, compiled, KEYS)
    with caplog.at_level(logging.WARNING, logger="signalwatch.pipeline"):
        first = search.poll()["gdelt-prefixes"]
        search.poll()
    assert first.status == "ok"
    state = store.source("gdelt-prefixes")
    assert state is not None and state.consecutive_failures == 0
    told = [
        r.getMessage()
        for r in caplog.records
        if "cannot search for signal 'prefixes'" in r.getMessage()
    ]
    assert len(told) == 1 and "search:" in told[0]


# --- each signal's own window ------------------------------------------------------------------


def test_signals_the_quota_left_out_are_searched_first_from_their_own_window(
    store: Store, api_server: ApiServer
) -> None:
    """A quota of 1: the first poll searches one signal; the next day the other goes first,
    over its whole backfill, not from the first poll's success."""
    compiled = Compiled.build(
        parse_watchlist(f"""
version: 1
signals:
  - id: nato
    title: NATO spending hits 5%
    query: NATO AND "5%"
  - id: truce
    title: Truce terms land
    query: ceasefire OR truce
sources:
  - id: newsapi-all
    type: newsapi
    url: {api_server.url(NEWSAPI_PATH)}
    daily_quota: 1
""")
    )
    search = Search(store, compiled, KEYS)
    assert search.poll()["newsapi-all"].status == "ok"
    first = store.search_cursors("newsapi-all")
    assert list(first) == ["nato"]  # signal order: nato, truce; one request allowed
    search.clock.advance(timedelta(days=1))
    search.poll()
    (_, second) = api_server.requests_to(NEWSAPI_PATH)
    # truce had never been searched: the backfill (24 h) before this poll
    assert second.query["from"] == "2025-06-25T16:00:00"
    assert "truce" in second.query["q"]
    assert set(store.search_cursors("newsapi-all")) == {"nato", "truce"}


def test_one_signal_failing_does_not_fail_the_source_and_keeps_its_window(
    store: Store, api_server: ApiServer
) -> None:
    """GDELT refuses one signal's query: the source is ok with that error as its warning,
    the other signal's window moves on, the refused one is asked again from where it stood."""
    api_server.script(GDELT_PATH, ApiServer.reply("gdelt_bad_query.html"))
    search = Search(store, watchlist(api_server), KEYS)
    assert search.poll()["gdelt"].status == "ok"
    state = store.source("gdelt")
    assert state is not None and state.consecutive_failures == 0
    assert state.last_error is not None and "signal 'nato'" in state.last_error
    assert list(store.search_cursors("gdelt")) == ["truce"]
    search.clock.advance(timedelta(minutes=30))
    search.poll()
    nato, truce = query_of(api_server, GDELT_PATH)[-2:]  # furthest behind first: nato
    # never searched yet: over the backfill (24 h) before this poll
    assert "nato" in nato["query"] and nato["startdatetime"] == "20250624163000"
    assert "truce" in truce["query"] and truce["startdatetime"] == "20250625154500"
    state = store.source("gdelt")
    assert state is not None and state.last_error is None


def test_a_search_the_api_paused_is_put_off_not_failed(store: Store, api_server: ApiServer) -> None:
    """Another source's 429 asked NewsAPI for an hour: this one is rescheduled, not failed."""
    search = Search(store, watchlist(api_server), KEYS)
    asyncio.run(search.pacer.hold("newsapi", 3600))
    outcome = search.poll()["newsapi"]
    assert outcome.status == "deferred"
    assert api_server.requests_to(NEWSAPI_PATH) == []
    state = store.source("newsapi")
    assert state is not None and state.consecutive_failures == 0 and state.last_error is None
    assert state.next_poll_at == NOW + timedelta(hours=1) and not state.first_fetch_done


def test_the_run_loop_does_not_wait_for_searches(store: Store, api_server: ApiServer) -> None:
    """poll_due(wait=False) returns while a search waits for its API's pace; the
    search is not started twice, and its outcome comes with a later call once it is done."""
    compiled = watchlist(api_server)
    store.sync_sources(source_configs(compiled.watchlist), NOW)

    async def go() -> None:
        paced = asyncio.Event()
        go_on = asyncio.Event()

        async def slow_sleep(seconds: float) -> None:
            paced.set()
            await go_on.wait()

        clock = FakeClock(NOW)
        async with Fetcher(FETCH) as fetcher:
            poller = Poller(
                store,
                fetcher,
                lambda: compiled,
                Notices(),
                clock,
                pacer=Pacer(lambda: 0.0, slow_sleep),
                environ=KEYS,
            )
            assert await poller.poll_due(force=True, wait=False) == []
            await asyncio.wait_for(paced.wait(), 5)  # a second signal waits its API's turn
            # Past the lease, GDELT and the Guardian are due again while still searching: they
            # are not restarted. NewsAPI (one signal, nothing to wait for) may be done by now.
            clock.advance(timedelta(minutes=3))
            outcomes = await poller.poll_due(wait=False)
            assert {o.source_id for o in outcomes} <= {"newsapi"}
            requests = len(api_server.requests_to(GDELT_PATH))
            go_on.set()
            for _ in range(100):  # the searches finish on the event loop
                outcomes += await poller.poll_due(wait=False)
                if len(outcomes) == 3:
                    break
                await asyncio.sleep(0.01)
            assert sorted(o.source_id for o in outcomes) == ["gdelt", "guardian", "newsapi"]
            assert all(o.status == "ok" for o in outcomes)
            # the second call started no second GDELT search: 2 signals, 2 requests
            assert requests <= 2 and len(api_server.requests_to(GDELT_PATH)) == 2
            await poller.cancel()

    asyncio.run(go())
