"""How values become database text and back, shared by the backends.

Datetimes are stored as fixed-width ISO-8601 UTC text (`2025-06-24T09:30:00.000000+00:00`):
readable in a SQL shell, and in the same order as the instants when compared as strings.
Alerts and audit states are stored as JSON documents; datetimes anywhere inside them
(`published`, values in `extra`, fields of an edited signal) are tagged so they come back as
tz-aware datetimes, not strings. Discord ids are checked to fit a signed 64-bit integer.
"""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from bot.model import Alert

_DATETIME_TAG = "$datetime"
_ALERT_FIELDS = tuple(f.name for f in fields(Alert))
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
