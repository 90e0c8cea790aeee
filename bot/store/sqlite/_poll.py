"""SQLite store, seen entries and `commit_poll`, the one transaction a poll ends with."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.errors import StoreError
from bot.model import Alert, Entry
from bot.store import codec
from bot.store.base import (
    SEEN_SUMMARY_MAX_CHARS,
    ArticleRecord,
    DigestItem,
    EntryIdentity,
    Identify,
    SeenText,
    StoryWrite,
)
from bot.store.leases import Lease
from bot.store.records import story_rows
from bot.store.sqlite._base import SQLiteBase, _chunks
from bot.store.sqlite._outbox import insert_alerts
from bot.store.sqlite._sources import check_lease


class PollMixin(SQLiteBase):
    """Seen entries, and `commit_poll` with the article and story writes it makes."""

    def unseen(self, source_id: str, entries: Sequence[Entry], identify: Identify) -> list[Entry]:
        """The entries this source has not given us before, in order; batch repeats dropped."""
        identities = [identify(entry) for entry in entries]
        keys = {i.key for i in identities}
        links = {i.link for i in identities if i.link}
        titles = {i.title_norm for i in identities if i.title_norm}
        with self._transaction("unseen", write=False) as db:
            seen_keys = self._seen_values(db, source_id, "key", sorted(keys))
            seen_links = self._seen_values(db, source_id, "link", sorted(links))
            seen_titles = self._seen_values(db, source_id, "title_norm", sorted(titles))
        fresh: list[Entry] = []
        for entry, ident in zip(entries, identities, strict=True):
            if (
                ident.key in seen_keys
                or (ident.link and ident.link in seen_links)
                or (ident.title_norm and ident.title_norm in seen_titles)
            ):
                continue
            fresh.append(entry)
            # later entries in this batch repeating this one are not new either
            seen_keys.add(ident.key)
            if ident.link:
                seen_links.add(ident.link)
            if ident.title_norm:
                seen_titles.add(ident.title_norm)
        return fresh

    @staticmethod
    def _seen_values(
        db: sqlite3.Connection, source_id: str, column: str, values: Sequence[str]
    ) -> set[str]:
        # `column` is one of our three literal column names, never caller text.
        found: set[str] = set()
        for chunk in _chunks(values):
            marks = ", ".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT {column} FROM seen WHERE source_id = ? AND {column} IN ({marks})",
                (source_id, *chunk),
            )
            found.update(row[0] for row in rows)
        return found

    def recent_seen(self, limit: int) -> list[SeenText]:
        """The text of the most recently seen entries that have some, newest first."""
        if limit <= 0:
            return []
        with self._transaction("recent_seen", write=False) as db:
            # Walks seen_by_age newest first (nearly every row has text) and stops at `limit`;
            # named, because without statistics the planner guesses a scan for a small limit.
            rows = db.execute(
                "SELECT source_id, key, link, published, first_seen_at, title, summary"
                " FROM seen INDEXED BY seen_by_age WHERE title IS NOT NULL OR summary IS NOT NULL"
                " ORDER BY first_seen_at DESC, published IS NULL, published DESC, source_id, key"
                " LIMIT ?",
                (limit,),
            ).fetchall()
        return [
            SeenText(
                source_id=row["source_id"],
                key=row["key"],
                title=row["title"] or "",
                summary=row["summary"] or "",
                link=row["link"],
                published=codec.opt_from_text(row["published"]),
                first_seen_at=codec.from_text(row["first_seen_at"]),
            )
            for row in rows
        ]

    def commit_poll(
        self,
        source_id: str,
        now: datetime,
        *,
        seen: Sequence[EntryIdentity],
        articles: Sequence[ArticleRecord],
        alerts: Sequence[Alert],
        stories: Sequence[StoryWrite] = (),
        digest_items: Sequence[DigestItem] = (),
        lease: Lease | None = None,
    ) -> int:
        """In one transaction: mark entries seen, keep matched articles, enqueue alerts."""
        at = codec.to_text(now, "now")
        enqueued = 0
        with self._transaction("commit_poll", durable=True) as db:
            self._require_source(db, source_id)
            check_lease(db, source_id, lease, at)
            # One statement per table: executemany, and RETURNING instead of reading back.
            # ON CONFLICT names its target, unlike INSERT OR IGNORE, which would also
            # swallow NOT NULL and CHECK violations and so hide a broken batch.
            if seen:
                db.executemany(
                    "INSERT INTO seen (source_id, key, link, title_norm, published, first_seen_at,"
                    " title, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (source_id, key) DO NOTHING",
                    [
                        (
                            source_id,
                            ident.key,
                            ident.link or None,
                            ident.title_norm or None,
                            codec.opt_to_text(ident.published, "published"),
                            at,
                            ident.title or None,
                            (ident.summary or "")[:SEEN_SUMMARY_MAX_CHARS] or None,
                        )
                        for ident in seen
                    ],
                )
            self._insert_articles(db, articles)
            enqueued = insert_alerts(db, alerts, at)
            self._write_stories(db, stories, at)
            if digest_items:
                db.executemany(
                    "INSERT INTO digest_items (alert_id, destination, schedule, payload,"
                    " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (alert_id) DO NOTHING",
                    [
                        (
                            item.alert.alert_id,
                            item.alert.destination,
                            item.schedule,
                            codec.alert_to_json(item.alert),
                            at,
                        )
                        for item in digest_items
                    ],
                )
            db.execute("UPDATE sources SET first_fetch_done = 1 WHERE id = ?", (source_id,))
        return enqueued

    @staticmethod
    def _write_stories(db: sqlite3.Connection, writes: Sequence[StoryWrite], at: str) -> None:
        def create(write: StoryWrite) -> int:
            cursor = db.execute(
                "INSERT INTO stories (fingerprint, title, first_seen_at, last_seen_at)"
                " VALUES (?, ?, ?, ?)",
                (write.fingerprint, write.copy.title, at, at),
            )
            return int(cursor.lastrowid or 0)

        def touch(story_id: int) -> None:
            updated = db.execute("UPDATE stories SET last_seen_at = ? WHERE id = ?", (at, story_id))
            if updated.rowcount == 0:
                raise StoreError(f"no story {story_id}")

        copies, idents, announcements = story_rows(writes, at, create, touch)
        # One statement per table, run row by row in order: a copy's position counts the
        # copies the rows before it added.
        if copies:
            db.executemany(
                "INSERT INTO story_copies (story_id, position, source_id, key, title, link,"
                " publisher, added_at) SELECT ?, COALESCE(MAX(position) + 1, 0), ?, ?, ?, ?, ?, ?"
                " FROM story_copies WHERE story_id = ?"
                " ON CONFLICT (story_id, source_id, key) DO NOTHING",
                copies,
            )
        if idents:
            db.executemany(
                "INSERT INTO story_idents (ident, story_id) VALUES (?, ?)"
                " ON CONFLICT (ident, story_id) DO NOTHING",
                idents,
            )
        if announcements:
            db.executemany(
                "INSERT INTO story_alerts (story_id, signal_id, destination, alert_id)"
                " VALUES (?, ?, ?, ?)"
                " ON CONFLICT (story_id, signal_id, destination) DO NOTHING",
                announcements,
            )

    @staticmethod
    def _insert_articles(db: sqlite3.Connection, articles: Sequence[ArticleRecord]) -> None:
        """Store matched articles and their signals. The first stored copy of an article
        wins; a replay or a later signal only adds the signals not recorded yet."""
        signal_rows: list[tuple[int, str, int, str, str, str]] = []
        for article in articles:
            matched_at = codec.to_text(article.matched_at, "matched_at")
            row = db.execute(
                "INSERT INTO articles (source_id, key, title, summary, link, published,"
                " publisher, matched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (source_id, key) DO NOTHING RETURNING id",
                (
                    article.source_id,
                    article.key,
                    article.title,
                    article.summary,
                    article.link,
                    codec.opt_to_text(article.published, "published"),
                    article.publisher,
                    matched_at,
                ),
            ).fetchone()
            if row is not None:  # new: its signals take positions 0, 1, …
                article_id, position = int(row[0]), 0
            else:  # stored before: its signals so far keep their positions
                article_id = db.execute(
                    "SELECT id FROM articles WHERE source_id = ? AND key = ?",
                    (article.source_id, article.key),
                ).fetchone()[0]
                taken = {
                    r[0]: r[1]
                    for r in db.execute(
                        "SELECT signal_id, position FROM article_signals WHERE article_id = ?",
                        (article_id,),
                    )
                }
                position = max(taken.values(), default=-1) + 1
                matches = [m for m in article.matches if m.signal_id not in taken]
                article = replace(article, matches=tuple(matches))
            for match in article.matches:
                signal_rows.append(
                    (
                        article_id,
                        match.signal_id,
                        position,
                        codec.terms_to_json(match.terms),
                        match.snippet,
                        matched_at,
                    )
                )
                position += 1
        if signal_rows:
            db.executemany(
                "INSERT INTO article_signals (article_id, signal_id, position, terms, snippet,"
                " matched_at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (article_id, signal_id) DO NOTHING",
                signal_rows,
            )
