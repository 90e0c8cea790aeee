"""Outlets by name: one readable name per outlet, whichever source or API found the copy. Pure.

Sources name outlets differently: NewsAPI and Google News give a publisher's name ("Reuters"),
GDELT only a domain ("reuters.com"), a feed nothing (its link's host decides). `outlet_key`
(bot.stories) makes those one key for comparing; this module gives each key one name for
reading: a name some copy gave it, else the well-known outlet's name, else the domain.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from bot.model import OutletCopy
from bot.store.records import StoryCopy
from bot.stories import outlet_key

__all__ = ["KNOWN_OUTLETS", "display_name", "other_outlets"]

# Well-known outlets by `outlet_key`, for copies that come with a domain only (GDELT).
KNOWN_OUTLETS: Mapping[str, str] = {
    "aa": "Anadolu Agency",
    "abc": "ABC News",
    "abcnet": "ABC News (Australia)",
    "afp": "AFP",
    "aljazeera": "Al Jazeera",
    "apnews": "AP News",
    "axios": "Axios",
    "bbc": "BBC News",
    "bloomberg": "Bloomberg",
    "brusselstimes": "The Brussels Times",
    "cbc": "CBC News",
    "cbsnews": "CBS News",
    "cnbc": "CNBC",
    "cnn": "CNN",
    "dawn": "Dawn",
    "dw": "DW",
    "economist": "The Economist",
    "euronews": "Euronews",
    "foxnews": "Fox News",
    "france24": "France 24",
    "ft": "Financial Times",
    "globalnews": "Global News",
    "hindustantimes": "Hindustan Times",
    "japantimes": "The Japan Times",
    "kyivindependent": "The Kyiv Independent",
    "lemonde": "Le Monde",
    "nbcnews": "NBC News",
    "npr": "NPR",
    "nytimes": "The New York Times",
    "politico": "Politico",
    "reuters": "Reuters",
    "rferl": "RFE/RL",
    "scmp": "South China Morning Post",
    "skynews": "Sky News",
    "straitstimes": "The Straits Times",
    "telegraph": "The Telegraph",
    "theguardian": "The Guardian",
    "thehindu": "The Hindu",
    "timesofisrael": "The Times of Israel",
    "trtworld": "TRT World",
    "washingtonpost": "The Washington Post",
    "wsj": "The Wall Street Journal",
    "yonhapnews": "Yonhap",
}

# A publisher given as a domain, as GDELT does ("reuters.com").
_DOMAIN = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)+$")


def _is_name(publisher: str | None) -> bool:
    """Whether a publisher is a name to show ("Reuters"), not a bare domain or nothing."""
    return bool(publisher and publisher.strip()) and not _DOMAIN.match(
        (publisher or "").strip().casefold()
    )


def display_name(publisher: str | None, link: str | None, source_id: str) -> str:
    """How to call the outlet of one copy: its publisher's name, else the well-known name of
    its outlet, else the domain the copy came with (or our source's id)."""
    if publisher is not None and _is_name(publisher):
        return publisher.strip()
    known = KNOWN_OUTLETS.get(outlet_key(link, publisher, source_id))
    if known is not None:
        return known
    return (publisher or "").strip() or source_id


def other_outlets(copies: Iterable[StoryCopy], own: str) -> tuple[OutletCopy, ...]:
    """A story's copies from outlets other than `own` (an outlet key), one per outlet in the
    order they came, each named by the best name any of that outlet's copies gives."""
    first: dict[str, StoryCopy] = {}
    names: dict[str, str] = {}
    for copy in copies:
        key = outlet_key(copy.link, copy.publisher, copy.source_id)
        if key == own:
            continue
        first.setdefault(key, copy)
        if key not in names or (_is_name(copy.publisher) and not _is_name(names[key])):
            names[key] = display_name(copy.publisher, copy.link, copy.source_id)
    return tuple(OutletCopy(names[key], c.title, c.link) for key, c in first.items())
