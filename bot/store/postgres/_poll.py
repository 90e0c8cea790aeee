"""PostgreSQL store, seen entries and `commit_poll`, the one transaction a poll ends with."""

from __future__ import annotations

from collections.abc import Sequence
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
from bot.store.postgres._base import Conn, PostgresBase, utc_of, utc_or_none
from bot.store.postgres._outbox import insert_alerts
from bot.store.postgres._sources import check_lease
from bot.store.records import story_rows

# Held (per transaction) while a poll files new stories, so that story ids are handed out in
# commit order: a reader that knows the stories up to some id (`recent_story_fingerprints`
# with `after_id`) then never misses one committed later under a smaller id.
STORY_ID_LOCK = 0x5167_5374_6F72


class PollMixin(PostgresBase):
    """Seen entries, and `commit_poll` with the article and story writes it makes."""

    def unseen(self, source_id: str, entries: Sequence[Entry], identify: Identify) -> list[Entry]:
        """The entries this source has not given us before, in order; batch repeats dropped."""
        identities = [identify(entry) for entry in entries]
        keys = sorted({i.key for i in identities})
        links = sorted({i.link for i in identities if i.link})
        titles = sorted({i.title_norm for i in identities if i.title_norm})
        with self._transaction("unseen", write=False) as db:
            seen_keys = _seen_values(db, source_id, "key", keys)
            seen_links = _seen_values(db, source_id, "link", links)
            seen_titles = _seen_values(db, source_id, "title_norm", titles)
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

    def recent_seen(self, limit: int) -> list[SeenText]:
        """The text of the most recently seen entries that have some, newest first."""
        if limit <= 0:
            return []
        with self._transaction("recent_seen", write=False) as db:
            # Walks seen_by_age newest first (nearly every row has text) and stops at `limit`.
            rows = db.execute(
                "SELECT source_id, key, link, published, first_seen_at, title, summary FROM seen"
                " WHERE title IS NOT NULL OR summary IS NOT NULL"
                " ORDER BY first_seen_at DESC, published DESC NULLS LAST, source_id, key"
                " LIMIT %s",
                (limit,),
            ).fetchall()
        return [
            SeenText(
                source_id=row["source_id"],
                key=row["key"],
                title=row["title"] or "",
                summary=row["summary"] or "",
                link=row["link"],
                published=utc_or_none(row["published"]),
                first_seen_at=utc_of(row["first_seen_at"]),
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
        at = codec.utc(now, "now")
        # Encoded before the transaction: an alert that cannot be stored fails it untouched.
        seen_rows = [
            (
                source_id,
                ident.key,
                ident.link or None,
                ident.title_norm or None,
                None if ident.published is None else codec.utc(ident.published, "published"),
                at,
                ident.title or None,
                (ident.summary or "")[:SEEN_SUMMARY_MAX_CHARS] or None,
            )
            for ident in seen
        ]
        # Rows go in key order: two polls committing the same entries at once lock them in
        # the same order, so the second waits for the first instead of deadlocking with it,
        # and then its ON CONFLICT DO NOTHING finds them there.
        seen_rows.sort(key=lambda r: str(r[1]))
        digest_rows = sorted(
            (
                (
                    item.alert.alert_id,
                    item.alert.destination,
                    item.schedule,
                    codec.alert_to_json(item.alert),
                    at,
                )
                for item in digest_items
            ),
            key=lambda r: str(r[0]),
        )
        enqueued = 0
        with self._transaction("commit_poll") as db:
            self._require_source(db, source_id)
            check_lease(db, source_id, lease, at)
            with db.cursor() as cur:
                # ON CONFLICT names its target, so NOT NULL and CHECK violations still fail
                # the poll instead of being swallowed.
                cur.executemany(
                    "INSERT INTO seen (source_id, key, link, title_norm, published, first_seen_at,"
                    " title, summary) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    " ON CONFLICT (source_id, key) DO NOTHING",
                    seen_rows,
                )
            _insert_articles(db, articles)
            enqueued = insert_alerts(db, alerts, at)
            _write_stories(db, stories, at)
            with db.cursor() as cur:
                cur.executemany(
                    "INSERT INTO digest_items (alert_id, destination, schedule, payload,"
                    " created_at) VALUES (%s, %s, %s, %s, %s) ON CONFLICT (alert_id) DO NOTHING",
                    digest_rows,
                )
            db.execute(
                "UPDATE sources SET first_fetch_done = TRUE WHERE id = %s AND NOT first_fetch_done",
                (source_id,),
            )
        return enqueued


def _seen_values(db: Conn, source_id: str, column: str, values: Sequence[str]) -> set[str]:
    # `column` is one of our three literal column names, never caller text.
    if not values:
        return set()
    rows = db.execute(
        f"SELECT {column} AS v FROM seen WHERE source_id = %s AND {column} = ANY(%s)",
        (source_id, list(values)),
    ).fetchall()
    return {row["v"] for row in rows}


def _write_stories(db: Conn, writes: Sequence[StoryWrite], at: datetime) -> None:
    """File each write's copy under its story. Known stories are touched one statement each
    (the UPDATE locks a story's row, so two polls adding copies to one story take turns and
    each copy gets a position of its own); new stories take their ids from the sequence in
    one query; the new stories, copies, idents and announcements then go in one pipelined
    statement per table (psycopg's executemany: one round trip)."""
    fresh_ids: list[int] = []
    new_refs = {w.new_ref for w in writes if w.story_id is None}
    if new_refs:
        # Ids for the new stories in one round trip, under the lock: handed out in commit order.
        db.execute("SELECT pg_advisory_xact_lock(%s)", (STORY_ID_LOCK,))
        rows = db.execute(
            "SELECT nextval(pg_get_serial_sequence('stories', 'id')) AS id"
            " FROM generate_series(1, %s)",
            (len(new_refs),),
        ).fetchall()
        fresh_ids = sorted((int(row["id"]) for row in rows), reverse=True)
    stories: list[tuple[object, ...]] = []

    def create(write: StoryWrite) -> int:
        story_id = fresh_ids.pop()
        stories.append((story_id, write.fingerprint, write.copy.title, at, at))
        return story_id

    def touch(story_id: int) -> None:
        updated = db.execute("UPDATE stories SET last_seen_at = %s WHERE id = %s", (at, story_id))
        if updated.rowcount == 0:
            raise StoreError(f"no story {story_id}")

    copies, idents, announcements = story_rows(writes, at, create, touch)
    with db.cursor() as cur:
        if stories:
            cur.executemany(
                "INSERT INTO stories (id, fingerprint, title, first_seen_at, last_seen_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                stories,
            )
        # Row by row in order within the one statement: a copy's position counts the copies
        # the rows before it added.
        if copies:
            cur.executemany(
                "INSERT INTO story_copies (story_id, position, source_id, key, title, link,"
                " publisher, added_at) SELECT %s, COALESCE(MAX(position) + 1, 0), %s, %s, %s,"
                " %s, %s, %s FROM story_copies WHERE story_id = %s"
                " ON CONFLICT (story_id, source_id, key) DO NOTHING",
                copies,
            )
        if idents:
            cur.executemany(
                "INSERT INTO story_idents (ident, story_id) VALUES (%s, %s)"
                " ON CONFLICT (ident, story_id) DO NOTHING",
                idents,
            )
        if announcements:
            cur.executemany(
                "INSERT INTO story_alerts (story_id, signal_id, destination, alert_id)"
                " VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (story_id, signal_id, destination) DO NOTHING",
                announcements,
            )


def _insert_articles(db: Conn, articles: Sequence[ArticleRecord]) -> None:
    """Store matched articles and their signals, in four round trips however many there are.

    The first stored copy of an article wins; a replay or a later signal only adds the
    signals not recorded yet, after the ones there (positions 0, 1, …).
    """
    if not articles:
        return
    # In the poll's order, as before and as SQLite does: article ids (the order timelines
    # list them in) follow it. A poll's articles are its own source's, which one worker
    # holds at a time, so no two polls insert the same ones at once.
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO articles (source_id, key, title, summary, link, published, publisher,"
            " matched_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (source_id, key) DO NOTHING",
            [
                (a.source_id, a.key, a.title, a.summary, a.link,
                 None if a.published is None else codec.utc(a.published, "published"),
                 a.publisher, codec.utc(a.matched_at, "matched_at"))
                for a in articles
            ],
        )  # fmt: skip
    # FOR UPDATE: two polls adding signals to one article take turns, so positions stay
    # distinct and in order.
    rows = db.execute(
        "SELECT a.id, a.source_id, a.key FROM articles a"
        " JOIN unnest(%s::text[], %s::text[]) AS k(source_id, key) USING (source_id, key)"
        " ORDER BY a.id FOR UPDATE OF a",
        ([a.source_id for a in articles], [a.key for a in articles]),
    ).fetchall()
    ids = {(row["source_id"], row["key"]): int(row["id"]) for row in rows}
    taken: dict[int, set[str]] = {}
    next_position: dict[int, int] = {}
    for row in db.execute(
        "SELECT article_id, signal_id, position FROM article_signals WHERE article_id = ANY(%s)",
        (list(ids.values()),),
    ):
        article_id = int(row["article_id"])
        taken.setdefault(article_id, set()).add(row["signal_id"])
        next_position[article_id] = max(next_position.get(article_id, 0), row["position"] + 1)
    signal_rows: list[tuple[object, ...]] = []
    for article in articles:
        article_id = ids[(article.source_id, article.key)]  # inserted just now, or there
        had = taken.setdefault(article_id, set())
        matched_at = codec.utc(article.matched_at, "matched_at")
        for match in article.matches:
            if match.signal_id in had:
                continue
            had.add(match.signal_id)
            position = next_position.get(article_id, 0)
            next_position[article_id] = position + 1
            signal_rows.append(
                (article_id, match.signal_id, position, codec.terms_to_json(match.terms),
                 match.snippet, matched_at)
            )  # fmt: skip
    if signal_rows:
        with db.cursor() as cur:
            cur.executemany(
                "INSERT INTO article_signals (article_id, signal_id, position, terms, snippet,"
                " matched_at) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (article_id, signal_id) DO NOTHING",
                signal_rows,
            )
