"""Settings errors as one line each: the environment variable, the bad value, what is accepted.

pydantic's own report is a multi-line traceback naming the model's field; an operator set an
environment variable and wants to be told which one, what it held, and what would do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["SETTINGS_MODELS", "settings_error_lines", "user_agent_for"]

# The models whose fields are environment variables (pydantic's error title is the class name).
SETTINGS_MODELS = frozenset({"Settings", "DiscordSettings"})
PREFIX = "SIGNALWATCH_"


def _variable(loc: tuple[Any, ...]) -> str:
    """The environment variable of an error's location (a field name or its alias)."""
    name = str(loc[0]) if loc else "?"
    upper = name.upper()
    if upper.startswith(PREFIX) or upper == "DISCORD_TOKEN":
        return upper
    return PREFIX + upper


def _accepted(kind: str, ctx: Mapping[str, Any], message: str) -> str:
    """What the variable accepts, in words, from pydantic's error type and context."""
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"one of {expected} (any case)"
    if kind == "int_parsing" or kind == "int_from_float":
        return "a whole number"
    if kind == "float_parsing":
        return "a number"
    if kind == "bool_parsing":
        return "true or false (also 1/0, yes/no, on/off)"
    bounds = {
        "greater_than_equal": ("at least", "ge"),
        "greater_than": ("more than", "gt"),
        "less_than_equal": ("at most", "le"),
        "less_than": ("less than", "lt"),
    }
    if kind in bounds:
        words, key = bounds[kind]
        return f"a number {words} {ctx.get(key)}"
    # Our own validators raise ValueError("..."): pydantic prefixes "Value error, ".
    return message.removeprefix("Value error, ")


def _shown(value: Any) -> str:
    """The bad value as typed, quoted, cut short if long."""
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def settings_error_lines(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """One line per bad variable, from `ValidationError.errors()` of a settings model."""
    lines = []
    seen = set()
    for error in errors:
        variable = _variable(tuple(error.get("loc", ())))
        if variable in seen:  # a union type reports each branch: say it once
            continue
        seen.add(variable)
        kind = str(error.get("type", ""))
        accepted = _accepted(kind, error.get("ctx") or {}, str(error.get("msg", "")))
        if kind == "missing":
            lines.append(f"{variable} is not set")
            continue
        lines.append(f"{variable}={_shown(error.get('input'))} is not valid: expected {accepted}")
    return lines


def user_agent_for(version: str, contact: str | None, override: str | None) -> str:
    """The User-Agent feeds see: the operator's own, or signalwatch's version and contact.

    Without SIGNALWATCH_CONTACT it names no URL: a placeholder would send a feed's owner
    nowhere, and the start-up banner asks the operator to set one.
    """
    if override:
        return override
    return f"signalwatch/{version} (+{contact})" if contact else f"signalwatch/{version}"
