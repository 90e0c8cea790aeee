"""How values become database text and back, shared by the backends.

Datetimes are stored as fixed-width ISO-8601 UTC text (`2025-06-24T09:30:00.000000+00:00`):
readable in a SQL shell, and in the same order as the instants when compared as strings.
Alerts are stored as JSON documents; datetimes anywhere inside them (`published`, values in
`extra`) are tagged so they come back as tz-aware datetimes, not strings.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from bot.model import Alert

_DATETIME_TAG = "$datetime"
_ALERT_FIELDS = tuple(f.name for f in fields(Alert))


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
        return {_DATETIME_TAG: to_text(value, "datetime in alert")}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _decode(obj: dict[str, Any]) -> object:
    if len(obj) == 1 and _DATETIME_TAG in obj:
        return from_text(obj[_DATETIME_TAG])
    return obj


def alert_to_json(alert: Alert) -> str:
    """The alert as a JSON document; ValueError when `extra` holds something JSON cannot."""
    doc = {name: getattr(alert, name) for name in _ALERT_FIELDS}
    try:
        return json.dumps(doc, default=_encode, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"alert {alert.alert_id!r} cannot be stored: {exc}") from exc


def alert_from_json(text: str) -> Alert:
    """The alert that `alert_to_json` wrote (tuples in `extra` come back as lists)."""
    doc = json.loads(text, object_hook=_decode)
    doc["terms"] = tuple(doc["terms"])
    return Alert(**doc)


def terms_to_json(terms: tuple[str, ...]) -> str:
    """Matched terms as a JSON list."""
    return json.dumps(list(terms), ensure_ascii=False)


def terms_from_json(text: str) -> tuple[str, ...]:
    """The terms that `terms_to_json` wrote."""
    return tuple(json.loads(text))
