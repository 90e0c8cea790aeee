"""The watchlist schema and loader: valid files, durations, and every problem's wording and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import ValidationError

import bot.watchlist.schema as schema
from bot.errors import QueryError, WatchlistError
from bot.matching import parse_query
from bot.watchlist import (
    RouteSpec,
    SignalSpec,
    SourceSpec,
    Watchlist,
    format_duration,
    load_watchlist,
    parse_duration,
    parse_watchlist,
)

FIXTURE = Path(__file__).parent / "data" / "watchlists" / "watchlist.yaml"


def problems(text: str) -> list[str]:
    """The problems parse_watchlist reports for `text` (dedented), failing if there are none."""
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(dedent(text), "watchlist.yaml")
    return caught.value.problems


# --- a valid file ---


def test_fixture_loads_with_every_section() -> None:
    """The sample watchlist loads: signals, sources and routes in file order."""
    watchlist = load_watchlist(FIXTURE)
    assert [s.id for s in watchlist.signals] == ["nato-5pct", "ukraine-truce", "canal-deals"]
    assert [s.id for s in watchlist.sources] == ["bbc-world", "reuters-europe"]
    assert watchlist.routes == [
        RouteSpec(signal="*", channel=123456789012345678),
        RouteSpec(signal="nato-5pct", webhook="NATO_WEBHOOK_URL"),
    ]
    nato = watchlist.signal("nato-5pct")
    assert (nato.severity, nato.tags, nato.enabled) == ("high", ["nato", "defence"], True)


def test_folded_query_is_joined_and_defaults_apply() -> None:
    """A `>-` query reads as one line; unset signal fields take their defaults."""
    truce = load_watchlist(FIXTURE).signal("ukraine-truce")
    assert truce.query == (
        '(Ukraine OR Kyiv) AND (truce OR ceasefire OR armistice) NOT title:"quiz"'
    )
    assert (truce.severity, truce.tags, truce.enabled) == ("medium", [], True)


def test_sources_inherit_interval_and_backfill_from_defaults() -> None:
    """A source without interval/backfill gets the defaults' values; its own values win."""
    watchlist = load_watchlist(FIXTURE)
    assert watchlist.defaults.interval == timedelta(minutes=15)
    bbc, reuters = watchlist.sources
    assert (bbc.interval, bbc.backfill) == (timedelta(minutes=5), timedelta(hours=12))
    assert (reuters.interval, reuters.backfill) == (timedelta(minutes=15), timedelta(hours=12))


def test_defaults_section_is_optional() -> None:
    """Without a `defaults` section the built-in defaults apply, to sources too."""
    watchlist = parse_watchlist(
        dedent(
            """\
            signals: [{id: a, title: A, query: x}]
            sources: [{id: s, url: "https://example.com/feed"}]
            """
        )
    )
    assert watchlist.defaults.flood_per_hour == 10
    assert watchlist.defaults.retention == timedelta(days=30)
    assert watchlist.sources[0].interval == timedelta(minutes=10)
    assert watchlist.sources[0].backfill == timedelta(hours=24)


def test_empty_sections_mean_none() -> None:
    """`sources:` or `routes:` with nothing after them are empty lists, not errors."""
    watchlist = parse_watchlist("signals: [{id: a, title: A, query: x}]\nsources:\nroutes:\n")
    assert (watchlist.sources, watchlist.routes) == ([], [])


def test_helpers_find_enabled_scoped_and_routed_items() -> None:
    """signal(), source(), enabled_signals(), signals_for() and routes_for() answer from the file."""
    watchlist = load_watchlist(FIXTURE)
    assert watchlist.source("reuters-europe").display_name == "Reuters Europe"
    assert watchlist.source("bbc-world").display_name == "bbc-world"
    assert [s.id for s in watchlist.enabled_signals()] == ["nato-5pct", "ukraine-truce"]
    assert [s.id for s in watchlist.signals_for(watchlist.source("bbc-world"))] == [
        "nato-5pct",
        "ukraine-truce",
    ]
    assert [r.signal for r in watchlist.routes_for("nato-5pct")] == ["*", "nato-5pct"]
    assert [r.signal for r in watchlist.routes_for("ukraine-truce")] == ["*"]


def test_lookup_of_unknown_id_raises_key_error() -> None:
    """signal() and source() raise KeyError for an id the watchlist does not have."""
    watchlist = load_watchlist(FIXTURE)
    with pytest.raises(KeyError):
        watchlist.signal("nope")
    with pytest.raises(KeyError):
        watchlist.source("nope")


def test_models_are_frozen() -> None:
    """A loaded watchlist cannot be changed in place."""
    watchlist = load_watchlist(FIXTURE)
    with pytest.raises(ValidationError):
        watchlist.signals[0].title = "changed"


def test_str_tag_is_allowed() -> None:
    """The harmless `!!str` tag is accepted (it forces a number to be text)."""
    watchlist = parse_watchlist("signals: [{id: a, title: !!str 2025, query: x}]\n")
    assert watchlist.signals[0].title == "2025"


# --- durations ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (90, timedelta(seconds=90)),
        ("600", timedelta(minutes=10)),
        ("90s", timedelta(seconds=90)),
        ("10m", timedelta(minutes=10)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w2d", timedelta(days=9)),
        (timedelta(minutes=3), timedelta(minutes=3)),
    ],
)
def test_durations_parse(value: int | str | timedelta, expected: timedelta) -> None:
    """Seconds and unit strings become timedeltas."""
    assert parse_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(seconds=90), "1m30s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=2), "2d"),
        (timedelta(days=9), "1w2d"),
    ],
)
def test_durations_format_and_round_trip(value: timedelta, text: str) -> None:
    """format_duration writes the short form, which parses back to the same value."""
    assert format_duration(value) == text
    assert parse_duration(text) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10x", "invalid duration '10x'"),
        ("30m1h", "invalid duration '30m1h'"),
        ("1h1h", "invalid duration '1h1h'"),
        ("", "invalid duration ''"),
        ("-5m", "invalid duration '-5m'"),
        (True, "must be a duration"),
        (1.5, "must be a duration"),
        (0, "must be positive"),
        (-60, "must be positive"),
        ("0s", "must be positive"),
        ("99999999999999d", "is too long"),
        (10**20, "is too long"),
    ],
)
def test_bad_durations_are_rejected(value: object, message: str) -> None:
    """Unknown units, wrong order, repeats, non-numbers, zero and negatives are errors."""
    with pytest.raises(ValueError, match=message):
        parse_duration(value)  # type: ignore[arg-type]


def test_interval_under_a_minute_is_rejected_but_backfill_is_not() -> None:
    """Polling more often than once a minute is refused; a short backfill is fine."""
    assert problems(
        """\
        defaults:
          interval: 30s
          backfill: 30s
        signals: [{id: a, title: A, query: x}]
        """
    ) == [
        "watchlist.yaml:2: defaults: interval: must be at least 60s (got 30s): "
        "feeds polled more often than once a minute tend to block us"
    ]


def test_durations_are_written_back_as_text() -> None:
    """model_dump(mode="json") writes durations in the file's notation."""
    source = SourceSpec.model_validate(
        {"id": "s", "url": "https://example.com/f", "interval": 5400}
    )
    assert source.model_dump(mode="json")["interval"] == "1h30m"


# --- field rules ---


@pytest.mark.parametrize(
    ("bad_id", "message"),
    [
        ("NATO 5%", "must be lower-case letters, digits and hyphens"),
        ("nato_5", "must be lower-case letters, digits and hyphens"),
        ("-nato", "must start with a letter or digit"),
        ("", "must not be empty"),
        ("a" * 64, "must be at most 63 characters"),
    ],
)
def test_bad_ids_say_why(bad_id: str, message: str) -> None:
    """Each way an id can be wrong has its own message."""
    with pytest.raises(ValidationError, match=message):
        SignalSpec(id=bad_id, title="t", query="q")


def test_longest_allowed_id_is_accepted() -> None:
    """An id of 63 characters is fine."""
    assert SignalSpec(id="a" * 63, title="t", query="q").id == "a" * 63


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/feed", "must start with http:// or https://"),
        ("example.com/feed", "must start with http:// or https://"),
        ("https:///feed", "has no host name"),
        ("https://example.com:99999/feed", "is not a valid URL"),
        ("https://example.com/a feed", "must not contain spaces"),
    ],
)
def test_source_urls_must_be_http_with_a_host(url: str, message: str) -> None:
    """Only http(s) URLs with a host name are feeds we can fetch."""
    with pytest.raises(ValidationError, match=message):
        SourceSpec(id="s", url=url)


def test_route_needs_a_destination_and_a_webhook_is_an_env_name() -> None:
    """A route without channel or webhook, or with a pasted webhook URL, is refused."""
    with pytest.raises(ValidationError, match="needs a channel or a webhook"):
        RouteSpec(signal="*")
    with pytest.raises(ValidationError, match="not the URL itself"):
        RouteSpec(signal="*", webhook="https://discord.com/api/webhooks/1/secret")
    assert RouteSpec(signal="*", channel="42").channel == 42  # type: ignore[arg-type]


def test_duplicate_ids_fail_direct_construction() -> None:
    """Building a Watchlist in Python checks cross-references too."""
    signal = SignalSpec(id="a", title="A", query="x")
    with pytest.raises(ValidationError, match="duplicate signal id 'a'"):
        Watchlist(signals=[signal, signal])


# --- problems: where and how they are reported ---


def test_bad_id_names_the_id_as_written() -> None:
    """A bad id is reported on its line, quoting the id the user typed."""
    assert problems(
        """\
        version: 1
        signals:
          - id: NATO 5%
            title: NATO spending hits 5%
            query: NATO
        """
    ) == ["watchlist.yaml:3: signal 'NATO 5%': id: must be lower-case letters, digits and hyphens"]


def test_unknown_key_suggests_the_closest_field() -> None:
    """A misspelt key gets a "did you mean" on the misspelt key's line."""
    assert problems(
        """\
        version: 1
        signals:
          - id: nato-5pct
            title: NATO spending hits 5%
            severity: high
            tags: [nato]
            querry: NATO
        """
    ) == [
        "watchlist.yaml:3: signal 'nato-5pct': query: is required",
        "watchlist.yaml:7: signal 'nato-5pct': unknown key 'querry' (did you mean 'query'?)",
    ]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys() -> None:
    """With nothing close, the message lists what is allowed instead."""
    assert problems(
        """\
        signals: [{id: a, title: A, query: x}]
        colour: blue
        """
    ) == [
        "watchlist.yaml:2: unknown key 'colour' "
        "(expected one of: version, defaults, concepts, signals, sources, routes)"
    ]


def test_query_error_uses_the_query_errors_own_words(monkeypatch: pytest.MonkeyPatch) -> None:
    """A QueryError is reported on the `query:` line as `query: <str(error)>`."""

    def fake_parse_query(text: str, concepts: object = None) -> object:
        if "NATO)" in text:
            raise QueryError("unexpected ')'", column=17, expected="a term")
        return object()

    monkeypatch.setattr(schema, "parse_query", fake_parse_query)
    fillers = "".join(f"  - {{id: filler-{n}, title: F, query: x}}\n" for n in range(38))
    text = (
        "signals:\n"
        + fillers
        + "  - id: nato-5pct\n"
        + "    title: NATO spending hits 5%\n"
        + "    query: (defence AND NATO)) OR x\n"
    )
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(text, "watchlist.yaml")
    assert caught.value.problems == [
        "watchlist.yaml:42: signal 'nato-5pct': query: unexpected ')' at column 17 (expected a term)"
    ]


def test_query_errors_come_from_the_real_parser() -> None:
    """The loader checks each query with bot.matching.parse_query."""
    query = "NATO AND (5%"
    with pytest.raises(QueryError) as parser_error:
        parse_query(query)
    assert problems(
        f"""\
        signals:
          - id: a
            title: A
            query: {query}
        """
    ) == [f"watchlist.yaml:4: signal 'a': query: {parser_error.value}"]


def test_multiline_query_error_points_at_the_key() -> None:
    """For a block scalar query the line is that of `query:`, not of the text below it."""
    reported = problems(
        """\
        signals:
          - id: a
            title: A
            query: >
              NATO AND
              (5%
        """
    )
    assert len(reported) == 1
    assert reported[0].startswith("watchlist.yaml:4: signal 'a': query: ")


@pytest.mark.parametrize("query", ['""', "'   '"])
def test_empty_query_is_an_error(query: str) -> None:
    """An empty or blank query is refused before it reaches the parser."""
    assert problems(f"signals:\n  - id: a\n    title: A\n    query: {query}\n") == [
        "watchlist.yaml:4: signal 'a': query: must not be empty"
    ]


def test_missing_field_points_at_the_item() -> None:
    """A required key that is absent is reported on the item's first line."""
    assert problems(
        """\
        signals:
          - id: a
            query: x
        """
    ) == ["watchlist.yaml:2: signal 'a': title: is required"]


def test_items_without_a_usable_id_are_numbered() -> None:
    """An item with no id (or not a mapping at all) is named by its position."""
    assert problems(
        """\
        signals:
          - {id: a, title: A, query: x}
          - title: B
            query: y
          - just text
        """
    ) == [
        "watchlist.yaml:3: signal #2: id: is required",
        "watchlist.yaml:5: signal #3: must be a mapping of keys to values (got 'just text')",
    ]


def test_wrong_types_are_described_in_yaml_terms() -> None:
    """Type errors say what was expected and what was found, in YAML words."""
    assert problems(
        """\
        signals:
          - id: a
            title: [not, text]
            query: x
            enabled: yes
            severity: urgent
            tags: [ok, 3]
        """
    ) == [
        "watchlist.yaml:3: signal 'a': title: must be text (got a list)",
        "watchlist.yaml:5: signal 'a': enabled: must be true or false (got 'yes')",
        "watchlist.yaml:6: signal 'a': severity: "
        "must be 'low', 'medium', 'high' or 'critical' (got 'urgent')",
        "watchlist.yaml:7: signal 'a': tags: must be text (got 3)",
    ]


def test_duplicate_ids_name_the_first_definition() -> None:
    """A repeated signal or source id is reported where it repeats, pointing at the first."""
    assert problems(
        """\
        signals:
          - {id: a, title: A, query: x}
          - {id: a, title: A again, query: y}
        sources:
          - {id: s, url: "https://example.com/1"}
          - {id: s, url: "https://example.com/2"}
        """
    ) == [
        "watchlist.yaml:3: signal 'a': id: duplicate signal id 'a' (first defined on line 2)",
        "watchlist.yaml:6: source 's': id: duplicate source id 's' (first defined on line 5)",
    ]


def test_unknown_signal_references_suggest_a_known_id() -> None:
    """Sources and routes naming a signal that does not exist are errors with a suggestion."""
    assert problems(
        """\
        signals:
          - {id: nato-5pct, title: A, query: x}
        sources:
          - id: reuters
            url: https://example.com/feed
            signals:
              - nato-5pct
              - nato-5pc
        routes:
          - {signal: '*', channel: 1}
          - {signal: gaza, channel: 1}
          - {signal: '*', channel: '1'}
        """
    ) == [
        "watchlist.yaml:8: source 'reuters': signals: unknown signal 'nato-5pc' "
        "(did you mean 'nato-5pct'?)",
        "watchlist.yaml:11: route #2: signal: unknown signal 'gaza'",
        "watchlist.yaml:12: route #3: same signal and destination as route #1",
    ]


def test_route_and_defaults_problems_are_labelled() -> None:
    """Routes are named by number and defaults by section."""
    assert problems(
        """\
        defaults:
          flood_per_hour: 0
          retention: forever
        signals: [{id: a, title: A, query: x}]
        routes:
          - signal: a
          - signal: a
            webhook: https://discord.com/api/webhooks/1/secret
          - signal: a
            channel: true
        """
    ) == [
        "watchlist.yaml:2: defaults: flood_per_hour: must be at least 1",
        "watchlist.yaml:3: defaults: retention: invalid duration 'forever' "
        "(use seconds or a duration like '90s', '10m', '1h30m', '2d')",
        "watchlist.yaml:6: route #1: needs a channel or a webhook (or both)",
        "watchlist.yaml:8: route #2: webhook: must be the NAME of an environment variable "
        "holding the webhook URL, not the URL itself (keep secrets out of the watchlist)",
        "watchlist.yaml:10: route #3: channel: must be a Discord id (a whole number)",
    ]


def test_top_level_problems_have_no_label() -> None:
    """Version and missing signals are reported as top-level fields."""
    assert problems("version: 2\nsignal: []\n") == [
        "watchlist.yaml:1: signals: is required",
        "watchlist.yaml:1: version: unsupported version 2 (this signalwatch reads version 1)",
        "watchlist.yaml:2: unknown key 'signal' (did you mean 'signals'?)",
    ]


def test_empty_signal_list_is_an_error() -> None:
    """A watchlist needs at least one signal."""
    assert problems("signals: []\n") == [
        "watchlist.yaml:1: signals: at least one signal is required"
    ]


def test_all_problems_are_reported_at_once_in_line_order() -> None:
    """One run reports every kind of problem, sorted by line."""
    assert problems(
        """\
        version: 1
        signals:
          - id: NATO 5%
            title: NATO spending hits 5%
            query: NATO
          - id: ukraine
            title: Ukraine truce
            querry: truce
          - id: ukraine
            title: ""
            query: "  "
        sources:
          - id: feed
            url: ftp://example.com/feed
            interval: 10x
            signals: [ukrain]
        routes:
          - signal: nato
        """
    ) == [
        "watchlist.yaml:3: signal 'NATO 5%': id: must be lower-case letters, digits and hyphens",
        "watchlist.yaml:6: signal 'ukraine': query: is required",
        "watchlist.yaml:8: signal 'ukraine': unknown key 'querry' (did you mean 'query'?)",
        "watchlist.yaml:9: signal 'ukraine': id: duplicate signal id 'ukraine' "
        "(first defined on line 6)",
        "watchlist.yaml:10: signal 'ukraine': title: must not be empty",
        "watchlist.yaml:11: signal 'ukraine': query: must not be empty",
        "watchlist.yaml:14: source 'feed': url: must start with http:// or https://",
        "watchlist.yaml:15: source 'feed': interval: invalid duration '10x' "
        "(use seconds or a duration like '90s', '10m', '1h30m', '2d')",
        "watchlist.yaml:16: source 'feed': signals: unknown signal 'ukrain' "
        "(did you mean 'ukraine'?)",
        "watchlist.yaml:18: route #1: needs a channel or a webhook (or both)",
        "watchlist.yaml:18: route #1: signal: unknown signal 'nato'",
    ]


def test_pydantic_wording_never_leaks() -> None:
    """No problem carries pydantic's own phrasing for extra keys or value errors."""
    reported = problems(
        """\
        signals:
          - {id: a, title: A, query: x, colour: red, interval: 5}
        """
    )
    assert reported == [
        "watchlist.yaml:2: signal 'a': unknown key 'colour' (expected one of: id, title, "
        "description, query, search, enabled, severity, tags)",
        "watchlist.yaml:2: signal 'a': unknown key 'interval' (expected one of: id, title, "
        "description, query, search, enabled, severity, tags)",
    ]
    assert not any("Extra inputs" in p or "Value error" in p for p in reported)


# --- YAML itself ---


def test_yaml_syntax_error_gives_its_line() -> None:
    """A syntax error is reported with the line where the parser gave up."""
    assert problems(
        """\
        signals:
          - id: a
            title: A: B
        """
    ) == ["watchlist.yaml:3: YAML syntax error: mapping values are not allowed here"]


def test_duplicate_key_is_reported() -> None:
    """A key given twice in one mapping is an error, not a silent overwrite."""
    assert problems(
        """\
        signals:
          - id: a
            title: A
            query: x
            query: y
        """
    ) == ["watchlist.yaml:5: duplicate key 'query'"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "watchlist.yaml:1: the file is empty (a watchlist needs at least a 'signals' list)"),
        (
            "- a\n",
            "watchlist.yaml:1: the top level must be a mapping with 'signals' (and optionally "
            "'version', 'defaults', 'concepts', 'sources', 'routes'), not a list",
        ),
    ],
)
def test_empty_or_non_mapping_file(text: str, expected: str) -> None:
    """An empty file or a top-level list is one clear problem."""
    assert problems(text) == [expected]


def test_python_tags_are_rejected_not_executed(tmp_path: Path) -> None:
    """`!!python/object/apply` is refused with its line, and the command never runs."""
    marker = tmp_path / "pwned"
    assert problems(
        f"""\
        signals:
          - id: a
            title: !!python/object/apply:os.system ["touch {marker}"]
            query: x
          - !!python/name:os.system
        """
    ) == [
        "watchlist.yaml:3: signal 'a': title: "
        "YAML tag '!!python/object/apply:os.system' is not allowed (tags are never executed)",
        "watchlist.yaml:5: signal #2: "
        "YAML tag '!!python/name:os.system' is not allowed (tags are never executed)",
    ]
    assert not marker.exists()


def test_tag_on_the_whole_document_is_rejected(tmp_path: Path) -> None:
    """A tagged document is refused before anything looks at its content."""
    marker = tmp_path / "pwned"
    assert problems(f'!!python/object/apply:os.system ["touch {marker}"]\n') == [
        "watchlist.yaml:1: "
        "YAML tag '!!python/object/apply:os.system' is not allowed (tags are never executed)"
    ]
    assert not marker.exists()


def test_alias_bomb_is_refused_quickly() -> None:
    """Nested aliases that would expand to a billion values stop at the size limit."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    lines.append("signals: *a8")
    assert problems("\n".join(lines) + "\n") == [
        "watchlist.yaml:1: the document is too large (over 100000 values)"
    ]


def test_merge_keys_work_and_report_on_the_item() -> None:
    """`<<: *base` merges; a problem in merged keys points at the merging item."""
    watchlist = parse_watchlist(
        dedent(
            """\
            signals:
              - &base {id: a, title: A, query: x, severity: high}
              - <<: *base
                id: b
            """
        )
    )
    assert watchlist.signal("b").severity == "high"
    assert problems(
        """\
        signals:
          - &base {id: a, title: A, query: x, severity: urgent}
          - <<: *base
            id: b
        """
    )[1].startswith("watchlist.yaml:3: signal 'b': severity: ")


def test_unreadable_files_are_watchlist_errors(tmp_path: Path) -> None:
    """A missing file or bytes that are not UTF-8 give a WatchlistError naming the file."""
    missing = tmp_path / "missing.yaml"
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(missing)
    assert caught.value.problems == [f"{missing}: cannot read the file (No such file or directory)"]

    garbled = tmp_path / "garbled.yaml"
    garbled.write_bytes(b"signals:\n  - id: a\n    title: \xff\n")
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(garbled)
    assert caught.value.problems == [f"{garbled}:3: not valid UTF-8 text (invalid start byte)"]


def test_load_watchlist_names_the_path(tmp_path: Path) -> None:
    """Problems from load_watchlist start with the path as given."""
    path = tmp_path / "watchlist.yaml"
    path.write_text("signals: []\n", encoding="utf-8")
    with pytest.raises(WatchlistError) as caught:
        load_watchlist(path)
    assert caught.value.problems == [f"{path}:1: signals: at least one signal is required"]
    assert str(caught.value) == f"{path}:1: signals: at least one signal is required"
