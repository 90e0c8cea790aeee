"""Regex terms on RE2: linear-time matching, so no query can backtrack catastrophically."""

from __future__ import annotations

from typing import Any

import re2

from bot.errors import QueryError

__all__ = ["compile_regex"]

_OPTIONS = re2.Options()
_OPTIONS.case_sensitive = False
_OPTIONS.max_mem = 8 << 20  # a pathological pattern fails to compile instead of eating memory
_OPTIONS.log_errors = False  # we report errors ourselves; RE2 would print them to stderr


def compile_regex(pattern: str, column: int) -> Any:
    """Compile an RE2 pattern (case-insensitive) or raise QueryError naming the column."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise QueryError(f"bad regular expression /{pattern}/: {reason}", column) from None
