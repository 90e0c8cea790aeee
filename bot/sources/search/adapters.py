"""Every news API we search, by its source `type:`: one `SearchAdapter` each.

To add an API, write its module (see `gdelt.py`) with an `ApiAdapter` named ADAPTER, give its
rule, quota and endpoint in `config.py`, and list it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from bot.sources.search import gdelt, google_news, guardian, newsapi
from bot.sources.search.adapter import SearchAdapter

__all__ = ["ADAPTERS"]

ADAPTERS: Final[Mapping[str, SearchAdapter]] = {
    adapter.api: adapter
    for adapter in (gdelt.ADAPTER, google_news.ADAPTER, newsapi.ADAPTER, guardian.ADAPTER)
}
