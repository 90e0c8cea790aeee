"""The SQLite store: the contract suite on a file, in memory and without FTS5, plus its own details."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from store_contract import (
    LEASE,
    T0,
    V2_ARTICLE,
    V2_AT,
    V2_DELIVERED,
    V2_DISABLED,
    V2_ETAG,
    V2_PENDING,
    V2_RECEIPT,
    V2_SEEN,
    StoreContract,
    alert,
    article,
    at,
    cfg,
    commit,
    entry,
    identify,
    identify_text,
)

from bot.errors import StoreError
from bot.model import Alert
from bot.store import DEFAULT_URL, codec, open_store
from bot.store.migrations import FTS5_PROBE, MIGRATIONS, AddColumn, Migration, statements
from bot.store.sqlite import SQLiteStore, sqlite_path


def _opener(make: Callable[[], SQLiteStore]) -> Iterator[Callable[[], SQLiteStore]]:
    """A `connect` fixture body that closes every store it opened."""
    opened: list[SQLiteStore] = []

    def connect() -> SQLiteStore:
        store = make()
        opened.append(store)
        return store

    yield connect
    for store in opened:
        store.close()


def _seed_v2(db: sqlite3.Connection) -> None:
    """Write the contract's V2 data set with the schema of migrations 1–2, in plain SQL."""
    t = codec.to_text
    day_before = t(V2_AT - timedelta(days=1))
    db.executemany(
        "INSERT INTO sources (id, url, type, interval_s, disabled_reason, etag, next_poll_at,"
        " consecutive_failures, last_attempt_at, last_success_at, last_error, last_status,"
        " entries_seen, first_fetch_done, created_at) VALUES (?, ?, 'rss', 600, ?, ?, ?, ?, ?,"
        " ?, ?, ?, ?, ?, ?)",
        [
            ("a", "https://a.example/feed", None, V2_ETAG, t(V2_AT + timedelta(minutes=10)),
             0, t(V2_AT), t(V2_AT), None, 200, 1, 1, day_before),
            ("b", "https://b.example/feed", V2_DISABLED, None, t(V2_AT),
             3, t(V2_AT - timedelta(hours=1)), None, "HTTP 410", 410, 0, 0, day_before),
        ],
    )  # fmt: skip
    db.execute(
        "INSERT INTO seen (source_id, key, link, title_norm, published, first_seen_at)"
        " VALUES ('a', ?, ?, ?, ?, ?)",
        (V2_SEEN.key, V2_SEEN.link, V2_SEEN.title_norm, codec.opt_to_text(V2_SEEN.published),
         t(V2_AT)),
    )  # fmt: skip
    art = V2_ARTICLE
    article_id = db.execute(
        "INSERT INTO articles (source_id, key, title, summary, link, published, publisher,"
        " matched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (art.source_id, art.key, art.title, art.summary, art.link,
         codec.opt_to_text(art.published), art.publisher, t(art.matched_at)),
    ).lastrowid  # fmt: skip
    for position, match in enumerate(art.matches):
        db.execute(
            "INSERT INTO article_signals (article_id, signal_id, position, terms, snippet,"
            " matched_at) VALUES (?, ?, ?, ?, ?, ?)",
            (article_id, match.signal_id, position, codec.terms_to_json(match.terms),
             match.snippet, t(art.matched_at)),
        )  # fmt: skip
    for a, status, attempts, receipt, delivered_at in [
        (V2_DELIVERED, "delivered", 1, V2_RECEIPT, t(V2_AT + timedelta(minutes=1))),
        (V2_PENDING, "pending", 0, None, None),
    ]:
        db.execute(
            "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload, status,"
            " attempts, next_attempt_at, receipt, created_at, delivered_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (a.alert_id, a.signal_id, a.destination, a.source_id, codec.alert_to_json(a),
             status, attempts, t(V2_AT), receipt, t(V2_AT), delivered_at),
        )  # fmt: skip


def _migrate_to_v2(store: SQLiteStore) -> None:
    """Apply migrations 1–2 only, as a signalwatch of that time would have."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("bot.store.sqlite._base.MIGRATIONS", MIGRATIONS[:2])
        assert store.migrate() == 2


class SQLiteContract(StoreContract):
    """The contract's fixtures that every SQLite variant builds the same way."""

    @pytest.fixture
    def v2_store(self, connect: Callable[[], SQLiteStore]) -> SQLiteStore:
        """A store on this test's database at schema version 2, holding the V2 data set."""
        store = connect()
        _migrate_to_v2(store)
        _seed_v2(store._db)  # autocommit: the store opens no transaction of its own here
        return store


class TestSQLiteFile(SQLiteContract):
    """The contract on a WAL file, which several connections share."""

    @pytest.fixture
    def connect(self, tmp_path: Path) -> Iterator[Callable[[], SQLiteStore]]:
        """Stores on one database file in tmp_path."""
        yield from _opener(lambda: SQLiteStore(tmp_path / "signalwatch.db"))


class TestSQLiteMemory(SQLiteContract):
    """The contract on `sqlite:///:memory:`, private to each connection."""

    shared_database = False

    @pytest.fixture
    def connect(self) -> Iterator[Callable[[], SQLiteStore]]:
        """Stores each on its own in-memory database."""
        yield from _opener(lambda: SQLiteStore("sqlite:///:memory:"))


class TestSQLiteWithoutFTS5(SQLiteContract):
    """The contract on a file migrated as if FTS5 were missing: search falls back to LIKE."""

    @pytest.fixture
    def connect(self, tmp_path: Path) -> Iterator[Callable[[], SQLiteStore]]:
        """Stores on one file whose migrations skip the full-text index."""
        yield from _opener(lambda: SQLiteStore(tmp_path / "plain.db", fts=False))


def _sqlite_has_fts5() -> bool:
    """Whether this Python's SQLite build has FTS5 with the tokenizer options we use."""
    db = sqlite3.connect(":memory:")
    try:
        db.execute(FTS5_PROBE)
    except sqlite3.OperationalError:
        return False
    finally:
        db.close()
    return True


needs_fts5 = pytest.mark.skipif(not _sqlite_has_fts5(), reason="this SQLite build lacks FTS5")


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """Where a test's database file goes."""
    return tmp_path / "signalwatch.db"


# -- URLs and opening -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///signalwatch.db", "signalwatch.db"),
        ("sqlite:///data/sw.db", "data/sw.db"),
        ("sqlite:////var/lib/sw.db", "/var/lib/sw.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("/tmp/plain.db", "/tmp/plain.db"),
        ("relative.db", "relative.db"),
        (":memory:", ":memory:"),
    ],
)
def test_sqlite_path_reads_every_url_form(url: str, path: str) -> None:
    """sqlite:/// URLs (relative, absolute, memory) and plain paths name the right file."""
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://host/db", "sqlite:relative.db", "sqlite:///", ""])
def test_bad_sqlite_urls_are_store_errors(url: str) -> None:
    """A malformed SQLite URL is refused with the forms that would work."""
    with pytest.raises(StoreError, match=r"SQLite URL|no database path"):
        sqlite_path(url)


def test_open_store_chooses_sqlite_and_migrates(db_file: Path) -> None:
    """open_store on a sqlite URL gives a migrated SQLiteStore."""
    with open_store(f"sqlite:///{db_file}") as store:
        assert isinstance(store, SQLiteStore)
        assert store.path == str(db_file)
        assert store.migrate() == 0
        assert store.sources() == []


def test_open_store_relative_url_is_relative_to_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sqlite:///name.db is a file in the working directory."""
    monkeypatch.chdir(tmp_path)
    with open_store("sqlite:///here.db"):
        pass
    assert (tmp_path / "here.db").exists()


def test_open_store_without_migrate_leaves_schema_alone() -> None:
    """migrate=False opens without touching the schema, and a query says to migrate."""
    with open_store("sqlite:///:memory:", migrate=False) as store:
        with pytest.raises(StoreError, match=r"run migrate\(\) first"):
            store.sources()
        assert store.migrate() == len(MIGRATIONS)


def test_open_store_unknown_scheme() -> None:
    """An unknown URL scheme is a StoreError naming the URL."""
    with pytest.raises(StoreError, match="unsupported store URL 'mysql://db/sw'"):
        open_store("mysql://db/sw")


def test_default_url_is_a_local_sqlite_file() -> None:
    """The embedded default is signalwatch.db in the working directory."""
    assert DEFAULT_URL == "sqlite:///signalwatch.db"


def test_unopenable_file_is_a_store_error(tmp_path: Path) -> None:
    """A path in a missing directory is a StoreError naming the path."""
    with pytest.raises(StoreError, match="cannot open SQLite database"):
        SQLiteStore(tmp_path / "missing" / "sw.db")


# -- connection settings and schema ----------------------------------------------------------------


def test_file_store_runs_wal_with_safe_settings(db_file: Path) -> None:
    """WAL journal, synchronous=NORMAL, foreign keys on, 5 s busy timeout."""
    with SQLiteStore(db_file) as store:
        store.migrate()
        db = store._db  # the settings are per connection; only the store's own can tell
        assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    outside = sqlite3.connect(db_file)
    try:
        assert outside.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        outside.close()


def _schema_versions(path: Path) -> list[tuple[int, str, str]]:
    """The rows of schema_version, read with a plain sqlite3 connection."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT version, name, variant FROM schema_version ORDER BY 1").fetchall()
    finally:
        db.close()


def test_schema_version_records_each_migration(db_file: Path) -> None:
    """Each migration is recorded once, by version, with the variant that ran."""
    with SQLiteStore(db_file) as store:
        assert store.migrate() == len(MIGRATIONS)
        assert store.migrate() == 0
    variant = "standard" if _sqlite_has_fts5() else "without fts5"
    assert _schema_versions(db_file) == [
        (m.version, m.name, variant if m.without_fts5 is not None else "standard")
        for m in MIGRATIONS
    ]


def test_without_fts5_migration_variant(db_file: Path) -> None:
    """Where FTS5 is missing the fallback variant runs and no FTS table exists."""
    with SQLiteStore(db_file, fts=False) as store:
        store.migrate()
        tables = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master")}
    assert "articles_fts" not in tables
    variants = {version: variant for version, _, variant in _schema_versions(db_file)}
    assert variants[2] == "without fts5"


def test_failed_migration_rolls_back_whole_step(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration that fails halfway leaves neither its tables nor its version behind."""
    broken = Migration(99, "broken", "CREATE TABLE extra (x); INSERT INTO missing VALUES (1);")
    with SQLiteStore(db_file) as store:
        store.migrate()
        monkeypatch.setattr("bot.store.sqlite._base.MIGRATIONS", (*MIGRATIONS, broken))
        with pytest.raises(StoreError, match="no such table: missing"):
            store.migrate()
        names = {r[0] for r in store._db.execute("SELECT name FROM sqlite_master")}
    assert "extra" not in names
    assert [v for v, _, _ in _schema_versions(db_file)] == [m.version for m in MIGRATIONS]


def _columns(store: SQLiteStore, table: str) -> dict[str, tuple[str, int]]:
    """A table's columns: name -> (declared type, not null)."""
    rows = store._db.execute(f"PRAGMA table_info({table})").fetchall()
    return {r["name"]: (r["type"], r["notnull"]) for r in rows}


def test_migration_3_on_v2_data_adds_nullable_text_columns(db_file: Path) -> None:
    """Upgrading a v2 database adds seen.title/summary as nullable columns; old rows read NULL."""
    with SQLiteStore(db_file) as store:
        _migrate_to_v2(store)
        _seed_v2(store._db)
        assert "title" not in _columns(store, "seen")
        assert store.migrate() == len(MIGRATIONS) - 2
        seen = _columns(store, "seen")
        assert seen["title"] == seen["summary"] == ("TEXT", 0)
        row = store._db.execute("SELECT title, summary, link FROM seen").fetchone()
        assert tuple(row) == (None, None, V2_SEEN.link)
    assert [v for v, _, _ in _schema_versions(db_file)] == [m.version for m in MIGRATIONS]


def test_migration_4_is_idempotent(db_file: Path) -> None:
    """Run again over a database that already has its tables, it changes nothing and keeps data."""
    with SQLiteStore(db_file) as store:
        store.migrate()
        store.add_api_calls("gdelt", T0.date(), 2)
        # as if 4 (and what came after it) had never been recorded
        store._db.execute("DELETE FROM schema_version WHERE version >= 4")
        assert store.migrate() == len(MIGRATIONS) - 3
        assert store.api_calls_on("gdelt", T0.date()) == 2


def test_migration_5_is_idempotent(db_file: Path) -> None:
    """Run again over a database that already has the cursor table, it keeps the cursors."""
    with SQLiteStore(db_file) as store:
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        store.advance_search_cursors("a", {"nato": T0})
        store._db.execute("DELETE FROM schema_version WHERE version >= 5")
        assert store.migrate() == len(MIGRATIONS) - 4
        assert store.search_cursors("a") == {"nato": T0}


def test_migration_3_is_idempotent(db_file: Path) -> None:
    """Run again over a database that already has its tables and columns, it changes nothing."""
    with SQLiteStore(db_file) as store:
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        store.commit_poll(
            "a", T0, seen=[identify_text(entry("k1", summary="s"))], articles=[], alerts=[]
        )
        store.subscribe(42, "nato", "dm", None, T0)
        store.record_audit(
            T0, actor_id=None, actor_name="cli", action="a", target="t", before=None, after=None
        )
        before = _columns(store, "seen")
        # as if 3 (and what came after it) had never been recorded
        store._db.execute("DELETE FROM schema_version WHERE version >= 3")
        assert store.migrate() == len(MIGRATIONS) - 2
        assert _columns(store, "seen") == before
        assert [s.key for s in store.recent_seen(10)] == ["k1"]
        assert [s.user_id for s in store.subscribers("nato")] == [42]
        assert len(store.audit_history(10)) == 1


def test_failed_migration_rolls_back_added_columns(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column added by a migration whose script then fails is rolled back with it."""
    broken = Migration(
        99,
        "broken",
        "INSERT INTO missing VALUES (1);",
        add_columns=(AddColumn("seen", "x", "TEXT"),),
    )
    with SQLiteStore(db_file) as store:
        store.migrate()
        monkeypatch.setattr("bot.store.sqlite._base.MIGRATIONS", (*MIGRATIONS, broken))
        with pytest.raises(StoreError, match="no such table: missing"):
            store.migrate()
        assert "x" not in _columns(store, "seen")
    assert [v for v, _, _ in _schema_versions(db_file)] == [m.version for m in MIGRATIONS]


def test_recent_seen_walks_the_age_index(db_file: Path) -> None:
    """recent_seen walks seen_by_age newest first, not a scan and sort of every seen row.

    (Migration 12 dropped the partial index of rows with text: every row written since
    migration 3 has text, and the older ones, oldest of all, are never reached.)"""
    with SQLiteStore(db_file) as store:
        store.migrate()
        queries: list[str] = []
        store.recent_seen(1)  # reads go through their own connection, opened on first use
        reader = store._reader
        assert reader is not None
        reader.set_trace_callback(queries.append)  # statements with their values filled in
        store.recent_seen(5)
        reader.set_trace_callback(None)
        [query] = [q for q in queries if "FROM seen" in q]
        plan = store._db.execute(f"EXPLAIN QUERY PLAN {query}").fetchall()
    details = [row["detail"] for row in plan]
    assert any("USING INDEX seen_by_age" in d for d in details), details


def test_newer_schema_is_refused(db_file: Path) -> None:
    """A database migrated by a newer signalwatch is not touched by this one."""
    with SQLiteStore(db_file) as store:
        store.migrate()
        store._db.execute("INSERT INTO schema_version VALUES (999, 'future', 'standard')")
        with pytest.raises(StoreError, match="newer"):
            store.migrate()


def test_statements_keeps_triggers_and_strings_whole() -> None:
    """The script splitter leaves `;` in trigger bodies and strings, drops empty statements."""
    script = """
        -- a comment; with a semicolon
        CREATE TABLE t (x TEXT DEFAULT ';');
        CREATE TRIGGER tr AFTER INSERT ON t BEGIN
            INSERT INTO t VALUES ('a;b');
            DELETE FROM t WHERE x = ';';
        END;
        ;
    """
    parts = statements(script)
    assert len(parts) == 2
    assert parts[0].endswith("CREATE TABLE t (x TEXT DEFAULT ';');")
    assert parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")
    assert statements("") == []
    with pytest.raises(ValueError, match="incomplete"):
        statements("CREATE TABLE t (x)")


# -- backend specifics ----------------------------------------------------------------------------


def test_commit_poll_rolls_back_on_database_error_midway(
    db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database error after seen, articles and one alert went in leaves nothing written."""
    real = codec.alert_to_json
    calls = 0

    def failing_second(a: Alert) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise sqlite3.OperationalError("disk I/O error")
        return real(a)

    with SQLiteStore(db_file) as store:
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        monkeypatch.setattr(codec, "alert_to_json", failing_second)
        with pytest.raises(StoreError, match="commit_poll failed: disk I/O error"):
            commit(
                store,
                T0,
                entries=[entry("k1")],
                articles=[article("k1", "NATO")],
                alerts=[alert("x1"), alert("x2")],
            )
        assert calls == 2
        assert store.unseen("a", [entry("k1")], identify) == [entry("k1")]
        assert store.recent_articles(5) == []
        assert store.outbox_counts()["pending"] == 0


@needs_fts5
def test_search_folds_accents_with_fts5(db_file: Path) -> None:
    """With FTS5 a search ignores accents both ways."""
    with SQLiteStore(db_file) as store:
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        arts = [article("k1", "Erdoğan hosts talks in Türkiye"), article("k2", "Defence in Kyiv")]
        store.commit_poll("a", T0, seen=[], articles=arts, alerts=[])
        assert [r.key for r in store.search_articles("erdogan turkiye", 5)] == ["k1"]
        assert [r.key for r in store.search_articles("défence", 5)] == ["k2"]


@needs_fts5
def test_fts_index_covers_articles_stored_before_it(db_file: Path) -> None:
    """Migration 2 indexes articles that migration 1 already held (the rebuild step)."""
    with SQLiteStore(db_file) as store, pytest.MonkeyPatch.context() as mp:
        mp.setattr("bot.store.sqlite._base.MIGRATIONS", MIGRATIONS[:1])
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        store.commit_poll("a", T0, seen=[], articles=[article("k1", "Canal deal")], alerts=[])
    with SQLiteStore(db_file) as store:
        assert store.migrate() == len(MIGRATIONS) - 1
        assert [r.key for r in store.search_articles("canal", 5)] == ["k1"]


def test_one_store_shared_by_threads(db_file: Path) -> None:
    """One SQLiteStore used from many threads (asyncio.to_thread) stays consistent."""
    with SQLiteStore(db_file) as store:
        store.migrate()
        store.sync_sources([cfg("a")], T0)
        start = threading.Barrier(8)

        def worker(n: int) -> int:
            start.wait()
            batch = [alert(f"t{n}-{i}") for i in range(20)]
            return sum(
                store.commit_poll("a", at(i), seen=[], articles=[], alerts=batch[i : i + 1])
                for i in range(20)
            )

        with ThreadPoolExecutor(8) as pool:
            assert sum(pool.map(worker, range(8))) == 160
        claimed: list[str] = []
        with ThreadPoolExecutor(4) as pool:
            for batch in pool.map(lambda _: store.claim_alerts(at(30), 40, LEASE), range(4)):
                claimed += [p.alert.alert_id for p in batch]
        assert len(claimed) == len(set(claimed)) == 160


def test_stored_times_sort_as_text() -> None:
    """Stored datetimes are fixed-width UTC text, so string order is time order."""
    earlier = codec.to_text(T0)
    later = codec.to_text(at(0.001))
    assert earlier == "2025-06-24T09:00:00.000000+00:00"
    assert len(earlier) == len(later) and earlier < later
    assert codec.from_text(later) == at(0.001)
