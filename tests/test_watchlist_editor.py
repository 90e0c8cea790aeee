"""The watchlist editor: validated edits that keep comments and order, written atomically."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bot.errors import WatchlistError
from bot.watchlist import SignalSpec, SourceSpec, WatchlistEditor, atomic_write, parse_watchlist

FIXTURE = Path(__file__).parent / "data" / "watchlists" / "watchlist.yaml"
ORIGINAL = FIXTURE.read_text(encoding="utf-8")

CANAL = """\
  # Shipping: both canals in one signal.
  - id: canal-deals  # Panama / Suez
    title: Canal deals close
    query: '(Panama OR Suez) AND canal AND (deal OR agreement)'
    enabled: false
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A private copy of the sample watchlist."""
    copy = tmp_path / "watchlist.yaml"
    shutil.copyfile(FIXTURE, copy)
    return copy


def replaced(old: str, new: str) -> str:
    """The sample watchlist with `old` (which must occur once) replaced by `new`."""
    assert ORIGINAL.count(old) == 1
    return ORIGINAL.replace(old, new)


def test_fixture_contains_what_the_tests_edit() -> None:
    """The sample file has the canal signal block these tests rely on."""
    assert CANAL in ORIGINAL


# --- signals ---


def test_add_signal_goes_after_the_last_signal(path: Path) -> None:
    """A new signal follows the last one, in the list's style; the rest is byte-identical."""
    spec = SignalSpec(id="chip-pact", title="Chip pacts seal", query="chip AND pact", tags=["tech"])
    change = WatchlistEditor(path).add_signal(spec)
    assert path.read_text(encoding="utf-8") == replaced(
        "    enabled: false\n\n# Feeds",
        "    enabled: false\n\n"
        "  - id: chip-pact\n"
        "    title: Chip pacts seal\n"
        "    query: chip AND pact\n"
        "    tags: [tech]\n"
        "\n# Feeds",
    )
    assert change.item == "signal 'chip-pact'"
    assert change.before is None
    assert change.after == {
        "id": "chip-pact",
        "title": "Chip pacts seal",
        "query": "chip AND pact",
        "tags": ["tech"],
    }
    assert change.watchlist.signal("chip-pact") == spec


def test_multiline_text_is_written_as_a_block(path: Path) -> None:
    """A description with line breaks is written as a `|-` block, and reads back the same."""
    spec = SignalSpec(id="gaza", title="Gaza troops deploy", query="Gaza", description="a\nb")
    WatchlistEditor(path).add_signal(spec)
    assert "    description: |-\n      a\n      b\n" in path.read_text(encoding="utf-8")
    assert parse_watchlist(path.read_text(encoding="utf-8")).signal("gaza") == spec


def test_update_signal_keeps_the_items_comments_and_quotes(path: Path) -> None:
    """Changed keys change in place, quoting style and end-of-line comments stay, None deletes."""
    change = WatchlistEditor(path).update_signal(
        "canal-deals", query="(Panama OR Suez) AND canal", severity="high", enabled=None
    )
    assert path.read_text(encoding="utf-8") == replaced(
        CANAL,
        "  # Shipping: both canals in one signal.\n"
        "  - id: canal-deals  # Panama / Suez\n"
        "    title: Canal deals close\n"
        "    query: '(Panama OR Suez) AND canal'\n"
        "    severity: high\n",
    )
    assert change.before == {
        "id": "canal-deals",
        "title": "Canal deals close",
        "query": "(Panama OR Suez) AND canal AND (deal OR agreement)",
        "enabled": False,
    }
    assert change.after == {
        "id": "canal-deals",
        "title": "Canal deals close",
        "query": "(Panama OR Suez) AND canal",
        "severity": "high",
    }
    assert change.watchlist.signal("canal-deals").enabled is True


def test_remove_signal_takes_its_comment_lines(path: Path) -> None:
    """A removed signal takes the comment right above it and one separating blank line."""
    change = WatchlistEditor(path).remove_signal("canal-deals")
    assert path.read_text(encoding="utf-8") == replaced(CANAL + "\n", "")
    assert change.after is None
    assert change.before is not None and change.before["id"] == "canal-deals"


def test_edit_fixing_a_broken_file_is_allowed(tmp_path: Path) -> None:
    """The editor validates the result, so it can repair a file that is invalid now."""
    path = tmp_path / "watchlist.yaml"
    path.write_text("signals:\n  - id: a\n    title: A\n    query: ''\n", encoding="utf-8")
    WatchlistEditor(path).update_signal("a", query="NATO")
    assert (
        path.read_text(encoding="utf-8") == "signals:\n  - id: a\n    title: A\n    query: 'NATO'\n"
    )


# --- failures change nothing ---


def test_invalid_result_raises_and_leaves_the_file_alone(path: Path) -> None:
    """A bad query is reported against the proposed text; the file keeps every byte."""
    before = path.read_bytes()
    with pytest.raises(WatchlistError) as caught:
        WatchlistEditor(path).update_signal("canal-deals", query="")
    assert caught.value.problems == [
        f"{path} (after edit):27: signal 'canal-deals': query: must not be empty"
    ]
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["watchlist.yaml"]


def test_removing_a_referenced_signal_is_refused(path: Path) -> None:
    """A signal still named by a source cannot be removed."""
    before = path.read_bytes()
    with pytest.raises(WatchlistError) as caught:
        WatchlistEditor(path).remove_signal("ukraine-truce")
    assert caught.value.problems == [
        f"{path} (after edit):31: source 'reuters-europe': signals: unknown signal 'ukraine-truce'"
    ]
    assert path.read_bytes() == before


def test_adding_a_duplicate_id_is_refused(path: Path) -> None:
    """A second signal with an existing id is refused and nothing is written."""
    before = path.read_bytes()
    with pytest.raises(WatchlistError, match="duplicate signal id 'nato-5pct'"):
        WatchlistEditor(path).add_signal(SignalSpec(id="nato-5pct", title="again", query="x"))
    assert path.read_bytes() == before


def test_unknown_id_and_unknown_key_suggest_the_right_one(path: Path) -> None:
    """Naming a signal or a field that does not exist gets a "did you mean"."""
    editor = WatchlistEditor(path)
    with pytest.raises(WatchlistError) as caught:
        editor.update_signal("canal-deal", title="x")
    assert caught.value.problems == [
        f"{path}: no signal 'canal-deal' (did you mean 'canal-deals'?)"
    ]
    with pytest.raises(WatchlistError) as caught:
        editor.update_signal("canal-deals", querry="x")
    assert caught.value.problems == [
        f"{path}: signal 'canal-deals': unknown key 'querry' (did you mean 'query'?)"
    ]
    with pytest.raises(WatchlistError) as caught:
        editor.remove_route("gaza")
    assert caught.value.problems == [f"{path}: no route for 'gaza'"]


def test_file_changed_during_the_edit_is_not_overwritten(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If someone saves the file while an edit validates, the edit gives up."""

    def parse_while_someone_saves(text: str, filename: str) -> object:
        path.write_text(ORIGINAL + "# saved by hand\n", encoding="utf-8")
        return parse_watchlist(text, filename)

    monkeypatch.setattr("bot.watchlist.editor.parse_watchlist", parse_while_someone_saves)
    with pytest.raises(WatchlistError, match="changed on disk during the edit"):
        WatchlistEditor(path).remove_signal("canal-deals")
    assert path.read_text(encoding="utf-8") == ORIGINAL + "# saved by hand\n"


# --- sources ---


def test_add_source_goes_after_the_last_source(path: Path) -> None:
    """Only the fields the caller set are written; the source inherits the rest."""
    change = WatchlistEditor(path).add_source(
        SourceSpec.model_validate(
            {"id": "ap", "url": "https://example.com/ap.rss", "backfill": 5400}
        )
    )
    assert path.read_text(encoding="utf-8") == replaced(
        "    signals: [nato-5pct, ukraine-truce]\n",
        "    signals: [nato-5pct, ukraine-truce]\n"
        "  - id: ap\n"
        "    url: https://example.com/ap.rss\n"
        "    backfill: 1h30m\n",
    )
    assert change.watchlist.source("ap").interval == change.watchlist.defaults.interval


def test_set_source_enabled_adds_the_key_in_schema_order(path: Path) -> None:
    """Switching a source off adds `enabled: false` where the schema puts it."""
    change = WatchlistEditor(path).set_source_enabled("bbc-world", False)
    assert path.read_text(encoding="utf-8") == replaced(
        "    interval: 5m\n", "    interval: 5m\n    enabled: false\n"
    )
    assert change.before is not None and "enabled" not in change.before
    assert change.after is not None and change.after["enabled"] is False
    assert change.watchlist.enabled_sources() == [change.watchlist.source("reuters-europe")]


def test_remove_source(path: Path) -> None:
    """Removing the first source leaves the next one directly under `sources:`."""
    WatchlistEditor(path).remove_source("bbc-world")
    assert path.read_text(encoding="utf-8") == replaced(
        "  - id: bbc-world\n"
        "    url: https://feeds.bbci.co.uk/news/world/rss.xml\n"
        "    interval: 5m\n",
        "",
    )


def test_missing_section_is_appended(tmp_path: Path) -> None:
    """Adding to a section the file lacks appends that section in the file's list style."""
    path = tmp_path / "watchlist.yaml"
    path.write_text("signals:\n- id: a\n  title: A\n  query: x\n", encoding="utf-8")
    WatchlistEditor(path).add_source(SourceSpec(id="s", url="https://example.com/f"))
    assert path.read_text(encoding="utf-8") == (
        "signals:\n- id: a\n  title: A\n  query: x\n\nsources:\n- id: s\n  url: https://example.com/f\n"
    )


def test_empty_section_is_filled_and_emptied_again(tmp_path: Path) -> None:
    """`sources: []` gets its first item in place, and losing the last one restores `[]`."""
    path = tmp_path / "watchlist.yaml"
    text = "signals:\n  - {id: a, title: A, query: x}\nsources: []  # none yet\nroutes: []\n"
    path.write_text(text, encoding="utf-8")
    editor = WatchlistEditor(path)
    editor.add_source(SourceSpec(id="s", url="https://example.com/f"))
    assert path.read_text(encoding="utf-8") == (
        "signals:\n  - {id: a, title: A, query: x}\n"
        "sources:  # none yet\n  - id: s\n    url: https://example.com/f\n"
        "routes: []\n"
    )
    editor.remove_source("s")
    assert path.read_text(encoding="utf-8") == text


def test_flow_style_lists_fall_back_to_a_full_round_trip(tmp_path: Path) -> None:
    """A `[{...}]` list is edited through ruamel's round trip and still validates."""
    path = tmp_path / "watchlist.yaml"
    path.write_text("signals: [{id: a, title: A, query: x}]  # all of them\n", encoding="utf-8")
    change = WatchlistEditor(path).update_signal("a", severity="low")
    # ruamel keeps the comment's column, which now sits right after the longer list.
    assert path.read_text(encoding="utf-8") == (
        "signals: [{id: a, title: A, query: x, severity: low}] # all of them\n"
    )
    assert change.watchlist.signal("a").severity == "low"


def test_windows_line_ends_are_kept(tmp_path: Path) -> None:
    """A CRLF file stays CRLF, new lines included."""
    path = tmp_path / "watchlist.yaml"
    path.write_bytes(b"# c\r\nsignals:\r\n  - id: a\r\n    title: A\r\n    query: x\r\n")
    WatchlistEditor(path).update_signal("a", tags=["t"])
    assert path.read_bytes() == (
        b"# c\r\nsignals:\r\n  - id: a\r\n    title: A\r\n    query: x\r\n    tags: [t]\r\n"
    )


# --- routes ---


def test_set_route_updates_the_existing_route_in_place(path: Path) -> None:
    """A signal's route gets exactly the destinations given; the old webhook goes."""
    change = WatchlistEditor(path).set_route("nato-5pct", channel=42)
    assert path.read_text(encoding="utf-8") == replaced(
        "    webhook: NATO_WEBHOOK_URL   # env var name, not the URL\n", "    channel: 42\n"
    )
    assert change.before == {"signal": "nato-5pct", "webhook": "NATO_WEBHOOK_URL"}
    assert change.after == {"signal": "nato-5pct", "channel": 42}


def test_set_route_appends_a_new_route(path: Path) -> None:
    """A signal without a route gets one at the end of `routes`."""
    change = WatchlistEditor(path).set_route("ukraine-truce", channel=7, webhook="TRUCE_HOOK")
    assert path.read_text(encoding="utf-8") == ORIGINAL + (
        "  - signal: ukraine-truce\n    channel: 7\n    webhook: TRUCE_HOOK\n"
    )
    assert change.before is None
    assert [r.signal for r in change.watchlist.routes_for("ukraine-truce")] == [
        "*",
        "ukraine-truce",
    ]


def test_set_route_without_destination_is_refused(path: Path) -> None:
    """A route needs a channel or a webhook."""
    with pytest.raises(WatchlistError, match="needs a channel or a webhook"):
        WatchlistEditor(path).set_route("ukraine-truce")
    assert path.read_text(encoding="utf-8") == ORIGINAL


def test_remove_route(path: Path) -> None:
    """Removing the catch-all route leaves the other one."""
    WatchlistEditor(path).remove_route("*")
    assert path.read_text(encoding="utf-8") == replaced(
        "  - signal: '*'\n    channel: 123456789012345678\n", ""
    )


# --- atomic write ---


def test_atomic_write_syncs_a_temp_file_in_the_same_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data is fsynced in a sibling temp file, then renamed over the target."""
    target = tmp_path / "watchlist.yaml"
    target.write_bytes(b"old")
    calls: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", fd))
        real_fsync(fd)

    def replace(src: str, dst: Path) -> None:
        calls.append(("replace", (Path(src).parent, Path(src).read_bytes(), dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    steps = [name for name, _ in calls]
    assert steps == ["fsync", "replace", "fsync"]  # file, rename, directory
    assert calls[1][1] == (tmp_path, b"new", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watchlist.yaml"]


def test_atomic_write_failure_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the rename fails, the old content stays and the temp file is cleaned up."""
    target = tmp_path / "watchlist.yaml"
    target.write_bytes(b"old")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["watchlist.yaml"]


def test_atomic_write_keeps_permissions(tmp_path: Path) -> None:
    """The replaced file keeps the mode the old one had (not the temp file's 0600)."""
    target = tmp_path / "watchlist.yaml"
    target.write_bytes(b"old")
    target.chmod(0o644)
    atomic_write(target, b"new")
    assert target.stat().st_mode & 0o777 == 0o644
