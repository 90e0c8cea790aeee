"""The data and helpers of the Store contract, and the base of its topic classes.

See `store_contract` for how a backend runs the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta

import pytest

from bot.model import Alert, Entry, StoryUpdateAlert
from bot.store.base import (
    ArticleMatch,
    ArticleRecord,
    EntryIdentity,
    PendingAlert,
    SeenText,
    SourceConfig,
    Store,
)
from bot.store.leases import Lease

T0 = datetime(2025, 6, 24, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
Connect = Callable[[], Store]


def at(minutes: float) -> datetime:
    """T0 plus some minutes."""
    return T0 + timedelta(minutes=minutes)


def cfg(source_id: str, url: str | None = None, interval_s: int = 600) -> SourceConfig:
    """A configured RSS source."""
    return SourceConfig(source_id, url or f"https://{source_id}.example/feed", "rss", interval_s)


def entry(
    key: str,
    title: str | None = None,
    link: str | None = None,
    source: str = "a",
    *,
    summary: str = "",
    published: datetime | None = None,
) -> Entry:
    """An entry with a distinct title unless one is given."""
    return Entry(
        source_id=source,
        key=key,
        title=title or f"Title of {key}",
        summary=summary,
        link=link,
        published=published,
    )


def identify(e: Entry) -> EntryIdentity:
    """A simple identity: key, link, and the title case-folded with whitespace collapsed."""
    return EntryIdentity(e.key, e.link, " ".join(e.title.casefold().split()), e.published)


def identify_text(e: Entry) -> EntryIdentity:
    """`identify`, also carrying the entry's title and summary text for `recent_seen`."""
    return EntryIdentity(
        e.key,
        e.link,
        " ".join(e.title.casefold().split()),
        e.published,
        title=e.title,
        summary=e.summary,
    )


def alert(alert_id: str, signal_id: str = "nato", source_id: str = "a", **changes: object) -> Alert:
    """An alert for the console with plausible content."""
    fields: dict[str, object] = {
        "alert_id": alert_id,
        "signal_id": signal_id,
        "destination": "console",
        "title": f"NATO allies agree to 5% ({alert_id})",
        "link": f"https://a.example/{alert_id}",
        "source_id": source_id,
        "published": T0 - timedelta(hours=1),
        "terms": ("NATO", "5%"),
        "snippet": "**NATO** allies agree to **5%**",
    }
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def update(
    alert_id: str,
    original: str,
    *,
    merged_on: tuple[str, ...] = (),
    outlets: int = 0,
    **changes: object,
) -> StoryUpdateAlert:
    """A story update ("+N sources") of the alert `original`."""
    base = alert(alert_id, **changes)
    return StoryUpdateAlert(
        **{f.name: getattr(base, f.name) for f in fields(Alert)},
        update_of=original,
        merged_on=merged_on,
        outlets=outlets,
    )


def article(
    key: str,
    title: str,
    summary: str = "",
    signals: tuple[str, ...] = ("nato",),
    matched_at: datetime = T0,
    source: str = "a",
) -> ArticleRecord:
    """A matched article with one match per signal."""
    return ArticleRecord(
        source_id=source,
        key=key,
        title=title,
        summary=summary,
        link=f"https://{source}.example/{key}",
        published=matched_at - timedelta(minutes=30),
        publisher="Reuters",
        matches=tuple(ArticleMatch(s, ("NATO",), f"**NATO** for {s}") for s in signals),
        matched_at=matched_at,
    )


def fetched(
    store: Store,
    source_id: str,
    now: datetime,
    next_poll_at: datetime,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    new: int = 0,
) -> None:
    """record_fetch_ok with status 200, for tests that care about only some fields."""
    store.record_fetch_ok(
        source_id,
        now,
        status=200,
        etag=etag,
        last_modified=last_modified,
        next_poll_at=next_poll_at,
        entries_seen_delta=new,
    )


def failed(
    store: Store,
    source_id: str,
    now: datetime,
    next_poll_at: datetime,
    *,
    error: str = "timeout",
    status: int | None = None,
    disable: str | None = None,
) -> None:
    """record_fetch_failed with defaults, for tests that care about only some fields."""
    store.record_fetch_failed(
        source_id,
        now,
        error=error,
        status=status,
        next_poll_at=next_poll_at,
        disable_reason=disable,
    )


def commit(
    store: Store,
    now: datetime,
    *,
    entries: Sequence[Entry] = (),
    articles: Sequence[ArticleRecord] = (),
    alerts: Sequence[Alert] = (),
    source: str = "a",
    lease: Lease | None = None,
) -> int:
    """commit_poll for source 'a', the entries identified with `identify`."""
    seen = [identify(e) for e in entries]
    return store.commit_poll(source, now, seen=seen, articles=articles, alerts=alerts, lease=lease)


def ids(items: list[PendingAlert]) -> list[str]:
    """The alert ids of claimed alerts, in order."""
    return [p.alert.alert_id for p in items]


def seen_keys(items: list[SeenText]) -> list[str]:
    """The keys of recently seen entries, in order."""
    return [s.key for s in items]


# A Discord snowflake of today (2025) and the largest id a signed 64-bit column holds.
USER = 1_386_973_614_032_805_989
GUILD = 1_105_561_349_781_958_706
MAX_ID = 2**63 - 1

# -- the V2 data set ---------------------------------------------------------------------------
# What a backend's `v2_store` fixture holds, written with the schema of migrations 1–2 only,
# as a signalwatch of that time would have left it:
#   sources   'a': configured and enabled; last fetch (200, ETag V2_ETAG) ok at V2_AT;
#                  next poll at V2_AT + 10 min; first fetch done; 1 entry seen
#             'b': configured, enabled but auto-disabled (V2_DISABLED), 3 consecutive
#                  failures, last attempt (HTTP 410) at V2_AT - 1 h, due at V2_AT
#             both created at V2_AT - 1 day
#   seen      V2_SEEN for source 'a', first seen at V2_AT (no title or summary columns yet)
#   articles  V2_ARTICLE, its one match at V2_AT
#   outbox    V2_DELIVERED: created at V2_AT, 1 attempt, delivered at V2_AT + 1 min with
#                           receipt V2_RECEIPT
#             V2_PENDING:   created at V2_AT, 0 attempts, due at V2_AT
V2_AT = T0 - timedelta(days=1)
V2_ETAG = '"v2"'
V2_DISABLED = "HTTP 410 Gone"
V2_SEEN = EntryIdentity(
    "old1", "https://a.example/old1", "old nato story", V2_AT - timedelta(hours=1)
)
V2_ARTICLE = ArticleRecord(
    source_id="a",
    key="old1",
    title="Old NATO story",
    summary="From before the upgrade.",
    link="https://a.example/old1",
    published=V2_AT - timedelta(hours=1),
    publisher="Reuters",
    matches=(ArticleMatch("nato", ("NATO",), "Old **NATO** story"),),
    matched_at=V2_AT,
)
V2_DELIVERED = alert("old-x1")
V2_RECEIPT = "message:1"
V2_PENDING = alert("old-x2")


class ContractBase:
    """What every topic of the contract shares: the fixtures built on `connect`."""

    shared_database = True

    @pytest.fixture
    def store(self, connect: Connect) -> Iterator[Store]:
        """A migrated, empty store."""
        with connect() as store:
            assert store.migrate() > 0
            yield store

    @pytest.fixture
    def polled(self, store: Store) -> Store:
        """A store with sources 'a' and 'b' configured at T0."""
        store.sync_sources([cfg("a"), cfg("b")], T0)
        return store
