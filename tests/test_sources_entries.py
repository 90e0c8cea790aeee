"""Tests for bot.sources.entries: HTML to text, canonical links, titles and entry keys."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.sources.entries import canonical_link, entry_key, html_to_text, normalised_title

# --- html_to_text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>Hello <b>world</b></p>", "Hello world"),
        ("<p>One</p><p>Two</p>", "One Two"),
        ("line<br>break<br/>again", "line break again"),
        ("<div>a</div><ul><li>b</li><li>c</li></ul>", "a b c"),
        ("NATO &amp; allies&nbsp;agree", "NATO & allies agree"),
        ("&#8220;quoted&#x201D; &lsquo;single&rsquo;", "“quoted” ‘single’"),
        ("&lt;not a tag&gt;", "<not a tag>"),
        ("<script>alert('x')</script>visible", "visible"),
        ("<style>p { color: red }</style><p>styled</p>", "styled"),
        ("<script type='text/javascript'>var s = '<p>fake</p>';</script>ok", "ok"),
        ("<noscript>enable JS</noscript><p>body</p>", "body"),
        ("  lots   of\n\n\twhitespace  ", "lots of whitespace"),
        ("<a href='https://x'>link</a>text", "linktext"),  # inline tags do not add a space
        ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
        ("AT&T", "AT&T"),
        ("", ""),
        ("<p></p>", ""),
        ("unclosed <b>bold", "unclosed bold"),
        ("<img src='x.jpg' alt='a picture'>caption", "caption"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    """Tags go, hidden elements go, entities decode, and whitespace collapses to single spaces."""
    assert html_to_text(html) == text


def test_html_to_text_unclosed_script_hides_the_rest() -> None:
    """An unterminated <script> swallows what follows rather than leaking code into the text."""
    assert html_to_text("before<script>var x = 1;") == "before"


@given(st.text())
def test_html_to_text_is_one_tidy_line(s: str) -> None:
    """Whatever the input, the output has no newlines and no leading, trailing or double spaces."""
    out = html_to_text(s)
    assert out == out.strip()
    assert "  " not in out
    assert "\n" not in out


@given(st.text(alphabet=st.characters(blacklist_characters="<&", blacklist_categories=["Cs"])))
def test_html_to_text_leaves_plain_text_alone(s: str) -> None:
    """Text without markup (or lone surrogates, which become U+FFFD) only has its whitespace
    collapsed."""
    assert html_to_text(s) == " ".join(s.split())


# --- canonical_link ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTPS://WWW.BBC.CO.UK/news/World", "https://www.bbc.co.uk/news/World"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com:80/a", "https://example.com:80/a"),  # 80 is not https's default
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com", "https://example.com/"),
        (
            "https://ex.com/a?utm_source=rss&id=7&utm_medium=feed&fbclid=XYZ&page=2",
            "https://ex.com/a?id=7&page=2",
        ),
        ("https://ex.com/a?gclid=1&mc_cid=2&mc_eid=3&ref_src=twsrc", "https://ex.com/a"),
        ("https://ex.com/a?UTM_Campaign=x&b=1", "https://ex.com/a?b=1"),
        ("https://ex.com/a?b=2&a=1", "https://ex.com/a?b=2&a=1"),  # order kept
        ("https://ex.com/a?q=%20x%2Fy&utm_x=1", "https://ex.com/a?q=%20x%2Fy"),  # bytes kept
        ("https://ex.com/a?flag&utm_term=z", "https://ex.com/a?flag"),
        ("https://ex.com/Path/Case", "https://ex.com/Path/Case"),  # paths are case-sensitive
        ("http://[2001:DB8::1]:80/x", "http://[2001:db8::1]/x"),
        ("  https://ex.com/padded  ", "https://ex.com/padded"),
        ("mailto:desk@example.com", "mailto:desk@example.com"),
        ("/relative/path", "/relative/path"),
        ("http://ex.com:notaport/", "http://ex.com:notaport/"),
    ],
)
def test_canonical_link(url: str, canonical: str) -> None:
    """Scheme and host are lower-cased; default ports, fragments and trackers go; the rest stays."""
    assert canonical_link(url) == canonical


_hosts = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,10}(\.[A-Za-z]{2,5}){1,2}", fullmatch=True)
_segments = st.lists(st.from_regex(r"[A-Za-z0-9._~%-]{0,8}", fullmatch=True), max_size=4)
_params = st.lists(
    st.sampled_from(["id=1", "utm_source=x", "page=2", "fbclid=abc", "q=a%20b", "flag", "a=&b"]),
    max_size=5,
)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "Https"]),
    host=_hosts,
    port=st.sampled_from(["", ":80", ":443", ":8443"]),
    path=_segments,
    params=_params,
    fragment=st.sampled_from(["", "#top", "#"]),
)
def test_canonical_link_is_idempotent(
    scheme: str, host: str, port: str, path: list[str], params: list[str], fragment: str
) -> None:
    """Canonicalising a canonical link changes nothing, and trackers never survive."""
    query = "?" + "&".join(params) if params else ""
    url = f"{scheme}://{host}{port}/{'/'.join(path)}{query}{fragment}"
    once = canonical_link(url)
    assert canonical_link(once) == once
    assert "utm_" not in once and "fbclid" not in once and "#" not in once


# --- normalised_title -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("NATO agrees 5% target", "Nato agrees 5% target"),
        ("Élysée responds to tariffs", "Elysee responds to tariffs"),
        ("Trump’s ‘reciprocal’ tariffs", "Trump's 'reciprocal' tariffs"),
        ("Ukraine — ceasefire talks", "Ukraine: ceasefire talks!"),
        ("  spaced   out  ", "spaced out"),
        ("Straße", "STRASSE"),
    ],
)
def test_normalised_title_folds_republishing_noise(a: str, b: str) -> None:
    """Case, accents, quotes, dashes, punctuation and spacing do not distinguish two titles."""
    assert normalised_title(a) == normalised_title(b)


def test_normalised_title_keeps_words_and_numbers() -> None:
    """Words and numbers survive; only the separators between them collapse."""
    assert normalised_title("NATO: 5% by 2035?") == "nato 5 by 2035"
    assert normalised_title("NATO agrees 5%") != normalised_title("NATO agrees 3.5%")


# --- entry_key --------------------------------------------------------------------------------


def test_entry_key_prefers_guid() -> None:
    """A GUID, stripped, is the key even when a link is present."""
    assert entry_key("  urn:uuid:123 ", "https://ex.com/a", "T", "S") == "guid:urn:uuid:123"


def test_entry_key_falls_back_to_canonical_link() -> None:
    """Without a GUID the canonical link is the key, so tracking variants are one item."""
    a = entry_key(None, "https://EX.com/a?utm_source=rss#x", "T", "")
    b = entry_key("", "https://ex.com/a", "Other title", "")
    c = entry_key("   ", "https://ex.com:443/a?fbclid=1", "T", "")
    assert a == b == c == "link:https://ex.com/a"


def test_entry_key_falls_back_to_content_hash() -> None:
    """Without GUID and link the key hashes the normalised title and summary."""
    key = entry_key(None, None, "NATO agrees 5% target", "Leaders meet in The Hague.")
    text = "nato agrees 5 target\nleaders meet in the hague"
    assert key == "hash:" + hashlib.sha256(text.encode()).hexdigest()
    assert entry_key(None, "", "Nato agrees 5% TARGET!", "Leaders meet in the Hague") == key


def test_entry_key_hash_distinguishes_content() -> None:
    """Different titles or summaries give different hash keys."""
    base = entry_key(None, None, "Title", "Summary")
    assert entry_key(None, None, "Title 2", "Summary") != base
    assert entry_key(None, None, "Title", "Other summary") != base
    # The separator keeps "a b" + "c" apart from "a" + "b c".
    assert entry_key(None, None, "a b", "c") != entry_key(None, None, "a", "b c")


def test_combining_marks_pattern_covers_every_mark() -> None:
    """normalised_title's mark class holds exactly the code points unicodedata calls combining."""
    import sys
    import unicodedata

    from bot.sources import entries

    pattern = entries._combining_marks()
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        marked = bool(unicodedata.combining(char))
        assert marked == bool(pattern.fullmatch(char)), hex(code)
        assert not marked or code <= entries.LAST_COMBINING_MARK, hex(code)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_normalised_title_drops_marks_as_a_character_filter_would(title: str) -> None:
    """The mark class removes exactly what filtering on unicodedata.combining removes."""
    import re
    import unicodedata

    folded = title.casefold()
    decomposed = unicodedata.normalize("NFKD", folded)
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    assert normalised_title(title) == re.sub(r"[\W_]+", " ", kept).strip()
