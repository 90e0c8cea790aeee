"""SQLite's `signal_timeline` reads only the (signal_id, matched_at) index, never every row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from store_contract import T0, article, cfg, commit

from bot.store.sqlite import SQLiteStore


def test_signal_timeline_reads_only_the_signal_index(tmp_path: Path) -> None:
    """Every query of signal_timeline searches article_signals_by_signal; none scans a table."""
    with SQLiteStore(tmp_path / "timeline.db") as store:
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        arts = [
            article(f"k{n}", f"story {n}", signals=("nato", "eu"), matched_at=T0 - timedelta(n))
            for n in range(40)
        ]
        commit(store, T0, articles=arts)
        queries: list[str] = []
        store._db.set_trace_callback(queries.append)  # statements with their values filled in
        timeline = store.signal_timeline("nato", T0)
        store._db.set_trace_callback(None)
        selects = [q for q in queries if "FROM article_signals" in q]
        assert len(selects) == 2, queries
        for query in selects:
            details = [row["detail"] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}")]
            assert any("INDEX article_signals_by_signal" in d for d in details), details
            assert not any(d.startswith("SCAN") for d in details), details
    assert (timeline.total, timeline.window_total) == (40, 30)
