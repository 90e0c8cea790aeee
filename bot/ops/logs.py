"""Log lines an operator can read: URLs shortened, one JSON object a line when asked.

    SIGNALWATCH_LOG_FORMAT=text  2026-01-02T03:04:05 INFO    signalwatch.run: cycle: ...
    SIGNALWATCH_LOG_FORMAT=json  {"time": "...", "level": "INFO", "logger": "...",
                                  "message": "...", "source": "bbc-world"}

A news API's query URL runs to hundreds of characters; in a log line its host and the start
of its path say which request it was.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import TextIO

__all__ = ["JsonFormatter", "TextFormatter", "setup_logging", "shorten_urls"]

URL = re.compile(r"https?://[^\s'\"<>()\[\]]+", re.IGNORECASE)
PATH_KEPT = 40
# The structured fields a log call may pass as `extra=`, copied into JSON lines.
FIELDS = ("source", "signal", "alert_id", "destination")


def _short(match: re.Match[str]) -> str:
    url = match.group(0)
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    path, question, _query = path.partition("?")
    kept = slash + path if len(path) <= PATH_KEPT else f"/{path[:PATH_KEPT]}…"
    shown = f"{scheme}://{host}{kept}"
    return shown + ("?…" if question else "")


def shorten_urls(text: str) -> str:
    """Each URL in `text` as its scheme, host and the start of its path; a query as '?…'."""
    return URL.sub(_short, text)


class TextFormatter(logging.Formatter):
    """The usual one-line format, URLs shortened."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%Y-%m-%dT%H:%M:%S"
        )

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line (a traceback, if any, follows on its own lines)."""
        return shorten_urls(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one JSON line."""
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": shorten_urls(record.getMessage()),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str, fmt: str, stream: TextIO | None = None) -> logging.Handler:
    """Log to stderr at `level`, as text or JSON lines; return the handler installed."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_signalwatch", False)]
    handler._signalwatch = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO; our poll lines say what matters.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return handler
