"""Sources' health for /source list, and what /source enable switches back on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.admin.text import fit_lines
from bot.render import digest_safe, truncate
from bot.store import SourceState, source_health
from bot.watchlist import SourceSpec

__all__ = ["enable_record", "format_source_list", "source_line", "switched_off"]


def switched_off(state: SourceState | None) -> bool:
    """Whether the store keeps a source from polling: switched off, or auto-disabled."""
    return state is not None and (not state.enabled or state.disabled_reason is not None)


def enable_record(
    in_file: bool, off_in_store: SourceState | None
) -> tuple[dict[str, object], dict[str, object]]:
    """The audit's before and after for /source enable: the file's switch, the store's state."""
    before: dict[str, object] = {"enabled": in_file}
    after: dict[str, object] = {"enabled": True}
    if off_in_store is not None:
        before |= {
            "store_enabled": off_in_store.enabled,
            "disabled_reason": off_in_store.disabled_reason,
            "consecutive_failures": off_in_store.consecutive_failures,
        }
        after |= {"store_enabled": True, "disabled_reason": None, "consecutive_failures": 0}
    return before, after


_HEALTH_MARK = {"ok": "🟢", "failing": "🟠", "disabled": "🔴", "removed": "⚪", "new": "🆕"}
_HEALTH_ORDER = {"failing": 0, "disabled": 1, "ok": 2, "new": 3, "removed": 4}


def _ago(when: datetime | None) -> str:
    return f"<t:{int(when.timestamp())}:R>" if when is not None else "never"


def _health(state: SourceState, spec: SourceSpec | None) -> str:
    """`source_health`, except that a source switched off in the file is disabled, not removed."""
    health = source_health(state)
    # The run loop registers only enabled sources, so one turned off in the file looks removed.
    return "disabled" if health == "removed" and spec is not None and not spec.enabled else health


def source_line(state: SourceState, spec: SourceSpec | None = None) -> str:
    """One source's health: state, failures, last success, last error (feed text made safe)."""
    health = _health(state, spec)
    parts = [f"{_HEALTH_MARK[health]} `{state.id}` {health}"]
    if spec is not None and not spec.enabled:
        parts.append("off in the watchlist")
    if state.disabled_reason:
        parts.append(f"auto-disabled: {truncate(digest_safe(state.disabled_reason), 80)}")
    if state.consecutive_failures:
        count = state.consecutive_failures
        parts.append(f"{count} failure{'s' if count > 1 else ''} in a row")
    parts.append(f"last ok {_ago(state.last_success_at)}")
    if state.last_error and health != "ok":
        status = f"HTTP {state.last_status}: " if state.last_status else ""
        parts.append(f"last error: {status}{truncate(digest_safe(state.last_error), 100)}")
    return " · ".join(parts)


def format_source_list(states: Sequence[SourceState], configured: Sequence[SourceSpec]) -> str:
    """Every source with its health, problems first; file sources not polled yet as "new"."""
    stored = {s.id for s in states}
    specs = {spec.id: spec for spec in configured}
    rows = [
        (_HEALTH_ORDER[_health(s, specs.get(s.id))], s.id, source_line(s, specs.get(s.id)))
        for s in states
    ]
    for spec in configured:
        if spec.id not in stored:
            state = "disabled in the watchlist" if not spec.enabled else "not polled yet"
            rows.append(
                (_HEALTH_ORDER["new"], spec.id, f"{_HEALTH_MARK['new']} `{spec.id}` {state}")
            )
    if not rows:
        return "No sources yet: add one with /source add."
    counts: dict[str, int] = {}
    for s in states:
        health = _health(s, specs.get(s.id))
        counts[health] = counts.get(health, 0) + 1
    parts = [f"{counts[h]} {h}" for h in sorted(counts, key=_HEALTH_ORDER.__getitem__)]
    if len(rows) > len(states):
        parts.append(f"{len(rows) - len(states)} new")
    rows.sort()
    return fit_lines(
        f"**{len(rows)} sources** ({', '.join(parts)}):", [line for _, _, line in rows]
    )
