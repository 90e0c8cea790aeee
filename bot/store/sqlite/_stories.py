"""SQLite store, stories (one alert per story): lookups by time, id and alert."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.store import codec
from bot.store.base import Announcement, KnownStory, StoryCopy
from bot.store.sqlite._base import SQLiteBase, _chunks


class StoriesMixin(SQLiteBase):
    """Stories: lookups by time, by id and by the alert that announced them."""

    def recent_stories(self, since: datetime) -> list[KnownStory]:
        """Stories with a copy seen at or after `since`, oldest first, with copies and alerts."""
        start = codec.to_text(since, "since")
        with self._transaction("recent_stories", write=False) as db:
            rows = db.execute(
                "SELECT * FROM stories WHERE last_seen_at >= ? ORDER BY first_seen_at, id",
                (start,),
            ).fetchall()
            return self._stories(db, rows)

    def recent_story_fingerprints(
        self, since: datetime, *, after_id: int = 0
    ) -> list[tuple[int, str, datetime]]:
        """(id, fingerprint, last seen) of the stories seen at or after `since`, oldest first;
        with `after_id`, only those with a greater id."""
        # Rows are ids in commit order (one writer at a time): new stories are the ids past
        # the last read.
        with self._transaction("recent_story_fingerprints", write=False) as db:
            rows = db.execute(
                "SELECT id, fingerprint, last_seen_at FROM stories"
                " WHERE last_seen_at >= ? AND id > ? ORDER BY first_seen_at, id",
                (codec.to_text(since, "since"), after_id),
            ).fetchall()
        return [(int(row[0]), str(row[1]), codec.from_text(row[2])) for row in rows]

    def stories_last_seen(self, story_ids: Iterable[int]) -> dict[int, datetime]:
        """When each of these stories was last seen; unknown ids are left out."""
        rows = self._stories_by_id("stories_last_seen", "last_seen_at", story_ids)
        return {story_id: codec.from_text(value) for story_id, value in rows}

    def story_fingerprints(self, story_ids: Iterable[int]) -> dict[int, str]:
        """The stored fingerprint of each of these stories; unknown ids are left out."""
        return dict(self._stories_by_id("story_fingerprints", "fingerprint", story_ids))

    def _stories_by_id(
        self, operation: str, column: str, story_ids: Iterable[int]
    ) -> list[tuple[int, str]]:
        # `column` is one of our literal column names, never caller text.
        found: list[tuple[int, str]] = []
        with self._transaction(operation, write=False) as db:
            for chunk in _chunks(sorted(set(story_ids))):
                marks = ", ".join("?" * len(chunk))
                found += [
                    (int(row[0]), str(row[1]))
                    for row in db.execute(
                        f"SELECT id, {column} FROM stories WHERE id IN ({marks})", chunk
                    )
                ]
        return found

    def stories_of_idents(self, idents: Sequence[str], since: datetime) -> dict[str, int]:
        """The oldest story seen at or after `since` each ident's copy was filed under."""
        wanted = list(dict.fromkeys(idents))
        found: dict[str, int] = {}
        if not wanted:
            return found
        at = codec.to_text(since, "since")
        with self._transaction("stories_of_idents", write=False) as db:
            for chunk in _chunks(wanted):
                marks = ", ".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT i.ident, MIN(s.id) FROM story_idents i"
                    " JOIN stories s ON s.id = i.story_id"
                    f" WHERE i.ident IN ({marks}) AND s.last_seen_at >= ? GROUP BY i.ident",
                    (*chunk, at),
                ).fetchall()
                found.update((str(row[0]), int(row[1])) for row in rows)
        return found

    def story(self, story_id: int) -> KnownStory | None:
        """One story with its copies and announcements, or None."""
        with self._transaction("story", write=False) as db:
            rows = db.execute("SELECT * FROM stories WHERE id = ?", (story_id,)).fetchall()
            found = self._stories(db, rows)
        return found[0] if found else None

    def story_of_alert(self, alert_id: str) -> KnownStory | None:
        """The story an alert announced, or None."""
        with self._transaction("story_of_alert", write=False) as db:
            rows = db.execute(
                "SELECT s.* FROM stories s JOIN story_alerts a ON a.story_id = s.id"
                " WHERE a.alert_id = ? LIMIT 1",
                (alert_id,),
            ).fetchall()
            found = self._stories(db, rows)
        return found[0] if found else None

    @staticmethod
    def _stories(db: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> list[KnownStory]:
        ids = [row["id"] for row in rows]
        copies: dict[int, list[StoryCopy]] = {i: [] for i in ids}
        announced: dict[int, list[Announcement]] = {i: [] for i in ids}
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            for c in db.execute(
                f"SELECT * FROM story_copies WHERE story_id IN ({marks})"
                " ORDER BY story_id, position",
                chunk,
            ):
                copies[c["story_id"]].append(
                    StoryCopy(c["source_id"], c["key"], c["title"], c["link"], c["publisher"])
                )
            for a in db.execute(
                f"SELECT * FROM story_alerts WHERE story_id IN ({marks})"
                " ORDER BY story_id, signal_id, destination",
                chunk,
            ):
                announced[a["story_id"]].append(
                    Announcement(a["signal_id"], a["destination"], a["alert_id"])
                )
        return [
            KnownStory(
                id=row["id"],
                fingerprint=row["fingerprint"],
                title=row["title"],
                first_seen_at=codec.from_text(row["first_seen_at"]),
                last_seen_at=codec.from_text(row["last_seen_at"]),
                copies=tuple(copies[row["id"]]),
                announced=tuple(announced[row["id"]]),
            )
            for row in rows
        ]
