"""Who published a copy of a story, spelled alike by every source. Pure: no I/O.

outlet_key(link, publisher, source_id)   "reuters" for reuters.com, Reuters and www.reuters.com
"""

from __future__ import annotations

import functools
import re
from urllib.parse import urlsplit

from bot.sources.entries import canonical_link, normalised_title

__all__ = ["outlet_key"]

# Hosts whose links only redirect to an article elsewhere: they name no outlet.
_REDIRECT_HOSTS = frozenset({"news.google.com", "feedproxy.google.com", "feeds.feedburner.com"})
# Subdomains that serve one outlet's pages in another form ("m.bbc.co.uk" is bbc.co.uk).
_ALIAS_PREFIXES = ("www.", "m.", "amp.", "mobile.")
# Second-level labels that a country code's registrations sit under ("bbc.co.uk").
_SECOND_LEVEL = frozenset({"ac", "co", "com", "edu", "gov", "ne", "net", "or", "org"})
# Domains whose subdomains are different outlets ("x.substack.com" is x's, not Substack's).
_SHARED_DOMAINS = frozenset(
    {"blogspot.com", "go.com", "medium.com", "substack.com", "tumblr.com", "wordpress.com"}
)
# A publisher given as a domain, as GDELT does ("reuters.com").
_DOMAIN = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$")


def _name_key(name: str) -> str:
    """`name` folded and squeezed to letters and digits, without a leading "the".

    Spaces go too, so that a name and its domain agree ("Al Jazeera", aljazeera.com).
    """
    key = normalised_title(name).replace(" ", "")
    return key.removeprefix("the") if key.startswith("the") and len(key) >= 6 else key


def _host_key(host: str) -> str:
    """The outlet a host belongs to: its registrable name without the public suffix."""
    host = host.rstrip(".")
    labels = host.split(".")
    if len(labels) < 2 or ":" in host or all(label.isdigit() for label in labels):
        return host  # an IP address or a single-label name: nothing to strip
    # A two-letter country code under a generic second level is one suffix ("co.uk").
    suffix = 2 if len(labels) > 2 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 1
    name = labels[:-suffix]
    if len(name) > 1 and ".".join(labels[-suffix - 1 :]) in _SHARED_DOMAINS:
        return _name_key(name[-2] + name[-1])
    return _name_key(name[-1])


def _link_host(link: str | None) -> str | None:
    """The lower-cased host of `link` without aliasing subdomains, or None if it has none."""
    if not link:
        return None
    try:
        host = urlsplit(link.strip()).hostname
    except ValueError:
        return None
    if not host:
        return None
    while host.startswith(_ALIAS_PREFIXES) and host.count(".") > 1:
        host = host.split(".", 1)[1]
    return host


# A poll asks for each copy's outlet several times (its seen identity, its story's outlets),
# so answers are remembered; only for links and names of ordinary length, so that a feed
# of huge links cannot keep megabytes alive between polls.
_MEMO_MAX_CHARS = 2_000


def outlet_key(link: str | None, publisher: str | None, source_id: str) -> str:
    """Who published a copy (see `_outlet_key`), remembered for inputs of ordinary length."""
    if len(link or "") + len(publisher or "") + len(source_id) > _MEMO_MAX_CHARS:
        return _outlet_key(link, publisher, source_id)
    return _remembered_outlet_key(link, publisher, source_id)


def _outlet_key(link: str | None, publisher: str | None, source_id: str) -> str:
    """Who published a copy, spelled alike whichever source found it ("reuters.com", "Reuters").

    The host of the copy's link decides, so two copies with one canonical link are always one
    outlet. A redirect link (Google News) names no outlet, so the publisher the aggregator
    names decides (else the link itself); a copy with neither link nor publisher is our source's.
    """
    host = _link_host(link)
    if host is not None and host not in _REDIRECT_HOSTS:
        return _host_key(host)
    if publisher:
        name = publisher.strip().casefold()
        key = _host_key(name) if _DOMAIN.match(name) else _name_key(name)
        if key:
            return key
    if link is not None and host is not None:
        return f"link:{canonical_link(link)}"
    return f"source:{source_id}"


_remembered_outlet_key = functools.lru_cache(maxsize=4096)(_outlet_key)
