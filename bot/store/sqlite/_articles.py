"""SQLite store, matched articles: recent, since a time, and word search."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from bot.store import codec
from bot.store.base import ArticleMatch, ArticleRecord
from bot.store.sqlite._base import SQLiteBase, _chunks


class ArticlesMixin(SQLiteBase):
    """Matched articles: the latest, those since a time, and word search."""

    def recent_articles(self, limit: int, signal_id: str | None = None) -> list[ArticleRecord]:
        """The most recently matched articles, newest first, optionally for one signal."""
        if limit <= 0:
            return []
        with self._transaction("recent_articles", write=False) as db:
            if signal_id is None:
                rows = db.execute(
                    "SELECT * FROM articles ORDER BY matched_at DESC, id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT a.* FROM articles a JOIN article_signals s ON s.article_id = a.id"
                    " WHERE s.signal_id = ? ORDER BY a.matched_at DESC, a.id DESC LIMIT ?",
                    (signal_id, limit),
                ).fetchall()
            return self._articles(db, rows)

    def articles_matching(self, since: datetime, limit: int) -> list[ArticleRecord]:
        """Up to `limit` articles first matched at or after `since`, newest first."""
        start = codec.to_text(since, "since")
        if limit <= 0:
            return []
        with self._transaction("articles_matching", write=False) as db:
            rows = db.execute(
                "SELECT * FROM articles WHERE matched_at >= ?"
                " ORDER BY matched_at DESC, id DESC LIMIT ?",
                (start, limit),
            ).fetchall()
            return self._articles(db, rows)

    def search_articles(self, words: str, limit: int) -> list[ArticleRecord]:
        """Matched articles whose title or summary holds every word (prefixes), newest first."""
        # Words without a letter or digit would be empty FTS phrases (a syntax error there)
        # and match everything under LIKE; a search for them finds nothing.
        terms = [w for w in words.split() if any(c.isalnum() for c in w)]
        if not terms or limit <= 0:
            return []
        with self._transaction("search_articles", write=False) as db:
            if self._search_uses_fts(db):
                # Each word becomes a quoted prefix phrase, so no user text is FTS syntax.
                query = " ".join('"' + t.replace('"', '""') + '"*' for t in terms)
                rows = db.execute(
                    "SELECT a.* FROM articles_fts f JOIN articles a ON a.id = f.rowid"
                    " WHERE articles_fts MATCH ? ORDER BY a.matched_at DESC, a.id DESC LIMIT ?",
                    (query, limit),
                ).fetchall()
            else:
                clause = " AND ".join(
                    "(title LIKE ? ESCAPE '\\' OR summary LIKE ? ESCAPE '\\')" for _ in terms
                )
                params: list[object] = []
                for term in terms:
                    pattern = "%" + _like_escape(term) + "%"
                    params += [pattern, pattern]
                rows = db.execute(
                    f"SELECT * FROM articles WHERE {clause}"
                    " ORDER BY matched_at DESC, id DESC LIMIT ?",
                    (*params, limit),
                ).fetchall()
            return self._articles(db, rows)

    def _search_uses_fts(self, db: sqlite3.Connection) -> bool:
        if self._has_fts is None:
            row = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'articles_fts'"
            ).fetchone()
            self._has_fts = row is not None
        return self._has_fts

    @staticmethod
    def _articles(db: sqlite3.Connection, rows: Sequence[sqlite3.Row]) -> list[ArticleRecord]:
        matches: dict[int, list[ArticleMatch]] = {row["id"]: [] for row in rows}
        for chunk in _chunks(list(matches)):
            marks = ", ".join("?" * len(chunk))
            for m in db.execute(
                "SELECT article_id, signal_id, terms, snippet FROM article_signals"
                f" WHERE article_id IN ({marks}) ORDER BY article_id, position",
                chunk,
            ):
                matches[m["article_id"]].append(
                    ArticleMatch(m["signal_id"], codec.terms_from_json(m["terms"]), m["snippet"])
                )
        return [
            ArticleRecord(
                source_id=row["source_id"],
                key=row["key"],
                title=row["title"],
                summary=row["summary"],
                link=row["link"],
                published=codec.opt_from_text(row["published"]),
                publisher=row["publisher"],
                matches=tuple(matches[row["id"]]),
                matched_at=codec.from_text(row["matched_at"]),
            )
            for row in rows
        ]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
