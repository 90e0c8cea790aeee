"""PostgreSQL store, a signal's hit statistics and its per-day timeline."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from bot.store import codec
from bot.store.base import SignalStats, SignalTimeline
from bot.store.postgres._base import PostgresBase, utc_or_none


class TimelineMixin(PostgresBase):
    """A signal's hit statistics and its per-day timeline."""

    def signal_stats(self, signal_id: str, now: datetime) -> SignalStats:
        """When the signal last matched, and how many articles it matched in the 7 days to now."""
        end = codec.utc(now, "now")
        with self._transaction("signal_stats", write=False) as db:
            row = db.execute(
                "SELECT MAX(matched_at) AS last,"
                " COUNT(*) FILTER (WHERE matched_at > %s AND matched_at <= %s) AS week"
                " FROM article_signals WHERE signal_id = %s",
                (end - timedelta(days=7), end, signal_id),
            ).fetchone()
        if row is None:  # pragma: no cover - an aggregate always gives one row
            return SignalStats(None, 0)
        return SignalStats(utc_or_none(row["last"]), int(row["week"]))

    def signal_timeline(self, signal_id: str, now: datetime, days: int = 30) -> SignalTimeline:
        """First and last hit and total over all time, and hits per UTC day of the window.

        A hit is one story on one day: one article found by several sources (a story of
        several copies) counts once that day, and `total` is the sum over every day.
        """
        window = SignalTimeline.window(now, days)
        start = datetime.combine(window[0], time(), tzinfo=UTC)
        end = codec.utc(now, "now")
        # What a hit counts as: the article's story; else (its story pruned, or the article
        # older than stories) its link; else the article itself. One story per article, the
        # first, should a re-seen entry have been filed twice.
        story = (
            "COALESCE('s' || (SELECT MIN(c.story_id) FROM story_copies c"
            " WHERE c.source_id = a.source_id AND c.key = a.key), 'l' || a.link, 'a' || a.id)"
        )
        day = "(s.matched_at AT TIME ZONE 'UTC')::date"
        hits = (
            " FROM article_signals s JOIN articles a ON a.id = s.article_id WHERE s.signal_id = %s"
        )
        with self._transaction("signal_timeline", write=False) as db:
            overall = db.execute(
                "SELECT MIN(s.matched_at) AS first, MAX(s.matched_at) AS last,"
                f" COUNT(DISTINCT {day}::text || ' ' || {story}) AS total{hits}",
                (signal_id,),
            ).fetchone()
            per_day = {
                row["day"]: int(row["n"])
                for row in db.execute(
                    f"SELECT {day} AS day, COUNT(DISTINCT {story}) AS n{hits}"
                    " AND s.matched_at >= %s AND s.matched_at <= %s GROUP BY 1",
                    (signal_id, start, end),
                )
            }
        assert overall is not None  # an aggregate always gives one row
        return SignalTimeline(
            signal_id=signal_id,
            first_hit=utc_or_none(overall["first"]),
            last_hit=utc_or_none(overall["last"]),
            total=int(overall["total"]),
            days=tuple((d, per_day.get(d, 0)) for d in window),
        )
