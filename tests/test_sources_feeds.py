"""Tests for bot.sources.feeds: every feed format we read, and every way a body is not a feed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from feedserver import LiveFeed

from bot.errors import ParseError
from bot.sources.entries import normalised_title
from bot.sources.feeds import parse_feed

FEEDS = Path(__file__).parent / "data" / "feeds"
URL = "https://feeds.example.org/feed"


@dataclass(frozen=True)
class Expected:
    """What one recorded feed must parse to: the feed, and its first entry."""

    file: str
    content_type: str | None
    title: str
    count: int
    first_key: str
    first_title: str
    first_published: datetime | None
    first_author: str | None = None
    first_publisher: str | None = None
    first_summary_start: str = ""


RECORDED = [
    Expected(
        "bbc_world.xml",
        "application/rss+xml",
        "BBC News",
        12,
        "guid:https://www.bbc.com/news/articles/c4gvz0l5kl2o#0",
        "Nato allies agree to 5% defence spending target at Hague summit",
        datetime(2025, 6, 25, 14, 43, 21, tzinfo=UTC),
        first_summary_start="Leaders back a pledge to spend 5% of GDP",
    ),
    Expected(
        "guardian_world.xml",
        "text/xml; charset=UTF-8",
        "World news | The Guardian",
        11,
        "guid:https://www.theguardian.com/world/2025/nov/17/un-security-council-vote-gaza-resolution-international-stabilisation-force",
        "UN security council backs Trump's Gaza plan and international stabilisation force",
        datetime(2025, 11, 17, 23, 14, 7, tzinfo=UTC),
        first_author="Julian Borger in Jerusalem and Patrick Wintour",
        first_summary_start="Resolution passes 13-0 with Russia and China abstaining",
    ),
    Expected(
        "aljazeera_all.xml",
        "application/xml",
        "Al Jazeera – Breaking News, World News and Video from Al Jazeera",
        12,
        "guid:https://www.aljazeera.com/?t=1756137764",
        "US government takes 10 percent stake in Intel in unprecedented chips deal",
        datetime(2025, 8, 25, 16, 2, 44, tzinfo=UTC),
        first_summary_start="The Trump administration converts CHIPS Act grants into equity, "
        "making Washington the chipmaker’s largest shareholder.",
    ),
    Expected(
        "dw_all.rdf.xml",
        "application/rdf+xml",
        "Deutsche Welle",
        12,
        "guid:https://www.dw.com/en/trump-and-xi-agree-trade-truce-at-busan-meeting/a-74549612?maca=en-rss-en-all-1573-rdf",
        "Trump and Xi agree trade truce at Busan meeting",
        datetime(2025, 10, 30, 8, 15, tzinfo=UTC),
        first_summary_start="The US will cut so-called fentanyl tariffs",
    ),
    Expected(
        "govuk_mod.atom.xml",
        "application/atom+xml; charset=utf-8",
        "Ministry of Defence - Activity on GOV.UK",
        10,
        "guid:https://www.gov.uk/government/news/uk-jets-to-help-defend-polish-airspace-under-nato-eastern-sentry#2025-09-12T17:30:00+01:00",
        "UK jets to help defend Polish airspace under NATO Eastern Sentry",
        datetime(2025, 9, 12, 16, 30, tzinfo=UTC),
        first_summary_start="RAF Typhoons will join allied aircraft policing NATO’s eastern flank",
    ),
    Expected(
        "google_news_search.xml",
        "application/xml; charset=utf-8",
        '"Panama Canal" ports - Google News',
        12,
        "guid:CBMiiTipFnxpKZVXFHio_9Gn4Db5Gvooh8U3dd4G7SX1k52JOKkWfGkplVcUeKj_0afgNvka-iiHxTd13gbtJfWTnYk4qRZ8aSmVVxR4qP_Rp-A2-Rr6KIfFN3Xe0gE",
        "Panama ports deal: CK Hutchison in talks to add Cosco as major investor",
        datetime(2025, 7, 28, 9, 14, tzinfo=UTC),
        first_publisher="Reuters",
    ),
    Expected(
        "geopolitics_brief.json",
        "application/feed+json",
        "The Geopolitics Brief",
        10,
        "guid:https://brief.example.org/2026/01/12/ukraine-ceasefire-framework-geneva",
        "Ukraine ceasefire framework: what Kyiv and Moscow have (and haven’t) agreed in Geneva",
        datetime(2026, 1, 12, 17, 5, tzinfo=UTC),
        first_author="Olena Hrytsenko",
        first_summary_start="Negotiators narrowed gaps on a line of contact and prisoner "
        "exchanges, but security guarantees & sanctions relief remain open.",
    ),
    Expected(
        "japantimes.xml",
        "application/rss+xml; charset=UTF-8",
        "The Japan Times",
        11,
        "guid:https://www.japantimes.co.jp/?p=442180",
        "China warns Japan over Taiwan remarks as diplomatic row escalates",
        datetime(2025, 11, 14, 8, 2, 33, tzinfo=UTC),
        first_author="Jesse Johnson",
        first_summary_start="Beijing summoned Japan’s ambassador after Takaichi told lawmakers",
    ),
    Expected(
        "jsonfeed_v1.json",
        None,
        "Harbour Wire",
        3,
        "guid:3051",
        "CK Hutchison agrees to sell Panama Canal ports to BlackRock group",
        datetime(2025, 3, 4, 14, 0, tzinfo=UTC),
        first_author="M. Chen",
    ),
    Expected(
        "rss091_wire.xml",
        None,
        "Agence Exemple - International",
        3,
        "link:http://www.agence.example.fr/international/2025/06/25/otan-5-pour-cent.html",
        "L'Otan s'accorde sur un objectif de 5 % du PIB pour la défense",
        None,
        first_summary_start="Réunis à La Haye, les Alliés visent 3,5 % pour la défense « de base »",
    ),
    Expected(
        "rss090_headlines.rdf.xml",
        None,
        "Old Wire Headlines",
        2,
        "link:http://oldwire.example.com/2025/05/15/us-uae-chip-deal.html",
        "Chip pact sealed: US and UAE agree AI data-centre deal",
        None,
    ),
    Expected(
        "defence_news_xhtml.atom.xml",
        None,
        "Pacific Defence & Security Notes",
        3,
        "guid:tag:pacific-defence.example.com,2025:post-118",
        "PNG and Australia sign the Pukpuk mutual defence treaty",
        datetime(2025, 10, 5, 23, 30, tzinfo=UTC),
        first_author="Lena Kopi",
        first_summary_start="Port Moresby and Canberra signed the treaty on Monday. It is",
    ),
]


@pytest.mark.parametrize("expected", RECORDED, ids=lambda e: e.file)
def test_recorded_feed_parses(expected: Expected) -> None:
    """Each recorded feed gives its title, every item, and a first entry cleaned as expected."""
    body = (FEEDS / expected.file).read_bytes()
    feed = parse_feed("src", body, url=URL, content_type=expected.content_type)
    assert feed.title == expected.title
    assert len(feed.entries) == expected.count
    first = feed.entries[0]
    assert first.source_id == "src"
    assert first.key == expected.first_key
    assert first.title == expected.first_title
    assert first.published == expected.first_published
    assert first.author == expected.first_author
    assert first.publisher == expected.first_publisher
    assert first.summary.startswith(expected.first_summary_start)


@pytest.mark.parametrize("expected", RECORDED, ids=lambda e: e.file)
def test_recorded_feed_entries_are_clean(expected: Expected) -> None:
    """Every entry: unique key, one-line plain text, canonical http(s) link, UTC date or None."""
    feed = parse_feed(
        "src", (FEEDS / expected.file).read_bytes(), url=URL, content_type=expected.content_type
    )
    keys = [e.key for e in feed.entries]
    assert len(set(keys)) == len(keys)
    for entry in feed.entries:
        assert entry.key.split(":", 1)[0] in ("guid", "link", "hash")
        for text in (entry.title, entry.summary):
            assert "<p>" not in text and "&amp;" not in text and "&#" not in text
            assert "\n" not in text and "  " not in text and text == text.strip()
        if entry.link is not None:
            assert entry.link.startswith(("http://", "https://"))
            assert "utm_" not in entry.link and "#" not in entry.link
        if entry.published is not None:
            assert entry.published.tzinfo is not None
            assert entry.published.utcoffset() == timedelta(0)


def test_feed_link_is_canonical() -> None:
    """The feed's own home link is canonicalised like entry links."""
    assert parse_feed("s", (FEEDS / "bbc_world.xml").read_bytes(), url=URL).link == (
        "https://www.bbc.co.uk/news/world"
    )


def test_rss_entities_and_cdata_are_decoded() -> None:
    """Entity-escaped HTML descriptions (Guardian) come out as text with their entities decoded."""
    feed = parse_feed("s", (FEEDS / "guardian_world.xml").read_bytes(), url=URL)
    japan = next(e for e in feed.entries if "Takaichi" in e.title)
    assert "Japan & warning students" in japan.summary
    assert japan.title.startswith("Japan-China row deepens")
    assert "Continue reading..." in japan.summary  # the outlet's own words are kept


def test_google_news_publisher_from_source_element() -> None:
    """Google News items: outlet from <source> as publisher, cut from the title, summary dropped."""
    feed = parse_feed("s", (FEEDS / "google_news_search.xml").read_bytes(), url=URL)
    publishers = [e.publisher for e in feed.entries]
    assert publishers[:3] == ["Reuters", "Bloomberg.com", "AP News"]
    assert all(e.summary == "" for e in feed.entries)  # only "<headline> <outlet>" there
    assert not any(e.title.endswith((" - Reuters", " - AP News")) for e in feed.entries)
    assert all(
        e.link and e.link.startswith("https://news.google.com/rss/articles/") for e in feed.entries
    )


def test_dc_creator_becomes_author() -> None:
    """dc:creator (Guardian, Japan Times) is the entry author."""
    feed = parse_feed("s", (FEEDS / "japantimes.xml").read_bytes(), url=URL)
    assert {e.author for e in feed.entries} >= {"Jesse Johnson", "Gabriel Dominguez", "Kyodo"}


def test_summary_prefers_description_over_full_content() -> None:
    """With both description and content:encoded, the short description is the summary."""
    feed = parse_feed("s", (FEEDS / "japantimes.xml").read_bytes(), url=URL)
    first = feed.entries[0]
    assert first.summary.startswith("Beijing summoned Japan’s ambassador after")
    mogami = next(e for e in feed.entries if "Mogami" in e.title)
    assert mogami.summary.endswith("[…]")


def test_atom_content_only_entries_and_relative_links() -> None:
    """Atom entries with only <content> (xhtml or html) get it as summary; links resolve."""
    feed = parse_feed("s", (FEEDS / "defence_news_xhtml.atom.xml").read_bytes(), url=URL)
    first, second, _ = feed.entries
    assert first.link == "https://feeds.example.org/2025/10/06/pukpuk-treaty"
    assert first.summary.endswith("first new alliance in more than 70 years.")
    assert second.summary == "Troops can now train on each other’s territory."  # <style> gone


def test_atom_dates_are_converted_to_utc() -> None:
    """An Atom date with an offset (+10:00) is returned as the same instant in UTC."""
    feed = parse_feed("s", (FEEDS / "defence_news_xhtml.atom.xml").read_bytes(), url=URL)
    assert feed.entries[0].published == datetime(2025, 10, 5, 23, 30, tzinfo=UTC)


def test_future_dates_clamp_to_none_only_when_now_is_given() -> None:
    """A date more than a day after `now` is a feed bug: None. Without `now`, no clamping."""
    body = (FEEDS / "defence_news_xhtml.atom.xml").read_bytes()
    now = datetime(2025, 10, 7, tzinfo=UTC)
    clamped = parse_feed("s", body, url=URL, now=now).entries[2]
    assert clamped.published is None
    unclamped = parse_feed("s", body, url=URL).entries[2]
    assert unclamped.published == datetime(2031, 1, 1, tzinfo=UTC)
    # Within the tolerance a date slightly ahead (time zones, clock skew) is kept.
    soon = parse_feed("s", body, url=URL, now=datetime(2025, 10, 5, 9, tzinfo=UTC)).entries[0]
    assert soon.published == datetime(2025, 10, 5, 23, 30, tzinfo=UTC)


def test_iso_8859_1_feed_is_decoded() -> None:
    """A Latin-1 feed (declared in its XML prolog) decodes to the right accented text."""
    feed = parse_feed("s", (FEEDS / "rss091_wire.xml").read_bytes(), url=URL)
    assert feed.title == "Agence Exemple - International"
    assert (
        feed.entries[2].title
        == "Canal de Panama : CK Hutchison cède ses ports à un consortium mené par BlackRock"
    )
    # The tracking query and the fragment are gone from the link, the key follows the link.
    assert feed.entries[2].key == (
        "link:http://www.agence.example.fr/international/2025/03/04/canal-de-panama-ports.html"
    )


def test_json_feed_v1_details() -> None:
    """JSON Feed 1.0: numeric ids, relative urls, feed author fallback, naive date as UTC."""
    feed = parse_feed(
        "s", (FEEDS / "jsonfeed_v1.json").read_bytes(), url="https://wire.example.net/feed.json"
    )
    first, second, third = feed.entries
    assert first.link == "https://wire.example.net/2025/03/04/ck-hutchison-ports-sale"
    assert second.author == "Harbour Wire staff"
    assert second.summary == "Transits rose to 34 a day in February."
    assert second.published == datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
    assert third.title == "" and third.link is None and third.key == "guid:3049"


def test_json_feed_v11_details() -> None:
    """JSON Feed 1.1: several authors joined, feed authors as fallback, tracking params dropped."""
    feed = parse_feed("s", (FEEDS / "geopolitics_brief.json").read_bytes(), url=URL)
    by_title = {e.title: e for e in feed.entries}
    tracker = by_title["NATO spending tracker: who is on course for 3.5% core defence?"]
    assert tracker.author == "James Whitcombe, Ana Ruiz"
    assert feed.entries[0].link == (
        "https://brief.example.org/2026/01/12/ukraine-ceasefire-framework-geneva"
    )
    tariffs = by_title["Washington widens tariff exemptions for chipmakers that build in the US"]
    assert tariffs.author == "The Brief desk"
    assert tariffs.published == datetime(2026, 1, 10, 20, 30, tzinfo=UTC)
    mailbag = by_title["Mailbag: your questions on sanctions, shipping and the shadow fleet"]
    assert mailbag.summary == "You asked, we answered. Thank you for writing in."


def test_json_detected_by_body_without_content_type() -> None:
    """A JSON Feed served as text/plain is still recognised from its first byte."""
    body = (FEEDS / "geopolitics_brief.json").read_bytes()
    assert len(parse_feed("s", body, url=URL, content_type="text/plain").entries) == 10


def test_xml_body_with_json_content_type_is_parsed_as_xml() -> None:
    """A misconfigured server's JSON content type does not stop an RSS body from parsing."""
    body = (FEEDS / "bbc_world.xml").read_bytes()
    assert len(parse_feed("s", body, url=URL, content_type="application/json").entries) == 12


def test_feed_served_as_html_is_still_a_feed() -> None:
    """An RSS body served as text/html (common misconfiguration) is accepted."""
    body = (FEEDS / "aljazeera_all.xml").read_bytes()
    assert len(parse_feed("s", body, url=URL, content_type="text/html").entries) == 12


def test_bozo_feed_with_entries_is_accepted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A truncated feed that still yields items is accepted; the XML fault is logged at debug."""
    with caplog.at_level(logging.DEBUG, logger="signalwatch.feeds"):
        feed = parse_feed("cut", (FEEDS / "truncated_but_usable.xml").read_bytes(), url=URL)
    assert [e.key for e in feed.entries] == ["guid:cut-1", "guid:cut-2"]
    assert any("parsed despite" in r.getMessage() for r in caplog.records)


def test_guids_are_not_resolved_against_the_feed_url() -> None:
    """A relative-looking GUID stays as written, so keys survive a change of feed URL."""
    a = parse_feed("s", (FEEDS / "truncated_but_usable.xml").read_bytes(), url="https://a.example/")
    b = parse_feed("s", (FEEDS / "truncated_but_usable.xml").read_bytes(), url="https://b.example/")
    assert [e.key for e in a.entries] == [e.key for e in b.entries] == ["guid:cut-1", "guid:cut-2"]


def test_empty_channel_is_a_feed_with_no_entries() -> None:
    """A valid feed with no items is not an error."""
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>'
    feed = parse_feed("s", body, url=URL)
    assert feed.title == "Quiet" and feed.entries == [] and feed.link is None


def test_items_without_anything_are_dropped_and_duplicates_collapse() -> None:
    """Items with no title, summary or link are dropped; a repeated GUID keeps the first."""
    body = b"""<rss version="2.0"><channel><title>T</title>
      <item><guid>a</guid><title>First</title></item>
      <item><guid>a</guid><title>Second copy</title></item>
      <item><guid isPermaLink="false">empty</guid></item>
      <item><title>No guid</title><link>javascript:alert(1)</link></item>
    </channel></rss>"""
    first, second = parse_feed("s", body, url=URL).entries
    # "a" is a permalink GUID by RSS default but no URL: it is the key, not the link.
    assert (first.key, first.title, first.link) == ("guid:a", "First", None)
    # A javascript: link is no link; without GUID or link the key is a content hash.
    assert (second.title, second.link) == ("No guid", None)
    assert second.key.startswith("hash:")


def test_bom_and_leading_whitespace_are_tolerated() -> None:
    """A UTF-8 byte order mark or blank lines before the prolog do not hide the feed."""
    body = (FEEDS / "bbc_world.xml").read_bytes()
    assert len(parse_feed("s", b"\xef\xbb\xbf" + body, url=URL).entries) == 12
    json_body = (FEEDS / "jsonfeed_v1.json").read_bytes()
    assert len(parse_feed("s", b"\xef\xbb\xbf\n  " + json_body, url=URL).entries) == 3


# --- bodies that are not feeds ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        ((FEEDS / "malformed.xml").read_bytes(), None, "XML error at line 3: mismatched tag"),
        ((FEEDS / "not_a_feed.html").read_bytes(), "text/html", "not a feed: got an HTML page"),
        (b"<html><body>Just a moment...</body></html>", None, "not a feed: got an HTML page"),
        (
            b'<?xml version="1.0"?>\n<!-- cms --><!DOCTYPE html><html><p>x</p></html>',
            None,
            "not a feed: got an HTML page",
        ),
        (b"", None, "not a feed: empty body"),
        (b"  \r\n\t ", None, "not a feed: empty body"),
        (b"\x00\x01\x02garbage", None, "not a feed: body is neither XML nor JSON"),
        (
            b"Service temporarily unavailable",
            "text/plain",
            "not a feed: body is neither XML nor JSON",
        ),
        (
            b'<?xml version="1.0"?><sitemap><url/></sitemap>',
            None,
            "not a feed: XML root <sitemap> is not RSS, RDF or Atom",
        ),
        (b'{"status": "ok"}', "application/json", "not a feed: JSON without a JSON Feed version"),
        (b"[1, 2, 3]", "application/json", "not a feed: JSON document is not an object"),
        (
            b'{"version": "https://jsonfeed.org/version/1.1",\n "items": [}',
            None,
            "not a feed: JSON error at line 2: Expecting value",
        ),
        (
            b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}',
            None,
            "not a feed: JSON Feed without an items list",
        ),
    ],
    ids=[
        "malformed-xml",
        "html-page",
        "html-fragment",
        "html-after-prolog",
        "empty",
        "whitespace",
        "binary",
        "plain-text",
        "other-xml",
        "json-not-feed",
        "json-array",
        "json-syntax",
        "json-no-items",
    ],
)
def test_not_a_feed_raises_one_line_parse_error(
    body: bytes, content_type: str | None, message: str
) -> None:
    """A body that is not a feed raises ParseError with a one-line reason."""
    with pytest.raises(ParseError) as caught:
        parse_feed("s", body, url=URL, content_type=content_type)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_body_that_is_a_file_path_is_not_read_from_disk() -> None:
    """feedparser treats bytes as a file name first; we never let a body make it open a file."""
    path = str((FEEDS / "bbc_world.xml").resolve()).encode()
    with pytest.raises(ParseError):
        parse_feed("s", path, url=URL)


def test_body_that_is_a_url_is_not_fetched() -> None:
    """A body that looks like a URL is not handed to feedparser's own HTTP client."""
    with pytest.raises(ParseError, match="neither XML nor JSON"):
        parse_feed("s", b"http://127.0.0.1:9/feed.xml", url=URL)


# --- a feed that changes between polls ------------------------------------------------------


def test_live_feed_republished_items_keep_their_normalised_titles() -> None:
    """New GUIDs for old items change keys but not normalised titles, so re-publishes are visible."""
    live = LiveFeed()
    live.add_items(3)
    before = parse_feed("live", live.render(), url=URL).entries
    live.change_guids()
    live.redate(timedelta(hours=2))
    live.add_items(1, title="Fresh")
    after = parse_feed("live", live.render(), url=URL).entries
    assert len(after) == 4
    assert after[0].title == "Fresh 4"
    old = after[1:]
    assert {e.key for e in old}.isdisjoint({e.key for e in before})
    assert [normalised_title(e.title) for e in old] == [normalised_title(e.title) for e in before]
    assert [e.published for e in old] == [
        e.published + timedelta(hours=2) for e in before if e.published is not None
    ]
