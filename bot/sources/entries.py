"""Cleaning and identifying feed items: pure functions, no I/O.

html_to_text(html)        feed HTML → one line of plain text
clean_text(text)          lone surrogates → U+FFFD, so the text encodes anywhere
canonical_link(url)       the same article's URL always spelled the same way
normalised_title(title)   a title reduced to what survives a re-publish
entry_key(guid, link, …)  "guid:…" | "link:…" | "hash:…" — an item's identity in its source
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
import unicodedata
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit

__all__ = ["canonical_link", "clean_text", "entry_key", "html_to_text", "normalised_title"]

# Lone surrogates (JSON "\ud800", XML "&#xD800;" through feedparser's loose parser) cannot be
# encoded as UTF-8: SQLite, hashing and Discord would raise on them.
_UNENCODABLE = re.compile("[\ud800-\udfff]")


def clean_text(s: str) -> str:
    """Return `s` with lone surrogates (code points no encoder takes) replaced by U+FFFD."""
    if s.isascii():  # the common case: nothing to replace, and no regex pass
        return s
    return _UNENCODABLE.sub("\ufffd", s)


# Elements whose text is never shown to a reader.
_INVISIBLE = frozenset({"script", "style", "template", "noscript", "head", "title"})

# Elements that break a line when rendered: without a space here, "<p>a</p><p>b</p>" reads "ab".
_BREAKING = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td",
        "th", "tr", "ul",
    }
)  # fmt: skip


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML fragment."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _INVISIBLE:
            self._hidden_depth += 1
        elif tag in _BREAKING:
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # <br/>, <img/>: a self-closed invisible tag (<script/>) must not open a hidden region.
        if tag in _BREAKING:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _INVISIBLE:
            self._hidden_depth = max(0, self._hidden_depth - 1)
        elif tag in _BREAKING:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._hidden_depth:
            self.parts.append(data)


def html_to_text(s: str) -> str:
    """Return the visible text of an HTML fragment on one line, entities decoded."""
    if "<" not in s:
        # One run of text: what HTMLParser (convert_charrefs) would hand over, unescaped.
        text = html.unescape(s) if "&" in s else s
        return clean_text(" ".join(text.split()))
    plain = _plain_markup_text(s)
    if plain is not None:
        return clean_text(" ".join(plain.split()))
    parser = _TextExtractor()
    parser.feed(s)
    parser.close()
    # str.split() with no argument also splits on NBSP and other Unicode spaces. Cleaned after
    # decoding: "&#xD800;" only becomes a surrogate there.
    return clean_text(" ".join("".join(parser.parts).split()))


# An ordinary start or end tag: a name, then attributes (quoted, bare or valueless). Anything
# else that starts with "<" (comments, CDATA, declarations, stray "<") goes to HTMLParser.
_PLAIN_TAG = re.compile(
    r"""<(/?)([a-zA-Z][a-zA-Z0-9]*)"""
    r"""((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?)*)\s*(/?)>"""
)
# Elements HTMLParser (in some Python version) reads as raw text or that we hide: their
# content needs the real parser.
_SPECIAL = _INVISIBLE | {"textarea", "xmp", "iframe", "noembed", "noframes", "plaintext"}


def _plain_markup_text(s: str) -> str | None:
    """The text `_TextExtractor` collects from `s`, if `s` is plain tags and text; else None.

    Between tags HTMLParser hands over each run of text unescaped; a tag adds a space when it
    breaks a line. Same output, about a tenth of the cost.
    """
    parts: list[str] = []
    position = 0
    for tag in _PLAIN_TAG.finditer(s):
        text = s[position : tag.start()]
        if "<" in text:
            return None
        if text:
            parts.append(html.unescape(text) if "&" in text else text)
        closing, name, attrs, self_closing = tag.groups()
        name = name.lower()
        if name in _SPECIAL or (closing and (attrs or self_closing)):
            return None
        if name in _BREAKING:
            parts.append(" ")
        position = tag.end()
    tail = s[position:]
    if "<" in tail:
        return None
    parts.append(html.unescape(tail) if "&" in tail else tail)
    return "".join(parts)


# Query parameters that say how a reader arrived, not which article it is.
_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "ref_src"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _is_tracking(param: str) -> bool:
    name = param.split("=", 1)[0].lower()
    return name.startswith("utm_") or name in _TRACKING_PARAMS


def canonical_link(url: str) -> str:
    """Return `url` with scheme and host lower-cased; default port, fragment, trackers dropped."""
    url = clean_text(url.strip())
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if not parts.netloc or parts.hostname is None:
        return url  # relative or opaque (mailto:, urn:): nothing we can safely normalise
    host = parts.hostname  # already lower-cased, brackets stripped
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@{host}" if userinfo else host
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        netloc = f"{netloc}:{port}"
    # Filter the raw pieces rather than parse and re-encode, so kept parameters stay byte-identical.
    query = "&".join(p for p in parts.query.split("&") if p and not _is_tracking(p))
    path = parts.path or "/"
    return urlunsplit((scheme, netloc, path, query, ""))


_NON_WORD = re.compile(r"[\W_]+")
# No code point past this has a combining class (tests/test_sources_entries.py checks it
# against the running Python's Unicode data).
LAST_COMBINING_MARK = 0x1FFFF


@functools.cache
def _combining_marks() -> re.Pattern[str]:
    """One character class of every combining mark (what unicodedata.combining flags).

    Built on first use (about 30 ms); removing marks with it is a C loop, where a generator
    over the characters cost a fifth of a long summary's parse time.
    """
    marks = (chr(c) for c in range(0x300, LAST_COMBINING_MARK + 1))
    return re.compile("[" + "".join(re.escape(m) for m in marks if unicodedata.combining(m)) + "]")


def normalised_title(title: str) -> str:
    """Return `title` case- and accent-folded, punctuation and spacing collapsed to one space."""
    folded = title.casefold()
    if not folded.isascii():  # ASCII has nothing to decompose (the common case, and cheap)
        folded = _combining_marks().sub("", unicodedata.normalize("NFKD", folded))
    return _NON_WORD.sub(" ", folded).strip()


def entry_key(guid: str | None, link: str | None, title: str, summary: str) -> str:
    """Return an item's identity: its GUID, else its canonical link, else a hash of its text."""
    if guid and guid.strip():
        return f"guid:{clean_text(guid.strip())}"
    if link and link.strip():
        return f"link:{canonical_link(link)}"
    text = f"{normalised_title(title)}\n{normalised_title(summary)}"
    # "replace": a surrogate the caller left in must not make the key raise.
    return f"hash:{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()}"
