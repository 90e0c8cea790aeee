"""Typed alerts: each kind of message is its own type, through the outbox and back, and rows
written before alerts had types still come back as the kind they meant and still deliver."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.model import (
    ALERT_KINDS,
    Alert,
    Digest,
    DigestAlert,
    DigestGroup,
    DigestLine,
    FloodSummary,
    FoldedItem,
    FollowUpAlert,
    OutletCopy,
    StoryUpdateAlert,
    alert_kind,
)
from bot.pipeline import Deliverer
from bot.store.codec import alert_from_json, alert_to_json
from bot.store.migrations import MIGRATIONS
from bot.store.sqlite import SQLiteStore

T0 = datetime(2025, 6, 25, 8, 0, tzinfo=UTC)
BASE = Alert(
    alert_id="a1",
    signal_id="nato",
    destination="channel:1",
    title="Allies agree 5%",
    link="https://wire.example/1",
    source_id="wire",
    published=T0,
    terms=("NATO", "5%"),
    snippet="**NATO** …",
    severity="high",
    publisher="Reuters",
    also=(OutletCopy("AP", "Allies back 5%", "https://ap.example/1"),),
)


def common(alert: Alert) -> dict[str, object]:
    """The fields every alert has."""
    return {f.name: getattr(alert, f.name) for f in fields(Alert)}


ONE_OF_EACH: list[Alert] = [
    BASE,
    StoryUpdateAlert(**{**common(BASE), "alert_id": "upd-a1-2"}, update_of="a1"),
    FollowUpAlert(**{**common(BASE), "alert_id": "a1-followup", "terms": ()}),
    FloodSummary(
        **{**common(BASE), "alert_id": "flood-x", "link": None},
        items=(FoldedItem("More NATO", None, "wire"), FoldedItem("Yet more", "https://x", "b")),
    ),
    DigestAlert(
        **{**common(BASE), "alert_id": "digest-x", "signal_id": "digest"},
        digest=Digest(
            schedule="daily@08:00",
            label="daily at 08:00 UTC",
            period_start=T0.replace(day=24),
            period_end=T0,
            groups=(
                DigestGroup(
                    "nato",
                    "NATO spending hits 5%",
                    "high",
                    (DigestLine("Allies agree", "https://w/1", "wire", "Reuters", T0, 2),),
                ),
            ),
        ),
    ),
]


@pytest.mark.parametrize("alert", ONE_OF_EACH, ids=lambda a: type(a).__name__)
def test_every_kind_round_trips_as_its_own_type(alert: Alert) -> None:
    """The outbox's JSON gives back an equal alert of the same type, its kind tagged."""
    text = alert_to_json(alert)
    assert json.loads(text)["kind"] == alert_kind(alert)
    back = alert_from_json(text)
    assert type(back) is type(alert) and back == alert and back.also == alert.also


def test_every_type_has_one_kind_name() -> None:
    """Kind names and types are one-to-one, so the outbox can name what it holds."""
    assert len(set(ALERT_KINDS.values())) == len(ALERT_KINDS)
    assert {alert_kind(a) for a in ONE_OF_EACH} == set(ALERT_KINDS)


LEGACY_FIELDS = {
    "signal_id": "nato",
    "destination": "default",
    "title": "Allies agree 5%",
    "link": "https://wire.example/1",
    "source_id": "wire",
    "published": {"$datetime": "2025-06-25T08:00:00.000000+00:00"},
    "terms": ["NATO"],
    "snippet": "",
    "severity": "high",
    "publisher": None,
}
LEGACY_ROWS = {
    "story": {"alert_id": "a1", "extra": {}},
    "story-with-also": {
        "alert_id": "a2",
        "extra": {"also": [{"outlet": "AP", "title": "t", "link": "https://ap/1"}]},
    },
    "update": {"alert_id": "upd-a1-2", "extra": {"update_of": "a1"}},
    "followup": {"alert_id": "a1-f", "extra": {"followup": True}},
    "flood": {
        "alert_id": "flood-1",
        "extra": {"flood": True, "items": [{"title": "x", "link": None, "source": "wire"}]},
    },
    "digest": {
        "alert_id": "digest-1",
        "extra": {
            "digest": {
                "schedule": "daily@08:00",
                "label": "daily at 08:00 UTC",
                "period_start": "2025-06-24T08:00:00+00:00",
                "period_end": "2025-06-25T08:00:00+00:00",
                "groups": [
                    {
                        "signal_id": "nato",
                        "signal_title": "NATO",
                        "severity": "high",
                        "items": [
                            {
                                "title": "Allies agree",
                                "link": "https://w/1",
                                "source": "wire",
                                "publisher": None,
                                "published": "2025-06-25T07:00:00+00:00",
                                "sources": 3,
                            }
                        ],
                    }
                ],
            }
        },
    },
}
EXPECTED_TYPES = {
    "story": Alert,
    "story-with-also": Alert,
    "update": StoryUpdateAlert,
    "followup": FollowUpAlert,
    "flood": FloodSummary,
    "digest": DigestAlert,
}


@pytest.mark.parametrize("name", list(LEGACY_ROWS))
def test_rows_from_before_typed_alerts_come_back_typed(name: str) -> None:
    """An untyped row (`extra` dict, no kind) becomes the type its `extra` meant."""
    doc = {**LEGACY_FIELDS, **LEGACY_ROWS[name]}
    alert = alert_from_json(json.dumps(doc))
    assert type(alert) is EXPECTED_TYPES[name]
    if isinstance(alert, StoryUpdateAlert):
        assert alert.update_of == "a1"
    if isinstance(alert, FloodSummary):
        assert alert.items == (FoldedItem("x", None, "wire"),)
    if isinstance(alert, DigestAlert):
        (group,) = alert.digest.groups
        assert group.items[0].sources == 3 and group.items[0].published == T0.replace(hour=7)
    if name == "story-with-also":
        assert alert.also == (OutletCopy("AP", "t", "https://ap/1"),)


class SentSink:
    """A sink that keeps what it was sent."""

    def __init__(self) -> None:
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> str | None:
        """Keep the alert; its receipt is its position."""
        self.sent.append(alert)
        return str(len(self.sent))


class NoNotices:
    """A notifier that must not be called."""

    async def notify(self, message: object) -> None:
        """Fail: nothing here should need the admins."""
        raise AssertionError(f"unexpected notice: {message}")


def test_an_outbox_from_before_the_upgrade_migrates_and_delivers(tmp_path: Path) -> None:
    """Rows a schema-7 signalwatch wrote get their kind from migration 8, are claimed as their
    type, delivered in order, and an old update does not count toward the flood limit."""
    path = tmp_path / "db.sqlite"
    with SQLiteStore(path) as store, pytest.MonkeyPatch.context() as mp:
        mp.setattr("bot.store.sqlite._base.MIGRATIONS", MIGRATIONS[:7])
        store.migrate()
    with sqlite3.connect(path) as db:
        for n, name in enumerate(("story", "flood", "update")):
            doc = {**LEGACY_FIELDS, **LEGACY_ROWS[name]}
            when = (T0.replace(minute=n)).isoformat(timespec="microseconds")
            db.execute(
                "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (doc["alert_id"], "nato", "default", "wire", json.dumps(doc), when, when),
            )
    with SQLiteStore(path) as store:
        assert store.migrate() == len(MIGRATIONS) - 7
        kinds = dict(store._db.execute("SELECT alert_id, kind FROM outbox").fetchall())
        assert kinds == {"a1": "story", "flood-1": "flood", "upd-a1-2": "update"}
        assert store.alerts_for_signal_since("nato", T0) == 2  # the update is not counted
        sink = SentSink()
        deliverer = Deliverer(store, sink, NoNotices(), lambda: T0.replace(hour=9))
        assert asyncio.run(deliverer.deliver_due()) == 3
        assert [type(a) for a in sink.sent] == [Alert, FloodSummary]  # the update edits nothing
        assert store.outbox_counts() == {"pending": 0, "delivered": 3, "failed": 0}


def test_an_old_outbox_row_is_claimed_as_its_type(tmp_path: Path) -> None:
    """A pending row written by the old code in the SQLite outbox is claimed, typed, intact."""
    store = SQLiteStore(tmp_path / "db.sqlite")
    store.migrate()
    doc = {**LEGACY_FIELDS, **LEGACY_ROWS["flood"]}
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute(
            "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            ("flood-1", "nato", "default", "wire", json.dumps(doc), T0.isoformat(), T0.isoformat()),
        )
    (pending,) = store.claim_alerts(T0, 10, T0 - T0.replace(hour=7))
    assert isinstance(pending.alert, FloodSummary) and pending.alert.alert_id == "flood-1"
    store.close()


class SinkThatBreaksOn:
    """A sink that raises an unexpected error (not a DeliveryError) for one destination."""

    def __init__(self, broken: str) -> None:
        self.broken = broken
        self.sent: list[Alert] = []

    async def send(self, alert: Alert) -> str | None:
        """Keep the alert, or break."""
        if alert.destination == self.broken:
            raise RuntimeError("a bug in a sink")
        self.sent.append(alert)
        return None


def test_an_unreadable_row_or_a_broken_sink_stops_no_other_delivery(tmp_path: Path) -> None:
    """A row of a kind this version does not know fails for good with the reason; a sink's
    unexpected error fails that alert for a retry; every other destination still gets its."""
    store = SQLiteStore(tmp_path / "db.sqlite")
    store.migrate()
    martian = {**LEGACY_FIELDS, "alert_id": "m1", "kind": "martian", "destination": "channel:9"}
    with sqlite3.connect(tmp_path / "db.sqlite") as db:
        db.execute(
            "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload, kind,"
            " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("m1", "nato", "channel:9", "wire", json.dumps(martian), "martian",
             T0.isoformat(timespec="microseconds"), T0.isoformat(timespec="microseconds")),
        )  # fmt: skip
    for destination in ("channel:1", "channel:2"):
        store.sync_sources([], T0)
        ok = Alert(f"ok-{destination}", "nato", destination, "t", None, "wire", T0, (), "")
        with sqlite3.connect(tmp_path / "db.sqlite") as db:
            db.execute(
                "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload, kind,"
                " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ok.alert_id, "nato", destination, "wire", alert_to_json(ok), "story",
                 T0.isoformat(timespec="microseconds"), T0.isoformat(timespec="microseconds")),
            )  # fmt: skip
    sink = SinkThatBreaksOn("channel:2")
    deliverer = Deliverer(store, sink, NoNotices(), lambda: T0.replace(hour=9))
    assert asyncio.run(deliverer.deliver_due()) == 1
    assert [a.destination for a in sink.sent] == ["channel:1"]
    assert store.outbox_counts() == {"pending": 1, "delivered": 1, "failed": 1}
    (again,) = store.claim_alerts(T0.replace(day=26), 10, timedelta(minutes=2))
    assert again.alert.alert_id == "ok-channel:2" and "a bug in a sink" in (again.last_error or "")
    store.close()
