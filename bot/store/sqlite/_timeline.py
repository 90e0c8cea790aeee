"""SQLite store, a signal's hit statistics and its per-day timeline."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store import codec
from bot.store.base import SignalStats, SignalTimeline
from bot.store.sqlite._base import SQLiteBase


class TimelineMixin(SQLiteBase):
    """A signal's hit statistics and its per-day timeline."""

    def signal_stats(self, signal_id: str, now: datetime) -> SignalStats:
        """When the signal last matched, and how many articles it matched in the 7 days to now."""
        week_ago = codec.to_text(now - timedelta(days=7), "now")
        with self._transaction("signal_stats", write=False) as db:
            row = db.execute(
                "SELECT MAX(matched_at),"
                " COUNT(CASE WHEN matched_at > ? AND matched_at <= ? THEN 1 END)"
                " FROM article_signals WHERE signal_id = ?",
                (week_ago, codec.to_text(now), signal_id),
            ).fetchone()
        return SignalStats(codec.opt_from_text(row[0]), int(row[1]))

    def signal_timeline(self, signal_id: str, now: datetime, days: int = 30) -> SignalTimeline:
        """First and last hit and total over all time, and hits per UTC day of the window.

        A hit is one story on one day: one article found by several sources (a story of
        several copies) counts once that day, and `total` is the sum over every day.
        """
        window = SignalTimeline.window(now, days)
        # Stored times are fixed-width UTC text that starts with the day: "2025-06-24" sorts
        # before every time of that day, and the first 10 characters are the UTC day.
        start, end = window[0].isoformat(), codec.to_text(now)
        # What a hit counts as: the article's story; else (its story pruned, or the article
        # older than stories) its link; else the article itself. One story per article, the
        # first, should a re-seen entry have been filed twice.
        story = (
            "COALESCE('s' || (SELECT MIN(c.story_id) FROM story_copies c"
            " WHERE c.source_id = a.source_id AND c.key = a.key), 'l' || a.link, 'a' || a.id)"
        )
        hits = (
            " FROM article_signals s JOIN articles a ON a.id = s.article_id WHERE s.signal_id = ?"
        )
        with self._transaction("signal_timeline", write=False) as db:
            # Both walk the (signal_id, matched_at) index over this signal's range (all time,
            # then the window's part of it), each hit's article by its rowid and its story by
            # (source_id, key), which wants an index of story_copies on those two columns.
            first, last, total = db.execute(
                "SELECT MIN(s.matched_at), MAX(s.matched_at),"
                f" COUNT(DISTINCT substr(s.matched_at, 1, 10) || ' ' || {story}){hits}",
                (signal_id,),
            ).fetchone()
            per_day = dict(
                db.execute(
                    f"SELECT substr(s.matched_at, 1, 10), COUNT(DISTINCT {story}){hits}"
                    " AND s.matched_at >= ? AND s.matched_at <= ?"
                    " GROUP BY substr(s.matched_at, 1, 10)",
                    (signal_id, start, end),
                ).fetchall()
            )
        return SignalTimeline(
            signal_id=signal_id,
            first_hit=codec.opt_from_text(first),
            last_hit=codec.opt_from_text(last),
            total=int(total),
            days=tuple((day, int(per_day.get(day.isoformat(), 0))) for day in window),
        )
