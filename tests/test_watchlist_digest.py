"""Digest routes in the watchlist: `digest:` and `at:`, their errors by line, and editor round trips."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest
from pydantic import ValidationError

from bot.digest import DigestSchedule
from bot.errors import WatchlistError
from bot.watchlist import RouteSpec, SignalSpec, WatchlistEditor, parse_watchlist

HEAD = """\
signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    query: NATO AND "5%"
routes:
  - signal: nato-5pct
    channel: 123456789012345678
"""


def route_with(extra: str) -> RouteSpec:
    """The one route of HEAD with `extra` (YAML lines, dedented and indented) added."""
    return parse_watchlist(HEAD + _indent(extra)).routes[0]


def problems(extra: str) -> list[str]:
    """What the loader reports for HEAD's route with `extra` added; fails if it loads."""
    with pytest.raises(WatchlistError) as caught:
        parse_watchlist(HEAD + _indent(extra), "watchlist.yaml")
    return caught.value.problems


def _indent(extra: str) -> str:
    return "".join(f"    {line}\n" for line in dedent(extra).splitlines())


# --- valid routes ---


def test_a_route_without_digest_has_no_schedule() -> None:
    """An ordinary route sends each alert: no digest, no schedule."""
    route = route_with("")
    assert (route.digest, route.at, route.schedule) == (None, None, None)


@pytest.mark.parametrize(
    ("extra", "schedule"),
    [
        ("digest: daily", DigestSchedule("daily", 8, 0)),
        ("digest: hourly", DigestSchedule("hourly", 0, 0)),
        ('digest: daily\nat: "18:30"', DigestSchedule("daily", 18, 30)),
        ("digest: daily\nat: 07:05", DigestSchedule("daily", 7, 5)),
        ("digest: daily\nat: 7:05", DigestSchedule("daily", 7, 5)),
        ("digest: daily\nat: '00:00'", DigestSchedule("daily", 0, 0)),
        ("digest: daily\nat: '23:59'", DigestSchedule("daily", 23, 59)),
        ("digest: hourly\nat: :30", DigestSchedule("hourly", 0, 30)),
        ("digest: hourly\nat: ':59'", DigestSchedule("hourly", 0, 59)),
    ],
)
def test_digest_and_at_give_the_schedule(extra: str, schedule: DigestSchedule) -> None:
    """`digest` with or without `at` (defaults 08:00 and :00), quoted or not, gives its schedule."""
    assert route_with(extra).schedule == schedule


def test_schedule_key_and_label_read_well() -> None:
    """The route's schedule names itself for storage and for people."""
    schedule = route_with('digest: daily\nat: "8:00"').schedule
    assert schedule is not None
    assert (schedule.key, schedule.label) == ("daily@08:00", "daily at 08:00 UTC")


# --- errors, with file and line ---


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            'digest: daily\nat: "25:00"',
            "watchlist.yaml:9: route #1: at: '25:00' is not a time of day (00:00 to 23:59, UTC)",
        ),
        (
            "digest: daily\nat: 8am",
            "watchlist.yaml:9: route #1: at: '8am' is not a time of day: "
            "daily digests take a UTC time 'HH:MM', like '08:00'",
        ),
        (
            "digest: daily\nat: '12:60'",
            "watchlist.yaml:9: route #1: at: '12:60' is not a time of day (00:00 to 23:59, UTC)",
        ),
        (
            "digest: daily\nat: ':30'",
            "watchlist.yaml:9: route #1: at: ':30' is not a time of day: "
            "daily digests take a UTC time 'HH:MM', like '08:00'",
        ),
        (
            "digest: hourly\nat: ':75'",
            "watchlist.yaml:9: route #1: at: ':75' is not a minute past the hour (:00 to :59)",
        ),
        (
            "digest: hourly\nat: '08:30'",
            "watchlist.yaml:9: route #1: at: '08:30' is not a minute past the hour: "
            "hourly digests take ':MM', like ':00' or ':30'",
        ),
        (
            "digest: hourly\nat: 30",
            "watchlist.yaml:9: route #1: at: "
            'must be a time in quotes, like "08:00" (daily) or ":30" (hourly)',
        ),
        (
            "at: '08:00'",
            "watchlist.yaml:8: route #1: at: "
            "is only for digests: add `digest: daily` or `digest: hourly`",
        ),
        (
            "digest: weekly",
            "watchlist.yaml:8: route #1: digest: must be 'hourly' or 'daily' (got 'weekly')",
        ),
    ],
)
def test_bad_at_is_reported_on_its_line(extra: str, message: str) -> None:
    """A bad `at` (or `at` without `digest`) names the file, the line of `at` and the fix."""
    assert problems(extra) == [message]


def test_bad_digest_is_reported_once_not_again_for_at() -> None:
    """With `digest` itself wrong, only `digest` is reported: `at` cannot be judged."""
    assert problems("digest: weekly\nat: '08:00'") == [
        "watchlist.yaml:8: route #1: digest: must be 'hourly' or 'daily' (got 'weekly')"
    ]


def test_route_spec_checks_at_outside_the_loader() -> None:
    """Built in code (slash commands), a RouteSpec refuses a bad `at` too."""
    with pytest.raises(ValidationError, match="is not a time of day"):
        RouteSpec(signal="*", channel=1, digest="daily", at="24:00")
    with pytest.raises(ValidationError, match="is only for digests"):
        RouteSpec(signal="*", channel=1, at="08:00")


# --- the editor keeps digests ---

FILE = """\
# Alerts for the newsroom.
signals:
  - id: nato-5pct
    title: NATO spending hits 5%
    query: NATO AND "5%"

routes:
  # One message a day, before the morning meeting.
  - signal: nato-5pct
    channel: 123456789012345678
    digest: daily
    at: "07:30"  # UTC
"""


def test_editor_changes_a_digest_route_and_keeps_digest_and_at(tmp_path: Path) -> None:
    """set_route on a digest route changes the channel only; digest, at and comments stay."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(FILE, encoding="utf-8")
    change = WatchlistEditor(path).set_route("nato-5pct", channel=42)
    assert path.read_text(encoding="utf-8") == FILE.replace("123456789012345678", "42")
    [route] = change.watchlist.routes
    assert route.schedule == DigestSchedule("daily", 7, 30)
    assert change.before is not None and change.after is not None
    assert (change.before["digest"], change.before["at"]) == ("daily", "07:30")
    assert (change.after["digest"], change.after["at"]) == ("daily", "07:30")


def test_editor_leaves_a_digest_route_byte_for_byte(tmp_path: Path) -> None:
    """An edit elsewhere (a new signal) leaves the digest route exactly as written."""
    path = tmp_path / "watchlist.yaml"
    path.write_text(FILE, encoding="utf-8")
    WatchlistEditor(path).add_signal(SignalSpec(id="chips", title="Chip pacts", query="chip"))
    text = path.read_text(encoding="utf-8")
    assert text.endswith(FILE[FILE.index("\nroutes:") :])
    assert parse_watchlist(text).routes[0].schedule == DigestSchedule("daily", 7, 30)


def test_a_digest_route_dumps_and_loads_back_the_same() -> None:
    """model_dump of a digest route validates back to an equal route (the editor writes dumps)."""
    route = RouteSpec(signal="*", webhook="DIGEST_HOOK", digest="hourly", at=":15")
    dumped = route.model_dump(mode="json", exclude_unset=True)
    assert dumped == {"signal": "*", "webhook": "DIGEST_HOOK", "digest": "hourly", "at": ":15"}
    assert RouteSpec.model_validate(dumped) == route
