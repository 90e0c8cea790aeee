"""Which SQLite indexes the store's queries use, and which none does.

Runs the store's own tests (the SQLite store contract, the story, timeline and lease tests)
with every SQLite connection traced, then asks SQLite's planner (EXPLAIN QUERY PLAN) how it
would run each distinct statement against a database migrated to the current schema, and
prints, for every index the schema creates, how many statements use it and one of them
(a DELETE of a parent row counts for the index on a child's ON DELETE CASCADE key).
An index no statement uses only costs writes: each is listed at the end.

    python -m bench.index_audit        (needs the test extra: pip install -e '.[test]')

Exits 1 when an index is unused, so it can gate a change to the schema.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/test_store_sqlite.py",
    "tests/test_store_sqlite_timeline.py",
    "tests/test_store_leases.py",
    "tests/test_pipeline_stories.py",
    "tests/test_feedback.py",
    "tests/test_run_e2e.py",
]
_USES = re.compile(r"USING (?:COVERING )?INDEX (\w+)")
_SKIP = re.compile(
    r"^\s*(PRAGMA|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|CREATE|DROP|ALTER)\b", re.I
)


class _Tracer:
    """A pytest plugin recording the SQL of every sqlite3 connection opened during the run."""

    def __init__(self) -> None:
        self.statements: set[str] = set()
        self._connect = sqlite3.connect

    def pytest_configure(self, config: Any) -> None:
        connect = self._connect

        def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            db: sqlite3.Connection = connect(*args, **kwargs)
            db.set_trace_callback(self._record)
            return db

        sqlite3.connect = traced  # type: ignore[assignment]

    def pytest_unconfigure(self, config: Any) -> None:
        sqlite3.connect = self._connect

    def _record(self, sql: str) -> None:
        if not _SKIP.match(sql):
            self.statements.add(" ".join(sql.split()))


def schema_indexes(db: sqlite3.Connection) -> dict[str, str]:
    """index name → its table, for the indexes the migrations create (not automatic ones)."""
    rows = db.execute(
        "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    return {name: table for name, table in rows}


def cascades(
    db: sqlite3.Connection, indexes: dict[str, str], statements: set[str]
) -> list[tuple[str, str]]:
    """(index, statement) for each index on a foreign key that a traced DELETE of its parent
    cascades through: the planner's plan does not show it, but without the index each deleted
    parent row scans the child table."""
    out = []
    for name, table in indexes.items():
        columns = [row[2] for row in db.execute(f"PRAGMA index_info({name})")]
        for fk in db.execute(f"PRAGMA foreign_key_list({table})").fetchall():
            parent, child_column, on_delete = fk[2], fk[3], fk[6]
            if on_delete != "CASCADE" or columns[:1] != [child_column]:
                continue
            deletes = [s for s in statements if re.match(rf"DELETE FROM {parent}\b", s)]
            out += [(name, f"(cascade) {s}") for s in deletes]
    return out


def main() -> int:
    import pytest

    from bot.store.sqlite import SQLiteStore

    tracer = _Tracer()
    code = pytest.main(["-q", "-p", "no:cacheprovider", *map(str, (ROOT / t for t in TESTS))],
                       plugins=[tracer])  # fmt: skip
    if code not in (0, 5):
        print(f"index_audit: the store's tests failed (exit {code}); the audit needs them green")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "audit.db")
        store.migrate()
        store.close()
        db = sqlite3.connect(str(Path(tmp) / "audit.db"))
        indexes = schema_indexes(db)
        used: dict[str, list[str]] = defaultdict(list)
        planned = 0
        for sql in sorted(tracer.statements):
            try:
                plan = db.execute("EXPLAIN QUERY PLAN " + sql).fetchall()
            except sqlite3.Error:
                continue  # a statement of a table only some tests create, or a temp table
            planned += 1
            for name in {m for row in plan for m in _USES.findall(str(row[-1]))}:
                used[name].append(sql)
        for name, sql in cascades(db, indexes, tracer.statements):
            used[name].append(sql)
        db.close()
    print(f"\n{len(tracer.statements)} distinct statements traced, {planned} planned")
    print(f"{'index':<34} {'table':<16} {'uses':>5}  example")
    unused = []
    for name, table in sorted(indexes.items(), key=lambda kv: (kv[1], kv[0])):
        users = used.get(name, [])
        if not users:
            unused.append(name)
        example = min(users, key=len)[:90] if users else "-"
        print(f"{name:<34} {table:<16} {len(users):>5}  {example}")
    if unused:
        print("unused: " + ", ".join(unused))
        return 1
    print("every index is used by some statement")
    return 0


if __name__ == "__main__":
    sys.exit(main())
