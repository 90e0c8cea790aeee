"""PostgreSQL store, subscribers' feedback: one verdict per user and alert, with the item judged."""

from __future__ import annotations

from datetime import datetime

from bot.model import Alert
from bot.store import codec
from bot.store.base import VERDICTS, JudgedItem, Judgement, Verdict
from bot.store.postgres._base import Conn, PostgresBase, Row, utc_of, utc_or_none


class FeedbackMixin(PostgresBase):
    """Subscribers' verdicts on alerts: record, withdraw, read back."""

    def record_feedback(
        self,
        alert_id: str,
        user_id: int,
        verdict: Verdict,
        now: datetime,
        *,
        message_id: int | None = None,
    ) -> Judgement | None:
        """Record the user's verdict on a story alert, replacing theirs; None if no such alert."""
        at = codec.utc(now, "now")
        user = codec.snowflake(user_id, "user_id")
        message = codec.opt_snowflake(message_id, "message_id")
        if verdict not in VERDICTS:
            raise ValueError(f"a verdict is 1 or -1, not {verdict!r}")
        with self._transaction("record_feedback") as db:
            row = db.execute(
                "SELECT payload FROM outbox WHERE alert_id = %s AND kind = 'story'", (alert_id,)
            ).fetchone()
            if row is None:
                return None
            alert = codec.alert_from_json(row["payload"])
            item = _judged_item(db, alert)
            stored = db.execute(
                "INSERT INTO feedback (alert_id, user_id, message_id, signal_id, source_id,"
                " item_key, title, summary, link, publisher, published, verdict, at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (alert_id, user_id) DO UPDATE SET verdict = excluded.verdict,"
                " at = excluded.at,"
                " message_id = COALESCE(excluded.message_id, feedback.message_id)"
                " RETURNING *",
                (
                    alert_id,
                    user,
                    message,
                    alert.signal_id,
                    item.source_id,
                    item.key,
                    item.title,
                    item.summary,
                    item.link,
                    item.publisher,
                    item.published,
                    verdict,
                    at,
                ),
            ).fetchone()
        assert stored is not None  # INSERT ... RETURNING always gives the row
        return _judgement(stored)

    def withdraw_feedback(self, alert_id: str, user_id: int) -> bool:
        """Remove the user's verdict on the alert; True if there was one."""
        user = codec.snowflake(user_id, "user_id")
        with self._transaction("withdraw_feedback") as db:
            cursor = db.execute(
                "DELETE FROM feedback WHERE alert_id = %s AND user_id = %s", (alert_id, user)
            )
        return cursor.rowcount > 0

    def feedback_verdict(self, alert_id: str, user_id: int) -> Verdict | None:
        """The user's current verdict on the alert, or None."""
        user = codec.snowflake(user_id, "user_id")
        with self._transaction("feedback_verdict", write=False) as db:
            row = db.execute(
                "SELECT verdict FROM feedback WHERE alert_id = %s AND user_id = %s",
                (alert_id, user),
            ).fetchone()
        return None if row is None else _verdict(row["verdict"])

    def feedback_since(self, since: datetime, signal_id: str | None = None) -> list[Judgement]:
        """Every current verdict given at or after `since`, oldest first."""
        start = codec.utc(since, "since")
        with self._transaction("feedback_since", write=False) as db:
            if signal_id is None:
                rows = db.execute(
                    "SELECT * FROM feedback WHERE at >= %s ORDER BY at, alert_id, user_id",
                    (start,),
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM feedback WHERE signal_id = %s AND at >= %s"
                    " ORDER BY at, alert_id, user_id",
                    (signal_id, start),
                ).fetchall()
        return [_judgement(row) for row in rows]

    def feedback_tallies(self, signal_id: str, since: datetime) -> list[tuple[int, int]]:
        """Per item judged on the signal at or after `since`: (right, wrong) verdicts."""
        start = codec.utc(since, "since")
        with self._transaction("feedback_tallies", write=False) as db:
            rows = db.execute(
                "SELECT COUNT(*) FILTER (WHERE verdict > 0) AS up,"
                " COUNT(*) FILTER (WHERE verdict < 0) AS down FROM feedback"
                " WHERE signal_id = %s AND at >= %s GROUP BY source_id, item_key",
                (signal_id, start),
            ).fetchall()
        return [(int(row["up"]), int(row["down"])) for row in rows]


def _judged_item(db: Conn, alert: Alert) -> JudgedItem:
    """The alert's item: its matched article's key and summary where the store has it."""
    row = None
    if alert.link:
        row = db.execute(
            "SELECT key, summary, publisher FROM articles WHERE source_id = %s AND link = %s"
            " ORDER BY matched_at DESC, id DESC LIMIT 1",
            (alert.source_id, alert.link),
        ).fetchone()
    if row is None:
        row = db.execute(
            "SELECT key, summary, publisher FROM articles WHERE source_id = %s AND title = %s"
            " ORDER BY matched_at DESC, id DESC LIMIT 1",
            (alert.source_id, alert.title),
        ).fetchone()
    return JudgedItem(
        source_id=alert.source_id,
        key=row["key"] if row is not None else (alert.link or alert.title),
        title=alert.title,
        summary=row["summary"] if row is not None else "",
        link=alert.link,
        publisher=alert.publisher or (row["publisher"] if row is not None else None),
        published=alert.published,
    )


def _verdict(value: int) -> Verdict:
    return 1 if value > 0 else -1


def _judgement(row: Row) -> Judgement:
    return Judgement(
        alert_id=row["alert_id"],
        user_id=row["user_id"],
        signal_id=row["signal_id"],
        verdict=_verdict(row["verdict"]),
        at=utc_of(row["at"]),
        item=JudgedItem(
            source_id=row["source_id"],
            key=row["item_key"],
            title=row["title"],
            summary=row["summary"],
            link=row["link"],
            publisher=row["publisher"],
            published=utc_or_none(row["published"]),
        ),
        message_id=row["message_id"],
    )
