"""The news-API search sources end to end: adapters → real Fetcher → tests/apiserver.py.

No test waits: the Fetcher and the Pacer share a fake clock whose sleep only records.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from apiserver import GDELT_PATH, GOOGLE_PATH, GUARDIAN_PATH, NEWSAPI_PATH, ApiServer
from fakes import FakeMonotonic
from feedserver import Reply

from bot.errors import ParseError
from bot.sources.fetch import Fetcher, FetchFailed, FetchSettings
from bot.sources.search.common import load_json
from bot.sources.search.config import SearchConfig, resolve_key
from bot.sources.search.pacing import (
    PACING_MARGIN,
    MemoryQuotaLedger,
    Pacer,
    min_interval_for_quota,
)
from bot.sources.search.runner import MAX_PAGES, SearchOutcome, run_search

pytest_plugins = ["apiserver"]

NOW = datetime(2025, 6, 25, 15, 0, tzinfo=UTC)
SINCE = NOW - timedelta(hours=1)
NATO = '(NATO OR alliance) AND "defence spending" NOT quiz'
GAZA = "Gaza AND (peacekeepers OR ISF)"


def config(server: ApiServer, api: str, **overrides: Any) -> SearchConfig:
    """A SearchConfig for `api` pointed at the local server, with the server's keys."""
    paths = {"gdelt": GDELT_PATH, "google_news": GOOGLE_PATH, "newsapi": NEWSAPI_PATH}
    keys = {"newsapi": server.newsapi_key, "guardian": server.guardian_key}
    values: dict[str, Any] = {
        "source_id": f"{api}-search",
        "type": api,
        "base_url": server.url(paths.get(api, GUARDIAN_PATH)),
        "key": keys.get(api),
    }
    values.update(overrides)
    return SearchConfig(**values)


def poll(
    cfg: SearchConfig,
    queries: list[tuple[str, str]],
    *,
    since: datetime | None = SINCE,
    now: datetime = NOW,
    clock: FakeMonotonic | None = None,
    pacer: Pacer | None = None,
    ledger: MemoryQuotaLedger | None = None,
    since_by_signal: dict[str, datetime] | None = None,
) -> SearchOutcome:
    """Run one run_search against the local server with fake time."""
    clock = clock or FakeMonotonic()
    pacer = pacer or Pacer(clock, clock.sleep)
    ledger = ledger if ledger is not None else MemoryQuotaLedger()
    settings = FetchSettings(
        allow_private=True, trust_env=False, per_host_spacing=0.0, backoff_multiplier=0.0
    )

    async def scenario() -> SearchOutcome:
        async with Fetcher(settings, clock=clock, sleep=clock.sleep) as fetcher:
            return await run_search(
                cfg,
                queries,
                since,
                now,
                fetcher=fetcher,
                pacer=pacer,
                quota=ledger,
                since_by_signal=since_by_signal,
            )

    return asyncio.run(scenario())


# --- GDELT ------------------------------------------------------------------------------------


def test_gdelt_entries_and_window(api_server: ApiServer) -> None:
    """GDELT artlist: entries deduplicated, domain as publisher, seendate as UTC, window in URL."""
    outcome = poll(config(api_server, "gdelt", language="english"), [("nato-5pct", NATO)])
    assert outcome.errors == [] and outcome.requests == 1 and outcome.status == 200
    # GDELT names domains only: well-known outlets get their names, as other APIs give them
    assert [e.publisher for e in outcome.entries] == ["The Brussels Times", "Anadolu Agency"]
    first, second = outcome.entries
    assert first.source_id == "gdelt-search"
    assert first.key == f"link:{first.link}"
    assert first.published == datetime(2025, 6, 25, 14, 30, tzinfo=UTC)
    assert first.summary == ""
    assert second.link is not None and "utm_source" not in second.link
    (request,) = api_server.requests_to(GDELT_PATH)
    q = request.query
    assert (q["mode"], q["format"], q["sort"], q["maxrecords"]) == (
        "artlist",
        "json",
        "datedesc",
        "250",
    )
    assert q["startdatetime"] == "20250625134500"  # since minus GDELT's 15-minute batch
    assert q["enddatetime"] == "20250625150000"
    assert q["query"].startswith("(nato OR alliance OR alliances)")
    assert q["query"].endswith(" sourcelang:english")
    assert "quiz" not in q["query"]


def test_gdelt_first_poll_looks_back_the_backfill(api_server: ApiServer) -> None:
    """With no last poll the window starts `backfill` before now."""
    poll(config(api_server, "gdelt", backfill=timedelta(hours=6)), [("x", NATO)], since=None)
    (request,) = api_server.requests_to(GDELT_PATH)
    assert request.query["startdatetime"] == "20250625090000"


def test_gdelt_rejected_query_is_a_clear_error_and_others_go_on(api_server: ApiServer) -> None:
    """GDELT's 200 text/html refusal names the signal; the next signal is still searched."""
    api_server.script(GDELT_PATH, ApiServer.reply("gdelt_bad_query.html"))
    outcome = poll(config(api_server, "gdelt"), [("bad", NATO), ("good", GAZA)])
    assert outcome.errors == [
        "GDELT rejected the query for signal 'bad': "
        "Parentheses may only be used around OR'd statements."
    ]
    assert outcome.requests == 2 and len(outcome.entries) == 2


def test_gdelt_429_stops_the_poll_with_retry_after(api_server: ApiServer) -> None:
    """A plain-text 429 becomes a readable error, stops the poll and keeps Retry-After."""
    api_server.script(GDELT_PATH, ApiServer.reply("gdelt_429.txt", 429, {"Retry-After": "60"}))
    outcome = poll(config(api_server, "gdelt"), [("a", NATO), ("b", GAZA)])
    assert outcome.errors == [
        "GDELT: rate limited (HTTP 429): Please limit requests to one every 5 seconds or "
        "contact kalev.leetaru5@gmail.com for larger queries. (signal 'a')"
    ]
    assert outcome.status == 429 and outcome.retry_after == 60.0
    assert outcome.requests == 1 and len(api_server.requests_to(GDELT_PATH)) == 1


def test_gdelt_rate_limit_text_in_a_200_also_stops(api_server: ApiServer) -> None:
    """GDELT sometimes rate-limits with status 200: treated as a 429."""
    api_server.script(GDELT_PATH, Reply(200, (b"Please limit requests to one every 5 seconds.")))
    outcome = poll(config(api_server, "gdelt"), [("a", NATO), ("b", GAZA)])
    assert outcome.status == 429 and outcome.requests == 1
    assert outcome.errors == [
        "GDELT rate limited the search for signal 'a': Please limit requests to one every 5 seconds."
    ]


def test_gdelt_empty_answer_is_no_entries(api_server: ApiServer) -> None:
    """GDELT's `{}` for no results is an empty list, not an error."""
    api_server.results[GDELT_PATH] = b"{}"
    outcome = poll(config(api_server, "gdelt"), [("a", NATO)])
    assert outcome.entries == [] and outcome.errors == []


def test_gdelt_json_nested_too_deep_fails_one_signal(api_server: ApiServer) -> None:
    """Arrays nested 100,000 deep are a parse error for that signal, not a crash of the poll."""
    deep = Reply(200, b'{"articles":' + b"[" * 100_000, {"Content-Type": "application/json"})
    api_server.script(GDELT_PATH, deep)
    outcome = poll(config(api_server, "gdelt"), [("deep", NATO), ("good", GAZA)])
    assert outcome.errors == [
        "GDELT answer for signal 'deep' is not JSON we can read (nested too deep)"
    ]
    assert outcome.requests == 2 and len(outcome.entries) == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"[" * 100_000, "nested too deep", id="deep"),
        pytest.param(b'{"n": ' + b"1" * 5000 + b"}", "Exceeds the limit", id="huge-integer"),
    ],
)
def test_load_json_turns_what_python_refuses_into_parse_errors(body: bytes, reason: str) -> None:
    """RecursionError and ValueError from the decoder become the adapters' ParseError."""
    with pytest.raises(
        ParseError, match=f"^NewsAPI answer for signal 's' is not JSON we can read \\({reason}"
    ):
        load_json(body, "NewsAPI", "s")


def test_gdelt_requests_are_paced_five_seconds_apart(api_server: ApiServer) -> None:
    """Three signals: the pacer asks for two 5 s waits and the margin (fake clock: nothing
    really waits)."""
    clock = FakeMonotonic()
    poll(config(api_server, "gdelt"), [("a", NATO), ("b", GAZA), ("c", NATO)], clock=clock)
    assert [s for s in clock.sleeps if s > 0] == [5.0 + PACING_MARGIN] * 2


def _arrivals(api_server: ApiServer, path: str) -> list[float]:
    return [r.at for r in api_server.requests_to(path)]


def _gaps(times: list[float]) -> list[float]:
    return [round(b - a, 3) for a, b in itertools.pairwise(times)]


def test_pacing_is_global_across_sources(api_server: ApiServer) -> None:
    """Two GDELT sources polled at once share one pacer: at the server, their four requests
    arrive no closer than the rule (real time; a rule of 0.3 s, allowed on a local url)."""
    pacer = Pacer(time.monotonic, asyncio.sleep)
    ledger = MemoryQuotaLedger()
    settings = FetchSettings(allow_private=True, trust_env=False, per_host_spacing=0.0)
    first = config(api_server, "gdelt", source_id="gdelt-1", min_interval=0.3)
    second = config(api_server, "gdelt", source_id="gdelt-2", min_interval=0.3)

    async def scenario() -> None:
        async with Fetcher(settings) as fetcher:
            await asyncio.gather(
                *(
                    run_search(cfg, [("a", NATO), ("b", GAZA)], SINCE, NOW,
                               fetcher=fetcher, pacer=pacer, quota=ledger)
                    for cfg in (first, second)
                )
            )  # fmt: skip

    asyncio.run(scenario())
    arrivals = _arrivals(api_server, GDELT_PATH)
    assert len(arrivals) == 4
    assert min(_gaps(arrivals)) >= 0.3, _gaps(arrivals)


def test_each_api_keeps_its_rule_at_the_server_behind_a_shared_host(
    api_server: ApiServer,
) -> None:
    """Four APIs on one host, whose queue lets a request start every 0.25 s: GDELT's first
    request waits behind the three others, its next ones do not. As the server records
    arrivals, GDELT's are still no closer than its rule (issue 13 saw 3.00 s apart where GDELT
    asks for 5 s). Real time, a rule of 0.4 s.

    No margin here, so this sees the departures themselves kept apart; 20 ms is what a local
    server's arrival can differ from a departure (the margin covers a real network's)."""
    pacer = Pacer(time.monotonic, asyncio.sleep, margin=0.0)
    ledger = MemoryQuotaLedger()
    settings = FetchSettings(allow_private=True, trust_env=False, per_host_spacing=0.25)
    gdelt = config(api_server, "gdelt", min_interval=0.4)
    others = [config(api_server, api) for api in ("google_news", "newsapi", "guardian")]

    async def scenario() -> None:
        async with Fetcher(settings) as fetcher:
            await asyncio.gather(
                *(
                    run_search(cfg, [("a", NATO)], SINCE, NOW, fetcher=fetcher, pacer=pacer,
                               quota=ledger)
                    for cfg in others
                ),
                run_search(gdelt, [("a", NATO), ("b", GAZA), ("c", NATO)], SINCE, NOW,
                           fetcher=fetcher, pacer=pacer, quota=ledger),
            )  # fmt: skip

    asyncio.run(scenario())
    arrivals = _arrivals(api_server, GDELT_PATH)
    assert len(arrivals) == 3
    assert min(_gaps(arrivals)) >= 0.4 - 0.02, _gaps(arrivals)
    # The other APIs went first at the host, each on its own rule.
    assert all(len(api_server.requests_to(p)) == 1 for p in (GOOGLE_PATH, NEWSAPI_PATH))


def test_min_interval_below_the_rule_only_for_another_endpoint() -> None:
    """A source may pace slower than its API's rule; faster only at a url of its own."""
    assert SearchConfig("g", "gdelt", min_interval=8.0).spacing == 8.0
    assert SearchConfig("g", "gdelt").spacing == 5.0
    mirror = SearchConfig("g", "gdelt", base_url="https://gdelt.example.org/doc", min_interval=1)
    assert mirror.spacing == 1
    with pytest.raises(ValueError) as refused:
        SearchConfig("g", "gdelt", min_interval=2.0)
    assert str(refused.value) == (
        "search source 'g': min_interval 2 s is below GDELT's rule of one request every 5 s;"
        " only a source whose url points elsewhere (a mirror, a plan with its own endpoint)"
        " may go below it"
    )
    with pytest.raises(ValueError, match="min_interval must be a positive number of seconds"):
        SearchConfig("g", "newsapi", min_interval=0.0)


# --- Google News ------------------------------------------------------------------------------


def test_google_news_entries_publisher_and_when_window(api_server: ApiServer) -> None:
    """Google News RSS: <source> is the publisher, keys are link-based, q carries when:."""
    cfg = config(api_server, "google_news", language="en", country="gb")
    outcome = poll(cfg, [("canal-deals", "Panama AND (port OR ports) NOT Suez")])
    assert outcome.errors == []
    assert outcome.entries and outcome.entries[0].publisher == "Reuters"
    assert all(e.key.startswith("link:https://news.google.com/") for e in outcome.entries)
    (request,) = api_server.requests_to(GOOGLE_PATH)
    assert request.query["q"] == "panama (port OR ports) when:1h"
    assert (request.query["hl"], request.query["gl"], request.query["ceid"]) == (
        "en-GB",
        "GB",
        "GB:en",
    )


def test_google_news_error_page_is_a_clear_error(api_server: ApiServer) -> None:
    """An HTML answer (Google's throttling page) is named as not RSS, for the signal."""
    api_server.script(
        GOOGLE_PATH,
        Reply(
            200,
            b"<html><body>Our systems have detected unusual traffic</body></html>",
            {"Content-Type": "text/html"},
        ),
    )
    outcome = poll(config(api_server, "google_news"), [("x", NATO)])
    assert outcome.errors == [
        "Google News answer for signal 'x' is not RSS: not a feed: got an HTML page"
    ]


# --- NewsAPI ----------------------------------------------------------------------------------


def test_newsapi_entries_header_and_from(api_server: ApiServer) -> None:
    """NewsAPI: key in X-Api-Key (not the URL), from= 15 min before the last poll (NewsAPI
    indexes late), [Removed] items skipped."""
    outcome = poll(config(api_server, "newsapi", language="en"), [("nato-5pct", NATO)])
    assert outcome.errors == []
    assert [e.publisher for e in outcome.entries] == ["Reuters", "Politico Europe"]
    politico = outcome.entries[1]
    assert politico.summary == "Madrid says it can meet its capability targets on 2.1%."
    assert politico.published == datetime(2025, 6, 24, 9, 5, 12, tzinfo=UTC)
    assert outcome.entries[0].author == "Andrew Gray, Sabine Siebold"
    (request,) = api_server.requests_to(NEWSAPI_PATH)
    assert request.headers["x-api-key"] == api_server.newsapi_key
    assert "apiKey" not in request.query and api_server.newsapi_key not in str(request.query)
    assert request.query["from"] == "2025-06-25T13:45:00"
    assert request.query["language"] == "en" and request.query["sortBy"] == "publishedAt"
    assert request.query["q"].startswith("(nato OR alliance OR alliances) AND (")


def test_newsapi_invalid_key_is_named_and_stops(api_server: ApiServer) -> None:
    """A refused key gives NewsAPI's code and message once, and no further requests."""
    outcome = poll(config(api_server, "newsapi", key="wrong"), [("a", NATO), ("b", GAZA)])
    assert outcome.errors == [
        "NewsAPI: API key invalid (apiKeyInvalid): Your API key is invalid or incorrect. "
        "Check your key, or go to https://newsapi.org to create a free API key. (signal 'a')"
    ]
    assert outcome.status == 401 and outcome.requests == 1
    assert "wrong" not in " ".join(outcome.errors)


def test_newsapi_rate_limited_returns_retry_after(api_server: ApiServer) -> None:
    """rateLimited (429) stops the poll; Retry-After is handed back, not slept on."""
    api_server.script(
        NEWSAPI_PATH,
        ApiServer.reply("newsapi_error_rateLimited.json", 429, {"Retry-After": "3600"}),
    )
    clock = FakeMonotonic()
    outcome = poll(config(api_server, "newsapi"), [("a", NATO), ("b", GAZA)], clock=clock)
    assert outcome.status == 429 and outcome.retry_after == 3600.0 and outcome.requests == 1
    assert outcome.errors[0].startswith("NewsAPI: rate limited (rateLimited): You have made")
    assert 3600.0 not in clock.sleeps


def test_newsapi_parameter_invalid_fails_one_signal_only(api_server: ApiServer) -> None:
    """A 400 parameterInvalid is that signal's error; the next signal still runs."""
    api_server.script(NEWSAPI_PATH, ApiServer.reply("newsapi_error_parameterInvalid.json", 400))
    outcome = poll(config(api_server, "newsapi"), [("a", NATO), ("b", GAZA)])
    assert len(outcome.errors) == 1
    assert outcome.errors[0].startswith("NewsAPI: parameter invalid (parameterInvalid): You are")
    assert outcome.requests == 2 and len(outcome.entries) == 2


def test_newsapi_empty_results(api_server: ApiServer) -> None:
    """totalResults 0 is an empty poll, not an error."""
    api_server.results[NEWSAPI_PATH] = ApiServer.reply("newsapi_empty.json").body
    outcome = poll(config(api_server, "newsapi"), [("a", NATO)])
    assert outcome.entries == [] and outcome.errors == []


def test_missing_key_refuses_without_a_request(api_server: ApiServer) -> None:
    """No key for an API that needs one: one error line, nothing sent."""
    outcome = poll(config(api_server, "newsapi", key=None), [("a", NATO)])
    assert outcome.errors == [
        "NewsAPI: no API key for source 'newsapi-search' (set SIGNALWATCH_NEWSAPI_KEY)"
    ]
    assert outcome.requests == 0 and api_server.requests == []


# --- Guardian ---------------------------------------------------------------------------------


def test_guardian_entries_and_parameters(api_server: ApiServer) -> None:
    """Guardian: trailText as plain text, "The Guardian" as publisher, from-date the poll's day."""
    outcome = poll(config(api_server, "guardian"), [("nato-5pct", NATO)], since=None)
    assert outcome.errors == []
    first, second = outcome.entries
    assert first.title == "Nato leaders agree to raise defence spending target to 5% of GDP"
    assert (
        first.summary
        == "Allies sign up to new goal at The Hague summit, with Spain insisting it will not meet it"
    )
    assert second.summary == "This blog is now closed. Rutte's text to Trump leaked"
    assert first.publisher == "The Guardian"
    assert first.published == datetime(2025, 6, 25, 14, 52, 9, tzinfo=UTC)
    (request,) = api_server.requests_to(GUARDIAN_PATH)
    q = request.query
    assert q["api-key"] == api_server.guardian_key
    assert q["from-date"] == "2025-06-24"  # backfill 24 h before NOW
    assert (q["show-fields"], q["order-by"]) == ("trailText", "newest")
    assert q["q"] == '(nato OR alliance) AND "defence spending"'


@pytest.mark.parametrize(
    ("reply", "error", "status"),
    [
        (
            ApiServer.reply("guardian_401.json", 401),
            "Guardian: API key refused (HTTP 401): Invalid authentication credentials (signal 'a')",
            401,
        ),
        (
            ApiServer.reply("guardian_429.json", 429),
            "Guardian: rate limited (HTTP 429): API rate limit exceeded (signal 'a')",
            429,
        ),
    ],
)
def test_guardian_gateway_errors_stop_the_poll(
    api_server: ApiServer, reply: Reply, error: str, status: int
) -> None:
    """Key refused or rate limited: the Guardian's message, and no more requests this poll."""
    api_server.script(GUARDIAN_PATH, reply)
    outcome = poll(config(api_server, "guardian"), [("a", NATO), ("b", GAZA)])
    assert outcome.errors == [error]
    assert outcome.status == status and outcome.requests == 1


def test_guardian_key_never_appears_in_errors(api_server: ApiServer) -> None:
    """A failing request's error line carries no api-key value."""
    api_server.script(
        GUARDIAN_PATH,
        Reply(500, b"oops"),
        Reply(500, b"oops"),
        Reply(500, b"oops"),
        Reply(500, b"oops"),
    )
    outcome = poll(config(api_server, "guardian"), [("a", NATO)])
    assert outcome.errors == ["Guardian: HTTP 500 Internal Server Error: oops (signal 'a')"]
    assert api_server.guardian_key not in " ".join(outcome.errors)


def test_guardian_bad_parameter_in_the_envelope(api_server: ApiServer) -> None:
    """A 400 whose envelope says status error gives the Guardian's message."""
    api_server.script(GUARDIAN_PATH, ApiServer.reply("guardian_400.json", 400))
    outcome = poll(config(api_server, "guardian"), [("a", NATO)])
    assert outcome.errors == [
        "Guardian: HTTP 400 (HTTP 400): Invalid date format for from-date (signal 'a')"
    ]


# --- quota ------------------------------------------------------------------------------------


def test_quota_stops_requests_without_an_error(api_server: ApiServer) -> None:
    """With one request left today, one signal is searched, the rest wait for midnight UTC."""
    ledger = MemoryQuotaLedger()
    asyncio.run(ledger.add_calls("newsapi", NOW.date(), 99))
    outcome = poll(
        config(api_server, "newsapi"), [("a", NATO), ("b", GAZA), ("c", NATO)], ledger=ledger
    )
    assert outcome.requests == 1 and outcome.errors == []
    assert outcome.quota_exhausted
    assert outcome.next_quota_reset == datetime(2025, 6, 26, tzinfo=UTC)
    assert asyncio.run(ledger.calls_on("newsapi", NOW.date())) == 100
    assert asyncio.run(ledger.calls_on("newsapi", date(2025, 6, 26))) == 0


def test_configured_quota_overrides_the_free_tier(api_server: ApiServer) -> None:
    """daily_quota=2: the third signal is not searched."""
    outcome = poll(
        config(api_server, "guardian", daily_quota=2), [("a", NATO), ("b", GAZA), ("c", NATO)]
    )
    assert outcome.requests == 2 and outcome.quota_exhausted


def test_min_interval_for_quota() -> None:
    """Polls are planned no closer than the quota pays for."""
    assert min_interval_for_quota(5, 100) == timedelta(hours=1, minutes=12)
    assert min_interval_for_quota(13, 500) == timedelta(seconds=2247)
    # A quota too small for one round (5 for 13 signals) is spent once a day, not every 2.6 days.
    assert min_interval_for_quota(13, 5) == timedelta(days=1)
    with pytest.raises(ValueError, match="1 or more"):
        min_interval_for_quota(0, 100)


# --- windows per signal, retries, pauses and full pages ----------------------------------------


def test_only_signals_whose_request_went_through_count_as_searched(
    api_server: ApiServer,
) -> None:
    """A refused query leaves its signal out of `searched`; the others are searched to now."""
    api_server.script(GDELT_PATH, ApiServer.reply("gdelt_bad_query.html"))
    outcome = poll(config(api_server, "gdelt"), [("bad", NATO), ("good", GAZA)])
    assert outcome.searched == {"good": NOW}
    quota_stopped = poll(config(api_server, "guardian", daily_quota=1), [("a", NATO), ("b", GAZA)])
    assert quota_stopped.searched == {"a": NOW} and quota_stopped.quota_exhausted


def test_each_signal_is_searched_from_its_own_window(api_server: ApiServer) -> None:
    """since_by_signal starts each signal's window; a signal missing from it uses `since`."""
    poll(
        config(api_server, "gdelt"),
        [("behind", NATO), ("current", GAZA)],
        since_by_signal={"behind": NOW - timedelta(hours=6)},
    )
    starts = [r.query["startdatetime"] for r in api_server.requests_to(GDELT_PATH)]
    assert starts == ["20250625084500", "20250625134500"]  # each less GDELT's 15-minute batch


def test_retries_are_paced_and_counted_like_any_request(api_server: ApiServer) -> None:
    """Two 503s then an answer: three GDELT requests, each 5 s apart, three counted."""
    api_server.script(GDELT_PATH, Reply(503, b"busy"), Reply(503, b"busy"))
    clock = FakeMonotonic()
    ledger = MemoryQuotaLedger()
    outcome = poll(config(api_server, "gdelt"), [("a", NATO)], clock=clock, ledger=ledger)
    assert outcome.errors == [] and outcome.searched == {"a": NOW}
    assert len(api_server.requests_to(GDELT_PATH)) == 3 and outcome.requests == 3
    assert [s for s in clock.sleeps if s > 0] == [5.0 + PACING_MARGIN] * 2
    assert asyncio.run(ledger.calls_on("gdelt", NOW.date())) == 3


def test_a_long_pause_stops_the_poll_instead_of_sleeping(api_server: ApiServer) -> None:
    """After another source's 429 asked for an hour, no request goes out and no time passes:
    the poll says how long until the API may be asked again."""
    clock = FakeMonotonic()
    pacer = Pacer(clock, clock.sleep)
    asyncio.run(pacer.hold("newsapi", 3600))
    outcome = poll(config(api_server, "newsapi"), [("a", NATO)], clock=clock, pacer=pacer)
    assert outcome.requests == 0 and outcome.searched == {} and outcome.errors == []
    assert outcome.retry_in == 3600.0 and clock.sleeps == []
    assert api_server.requests_to(NEWSAPI_PATH) == []


# --- paging through full answers ---------------------------------------------------------------

JSON = {"Content-Type": "application/json"}
PAGE_TOP = datetime(2025, 6, 25, 14, 59, tzinfo=UTC)


def gdelt_page(count: int, newest: datetime, first: int, step: int = 10) -> bytes:
    """A GDELT artlist body of `count` articles numbered from `first`, `step` s apart, newest
    first (as sort=datedesc gives them)."""
    articles = [
        {
            "url": f"https://example.com/{first + n}",
            "title": f"Story number {first + n}",
            "seendate": f"{newest - timedelta(seconds=n * step):%Y%m%dT%H%M%SZ}",
            "domain": "example.com",
        }
        for n in range(count)
    ]
    return json.dumps({"articles": articles}).encode()


def newsapi_page(count: int, total: int, first: int) -> Reply:
    """A NewsAPI /v2/everything answer of `count` articles of `total`, numbered from `first`."""
    articles = [
        {
            "source": {"id": None, "name": "Example"},
            "author": None,
            "title": f"Story number {first + n}",
            "description": "",
            "url": f"https://example.com/{first + n}",
            "publishedAt": "2025-06-25T14:30:00Z",
        }
        for n in range(count)
    ]
    body = {"status": "ok", "totalResults": total, "articles": articles}
    return Reply(200, json.dumps(body).encode(), JSON)


def guardian_page(count: int, current: int, pages: int) -> Reply:
    """A Guardian /search answer: page `current` of `pages`, `count` results of 50 a page."""
    first = (current - 1) * 50
    results = [
        {
            "webTitle": f"Story number {first + n}",
            "webUrl": f"https://www.theguardian.com/world/{first + n}",
            "webPublicationDate": "2025-06-25T14:30:00Z",
        }
        for n in range(count)
    ]
    response = {"status": "ok", "currentPage": current, "pages": pages, "results": results}
    return Reply(200, json.dumps({"response": response}).encode(), JSON)


def test_gdelt_pages_back_from_the_oldest_article_of_a_full_answer(
    api_server: ApiServer,
) -> None:
    """A full page, then the same window ending at its oldest seendate: both pages' entries,
    no warning, the signal searched to now."""
    api_server.script(
        GDELT_PATH,
        Reply(200, gdelt_page(250, PAGE_TOP, 0), JSON),
        Reply(200, gdelt_page(3, PAGE_TOP - timedelta(hours=1), 250), JSON),
    )
    outcome = poll(config(api_server, "gdelt"), [("a", NATO)])
    assert outcome.errors == [] and outcome.warnings == []
    assert len(outcome.entries) == 253 and outcome.searched == {"a": NOW}
    first, second = api_server.requests_to(GDELT_PATH)
    assert first.query["enddatetime"] == "20250625150000"
    assert second.query["enddatetime"] == "20250625141730"  # 14:59:00 less 249 × 10 s
    assert {k: v for k, v in second.query.items() if k != "enddatetime"} == {
        k: v for k, v in first.query.items() if k != "enddatetime"
    }


def test_each_page_is_paced_and_counted(api_server: ApiServer) -> None:
    """Two pages for one signal: two requests in the ledger, 5 s apart on the fake clock."""
    api_server.script(
        GDELT_PATH,
        Reply(200, gdelt_page(250, PAGE_TOP, 0), JSON),
        Reply(200, gdelt_page(3, PAGE_TOP - timedelta(hours=1), 250), JSON),
    )
    clock = FakeMonotonic()
    ledger = MemoryQuotaLedger()
    outcome = poll(config(api_server, "gdelt"), [("a", NATO)], clock=clock, ledger=ledger)
    assert outcome.requests == 2 and asyncio.run(ledger.calls_on("gdelt", NOW.date())) == 2
    assert [s for s in clock.sleeps if s > 0] == [5.0 + PACING_MARGIN]


def test_gdelt_stops_paging_after_max_pages_with_the_warning(api_server: ApiServer) -> None:
    """Every page full: MAX_PAGES requests, each ending further back, then the warning."""
    api_server.script(
        GDELT_PATH,
        *(
            Reply(200, gdelt_page(250, PAGE_TOP - timedelta(hours=page), page * 250), JSON)
            for page in range(MAX_PAGES + 1)
        ),
    )
    outcome = poll(config(api_server, "gdelt"), [("a", NATO)])
    requests = api_server.requests_to(GDELT_PATH)
    assert len(requests) == outcome.requests == MAX_PAGES == 5
    ends = [r.query["enddatetime"] for r in requests]
    assert ends == sorted(ends, reverse=True) and len(set(ends)) == MAX_PAGES
    assert len(outcome.entries) == 1250 and outcome.searched == {"a": NOW}
    assert outcome.warnings == [
        "GDELT: 5 pages (1250 items) came back, the most a poll reads, the last still full:"
        " items older than the oldest of them in this window may have been cut; give the"
        " signal a narrower `search:` query or poll this source more often (signal 'a')"
    ]


def test_a_full_page_is_a_warning_naming_the_signal(api_server: ApiServer) -> None:
    """250 GDELT articles all seen at one moment: paged once, but a page ending there gives the
    same batch back, so paging stops (no progress) with a warning, and the signal is searched."""
    batch = datetime(2025, 6, 25, 14, 30, tzinfo=UTC)
    api_server.results[GDELT_PATH] = gdelt_page(250, batch, 0, step=0)
    outcome = poll(config(api_server, "gdelt"), [("a", NATO)])
    assert len(outcome.entries) == 250 and outcome.errors == []
    assert outcome.searched == {"a": NOW}
    ends = [r.query["enddatetime"] for r in api_server.requests_to(GDELT_PATH)]
    assert ends == ["20250625150000", "20250625143000"]
    (warning,) = outcome.warnings
    assert warning == (
        "GDELT: a full page (250 items) whose oldest was seen at 2025-06-25 14:30 UTC, where"
        " the request ended, cannot be paged past: items older than the oldest of them in this"
        " window may have been cut; give the signal a narrower `search:` query (signal 'a')"
    )


def test_a_failed_later_page_keeps_entries_but_not_the_window(api_server: ApiServer) -> None:
    """Page 2 refused: an error line, page 1's entries kept, the signal not searched (its
    window is asked again next poll), and the next signal still searched."""
    api_server.script(
        GDELT_PATH, Reply(200, gdelt_page(250, PAGE_TOP, 0), JSON), Reply(400, b"bad")
    )
    outcome = poll(config(api_server, "gdelt"), [("a", NATO), ("b", GAZA)])
    assert outcome.errors == ["GDELT: HTTP 400 Bad Request: bad (signal 'a')"]
    assert len(outcome.entries) == 252 and outcome.searched == {"b": NOW}
    assert outcome.requests == 3


class PausedAfterEachSlot(Pacer):
    """A Pacer under which every slot taken is followed by an hour's hold, as if another
    source had been answered 429 with Retry-After: 3600 meanwhile."""

    async def wait(self, api: str, spacing: float, *, max_wait: float = math.inf) -> float:
        """Wait as usual, then hold the API for an hour."""
        waited = await super().wait(api, spacing, max_wait=max_wait)
        await self.hold(api, 3600)
        return waited


def test_a_long_pause_between_pages_stops_without_searching(api_server: ApiServer) -> None:
    """Page 2's slot is an hour off: the poll stops with retry_in, page 1's entries kept, the
    signal not searched, and nothing slept."""
    api_server.script(GDELT_PATH, Reply(200, gdelt_page(250, PAGE_TOP, 0), JSON))
    clock = FakeMonotonic()
    pacer = PausedAfterEachSlot(clock, clock.sleep)
    outcome = poll(
        config(api_server, "gdelt"), [("a", NATO), ("b", GAZA)], clock=clock, pacer=pacer
    )
    assert outcome.requests == 1 and len(outcome.entries) == 250
    assert outcome.searched == {} and outcome.errors == [] and outcome.retry_in == 3600.0
    assert clock.sleeps == []


def test_google_news_full_page_still_warns(api_server: ApiServer) -> None:
    """Google News cannot be paged: 100 items (its most) is the one-page warning."""
    items = "".join(
        f"<item><title>Story {n}</title><link>https://news.google.com/rss/articles/{n}</link>"
        f"<pubDate>Wed, 25 Jun 2025 14:00:00 GMT</pubDate></item>"
        for n in range(100)
    )
    api_server.results[GOOGLE_PATH] = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'
    ).encode()
    outcome = poll(config(api_server, "google_news"), [("a", NATO)])
    assert outcome.requests == 1 and len(outcome.entries) == 100
    (warning,) = outcome.warnings
    assert warning.startswith("Google News: a full page (100 items) came back: items older")


def test_newsapi_asks_for_page_two_while_total_results_say_more(api_server: ApiServer) -> None:
    """totalResults 150: page=2 of the same request, key in the header; 150 entries."""
    api_server.script(NEWSAPI_PATH, newsapi_page(100, 150, 0), newsapi_page(50, 150, 100))
    outcome = poll(config(api_server, "newsapi"), [("a", NATO)])
    assert outcome.errors == [] and outcome.warnings == []
    assert len(outcome.entries) == 150 and outcome.searched == {"a": NOW}
    first, second = api_server.requests_to(NEWSAPI_PATH)
    assert "page" not in first.query and second.query["page"] == "2"
    assert second.query == {**first.query, "page": "2"}
    assert second.headers["x-api-key"] == api_server.newsapi_key


def test_newsapi_plan_limit_on_page_two_is_a_warning(api_server: ApiServer) -> None:
    """maximumResultsReached (426) on page 2: a warning, page 1's entries kept, and the signal
    searched, since no later poll on that plan could read past the first 100 either."""
    api_server.script(
        NEWSAPI_PATH,
        newsapi_page(100, 150, 0),
        ApiServer.reply("newsapi_error_maximumResultsReached.json", 426),
    )
    outcome = poll(config(api_server, "newsapi"), [("a", NATO), ("b", GAZA)])
    assert outcome.errors == [] and outcome.status == 200
    assert outcome.searched == {"a": NOW, "b": NOW} and len(outcome.entries) == 102
    assert outcome.warnings == [
        "NewsAPI: this plan serves only the first 100 results of a search"
        " (maximumResultsReached): items older than the oldest of them in this window were"
        " cut; give the signal a narrower `search:` query, poll this source more often, or"
        " use a paid NewsAPI plan (signal 'a')"
    ]
    assert outcome.requests == 3


def test_guardian_asks_for_page_two_while_pages_say_more(api_server: ApiServer) -> None:
    """currentPage 1 of 2: page=2 of the same request (api-key kept); both pages' entries."""
    api_server.script(GUARDIAN_PATH, guardian_page(50, 1, 2), guardian_page(7, 2, 2))
    outcome = poll(config(api_server, "guardian"), [("a", NATO)])
    assert outcome.errors == [] and outcome.warnings == []
    assert len(outcome.entries) == 57 and outcome.searched == {"a": NOW}
    first, second = api_server.requests_to(GUARDIAN_PATH)
    assert second.query == {**first.query, "page": "2"}
    assert second.query["api-key"] == api_server.guardian_key


def test_quota_running_out_between_pages_stops_the_poll(api_server: ApiServer) -> None:
    """One request left: page 1 is read and kept, page 2 and the next signal wait for the
    quota; the signal is not searched, so its whole window is asked again."""
    api_server.script(GUARDIAN_PATH, guardian_page(50, 1, 2))
    outcome = poll(config(api_server, "guardian", daily_quota=1), [("a", NATO), ("b", GAZA)])
    assert outcome.requests == 1 and len(api_server.requests_to(GUARDIAN_PATH)) == 1
    assert outcome.quota_exhausted and outcome.errors == []
    assert len(outcome.entries) == 50 and outcome.searched == {}


# --- translation failures, config, keys -------------------------------------------------------


def test_untranslatable_signal_is_an_error_line_and_others_go_on(api_server: ApiServer) -> None:
    """A query with nothing an API can say is reported; the other signals are searched."""
    outcome = poll(config(api_server, "gdelt"), [("prefixes", "sign* NEAR/5 seal*"), ("ok", NATO)])
    assert outcome.requests == 1
    assert outcome.errors == [
        "GDELT: signal 'prefixes': GDELT cannot search for this query: no part of it can be said "
        "in its syntax (NEAR/5 (searched as AND); prefix sign* (more than 12 words start so; no "
        "wildcards in GDELT); prefix seal* (more than 12 words start so; no wildcards in GDELT))"
    ]


def test_search_config_defaults_and_validation() -> None:
    """The real endpoint by default; bad types, URLs and quotas are refused with the source id."""
    cfg = SearchConfig("g", "guardian", key="SECRETKEY")
    assert cfg.base_url == "https://content.guardianapis.com/search"
    assert cfg.quota == 500 and cfg.spacing == 1.0 and "SECRETKEY" not in repr(cfg)
    assert SearchConfig("d", "gdelt").quota is None
    with pytest.raises(ValueError, match="search source 'x': unknown type 'bing'"):
        SearchConfig("x", "bing")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="daily_quota must be 1 or more"):
        SearchConfig("x", "newsapi", daily_quota=0)
    with pytest.raises(ValueError, match="without a query"):
        SearchConfig("x", "gdelt", base_url="https://h/doc?query=x")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("https://h/search?api-key=SECRET1", "'https://h/search?…'", id="api-key"),
        pytest.param("https://h/search?q=x&code=SECRET1", "'https://h/search?…'", id="any-name"),
        pytest.param("ftp://h/search;key=SECRET1", "'ftp://h/search;key=***'", id="not-http"),
    ],
)
def test_search_config_url_error_never_shows_a_key(url: str, shown: str) -> None:
    """The refused url is shown without its query (a key may hide under any name), to key_env."""
    with pytest.raises(ValueError) as caught:
        SearchConfig("g", "guardian", base_url=url)
    message = str(caught.value)
    assert "SECRET1" not in message
    assert message.endswith(
        f"(an API key goes in the environment variable named by key_env), got {shown}"
    )


def test_resolve_key_reads_the_environment() -> None:
    """Keys come from the default or configured variable; a missing one disables the source."""
    env = {"SIGNALWATCH_NEWSAPI_KEY": "abc", "MY_GUARDIAN": "def"}
    assert resolve_key("n", "newsapi", env) == ("abc", None)
    assert resolve_key("g", "guardian", env, "MY_GUARDIAN") == ("def", None)
    assert resolve_key("d", "gdelt", env) == (None, None)
    assert resolve_key("g", "guardian", env) == (
        None,
        "search source 'g' (Guardian) is disabled: set SIGNALWATCH_GUARDIAN_KEY to its API key",
    )


def test_pacer_reserves_slots_for_concurrent_callers() -> None:
    """Five concurrent waits on one API queue at 1 s slots; another API is not held."""
    clock = FakeMonotonic(advance=False)  # all five reserve before any of them has slept
    pacer = Pacer(clock, clock.sleep, margin=0.0)
    starts: list[float] = []

    async def one(api: str) -> None:
        await pacer.wait(api, 1.0)
        starts.append(clock.now - 1000.0)

    async def scenario() -> None:
        await asyncio.gather(*(one("guardian") for _ in range(5)), one("gdelt"))

    asyncio.run(scenario())
    assert sorted(clock.sleeps) == [1.0, 2.0, 3.0, 4.0]
    assert starts.count(0.0) == 6  # the clock stood still; gdelt's wait did not sleep


def test_pacer_hold_pushes_the_next_slot() -> None:
    """After a 429 the runner holds the API: the next wait sleeps the remainder."""
    clock = FakeMonotonic()
    pacer = Pacer(clock, clock.sleep)
    asyncio.run(pacer.hold("gdelt", 30.0))
    asyncio.run(pacer.wait("gdelt", 5.0))
    assert clock.sleeps == [30.0]


def test_failed_fetch_keeps_body_for_describe() -> None:
    """describe_failure reads the body the fetcher kept (unit check of the adapters' input)."""
    from bot.sources.search import gdelt, newsapi

    failed = FetchFailed(
        "HTTP 429 Too Many Requests",
        429,
        None,
        True,
        body=b"Please limit requests to one every 5 seconds",
    )
    assert (
        gdelt.describe_failure(failed)
        == "GDELT: rate limited (HTTP 429): Please limit requests to one every 5 seconds"
    )
    plain = FetchFailed("HTTP 502 Bad Gateway", 502, None, True, body=b"<html><h1>502</h1></html>")
    assert newsapi.describe_failure(plain) == "NewsAPI: HTTP 502 Bad Gateway: 502"


def test_an_error_body_nested_too_deep_is_described_not_raised() -> None:
    """A 4xx body of 100,000 nested arrays: NewsAPI and the Guardian still give one line."""
    from bot.sources.search import guardian, newsapi

    deep = FetchFailed("HTTP 400 Bad Request", 400, None, False, body=b"[" * 100_000)
    assert newsapi.describe_failure(deep).startswith("NewsAPI: HTTP 400 Bad Request")
    assert guardian.describe_failure(deep).startswith("Guardian: HTTP 400 Bad Request")


def test_no_answer_stops_the_poll_with_one_error(api_server: ApiServer) -> None:
    """Nothing listens (offline, DNS, refused): one request and one error, not one per signal."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = config(api_server, "gdelt", base_url=f"http://127.0.0.1:{port}/api/v2/doc/doc")
    outcome = poll(cfg, [("a", NATO), ("b", GAZA), ("c", NATO)])
    # One request (with its own retries: refused is transient), none for the next signals.
    assert outcome.requests == 4
    assert outcome.errors == ["GDELT: connection refused (signal 'a')"]
    assert outcome.searched == {}


def test_the_watchlist_refuses_min_interval_below_the_rule_naming_source_and_rule() -> None:
    """`min_interval` in a search source: above the rule, or below it at a url of one's own;
    below it at the API's own endpoint, one line naming the source and the rule."""
    from bot.errors import WatchlistError
    from bot.watchlist import parse_watchlist

    head = "signals: [{id: a, title: A, query: x}]\nsources:\n"
    ok = parse_watchlist(
        head
        + "  - {id: slow, type: gdelt, min_interval: 8s}\n"
        + "  - {id: mirror, type: gdelt, url: 'https://gdelt.example.org/doc', min_interval: 1}\n"
    )
    assert [s.min_interval for s in ok.sources] == [8.0, 1.0]
    with pytest.raises(WatchlistError) as refused:
        parse_watchlist(head + "  - {id: fast, type: gdelt, min_interval: 2}\n", "w.yaml")
    assert refused.value.problems == [
        "w.yaml:3: source 'fast': min_interval 2 s is below GDELT's rule of one request every"
        " 5 s; only a source whose url points elsewhere (a mirror, a plan with its own"
        " endpoint) may go below it"
    ]
