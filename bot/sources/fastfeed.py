"""The fast parse path for well-formed RSS, RDF and Atom: expat, read the way feedparser reads it.

    body ─ decoded as feedparser decodes it, as UTF-8 ─ expat, strict
         ─ a walk that keeps what feedparser keeps of the elements feeds use ─► FastFeed | Unusual

feedparser parses a well-formed document with the same expat (through SAX) and runs each
element through a handler. `_Walk` reproduces those handlers' effect on the fields `feeds.py`
reads — each item's title, summary, content, link, id, guidislink, source, author and dates,
and the feed's title and link — with the state they depend on (the title depth, "has content",
the depth an item's value came from, image and text-input contexts, xml:base). Anything it
does not reproduce raises `Unusual` with a one-line reason, and `parse_feed` hands the body
to feedparser as before:

- a body no encoding decodes, a DOCTYPE, any XML error (expat's own: undefined entities,
  bad characters, truncation, a declaration after leading whitespace), CDF attributes;
- an element feedparser handles specially and we do not (inline XHTML bodies, GeoRSS, podcast
  chapters; the list is taken from feedparser's own handlers, see `fastfeed_rules.KINDS`);
- child elements inside text (inline markup), content types other than text and HTML,
  base64 modes, `src` content, Atom sources, images or text inputs inside items.

`tests/test_sources_fastfeed.py` runs every feed under `tests/data/` (feedparser's own test
corpus and real-world captures among them) through both paths and demands the same entries.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.parsers import expat

from feedparser.urls import _urljoin as feedparser_urljoin
from feedparser.urls import make_safe_absolute_uri

from bot.sources.fastfeed_rules import (
    HTML_TYPES,
    KINDS,
    NAMESPACES,
    Unusual,
    attributes,
    content_type,
    fix_text,
    fix_uri,
    looks_like_html,
    parse_date,
    utf8_body,
)

__all__ = ["FastFeed", "Unusual", "parse_fast"]

_ATOM10 = "http://www.w3.org/2005/atom"
_NO_ATTRS: dict[str, str] = {}
_QUERY_ENTITY = re.compile(r"&([A-Za-z0-9_]+);")
# An email address in an author text, as feedparser recognises one ("name@host.tld",
# "name@[1.2.3.4]", an optional "?subject=..."): the part it moves out of the name.
_EMAIL = re.compile(
    r"""[A-Za-z0-9_.+-]+ @
        (?: \[ [0-9]{1,3} \. [0-9]{1,3} \. [0-9]{1,3} \. | (?: [A-Za-z0-9-]+ \. )+ )
        (?: [A-Za-z]{2,4} | [0-9]{1,3} ) \]?
        (?: \?subject= \S+ )?""",
    re.VERBOSE,
)
# What may sit inside an element of each role without making the body unusual.
_AUTHOR_CHILDREN = frozenset({"authorpart", "authorlink"})
_RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
_ATOM_VERSIONS = {"0.1": "atom01", "0.2": "atom02", "0.3": "atom03"}


@dataclass(slots=True)
class FastFeed:
    """What feedparser would have produced, reduced to the keys `feeds.py` reads.

    Each item is a dict with feedparser's keys: title, title_detail, summary, summary_detail,
    content, link, id, guidislink, source, author, published_parsed, updated_parsed (the last
    two a datetime, or feedparser's struct_time for dates it read itself).
    """

    title: str = ""
    title_type: str | None = None
    link: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class _Open:
    """An open element: its feedparser key and kind, where it sits, and its text so far."""

    key: str
    kind: str
    depth: int
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)
    content_type: str = ""
    # "text": no child elements may follow; "author": only name, email, uri; "open": any
    role: str = "text"


class _Walk:
    """expat callbacks building a FastFeed; the state mirrors the feedparser flags that matter."""

    def __init__(self) -> None:
        self.feed = FastFeed()
        self.version = ""
        self.namespacemap: dict[str | None, str] = {}
        self.in_use: dict[str, str] = {}
        self.names: dict[str, tuple[str, bool, str]] = {}
        self.stack: list[_Open] = []
        self.depth = 0
        self.infeed = False
        self.saw_root = False
        self.item: dict[str, Any] | None = None
        self.item_depths: dict[str, int] = {}
        self.authors: list[dict[str, str]] = []
        self.inauthor = False
        self.inpublisher = False
        self.guidislink = False
        self.title_depth = -1
        self.has_content = False
        self.feed_has_summary = False
        self.inimage = False
        self.intextinput = False
        self.feed_has_image = False
        # xml:base, as feedparser tracks it: the base in force, and one per open element
        self.baseuri = ""
        self.basestack: list[str] = []
        self.closers: dict[str, Callable[[_Open, str], None]] = {
            "title": self._close_title,
            "summary": self._close_summary,
            "abstract": self._close_summary,
            "content": self._close_content,
            "link": self._close_link,
            "guid": self._close_guid,
            "published": self._close_date,
            "updated": self._close_date,
            "author": self._close_author,
            "authorpart": self._close_author_part,
            "authorlink": self._close_author_link,
            "source": self._close_source,
        }

    # --- namespaces and names, as feedparser's track_namespace and startElementNS -------------

    def start_namespace(self, prefix: str | None, uri: str | None) -> None:
        if not uri:
            return
        lower = uri.lower()
        if not self.version:
            if (prefix, lower) == (None, "http://my.netscape.com/rdf/simple/0.9/"):
                self.version = "rss090"
            elif lower == "http://purl.org/rss/1.0/":
                self.version = "rss10"
            elif lower == _ATOM10:
                self.version = "atom10"
        if "backend.userland.com/rss" in lower:
            raise Unusual("userland namespace")
        if lower in NAMESPACES:
            self.namespacemap[prefix] = NAMESPACES[lower]
        else:
            self.in_use[prefix or ""] = uri
        self.names.clear()

    def _learn(self, raw: str) -> tuple[str, bool, str]:
        """feedparser's key for expat's "uri local prefix" ("dc_creator"), whether it has a
        prefix, and its kind."""
        namespace, _, rest = raw.partition(" ")
        if not rest:
            namespace, local = "", raw
        else:
            local = rest.partition(" ")[0]
        local = local.lower()
        prefix = NAMESPACES.get(namespace.lower())
        if prefix is None:
            prefix = next((p for p, u in self.in_use.items() if p and u == namespace), "")
        if prefix:
            prefix = prefix.lower()
            prefix = self.namespacemap.get(prefix, prefix)
        key = f"{prefix}_{local}" if prefix else local
        named = (key, bool(prefix), KINDS.get(key, "skip"))
        self.names[raw] = named
        return named

    # --- expat callbacks ------------------------------------------------------------------------

    def start(self, raw: str, raw_attrs: dict[str, str]) -> None:
        key, prefixed, kind = self.names.get(raw) or self._learn(raw)
        self.depth += 1
        attrs = attributes(raw_attrs) if raw_attrs else _NO_ATTRS
        if self.baseuri or "xml:base" in attrs or "base" in attrs:
            self._track_base(attrs)
        self.basestack.append(self.baseuri)
        stack = self.stack
        if stack and stack[-1].role != "open":
            parent = stack[-1]
            if parent.role == "text" or kind not in _AUTHOR_CHILDREN:
                raise Unusual(f"<{key}> inside <{parent.key}>")
        if not prefixed and (self.inimage or self.intextinput):
            # feedparser's "special hack" for empty image and textinput elements
            if key not in ("title", "link", "description", "name"):
                self.intextinput = False
            if key not in ("title", "link", "description", "url", "href", "width", "height"):
                self.inimage = False
        if kind == "skip":
            stack.append(_Open(key, kind, self.depth, attrs, role="open"))
        else:
            stack.append(self._open(key, kind, attrs))

    def _track_base(self, attrs: dict[str, str]) -> None:
        # feedparser's unknown_starttag: a base joins the one in force, if the result is safe
        base = attrs.get("xml:base", attrs.get("base")) or self.baseuri
        if self.baseuri:
            self.baseuri = make_safe_absolute_uri(self.baseuri, base) or self.baseuri
        else:
            self.baseuri = feedparser_urljoin(self.baseuri, base)

    def _resolve(self, uri: str) -> str:
        """feedparser's resolve_uri: against the base in force (none: slashes tidied only)."""
        return feedparser_urljoin(self.baseuri, uri) if self.baseuri else fix_uri(uri)

    def chars(self, data: str) -> None:
        if self.stack:
            self.stack[-1].text.append(data)

    def end(self, raw: str) -> None:
        opened = self.stack.pop()
        self.depth -= 1
        kind = opened.kind
        closer = self.closers.get(kind)
        if closer is not None:
            closer(opened, "".join(opened.text).strip())
        elif kind == "item":
            assert self.item is not None
            self.feed.items.append(self.item)
            self.item = None
            self.has_content = False
        elif kind == "owner":
            self.inpublisher = False
        elif kind == "image":
            self.inimage = False
        elif kind == "textinput":
            self.intextinput = False
        elif kind in ("channel", "feed"):
            self.infeed = False
        # feedparser's unknown_endtag: the parent's base comes back only if it had one
        basestack = self.basestack
        basestack.pop()
        if basestack and basestack[-1]:
            self.baseuri = basestack[-1]

    # --- opening ------------------------------------------------------------------------------

    def _open(self, key: str, kind: str, attrs: dict[str, str]) -> _Open:
        depth = self.depth
        if kind == "title":
            return _Open(key, kind, depth, attrs, content_type=self._type(attrs, "text/plain"))
        if kind == "summary":
            default = "text/plain" if key.endswith("summary") else "text/html"
            item = self.item
            has_summary = "summary" in item if item is not None else self.feed_has_summary
            if has_summary and not self.has_content:
                # feedparser files a second summary as content, read as plain text
                return self._open_content(key, attrs, "text/plain")
            return _Open(key, kind, depth, attrs, content_type=self._type(attrs, default))
        if kind == "abstract":
            return _Open(key, kind, depth, attrs, content_type=self._type(attrs, "text/plain"))
        if kind == "content":
            default = "text/plain" if key == "content" else "text/html"
            return self._open_content(key, attrs, default)
        if kind == "link":
            return self._open_link(key, attrs, depth)
        if kind == "guid":
            self.guidislink = attrs.get("ispermalink", "true") == "true"
        elif kind == "author":
            self.inauthor = True
            if self.item is not None:
                self.authors.append({})
            return _Open(key, kind, depth, attrs, role="author")
        elif kind == "owner":
            self.inpublisher = True
            return _Open(key, kind, depth, attrs, role="open")
        elif kind == "source":
            if self.item is None:
                raise Unusual("<source> outside an item")
            self.title_depth = -1
        elif kind == "item":
            return self._open_item(key, attrs, depth)
        elif kind in ("image", "textinput"):
            return self._open_image(key, kind, attrs, depth)
        elif kind in ("rss", "rdf", "feed", "channel", "itunes_image"):
            self._open_structure(kind, attrs)
            return _Open(key, kind, depth, attrs, role="open")
        elif kind == "unusual":
            raise Unusual(f"<{key}>")
        # published, updated, guid, source, leaf, authorpart, authorlink: text only
        return _Open(key, kind, depth, attrs)

    def _type(self, attrs: dict[str, str], default: str) -> str:
        if "mode" in attrs:
            raise Unusual("a content mode attribute")
        mapped = content_type(attrs.get("type", default))
        if mapped not in ("text/plain", "text/html"):
            raise Unusual(f"content type {mapped!r}")
        return mapped

    def _open_content(self, key: str, attrs: dict[str, str], default: str) -> _Open:
        if "src" in attrs:
            raise Unusual("content with src")
        self.has_content = True
        return _Open(key, "content", self.depth, attrs, content_type=self._type(attrs, default))

    def _open_link(self, key: str, attrs: dict[str, str], depth: int) -> _Open:
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href:
            attrs["href"] = href
        if "href" not in attrs:
            return _Open(key, "link", depth, attrs)
        rel = attrs.get("rel", "alternate")
        kind = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
        if rel == "alternate" and content_type(kind) in HTML_TYPES:
            href = self._resolve(attrs["href"])
            if self.item is not None:
                self.item["link"] = href
            elif self.infeed and not self._in_image_or_textinput():
                self.feed.link = href
        return _Open(key, "hreflink", depth, attrs, role="open")

    def _open_item(self, key: str, attrs: dict[str, str], depth: int) -> _Open:
        if self.item is not None:
            raise Unusual("an item inside an item")
        if self.inimage or self.intextinput:
            raise Unusual("an item inside an image or text input")
        if "href" in attrs or "lastmod" in attrs:
            raise Unusual(f"a CDF attribute on <{key}>")
        self.item = {}
        self.item_depths = {}
        self.authors = []
        self.title_depth = -1
        self.guidislink = False
        about = attrs.get(f"{self.namespacemap.get('rdf', 'rdf')}:about")
        if about:
            self.item["id"] = about
        return _Open(key, "item", depth, attrs, role="open")

    def _open_image(self, key: str, kind: str, attrs: dict[str, str], depth: int) -> _Open:
        if self.item is not None or self.inimage or self.intextinput:
            raise Unusual(f"<{key}> inside an item or image")
        if kind == "image":
            self.inimage = self.feed_has_image = True
        else:
            self.intextinput = True
        self.title_depth = -1
        return _Open(key, kind, depth, attrs, role="open")

    def _open_structure(self, kind: str, attrs: dict[str, str]) -> None:
        if kind == "rdf":
            self.saw_root = True
        elif kind == "rss":
            self.saw_root = True
            if not self.version.startswith("rss"):
                version = attrs.get("version", "")
                self.version = _RSS_VERSIONS.get(version) or (
                    "rss20" if version.startswith("2.") else "rss"
                )
        elif kind in ("feed", "channel"):
            if "href" in attrs or "lastmod" in attrs:
                raise Unusual(f"a CDF attribute on <{kind}>")
            self.infeed = True
            if kind == "feed":
                self.saw_root = True
                if not self.version:
                    self.version = _ATOM_VERSIONS.get(attrs.get("version", ""), "atom")
        elif self.item is None and (attrs.get("href") or attrs.get("url")):
            self.feed_has_image = True  # <itunes:image> makes the feed's image

    # --- closing: the value, as feedparser's pop leaves it ---------------------------------------

    def _text_type(self, opened: _Open, value: str) -> str:
        kind = opened.content_type
        if kind == "text/plain" and not self.version.startswith("atom") and looks_like_html(value):
            return "text/html"
        return kind

    def _close_title(self, opened: _Open, value: str) -> None:
        kind = self._text_type(opened, value)
        value = fix_text(value)
        previous = self.title_depth
        if not -1 < previous <= opened.depth:
            if self.item is not None:
                self._store("title", value, opened.depth)
                self.item["title_detail"] = {"type": kind}
            elif self.infeed and not self._in_image_or_textinput():
                self.feed.title, self.feed.title_type = value, kind
        if value:
            self.title_depth = previous if opened.key == "media_title" else opened.depth

    def _close_summary(self, opened: _Open, value: str) -> None:
        kind = self._text_type(opened, value)
        value = fix_text(value)
        if self.item is not None:
            self._store("summary", value, opened.depth)
            self.item["summary_detail"] = {"type": kind}
        elif opened.key.endswith("summary") and self.infeed:
            self.feed_has_summary = True

    def _close_content(self, opened: _Open, value: str) -> None:
        kind = self._text_type(opened, value)
        value = fix_text(value)
        if self.item is None:
            self.feed_has_summary = True
            return
        self.item.setdefault("content", []).append({"value": value, "type": kind})
        self.item.setdefault("summary", value)  # text and HTML content stand in for a summary

    def _close_link(self, opened: _Open, value: str) -> None:
        value = fix_text(self._resolve(value)) if value else value
        if self.item is not None:
            # feedparser's repair of "?a=1&b;=2" query strings
            if "&" in value:
                value = _unescape_query(value.replace("&amp;", "&"))
            self.item["link"] = value
        elif self.infeed and not self._in_image_or_textinput():
            self.feed.link = _unescape_query(value) if "&" in value else value

    def _close_guid(self, opened: _Open, value: str) -> None:
        if value and self.guidislink:
            value = self._resolve(value)
        value = fix_text(value)
        if self.item is None:
            # a feed's <id> that may be a permalink is its link when it has none
            if self.guidislink and not self._in_image_or_textinput() and self.feed.link is None:
                self.feed.link = value
            return
        self._store("id", value, opened.depth)
        self.item.setdefault("guidislink", self.guidislink and "link" not in self.item)
        if self.guidislink:
            self.item.setdefault("link", value)

    def _close_date(self, opened: _Open, value: str) -> None:
        if self.item is not None:
            value = fix_text(value)
            self.item[f"{opened.kind}_parsed"] = parse_date(value) if value else None

    def _close_author(self, opened: _Open, value: str) -> None:
        self.inauthor = False
        if self.item is None:
            return
        self._store("author", fix_text(value), opened.depth)
        self._sync_author()

    def _close_author_part(self, opened: _Open, value: str) -> None:
        # feedparser keeps names and emails as written (it does not "expect text" there); an
        # <itunes:owner>'s name lands in the item's last author too (its _save_author)
        if self.item is not None and (self.inpublisher or self.inauthor):
            self._save_author("email" if opened.key.endswith("email") else "name", value)

    def _close_author_link(self, opened: _Open, value: str) -> None:
        if self.item is not None and self.inauthor:
            self._save_author("href", value)

    def _save_author(self, field_name: str, value: str) -> None:
        self._sync_author()
        if not self.authors:
            self.authors.append({})
        self.authors[-1][field_name] = value

    def _sync_author(self) -> None:
        """feedparser's _sync_author_detail: the item's author from its last author's name and
        email; or, when that author is empty, the name and email read out of the author text."""
        assert self.item is not None
        detail = self.authors[-1] if self.authors else {}
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                self.item["author"] = f"{name} ({email})"
            elif name or email:
                self.item["author"] = name or email
            return
        author = self.item.get("author")
        if not author:
            return
        found = _EMAIL.search(author)
        email = None
        if found:
            email = found.group(0)
            for junk in (email, "()", "<>", "&lt;&gt;"):
                author = author.replace(junk, "")
            author = author.strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def _close_source(self, opened: _Open, value: str) -> None:
        assert self.item is not None
        value = fix_text(value)
        self.item["source"] = {"title": value} if value else {}

    # --- helpers ------------------------------------------------------------------------------

    def _in_image_or_textinput(self) -> bool:
        return (self.inimage and self.feed_has_image) or self.intextinput

    def _store(self, key: str, value: str, depth: int) -> None:
        # feedparser keeps an item's value from the shallowest element that gave one
        assert self.item is not None
        old = self.item_depths.get(key)
        if old is None or depth <= old:
            self.item_depths[key] = depth
            self.item[key] = value


def _unescape_query(value: str) -> str:
    return _QUERY_ENTITY.sub(r"&\1", value)


def _refuse(what: str) -> Callable[..., None]:
    def handler(*_args: object) -> None:
        raise Unusual(what)

    return handler


def parse_fast(body: bytes, content_type: str | None) -> FastFeed:
    """Parse a well-formed RSS/RDF/Atom body as feedparser would; raise Unusual if unsure."""
    data = utf8_body(body, content_type)
    walk = _Walk()
    parser = expat.ParserCreate("utf-8", " ")
    parser.namespace_prefixes = True
    parser.buffer_text = True
    parser.StartElementHandler = walk.start
    parser.EndElementHandler = walk.end
    parser.CharacterDataHandler = walk.chars
    parser.StartNamespaceDeclHandler = walk.start_namespace
    parser.StartDoctypeDeclHandler = _refuse("a DOCTYPE")
    parser.EntityDeclHandler = _refuse("an entity declaration")
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise Unusual(f"XML error: {expat.errors.messages[exc.code]}") from None
    if not walk.saw_root or not walk.version:
        raise Unusual("no RSS, RDF or Atom root")
    return walk.feed
