"""Hostile feed bodies: huge item counts, invalid code points, deep nesting, threads.

Each must give a bounded, clean ParsedFeed or a one-line ParseError: never a crash, a minute
on the event loop, or hundreds of MB.
"""

from __future__ import annotations

import io
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import pytest

from bot.errors import ParseError
from bot.model import Entry
from bot.sources import feeds
from bot.sources.feeds import DEFAULT_MAX_ENTRIES, ParsedFeed, parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://feeds.example.org/feed"
START = datetime(2026, 1, 1, tzinfo=UTC)


def rss(n: int, *, order: str = "newest-first", dated: bool = True) -> bytes:
    """An RSS feed of `n` items titled "item <age rank>"; dates in the given order."""
    ranks = range(n) if order == "newest-first" else range(n - 1, -1, -1)
    items = []
    for rank in ranks:
        when = (START - timedelta(minutes=rank)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        date = f"<pubDate>{when}</pubDate>" if dated else ""
        items.append(f"<item><title>item {rank}</title><guid>g{rank}</guid>{date}</item>")
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Big</title>'
        f"<link>https://big.example/</link>{''.join(items)}</channel></rss>"
    ).encode()


def atom(n: int) -> bytes:
    """An Atom feed of `n` entries, oldest first, with the atom: prefix on every element."""
    entries = "".join(
        f"<atom:entry><atom:title>item {rank}</atom:title><atom:id>g{rank}</atom:id>"
        f"<atom:updated>{(START - timedelta(minutes=rank)).isoformat()}</atom:updated>"
        "</atom:entry>"
        for rank in range(n - 1, -1, -1)
    )
    return (
        '<atom:feed xmlns:atom="http://www.w3.org/2005/Atom"><atom:title>A</atom:title>'
        f"<atom:id>urn:a</atom:id><atom:updated>{START.isoformat()}</atom:updated>"
        f"{entries}</atom:feed>"
    ).encode()


def json_feed(n: int, *, order: str = "newest-first") -> bytes:
    """A JSON Feed of `n` items titled "item <age rank>"."""
    ranks = range(n) if order == "newest-first" else range(n - 1, -1, -1)
    items = [
        {
            "id": f"g{rank}",
            "title": f"item {rank}",
            "date_published": (START - timedelta(minutes=rank)).isoformat(),
        }
        for rank in ranks
    ]
    version = "https://jsonfeed.org/version/1.1"
    return json.dumps({"version": version, "title": "Big", "items": items}).encode()


def titles(feed: ParsedFeed) -> list[str]:
    """The entries' titles, in feed order."""
    return [entry.title for entry in feed.entries]


# --- the entry cap ----------------------------------------------------------------------------


@pytest.mark.parametrize("fast", [True, False])
def test_100k_item_feed_hands_the_parser_only_the_cap(
    monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """100,000 items: the parser (fast path or feedparser) sees only the newest 1000, the rest
    are counted as dropped."""
    seen: list[int] = []
    real_parse, real_fast = feedparser.parse, feeds.parse_fast

    def parse(stream: io.BytesIO, **kwargs: Any) -> Any:
        body = stream.getvalue()
        seen.append(body.count(b"<item>"))
        return real_parse(io.BytesIO(body), **kwargs)

    def parse_fast(body: bytes, content_type: str | None) -> Any:
        seen.append(body.count(b"<item>"))
        return real_fast(body, content_type)

    monkeypatch.setattr(feeds.feedparser, "parse", parse)
    monkeypatch.setattr(feeds, "parse_fast", parse_fast)
    feed = parse_feed("big", rss(100_000, order="oldest-first"), url=URL, fast=fast)
    assert seen == [DEFAULT_MAX_ENTRIES]
    assert feed.parser == ("fast" if fast else "feedparser")
    assert len(feed.entries) == DEFAULT_MAX_ENTRIES and feed.dropped == 99_000
    assert titles(feed)[0] == "item 999" and titles(feed)[-1] == "item 0"  # the newest kept
    assert feed.cap_note() == "feed has 100000 entries; kept the newest 1000"
    assert feed.title == "Big" and feed.link == "https://big.example/"


@pytest.mark.parametrize(
    ("order", "dated", "expected"),
    [
        ("newest-first", True, ["item 0", "item 1", "item 2"]),
        ("oldest-first", True, ["item 2", "item 1", "item 0"]),
        # Undated: feed order is all we know, and feeds list their newest first.
        ("newest-first", False, ["item 0", "item 1", "item 2"]),
    ],
)
def test_cap_keeps_the_newest_items(order: str, dated: bool, expected: list[str]) -> None:
    """Newest first or oldest first, the items kept are the newest ones, in feed order."""
    feed = parse_feed("s", rss(10, order=order, dated=dated), url=URL, max_entries=3)
    assert titles(feed) == expected and feed.dropped == 7


def test_cap_applies_to_prefixed_atom_entries() -> None:
    """Atom entries with a namespace prefix are counted and capped like RSS items."""
    feed = parse_feed("s", atom(10), url=URL, max_entries=4)
    assert titles(feed) == ["item 3", "item 2", "item 1", "item 0"] and feed.dropped == 6


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("newest-first", ["item 0", "item 1"]),
        ("oldest-first", ["item 1", "item 0"]),
    ],
)
def test_cap_applies_to_json_feeds(order: str, expected: list[str]) -> None:
    """JSON Feed items are capped to the newest too."""
    feed = parse_feed("s", json_feed(10, order=order), url=URL, max_entries=2)
    assert titles(feed) == expected and feed.dropped == 8
    assert feed.cap_note() == "feed has 10 entries; kept the newest 2"


def test_feed_under_the_cap_is_untouched() -> None:
    """At or under the cap nothing is dropped and there is nothing to report."""
    for body in (rss(5), json_feed(5)):
        feed = parse_feed("s", body, url=URL, max_entries=5)
        assert len(feed.entries) == 5 and feed.dropped == 0 and feed.cap_note() is None
    recorded = parse_feed("s", (FEEDS / "bbc_world.xml").read_bytes(), url=URL)
    assert len(recorded.entries) == 12 and recorded.dropped == 0


def test_a_million_empty_items_stay_cheap() -> None:
    """A 10 MB body of "<item/>" is counted without holding a million positions."""
    body = b'<rss version="2.0"><channel><title>T</title>' + b"<item/>" * 1_400_000
    feed = parse_feed("s", body + b"</channel></rss>", url=URL)
    assert feed.entries == [] and feed.dropped == 1_400_000 - DEFAULT_MAX_ENTRIES


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10"])
def test_max_entries_must_be_a_positive_whole_number(bad: object) -> None:
    """Nonsense caps are a programming error: ValueError."""
    with pytest.raises(ValueError, match="max_entries"):
        parse_feed("s", rss(2), url=URL, max_entries=bad)  # type: ignore[arg-type]


# --- invalid code points ----------------------------------------------------------------------


def assert_encodable(entries: list[Entry]) -> None:
    """Every text field of every entry encodes as UTF-8 (as SQLite and Discord need)."""
    for entry in entries:
        for field in fields(entry):
            value = getattr(entry, field.name)
            if isinstance(value, str):
                value.encode("utf-8")


def test_surrogate_character_references_in_xml_are_replaced() -> None:
    """&#xD800; and &#1114112; (past U+10FFFF) used to crash feedparser; now they are U+FFFD."""
    body = (
        b'<rss version="2.0"><channel><title>T&#xD800;</title><item>'
        b"<title>a&#xD800;b &#1114112; &#x1F600;</title><guid>g&#57343;</guid>"
        b"<link>https://x.example/&#xDC00;</link><author>x&#xd800;</author></item>"
        b"</channel></rss>"
    )
    feed = parse_feed("s", body, url=URL)
    assert feed.title == "T\ufffd"
    (entry,) = feed.entries
    assert entry.title == "a\ufffdb \ufffd \U0001f600"  # a real astral character survives
    assert entry.key == "guid:g\ufffd" and entry.author == "x\ufffd"
    assert_encodable(feed.entries)


def test_lone_surrogates_in_json_feeds_are_replaced() -> None:
    """JSON escapes for lone surrogates never reach an entry's text, key, link or author."""
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "T\\ud800",'
        b' "authors": [{"name": "n\\udc00"}], "items": ['
        b'{"id": "g\\ud800", "title": "t\\udfff", "summary": "<b>s\\ud800</b>",'
        b' "url": "https://x.example/\\ud800"},'
        b'{"title": "no id \\ud800", "content_text": "x\\udbff"}]}'
    )
    feed = parse_feed("s", body, url=URL)
    assert feed.title == "T\ufffd"
    first, second = feed.entries
    assert (first.key, first.title, first.summary) == ("guid:g\ufffd", "t\ufffd", "s\ufffd")
    assert first.author == "n\ufffd" and first.link is not None and "\ufffd" in first.link
    assert second.key.startswith("hash:") and second.title == "no id \ufffd"
    assert_encodable(feed.entries)


# --- other hostile bodies ---------------------------------------------------------------------


def test_deeply_nested_json_is_a_parse_error() -> None:
    """Arrays nested 100,000 deep used to raise RecursionError; now a one-line ParseError."""
    with pytest.raises(ParseError, match=r"^not a feed: JSON nested too deep$"):
        parse_feed("s", b'{"items": ' + b"[" * 100_000, url=URL)


def test_parser_failure_is_a_parse_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever else makes feedparser raise on a body is a ParseError, not a crashed poll."""

    def parse(*args: object, **kwargs: object) -> object:
        raise ValueError("chr() arg not in range(0x110000)")

    monkeypatch.setattr(feeds.feedparser, "parse", parse)
    with pytest.raises(ParseError, match=r"^not a feed: the parser failed \(chr\(\) arg"):
        parse_feed("s", rss(1), url=URL, fast=False)


def test_entity_expansion_bomb_stays_small() -> None:
    """A billion-laughs DOCTYPE is not expanded into gigabytes."""
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {name} "{("&" + prev + ";") * 10}">'
        for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{entities}]><rss version="2.0"><channel>'
        "<title>T</title><item><title>&i;</title><guid>g</guid></item></channel></rss>"
    ).encode()
    feed = parse_feed("s", body, url=URL)
    assert all(len(entry.title) < 1000 for entry in feed.entries)


# --- threads ----------------------------------------------------------------------------------


def test_parsing_in_worker_threads_matches_parsing_serially() -> None:
    """parse_feed shares no mutable state: 8 threads give the results one thread does."""
    bodies = [
        (FEEDS / name).read_bytes()
        for name in (
            "bbc_world.xml",
            "guardian_world.xml",
            "defence_news_xhtml.atom.xml",
            "dw_all.rdf.xml",
            "geopolitics_brief.json",
            "malformed.xml",
            "truncated_but_usable.xml",
        )
    ] + [rss(3000, order="oldest-first"), json_feed(50)]

    def parse(body: bytes) -> ParsedFeed | str:
        try:
            return parse_feed("s", body, url=URL, max_entries=500)
        except ParseError as exc:
            return str(exc)

    serial = [parse(body) for body in bodies]
    with ThreadPoolExecutor(max_workers=8) as pool:
        threaded = list(pool.map(parse, bodies * 6))
    assert threaded == serial * 6
