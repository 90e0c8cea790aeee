"""PostgreSQL store, stories (one alert per story): lookups by time, id and alert."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.store import codec
from bot.store.base import Announcement, KnownStory, StoryCopy
from bot.store.postgres._base import Conn, PostgresBase, Row, utc_of


class StoriesMixin(PostgresBase):
    """Stories: lookups by time, by id and by the alert that announced them."""

    def recent_stories(self, since: datetime) -> list[KnownStory]:
        """Stories with a copy seen at or after `since`, oldest first, with copies and alerts."""
        start = codec.utc(since, "since")
        with self._transaction("recent_stories", write=False) as db:
            rows = db.execute(
                "SELECT * FROM stories WHERE last_seen_at >= %s ORDER BY first_seen_at, id",
                (start,),
            ).fetchall()
            return _stories(db, rows)

    def recent_story_fingerprints(
        self, since: datetime, *, after_id: int = 0
    ) -> list[tuple[int, str, datetime]]:
        """(id, fingerprint, last seen) of the stories seen at or after `since`, oldest first;
        with `after_id`, only those with a greater id."""
        # New stories get their ids under a lock held to commit (see commit_poll), so ids
        # follow commit order: new stories are the ids past the last read.
        with self._transaction("recent_story_fingerprints", write=False) as db:
            rows = db.execute(
                "SELECT id, fingerprint, last_seen_at FROM stories"
                " WHERE last_seen_at >= %s AND id > %s ORDER BY first_seen_at, id",
                (codec.utc(since, "since"), after_id),
            ).fetchall()
        return [(int(r["id"]), str(r["fingerprint"]), utc_of(r["last_seen_at"])) for r in rows]

    def stories_last_seen(self, story_ids: Iterable[int]) -> dict[int, datetime]:
        """When each of these stories was last seen; unknown ids are left out."""
        rows = self._stories_by_id("stories_last_seen", "last_seen_at", story_ids)
        return {story_id: utc_of(value) for story_id, value in rows if isinstance(value, datetime)}

    def story_fingerprints(self, story_ids: Iterable[int]) -> dict[int, str]:
        """The stored fingerprint of each of these stories; unknown ids are left out."""
        rows = self._stories_by_id("story_fingerprints", "fingerprint", story_ids)
        return {story_id: str(value) for story_id, value in rows}

    def _stories_by_id(
        self, operation: str, column: str, story_ids: Iterable[int]
    ) -> list[tuple[int, object]]:
        # `column` is one of our literal column names, never caller text.
        ids = sorted({int(i) for i in story_ids})
        if not ids:
            return []
        with self._transaction(operation, write=False) as db:
            rows = db.execute(
                f"SELECT id, {column} AS v FROM stories WHERE id = ANY(%s)", (ids,)
            ).fetchall()
        return [(int(row["id"]), row["v"]) for row in rows]

    def stories_of_idents(self, idents: Sequence[str], since: datetime) -> dict[str, int]:
        """The oldest story seen at or after `since` each ident's copy was filed under."""
        wanted = list(dict.fromkeys(idents))
        if not wanted:
            return {}
        with self._transaction("stories_of_idents", write=False) as db:
            rows = db.execute(
                "SELECT i.ident, MIN(s.id) AS id FROM story_idents i"
                " JOIN stories s ON s.id = i.story_id"
                " WHERE i.ident = ANY(%s) AND s.last_seen_at >= %s GROUP BY i.ident",
                (wanted, codec.utc(since, "since")),
            ).fetchall()
        return {str(row["ident"]): int(row["id"]) for row in rows}

    def story(self, story_id: int) -> KnownStory | None:
        """One story with its copies and announcements, or None."""
        with self._transaction("story", write=False) as db:
            rows = db.execute("SELECT * FROM stories WHERE id = %s", (story_id,)).fetchall()
            found = _stories(db, rows)
        return found[0] if found else None

    def story_of_alert(self, alert_id: str) -> KnownStory | None:
        """The story an alert announced, or None."""
        with self._transaction("story_of_alert", write=False) as db:
            rows = db.execute(
                "SELECT s.* FROM stories s JOIN story_alerts a ON a.story_id = s.id"
                " WHERE a.alert_id = %s ORDER BY s.id LIMIT 1",
                (alert_id,),
            ).fetchall()
            found = _stories(db, rows)
        return found[0] if found else None


def _stories(db: Conn, rows: Sequence[Row]) -> list[KnownStory]:
    ids = [int(row["id"]) for row in rows]
    copies: dict[int, list[StoryCopy]] = {i: [] for i in ids}
    announced: dict[int, list[Announcement]] = {i: [] for i in ids}
    if ids:
        for c in db.execute(
            "SELECT * FROM story_copies WHERE story_id = ANY(%s) ORDER BY story_id, position",
            (ids,),
        ):
            copies[c["story_id"]].append(
                StoryCopy(c["source_id"], c["key"], c["title"], c["link"], c["publisher"])
            )
        for a in db.execute(
            "SELECT * FROM story_alerts WHERE story_id = ANY(%s)"
            " ORDER BY story_id, signal_id, destination",
            (ids,),
        ):
            announced[a["story_id"]].append(
                Announcement(a["signal_id"], a["destination"], a["alert_id"])
            )
    return [
        KnownStory(
            id=int(row["id"]),
            fingerprint=row["fingerprint"],
            title=row["title"],
            first_seen_at=utc_of(row["first_seen_at"]),
            last_seen_at=utc_of(row["last_seen_at"]),
            copies=tuple(copies[int(row["id"])]),
            announced=tuple(announced[int(row["id"])]),
        )
        for row in rows
    ]
