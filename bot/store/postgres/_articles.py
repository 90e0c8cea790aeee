"""PostgreSQL store, matched articles: recent, since a time, and word search."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from bot.store import codec
from bot.store.base import ArticleMatch, ArticleRecord
from bot.store.postgres._base import Conn, PostgresBase, Row, utc_of, utc_or_none

# The runs of letters and digits in a search word: what the 'simple' text-search parser
# keeps of it too ("5%" is the word "5", "e-mail" the words "e" and "mail").
_WORD_RUN = re.compile(r"[^\W_]+")


class ArticlesMixin(PostgresBase):
    """Matched articles: the latest, those since a time, and word search."""

    def recent_articles(self, limit: int, signal_id: str | None = None) -> list[ArticleRecord]:
        """The most recently matched articles, newest first, optionally for one signal."""
        if limit <= 0:
            return []
        with self._transaction("recent_articles", write=False) as db:
            if signal_id is None:
                rows = db.execute(
                    "SELECT * FROM articles ORDER BY matched_at DESC, id DESC LIMIT %s", (limit,)
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT a.* FROM articles a JOIN article_signals s ON s.article_id = a.id"
                    " WHERE s.signal_id = %s ORDER BY a.matched_at DESC, a.id DESC LIMIT %s",
                    (signal_id, limit),
                ).fetchall()
            return _articles(db, rows)

    def articles_matching(self, since: datetime, limit: int) -> list[ArticleRecord]:
        """Up to `limit` articles first matched at or after `since`, newest first."""
        start = codec.utc(since, "since")
        if limit <= 0:
            return []
        with self._transaction("articles_matching", write=False) as db:
            rows = db.execute(
                "SELECT * FROM articles WHERE matched_at >= %s"
                " ORDER BY matched_at DESC, id DESC LIMIT %s",
                (start, limit),
            ).fetchall()
            return _articles(db, rows)

    def search_articles(self, words: str, limit: int) -> list[ArticleRecord]:
        """Matched articles whose title or summary holds every word (prefixes), newest first."""
        # Each run of letters and digits becomes a prefix lexeme ('run':*), all of them
        # required: no user text is ever tsquery syntax, and words with no letter or digit
        # (which would match everything) find nothing, as on SQLite.
        runs = [run for word in words.split() for run in _WORD_RUN.findall(word)]
        if not runs or limit <= 0:
            return []
        query = " & ".join(f"'{run.lower()}':*" for run in runs)
        with self._transaction("search_articles", write=False) as db:
            rows = db.execute(
                "SELECT * FROM articles WHERE search @@ to_tsquery('simple', %s)"
                " ORDER BY matched_at DESC, id DESC LIMIT %s",
                (query, limit),
            ).fetchall()
            return _articles(db, rows)


def _articles(db: Conn, rows: Sequence[Row]) -> list[ArticleRecord]:
    matches: dict[int, list[ArticleMatch]] = {row["id"]: [] for row in rows}
    if matches:
        for m in db.execute(
            "SELECT article_id, signal_id, terms, snippet FROM article_signals"
            " WHERE article_id = ANY(%s) ORDER BY article_id, position",
            (list(matches),),
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
            published=utc_or_none(row["published"]),
            publisher=row["publisher"],
            matches=tuple(matches[row["id"]]),
            matched_at=utc_of(row["matched_at"]),
        )
        for row in rows
    ]
