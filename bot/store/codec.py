"""How values become database text and back, shared by the backends.

Datetimes are stored as fixed-width ISO-8601 UTC text (`2025-06-24T09:30:00.000000+00:00`):
readable in a SQL shell, and in the same order as the instants when compared as strings.
Alerts and audit states are stored as JSON documents, an alert's tagged with its kind;
datetimes anywhere inside them (`published`, a digest's period, fields of an edited signal)
are tagged so they come back as tz-aware datetimes, not strings. Discord ids are checked to
fit a signed 64-bit integer.
"""

from __future__ import annotations

import json
from dataclasses import fields, is_dataclass
from datetime import UTC, datetime
from typing import Any

from bot.model import (
    ALERT_KINDS,
    Alert,
    Digest,
    DigestAlert,
    DigestGroup,
    DigestLine,
    FloodSummary,
    FoldedItem,
    OutletCopy,
    StoryUpdateAlert,
    alert_kind,
)

_DATETIME_TAG = "$datetime"
SNOWFLAKE_MAX = 2**63 - 1  # a signed 64-bit INTEGER / BIGINT holds every Discord id to date


def utc(value: datetime, what: str = "datetime") -> datetime:
    """The same instant in UTC; a naive datetime raises ValueError (we cannot guess its zone)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(UTC)


def to_text(value: datetime, what: str = "datetime") -> str:
    """Fixed-width ISO-8601 UTC text that sorts like the instant it names."""
    return utc(value, what).isoformat(timespec="microseconds")


def opt_to_text(value: datetime | None, what: str = "datetime") -> str | None:
    """`to_text` that lets None through."""
    return None if value is None else to_text(value, what)


def from_text(text: str) -> datetime:
    """The tz-aware UTC datetime that `to_text` wrote."""
    return datetime.fromisoformat(text).astimezone(UTC)


def opt_from_text(text: str | None) -> datetime | None:
    """`from_text` that lets None through."""
    return None if text is None else from_text(text)


def _encode(value: object) -> object:
    if isinstance(value, datetime):
        return {_DATETIME_TAG: to_text(value, "datetime in JSON document")}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _decode(obj: dict[str, Any]) -> object:
    if len(obj) == 1 and _DATETIME_TAG in obj:
        return from_text(obj[_DATETIME_TAG])
    return obj


def outbox_values(alert: Alert, at: object) -> tuple[object, ...]:
    """An outbox row's values for `alert` enqueued at `at` (each backend's time value), in
    the column order (alert_id, signal_id, destination, source_id, payload, kind, update_of,
    next_attempt_at, created_at)."""
    return (
        alert.alert_id,
        alert.signal_id,
        alert.destination,
        alert.source_id,
        alert_to_json(alert),
        alert_kind(alert),
        alert.update_of if isinstance(alert, StoryUpdateAlert) else None,
        at,
        at,
    )


def alert_to_json(alert: Alert) -> str:
    """The alert as a JSON document tagged with its kind; ValueError when it cannot be stored."""
    doc = {"kind": alert_kind(alert), **_plain(alert)}
    try:
        return json.dumps(doc, default=_encode, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alert {alert.alert_id!r} cannot be stored: {exc}") from exc


def alert_from_json(text: str) -> Alert:
    """The alert that `alert_to_json` wrote, of its own type.

    Rows written before alerts had types (no "kind"; an untyped `extra` dict) come back as
    the type their `extra` meant, so an outbox from before the upgrade still delivers.
    """
    doc = json.loads(text, object_hook=_decode)
    if "kind" not in doc:
        doc = _upgrade_untyped(doc)
    cls = ALERT_KINDS.get(doc.pop("kind"))
    if cls is None:
        raise ValueError(f"alert {doc.get('alert_id')!r} has a kind this version does not know")
    doc["terms"] = tuple(doc["terms"])
    doc["also"] = tuple(OutletCopy(**c) for c in doc.get("also") or ())
    if "merged_on" in doc:  # story updates; rows from before it was recorded have none
        doc["merged_on"] = tuple(str(term) for term in doc["merged_on"] or ())
    if cls is FloodSummary:
        doc["items"] = tuple(FoldedItem(**i) for i in doc["items"])
    if cls is DigestAlert:
        doc["digest"] = _digest(doc["digest"])
    return cls(**doc)


def _plain(value: Any) -> Any:
    """A dataclass tree as dicts, lists and scalars (datetimes left for `_encode`)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _digest(doc: dict[str, Any]) -> Digest:
    groups = tuple(
        DigestGroup(
            signal_id=g["signal_id"],
            signal_title=g["signal_title"],
            severity=g["severity"],
            items=tuple(DigestLine(**_when_fields(i, "published")) for i in g["items"]),
        )
        for g in doc["groups"]
    )
    return Digest(**{**_when_fields(doc, "period_start", "period_end"), "groups": groups})


def _when_fields(doc: dict[str, Any], *names: str) -> dict[str, Any]:
    """`doc` with the named fields as datetimes (old rows kept them as ISO text)."""
    out = dict(doc)
    for name in names:
        value = out.get(name)
        if isinstance(value, str):
            out[name] = datetime.fromisoformat(value).astimezone(UTC)
    return out


def _upgrade_untyped(doc: dict[str, Any]) -> dict[str, Any]:
    """An alert row from before typed alerts, as the typed document it stands for."""
    extra = doc.pop("extra", None) or {}
    also = [
        {"outlet": str(a.get("outlet")), "title": str(a.get("title", "")), "link": a.get("link")}
        for a in extra.get("also") or []
        if isinstance(a, dict)
    ]
    doc["also"] = also
    if isinstance(extra.get("digest"), dict):
        digest = extra["digest"]
        for group in digest.get("groups") or []:
            group["items"] = [
                {
                    "title": i.get("title") or "",
                    "link": i.get("link"),
                    "source": i.get("source") or "",
                    "publisher": i.get("publisher"),
                    "published": i.get("published"),
                    "sources": int(i.get("sources") or 0),
                }
                for i in group.get("items") or []
            ]
        return {**doc, "kind": "digest", "digest": digest}
    if extra.get("flood"):
        items = [
            {"title": i.get("title", ""), "link": i.get("link"), "source": i.get("source", "")}
            for i in extra.get("items") or []
        ]
        return {**doc, "kind": "flood", "items": items}
    if isinstance(extra.get("update_of"), str):
        return {**doc, "kind": "update", "update_of": extra["update_of"]}
    if extra.get("followup"):
        return {**doc, "kind": "followup"}
    return {**doc, "kind": "story"}


def doc_to_json(doc: dict[str, object] | None, what: str) -> str | None:
    """A JSON object as text (None stays None); ValueError when it would not come back equal.

    Refused: keys that are not strings (JSON would turn them into strings), NaN and infinities
    (not JSON), and values JSON cannot hold.
    """
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ValueError(f"{what} must be a dict or None, got {type(doc).__name__}")
    try:
        _check_keys(doc)
        return json.dumps(
            doc, default=_encode, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        )
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} cannot be stored: {exc}") from exc


def doc_from_json(text: str | None) -> dict[str, object] | None:
    """The JSON object `doc_to_json` wrote (tuples come back as lists)."""
    if text is None:
        return None
    doc: dict[str, object] = json.loads(text, object_hook=_decode)
    return doc


def _check_keys(value: object) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"key {key!r} is not a string")
            _check_keys(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_keys(item)


def snowflake(value: int, what: str) -> int:
    """A Discord id checked to fit the 64-bit integer column; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer Discord id, got {type(value).__name__}")
    if not 0 <= value <= SNOWFLAKE_MAX:
        raise ValueError(f"{what} {value} is out of range for a Discord id (0 .. 2**63 - 1)")
    return value


def opt_snowflake(value: int | None, what: str) -> int | None:
    """`snowflake` that lets None through."""
    return None if value is None else snowflake(value, what)


def terms_to_json(terms: tuple[str, ...]) -> str:
    """Matched terms as a JSON list."""
    return json.dumps(list(terms), ensure_ascii=False)


def terms_from_json(text: str) -> tuple[str, ...]:
    """The terms that `terms_to_json` wrote."""
    return tuple(json.loads(text))
