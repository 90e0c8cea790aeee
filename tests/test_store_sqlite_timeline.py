"""SQLite's `signal_timeline` walks only the (signal_id, matched_at) index, never every row."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from store_contract import T0, article, cfg, commit

from bot.store import StoryCopy, StoryWrite
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
        store.source_counts()  # reads go through their own connection, opened on first use
        reader = store._reader
        assert reader is not None
        reader.set_trace_callback(queries.append)  # statements with their values filled in
        timeline = store.signal_timeline("nato", T0)
        reader.set_trace_callback(None)
        selects = [q for q in queries if "FROM article_signals" in q]
        assert len(selects) == 2, queries
        for query in selects:
            details = [row["detail"] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}")]
            assert any("INDEX article_signals_by_signal" in d for d in details), details
            assert not any(d.startswith("SCAN") for d in details), details
    assert (timeline.total, timeline.window_total) == (40, 30)


def test_signal_timeline_finds_each_hit_s_story_by_an_index(tmp_path: Path) -> None:
    """A hit's story is looked up by its (source_id, key), not by walking every story copy."""
    with SQLiteStore(tmp_path / "timeline.db") as store:
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        arts = [article(f"k{n}", f"story {n}", matched_at=T0 - timedelta(n)) for n in range(5)]
        writes = [
            StoryWrite(StoryCopy("a", a.key, a.title, a.link, None), new_ref=a.key, fingerprint="f")
            for a in arts
        ]
        store.commit_poll("a", T0, seen=[], articles=arts, alerts=[], stories=writes)
        queries: list[str] = []
        store._db.set_trace_callback(queries.append)
        timeline = store.signal_timeline("nato", T0)
        store._db.set_trace_callback(None)
        assert (timeline.total, timeline.window_total) == (5, 5)
        for query in [q for q in queries if "FROM article_signals" in q]:
            details = [row["detail"] for row in store._db.execute(f"EXPLAIN QUERY PLAN {query}")]
            lookups = [d for d in details if " c USING " in d]
            assert lookups and all("(source_id=? AND key=?)" in d for d in lookups), details
