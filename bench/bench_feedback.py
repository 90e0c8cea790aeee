"""What subscribers' feedback and the /watch edit preview cost, against baselines of the same run.

  record_feedback  one click on an alert, on a SQLite store holding A matched articles of one
                   source: the item's article is found by (source, link) through migration
                   11's index; baseline: the same store with that index dropped (a scan)
  /signal share    feedback_tallies(signal, 30 days) + share_of_tallies over V verdicts;
                   baseline: signal_stats, which /signal already reads
  edit preview     preview_edit (current and draft query, one matcher) over the newest 5,000
                   items, the most /watch edit reads; baseline: /watch preview's one-query
                   preview_query (which also explains each match) over the same items

Items are the labelled set's real headlines and ledes, repeated under distinct keys.

    python -m bench.bench_feedback [--articles A] [--verdicts V] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.admin import PreviewItem, preview_edit, preview_query
from bot.admin.preview import EDIT_PREVIEW_LIMIT
from bot.feedback import share_of_tallies
from bot.model import Alert
from bot.store import ArticleMatch, ArticleRecord, SourceConfig
from bot.store.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "tests" / "data" / "labelled").glob("*.jsonl"))
T0 = datetime(2025, 6, 24, 9, 0, tzinfo=UTC)
CURRENT = 'NATO AND ("5%" OR "five percent") NEAR/12 (GDP OR spending OR defence OR defense)'
DRAFT = "NATO AND (spending OR defence OR defense) NOT Spain"


def texts() -> list[tuple[str, str]]:
    """(title, summary) of every labelled item."""
    out = []
    for path in CORPUS:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                out.append((item["title"], item.get("summary") or ""))
    return out


def _median_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def _store(directory: Path, articles: int, verdicts: int) -> SQLiteStore:
    """A store with `articles` matched articles of source 'wire', each with a story alert,
    and `verdicts` verdicts on the first of them."""
    corpus = texts()
    store = SQLiteStore(directory / "bench.db")
    store.migrate()
    store.sync_sources([SourceConfig("wire", "https://wire.example/rss", "rss", 600)], T0)
    batch = 1000
    for start in range(0, articles, batch):
        records, alerts = [], []
        for n in range(start, min(articles, start + batch)):
            title, summary = corpus[n % len(corpus)]
            link = f"https://wire.example/{n}"
            at = T0 + timedelta(seconds=n)
            records.append(
                ArticleRecord(
                    "wire", f"k{n}", title, summary, link, None, None,
                    (ArticleMatch("nato-5pct", ("NATO",), "**NATO**"),), at,
                )
            )  # fmt: skip
            alerts.append(
                Alert(f"a{n}", "nato-5pct", "console", title, link, "wire", None, ("NATO",), "")
            )
        store.commit_poll("wire", T0, seen=[], articles=records, alerts=alerts)
    for v in range(verdicts):
        store.record_feedback(f"a{v % articles}", 1000 + v, -1 if v % 3 == 0 else 1, T0)
    return store


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    """Time each measured call and its baseline; print the medians in ms."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000)
    parser.add_argument("--verdicts", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args(argv)
    rows: dict[str, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = _store(Path(tmp), args.articles, args.verdicts)
        try:
            last = f"a{args.articles - 1}"
            user = iter(range(10**6, 2 * 10**6))
            click = _median_ms(lambda: store.record_feedback(last, next(user), -1, T0), args.repeat)
            store._db.execute("DROP INDEX articles_by_link")
            scan = _median_ms(lambda: store.record_feedback(last, next(user), -1, T0), args.repeat)
            rows["record_feedback"] = (click, scan)
            share = _median_ms(
                lambda: share_of_tallies(
                    store.feedback_tallies("nato-5pct", T0 - timedelta(days=30))
                ),
                args.repeat,
            )
            stats = _median_ms(lambda: store.signal_stats("nato-5pct", T0), args.repeat)
            rows["/signal share"] = (share, stats)
        finally:
            store.close()
    corpus = texts()
    items = [
        PreviewItem("wire", f"k{n}", *corpus[n % len(corpus)], None)
        for n in range(EDIT_PREVIEW_LIMIT)
    ]
    edit = _median_ms(lambda: preview_edit(CURRENT, DRAFT, items, 7), max(3, args.repeat // 4))
    one = _median_ms(lambda: preview_query(DRAFT, items), max(3, args.repeat // 4))
    rows["edit preview"] = (edit, one)
    print(
        f"{args.articles} articles, {args.verdicts} verdicts, {EDIT_PREVIEW_LIMIT} preview items;"
        f" median ms of {args.repeat}"
    )
    print(f"{'':18}{'ours':>10}{'baseline':>10}  baseline is")
    notes = {
        "record_feedback": "the same without the articles_by_link index",
        "/signal share": "signal_stats (already read by /signal)",
        "edit preview": "/watch preview's one-query scan",
    }
    for name, (ours, base) in rows.items():
        print(f"{name:18}{ours:10.2f}{base:10.2f}  {notes[name]}")
    return rows


if __name__ == "__main__":
    main()
