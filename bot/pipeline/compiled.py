"""The watchlist in force, compiled: its matcher and where each signal's hits go."""

from __future__ import annotations

from dataclasses import dataclass

from bot.digest import DigestSchedule
from bot.matching import Matcher
from bot.store import SourceConfig
from bot.watchlist import Watchlist

__all__ = ["DEFAULT_DESTINATION", "Compiled", "Route", "source_configs"]

DEFAULT_DESTINATION = "default"  # the sink's default place: a Discord channel or the console


def source_configs(watchlist: Watchlist) -> list[SourceConfig]:
    """The watchlist's enabled sources as the store wants them."""
    return [
        SourceConfig(s.id, s.url, s.type, int(s.interval.total_seconds()))
        for s in watchlist.enabled_sources()
    ]


@dataclass(frozen=True)
class Compiled:
    """A validated watchlist with its compiled matcher: what the pipeline runs on."""

    watchlist: Watchlist
    matcher: Matcher

    @classmethod
    def build(cls, watchlist: Watchlist) -> Compiled:
        """Compile the enabled signals of `watchlist`."""
        matcher = Matcher.compile(
            (s.id, watchlist.query_node(s)) for s in watchlist.enabled_signals()
        )
        return cls(watchlist, matcher)

    def routes(self, signal_id: str) -> list[Route]:
        """Where a signal's hits go (one by one or in a digest); no routes: the default."""
        out = []
        for route in self.watchlist.routes_for(signal_id):
            schedule = route.schedule
            if route.channel is not None:
                out.append(Route(f"channel:{route.channel}", schedule))
            if route.webhook is not None:
                out.append(Route(f"webhook:{route.webhook}", schedule))
        return out or [Route(DEFAULT_DESTINATION)]

    def destinations(self, signal_id: str) -> list[str]:
        """Where a signal's alerts go one by one (digest routes left out)."""
        return [route.destination for route in self.routes(signal_id) if route.digest is None]


@dataclass(frozen=True, slots=True)
class Route:
    """One place a signal's hits go: a destination, and the digest schedule if it has one."""

    destination: str
    digest: DigestSchedule | None = None

    @property
    def label(self) -> str:
        """The route's identity in alert ids and story announcements.

        A plain route is its destination (so alert ids stay what they always were); a digest
        route differs, so one channel can take a signal both one by one and in a digest.
        """
        if self.digest is None:
            return self.destination
        return f"digest:{self.digest.key}:{self.destination}"
