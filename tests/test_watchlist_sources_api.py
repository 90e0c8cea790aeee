"""News-API sources in the watchlist: their fields, defaults and every problem's wording and line;
`search:` queries; digest routes beside plain ones; and the editor keeping all of it."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from bot.errors import QueryError, WatchlistError
from bot.matching import parse_query
from bot.watchlist import (
    SignalSpec,
    SourceSpec,
    WatchlistEditor,
    parse_watchlist,
    search_query,
)

SIGNALS = "signals: [{id: a, title: A, query: x}]\n"
KEY_HINT = (
    "must be the NAME of an environment variable holding the API key, not the key itself"
    " (letters, digits and underscores; keep secrets out of the watchlist)"
)
RSS_ONLY = "only for news-API sources (type gdelt, google_news, newsapi or guardian), not for rss"


def problems(text: str) -> list[str]:
    """The problems parse_watchlist reports for `text` (dedented), failing if there are none."""
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(dedent(text), "watchlist.yaml")
    return caught.value.problems


# --- valid search sources ---


def test_search_sources_without_url_get_their_api_endpoint() -> None:
    """Each API type without `url` searches the API's real endpoint; a given `url` wins."""
    watchlist = parse_watchlist(
        SIGNALS
        + dedent(
            """\
            sources:
              - {id: gdelt, type: gdelt}
              - {id: google, type: google_news}
              - {id: newsapi, type: newsapi}
              - {id: guardian, type: guardian}
              - {id: local, type: guardian, url: "http://127.0.0.1:8080/search"}
            """
        )
    )
    assert {s.id: s.url for s in watchlist.sources} == {
        "gdelt": "https://api.gdeltproject.org/api/v2/doc/doc",
        "google": "https://news.google.com/rss/search",
        "newsapi": "https://newsapi.org/v2/everything",
        "guardian": "https://content.guardianapis.com/search",
        "local": "http://127.0.0.1:8080/search",
    }
    assert all(s.is_search for s in watchlist.sources)


def test_api_key_env_defaults_per_api_and_key_env_overrides_it() -> None:
    """NewsAPI and the Guardian read their default variable; `key_env` names another; the
    keyless APIs and feeds have none."""
    watchlist = parse_watchlist(
        SIGNALS
        + dedent(
            """\
            sources:
              - {id: newsapi, type: newsapi}
              - {id: guardian, type: guardian}
              - {id: guardian-2, type: guardian, key_env: OTHER_GUARDIAN_KEY}
              - {id: gdelt, type: gdelt}
              - {id: google, type: google_news}
              - {id: feed, url: "https://example.com/feed"}
            """
        )
    )
    assert {s.id: s.api_key_env for s in watchlist.sources} == {
        "newsapi": "SIGNALWATCH_NEWSAPI_KEY",
        "guardian": "SIGNALWATCH_GUARDIAN_KEY",
        "guardian-2": "OTHER_GUARDIAN_KEY",
        "gdelt": None,
        "google": None,
        "feed": None,
    }
    feed = watchlist.source("feed")
    assert (feed.type, feed.is_search) == ("rss", False)


def test_search_only_fields_are_kept() -> None:
    """`language`, `country` and `daily_quota` are read as written."""
    source = parse_watchlist(
        SIGNALS
        + "sources:\n  - {id: n, type: newsapi, language: en, country: gb, daily_quota: 50}\n"
    ).source("n")
    assert (source.language, source.country, source.daily_quota) == ("en", "gb", 50)


def test_search_query_is_the_search_field_else_the_query() -> None:
    """A signal's `search:` is what APIs are sent; without it, its `query`."""
    watchlist = parse_watchlist(
        dedent(
            """\
            signals:
              - id: truce
                title: Truce
                query: Ukrain* NEAR/10 truce*
                search: Ukraine AND (truce OR ceasefire)
              - {id: nato, title: NATO, query: NATO}
            """
        )
    )
    assert search_query(watchlist.signal("truce")) == "Ukraine AND (truce OR ceasefire)"
    assert search_query(watchlist.signal("nato")) == "NATO"


# --- problems ---


def test_rss_source_without_url_is_told_url_is_required() -> None:
    """A feed has no endpoint to default to: `url` is required, by type or by default."""
    assert problems(
        SIGNALS
        + """\
sources:
  - id: feed
    type: rss
  - id: other
    interval: 10m
"""
    ) == [
        "watchlist.yaml:3: source 'feed': url: is required",
        "watchlist.yaml:5: source 'other': url: is required",
    ]


def test_search_fields_on_an_rss_source_are_refused_by_name() -> None:
    """`key_env`, `language`, `country`, `daily_quota` on a feed: one line naming each given."""
    assert problems(
        SIGNALS
        + """\
sources:
  - id: feed
    url: https://example.com/feed
    language: en
    key_env: FEED_KEY
    daily_quota: 3
  - id: other
    type: rss
    url: https://example.com/other
    country: us
"""
    ) == [
        f"watchlist.yaml:3: source 'feed': key_env, language, daily_quota: {RSS_ONLY}",
        f"watchlist.yaml:8: source 'other': country: {RSS_ONLY}",
    ]


@pytest.mark.parametrize(
    "pasted",
    [
        pytest.param("0b1e6c2f9a4d4e7b8c3a5f6e7d8c9b0a", id="newsapi-hex-key"),
        pytest.param("7c1e2f3a-1234-4bcd-9def-0123456789ab", id="guardian-uuid-key"),
        pytest.param("'https://newsapi.org/v2/everything?apiKey=abc'", id="url-with-key"),
        pytest.param("'my key'", id="spaces"),
    ],
)
def test_key_env_holding_a_key_is_refused(pasted: str) -> None:
    """A pasted key (or anything not a variable name) in `key_env` is refused on its line."""
    assert problems(
        SIGNALS
        + f"""\
sources:
  - id: news
    type: newsapi
    key_env: {pasted}
"""
    ) == [f"watchlist.yaml:5: source 'news': key_env: {KEY_HINT}"]


def test_key_env_holding_a_hex_key_starting_with_a_letter_is_refused() -> None:
    """A NewsAPI key starting with a-f pasted into `key_env` is refused like any other key."""
    assert problems(
        SIGNALS
        + "sources:\n  - {id: news, type: newsapi, key_env: c0ffee0123456789abcdef0123456789}\n"
    ) == [f"watchlist.yaml:3: source 'news': key_env: {KEY_HINT}"]


def test_key_env_on_keyless_apis_is_refused() -> None:
    """GDELT and Google News need no key: `key_env` there is a mistake, said on the item."""
    assert problems(
        SIGNALS
        + """\
sources:
  - id: gdelt
    type: gdelt
    key_env: GDELT_KEY
  - id: google
    type: google_news
    key_env: GOOGLE_KEY
"""
    ) == [
        "watchlist.yaml:3: source 'gdelt': key_env: gdelt needs no API key",
        "watchlist.yaml:6: source 'google': key_env: google_news needs no API key",
    ]


URL_QUERY_HINT = (
    "must be the API's endpoint without a query (?…): put an API key in an environment"
    " variable and name it in key_env (keep secrets out of the watchlist)"
)


@pytest.mark.parametrize(
    ("api", "url"),
    [
        pytest.param("guardian", "https://content.guardianapis.com/search?api-key=SECRET1", id="g"),
        pytest.param("newsapi", "https://newsapi.org/v2/everything?apiKey=SECRET1", id="newsapi"),
        pytest.param("gdelt", "https://api.gdeltproject.org/api/v2/doc/doc?x=SECRET1", id="gdelt"),
        pytest.param("google_news", "https://news.google.com/rss/search?", id="google-bare-?"),
    ],
)
def test_a_query_on_a_search_source_url_is_refused_without_echoing_it(api: str, url: str) -> None:
    """A key pasted into a news API's `url` is refused on its line, pointing to key_env; the
    message does not repeat the URL, so the key reaches no log."""
    found = problems(
        SIGNALS
        + f"""\
sources:
  - id: news
    type: {api}
    url: {url}
"""
    )
    assert found == [f"watchlist.yaml:5: source 'news': url: {URL_QUERY_HINT}"]
    assert "SECRET1" not in " ".join(found)


def test_a_feed_url_may_carry_a_query() -> None:
    """RSS feeds are often addressed with a query (?format=rss): that stays allowed."""
    watchlist = parse_watchlist(
        SIGNALS + "sources:\n  - {id: feed, url: 'https://example.com/news?format=rss'}\n"
    )
    assert watchlist.sources[0].url == "https://example.com/news?format=rss"


@pytest.mark.parametrize(
    ("quota", "message"),
    [
        ("0", "must be at least 1"),
        ("-5", "must be at least 1"),
        ("'100'", "must be a whole number (got '100')"),
        ("1.5", "must be a whole number (got 1.5)"),
    ],
)
def test_daily_quota_must_be_a_positive_whole_number(quota: str, message: str) -> None:
    """`daily_quota: 0` (or negative, text, fractions) is refused on the quota's line."""
    assert problems(
        SIGNALS
        + f"""\
sources:
  - id: news
    type: newsapi
    daily_quota: {quota}
"""
    ) == [f"watchlist.yaml:5: source 'news': daily_quota: {message}"]


def test_unknown_type_lists_the_known_ones() -> None:
    """A type that is neither a feed nor a known API names the allowed types."""
    assert (
        "watchlist.yaml:5: source 'x': type: must be 'rss', 'gdelt', 'google_news', 'newsapi'"
        " or 'guardian' (got 'twitter')"
    ) in problems(
        SIGNALS
        + """\
sources:
  - id: x
    url: https://example.com/x
    type: twitter
"""
    )


def test_search_query_that_does_not_parse_is_reported_on_its_line() -> None:
    """A bad `search:` is reported like a bad `query:`: its line, the parser's own words."""
    bad = "NATO AND (5%"
    with pytest.raises(QueryError) as parser_error:
        parse_query(bad)
    assert problems(
        f"""\
        signals:
          - id: nato
            title: NATO
            query: NATO
            search: {bad}
          - id: blank
            title: Blank
            query: x
            search: "  "
        """
    ) == [
        f"watchlist.yaml:5: signal 'nato': search: {parser_error.value}",
        "watchlist.yaml:9: signal 'blank': search: must not be empty",
    ]


# --- digest routes ---


def test_a_digest_route_may_share_a_plain_routes_channel() -> None:
    """One signal to one channel both one by one and as a digest (or two digests) is fine."""
    watchlist = parse_watchlist(
        SIGNALS
        + """\
routes:
  - {signal: a, channel: 1}
  - {signal: a, channel: 1, digest: hourly}
  - {signal: a, channel: 1, digest: daily}
  - {signal: a, channel: 1, digest: daily, at: "18:00"}
"""
    )
    assert [(r.digest, r.at) for r in watchlist.routes] == [
        (None, None),
        ("hourly", None),
        ("daily", None),
        ("daily", "18:00"),
    ]


def test_two_identical_digest_routes_are_a_duplicate() -> None:
    """The same signal, channel and digest twice would send each digest twice: refused."""
    assert problems(
        SIGNALS
        + """\
routes:
  - {signal: a, channel: 1}
  - {signal: a, channel: 1, digest: hourly, at: ":30"}
  - {signal: a, channel: 1, digest: hourly, at: ":30"}
"""
    ) == ["watchlist.yaml:5: route #3: same signal and destination as route #2"]


# --- the editor ---

EDITED = """\
# News APIs beside a feed.
version: 1

signals:
  # Prefixes cannot be sent to the APIs: `search` says it in words they take.
  - id: truce
    title: Truce terms land
    query: Ukrain* NEAR/10 truce*
    search: Ukraine AND (truce OR ceasefire)   # broad on purpose
    severity: high

sources:
  # GDELT: free, no key, one request per 5 s.
  - id: gdelt
    type: gdelt
    signals: [truce]   # one signal keeps it to one request a poll
  - id: newsapi
    type: newsapi
    key_env: MY_NEWSAPI_KEY   # the NAME of the variable, never the key
    language: en
    daily_quota: 50
  - id: wire
    url: https://example.com/feed
"""


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """A watchlist file with search sources, a `search:` signal and comments."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(EDITED, encoding="utf-8")
    return path


def test_editor_changes_only_the_search_line_and_keeps_comments(edited: Path) -> None:
    """update_signal(search=...) rewrites that one value; every comment stays."""
    change = WatchlistEditor(edited).update_signal("truce", search="Ukraine AND truce")
    text = edited.read_text(encoding="utf-8")
    before, after = EDITED.splitlines(), text.splitlines()
    assert [i for i, (old, new) in enumerate(zip(before, after, strict=True)) if old != new] == [8]
    assert after[8].startswith("    search: Ukraine AND truce ")
    assert after[8].endswith("# broad on purpose")
    assert change.before is not None and change.after is not None
    assert change.before["search"] == "Ukraine AND (truce OR ceasefire)"
    assert change.after["search"] == "Ukraine AND truce"
    assert search_query(change.watchlist.signal("truce")) == "Ukraine AND truce"


def test_editor_updates_a_search_source_without_pinning_its_url(edited: Path) -> None:
    """update_source on a search source adds its field in schema order; `url` stays unset."""
    change = WatchlistEditor(edited).update_source("newsapi", country="us", daily_quota=80)
    assert edited.read_text(encoding="utf-8") == EDITED.replace(
        "    language: en\n    daily_quota: 50\n",
        "    language: en\n    country: us\n    daily_quota: 80\n",
    )
    newsapi = change.watchlist.source("newsapi")
    assert (newsapi.url, newsapi.api_key_env) == (
        "https://newsapi.org/v2/everything",
        "MY_NEWSAPI_KEY",
    )
    assert change.after is not None and "url" not in change.after


def test_editor_adds_a_search_source_and_a_search_signal(edited: Path) -> None:
    """New items with `type:` and `search:` are appended; the file reloads to the same specs."""
    editor = WatchlistEditor(edited)
    editor.add_signal(SignalSpec(id="nato", title="NATO 5%", query='NATO AND "5%"', search="NATO"))
    spec = SourceSpec(id="guardian", type="guardian", key_env="GUARDIAN_KEY", signals=["nato"])
    change = editor.add_source(spec)
    text = edited.read_text(encoding="utf-8")
    assert text.startswith(EDITED.split("\nsources:")[0])  # the old signals, comments and all
    assert '  - id: nato\n    title: NATO 5%\n    query: NATO AND "5%"\n    search: NATO\n' in text
    assert "  - id: guardian\n    type: guardian\n" in text
    for comment in ("# GDELT: free", "# one signal keeps", "# the NAME of the variable"):
        assert comment in text
    reloaded = parse_watchlist(text)
    assert reloaded.source("guardian") == change.watchlist.source("guardian")
    assert reloaded.source("guardian").url == "https://content.guardianapis.com/search"
    assert reloaded.signal("nato").search == "NATO"


def test_editor_refuses_a_search_edit_that_does_not_parse(edited: Path) -> None:
    """A bad `search:` from an edit is reported against the proposed text; the file stays."""
    with pytest.raises(WatchlistError) as caught:
        WatchlistEditor(edited).update_signal("truce", search="Ukraine AND (truce")
    (problem,) = caught.value.problems
    assert problem.startswith(f"{edited} (after edit):9: signal 'truce': search: ")
    assert edited.read_text(encoding="utf-8") == EDITED
