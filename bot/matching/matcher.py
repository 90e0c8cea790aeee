"""Compiled matcher (stub, being written)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.model import Match


class Matcher:
    """All signals compiled into one multi-pattern pass."""

    @classmethod
    def compile(cls, signals: Iterable[tuple[str, str]]) -> Matcher:
        """Compile (signal_id, query) pairs."""
        return cls()

    def match(self, title: str, summary: str = "") -> list[Match]:
        """Signals matching this item, each explained."""
        return []
