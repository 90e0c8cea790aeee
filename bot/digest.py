"""Digests: a route's hits collected and sent as one message per hour or per day. Pure.

    route `digest: daily, at: "08:00"` ─► DigestSchedule("daily", 8, 0)
    hits for the route ─► store (the lead's digest table) until next_boundary(now)
    boundary reached ─► digest_alert(destination, schedule, boundary, items, titles) ─► outbox

A digest covers the half-open period (period_start(boundary), boundary]. Every time here is
timezone-aware UTC: UTC has no DST, so a day is always 24 hours and an hour always 60 minutes.
The digest is a `DigestAlert`, whose `digest` holds the period and the groups; the outbox, its
JSON codec and the sinks carry it like any other alert, and the renderers dispatch on its type.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from bot.model import Alert, Digest, DigestAlert, DigestGroup, DigestLine

__all__ = [
    "DEFAULT_AT",
    "DIGEST_SIGNAL_ID",
    "DigestKind",
    "DigestSchedule",
    "digest_alert",
    "digest_json",
    "parse_at",
]

DigestKind = Literal["hourly", "daily"]
DIGEST_SIGNAL_ID = "digest"
DEFAULT_AT: Mapping[str, str] = {"daily": "08:00", "hourly": ":00"}
_PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_DAILY_AT = re.compile(r"(\d{1,2}):(\d{2})")
_HOURLY_AT = re.compile(r":(\d{2})")
_KEY = re.compile(r"(hourly|daily)@(.*)")


@dataclass(frozen=True, slots=True)
class DigestSchedule:
    """When a digest is sent: daily at hour:minute UTC, or hourly at minute past each hour."""

    kind: DigestKind
    hour: int = 0  # always 0 for hourly digests
    minute: int = 0

    def __post_init__(self) -> None:
        if self.kind not in _PERIODS:
            raise ValueError(f"digest kind must be 'hourly' or 'daily', got {self.kind!r}")
        if not 0 <= self.minute <= 59:
            raise ValueError(f"digest minute must be 0..59, got {self.minute}")
        if not 0 <= self.hour <= 23:
            raise ValueError(f"digest hour must be 0..23, got {self.hour}")
        if self.kind == "hourly" and self.hour:
            raise ValueError(f"an hourly digest has no hour, got {self.hour}")

    @property
    def at(self) -> str:
        """The time as the watchlist writes it: "08:00" (daily) or ":30" (hourly)."""
        if self.kind == "hourly":
            return f":{self.minute:02d}"
        return f"{self.hour:02d}:{self.minute:02d}"

    @property
    def key(self) -> str:
        """A stable text form for storage and ids: "daily@08:00", "hourly@:30"."""
        return f"{self.kind}@{self.at}"

    @classmethod
    def from_key(cls, key: str) -> DigestSchedule:
        """The schedule `key` names; ValueError when it is not one `key` could have written."""
        match = _KEY.fullmatch(key)
        if match is None:
            raise ValueError(f"not a digest schedule key: {key!r} (like 'daily@08:00')")
        kind: DigestKind = "hourly" if match.group(1) == "hourly" else "daily"
        try:
            schedule = parse_at(kind, match.group(2))
        except ValueError as exc:
            raise ValueError(f"not a digest schedule key: {key!r} ({exc})") from None
        if schedule.key != key:
            # "daily@8:00" parses, but only the canonical form may name a stored digest.
            raise ValueError(f"not a digest schedule key: {key!r} (expected {schedule.key!r})")
        return schedule

    @property
    def label(self) -> str:
        """For people: "daily at 08:00 UTC", "hourly at :30 past the hour (UTC)"."""
        if self.kind == "hourly":
            return f"hourly at :{self.minute:02d} past the hour"
        return f"daily at {self.at} UTC"

    @property
    def period(self) -> timedelta:
        """The time between two digests."""
        return _PERIODS[self.kind]

    def next_boundary(self, after: datetime) -> datetime:
        """The first digest time strictly after `after` (tz-aware; the answer is in UTC)."""
        now = _utc(after, "after")
        if self.kind == "hourly":
            candidate = now.replace(minute=self.minute, second=0, microsecond=0)
        else:
            candidate = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        # Exactly on a boundary is not "after" it: that digest is already due, so the next.
        return candidate if candidate > now else candidate + self.period

    def period_start(self, boundary: datetime) -> datetime:
        """The digest time before `boundary`: the start of the period a digest at it covers."""
        # The first boundary strictly after (boundary - period - 1µs) is the one before it,
        # whether or not `boundary` itself falls on the schedule.
        return self.next_boundary(_utc(boundary, "boundary") - self.period - _EPSILON)


_EPSILON = timedelta(microseconds=1)


def parse_at(kind: DigestKind, at: str | None) -> DigestSchedule:
    """The schedule for a route's `digest:` and `at:`; ValueError says what `at` should be."""
    if at is None:
        at = DEFAULT_AT[kind]
    text = at.strip()
    if kind == "hourly":
        hourly = _HOURLY_AT.fullmatch(text)
        if hourly is None:
            raise ValueError(
                f"'{at}' is not a minute past the hour: hourly digests take ':MM', like ':00' "
                "or ':30'"
            )
        minute = int(hourly.group(1))
        if minute > 59:
            raise ValueError(f"'{at}' is not a minute past the hour (:00 to :59)")
        return DigestSchedule("hourly", 0, minute)
    daily = _DAILY_AT.fullmatch(text)
    if daily is None:
        raise ValueError(
            f"'{at}' is not a time of day: daily digests take a UTC time 'HH:MM', like '08:00'"
        )
    hour, minute = int(daily.group(1)), int(daily.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"'{at}' is not a time of day (00:00 to 23:59, UTC)")
    return DigestSchedule("daily", hour, minute)


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


# --- the digest alert ---------------------------------------------------------------------------


def digest_alert(
    destination: str,
    schedule: DigestSchedule,
    boundary: datetime,
    items: Sequence[Alert],
    signal_titles: Mapping[str, str],
) -> DigestAlert:
    """One alert for the digest due at `boundary`: the hits in `items` grouped by signal.

    `items` are the per-hit alerts the route would have sent; there must be at least one
    (a period without hits sends nothing). The id depends only on destination, schedule and
    boundary, so closing the same digest twice enqueues it once.
    """
    if not items:
        raise ValueError(
            f"digest {schedule.key} for {destination} at {boundary.isoformat()}: no items "
            "(a period without hits sends no digest)"
        )
    end = _utc(boundary, "boundary")
    start = schedule.period_start(end)
    by_signal: dict[str, list[Alert]] = {}
    for item in items:
        by_signal.setdefault(item.signal_id, []).append(item)
    groups = [
        _group(signal_id, signal_titles.get(signal_id, signal_id), hits)
        for signal_id, hits in by_signal.items()
    ]
    # Loudest first; among equals the busiest, then by title so the order never wobbles.
    groups.sort(key=lambda g: (-_SEVERITY_RANK.get(g.severity, 1), -len(g.items), g.signal_title))
    hits = sum(len(g.items) for g in groups)
    severity = max((g.severity for g in groups), key=lambda s: _SEVERITY_RANK.get(s, 1))
    raw = "\x1f".join((destination, schedule.key, end.isoformat()))
    return DigestAlert(
        alert_id="digest-" + hashlib.sha256(raw.encode()).hexdigest()[:32],
        signal_id=DIGEST_SIGNAL_ID,
        destination=destination,
        title=(
            f"{schedule.kind.capitalize()} digest · {_count(hits, 'hit')} for "
            f"{_count(len(groups), 'signal')}"
        ),
        link=None,
        source_id=DIGEST_SIGNAL_ID,
        published=end,
        terms=(),
        snippet="",
        severity=severity,
        digest=Digest(
            schedule=schedule.key,
            label=schedule.label,
            period_start=start,
            period_end=end,
            groups=tuple(groups),
        ),
    )


def _group(signal_id: str, signal_title: str, hits: Sequence[Alert]) -> DigestGroup:
    """One signal's part of a digest: its hits newest first (undated last), one per link."""
    # sorted() is stable: hits with the same time keep the order the pipeline found them in.
    ordered = sorted(hits, key=_newest_first)
    kept: dict[tuple[str | None, ...], DigestLine] = {}
    for hit in ordered:
        # The same story can reach a digest twice (two feeds, or a re-queued hit); a link is its
        # identity, and an unlinked item is one per source and title.
        identity = ("link", hit.link) if hit.link else ("text", hit.source_id, hit.title)
        sources = len(hit.also)
        if identity in kept:
            kept[identity] = replace(kept[identity], sources=max(kept[identity].sources, sources))
            continue
        kept[identity] = DigestLine(
            title=hit.title,
            link=hit.link,
            source=hit.source_id,
            publisher=hit.publisher,
            published=hit.published.astimezone(UTC) if hit.published else None,
            sources=sources,
        )
    return DigestGroup(
        signal_id=signal_id,
        signal_title=signal_title,
        severity=max((h.severity for h in hits), key=lambda s: _SEVERITY_RANK.get(s, 1)),
        items=tuple(kept.values()),
    )


def _newest_first(hit: Alert) -> tuple[bool, float]:
    return (hit.published is None, -hit.published.timestamp() if hit.published else 0.0)


def digest_json(digest: Digest) -> dict[str, Any]:
    """A digest as plain JSON: times as ISO text, every item, nothing cut."""
    return {
        "schedule": digest.schedule,
        "label": digest.label,
        "period_start": digest.period_start.isoformat(),
        "period_end": digest.period_end.isoformat(),
        "groups": [
            {
                "signal_id": group.signal_id,
                "signal_title": group.signal_title,
                "severity": group.severity,
                "items": [
                    {
                        **asdict(item),
                        "published": item.published.isoformat() if item.published else None,
                    }
                    for item in group.items
                ],
            }
            for group in digest.groups
        ],
    }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
