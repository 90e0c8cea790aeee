"""The PostgreSQL store: every contract case on a real server, plus its own details.

Runs where SIGNALWATCH_TEST_PG names a PostgreSQL database the tests may create schemas in
(`.ci/run` sets it when a local server answers); each test gets a schema of its own, set as
the search_path of every connection its stores open, and dropped afterwards. Where the
variable is unset the server tests skip, saying so; the tests of opening errors need no
server and always run.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import conninfo, sql
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
    cfg,
    entry,
    identify,
)

from bot.cli import main
from bot.errors import StoreError
from bot.store import codec, open_store
from bot.store.base import StoryCopy, StoryWrite
from bot.store.postgres import PostgresStore
from bot.store.postgres._poll import STORY_ID_LOCK
from bot.store.postgres.migrations import MIGRATIONS

PG_URL = os.environ.get("SIGNALWATCH_TEST_PG", "")
needs_pg = pytest.mark.skipif(
    not PG_URL,
    reason="SIGNALWATCH_TEST_PG is unset: set it to a PostgreSQL URL (e.g."
    " postgresql://postgres@127.0.0.1:5432/test) to run the store contract on PostgreSQL",
)


@pytest.fixture
def schema() -> Iterator[str]:
    """A fresh, empty schema of this test's own, dropped with everything in it afterwards."""
    name = f"sw_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


def in_schema(schema: str, *settings: str) -> str:
    """The test database's conninfo with `schema` as the search_path of every connection,
    and any other `-c` settings given (e.g. "lock_timeout=5s")."""
    options = " ".join(f"-c {s}" for s in (f"search_path={schema}", *settings))
    return conninfo.make_conninfo(PG_URL, options=options)


@pytest.fixture
def connect(schema: str) -> Iterator[Callable[[], PostgresStore]]:
    """Stores on this test's schema, each with its own pool; all closed at the end."""
    opened: list[PostgresStore] = []

    def connect() -> PostgresStore:
        store = PostgresStore(in_schema(schema))
        opened.append(store)
        return store

    yield connect
    for store in opened:
        store.close()


def _seed_v2(db: psycopg.Connection[tuple[object, ...]]) -> None:
    """Write the contract's V2 data set with the schema of migrations 1–2, in plain SQL."""
    day_before = V2_AT - timedelta(days=1)
    db.cursor().executemany(
        "INSERT INTO sources (id, url, type, interval_s, disabled_reason, etag, next_poll_at,"
        " consecutive_failures, last_attempt_at, last_success_at, last_error, last_status,"
        " entries_seen, first_fetch_done, created_at) VALUES (%s, %s, 'rss', 600, %s, %s, %s,"
        " %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            ("a", "https://a.example/feed", None, V2_ETAG, V2_AT + timedelta(minutes=10),
             0, V2_AT, V2_AT, None, 200, 1, True, day_before),
            ("b", "https://b.example/feed", V2_DISABLED, None, V2_AT,
             3, V2_AT - timedelta(hours=1), None, "HTTP 410", 410, 0, False, day_before),
        ],
    )  # fmt: skip
    db.execute(
        "INSERT INTO seen (source_id, key, link, title_norm, published, first_seen_at)"
        " VALUES ('a', %s, %s, %s, %s, %s)",
        (V2_SEEN.key, V2_SEEN.link, V2_SEEN.title_norm, V2_SEEN.published, V2_AT),
    )
    art = V2_ARTICLE
    row = db.execute(
        "INSERT INTO articles (source_id, key, title, summary, link, published, publisher,"
        " matched_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (art.source_id, art.key, art.title, art.summary, art.link, art.published,
         art.publisher, art.matched_at),
    ).fetchone()  # fmt: skip
    assert row is not None
    for position, match in enumerate(art.matches):
        db.execute(
            "INSERT INTO article_signals (article_id, signal_id, position, terms, snippet,"
            " matched_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (row[0], match.signal_id, position, codec.terms_to_json(match.terms), match.snippet,
             art.matched_at),
        )  # fmt: skip
    for a, status, attempts, receipt, delivered_at in [
        (V2_DELIVERED, "delivered", 1, V2_RECEIPT, V2_AT + timedelta(minutes=1)),
        (V2_PENDING, "pending", 0, None, None),
    ]:
        db.execute(
            "INSERT INTO outbox (alert_id, signal_id, destination, source_id, payload, status,"
            " attempts, next_attempt_at, receipt, created_at, delivered_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (a.alert_id, a.signal_id, a.destination, a.source_id, codec.alert_to_json(a),
             status, attempts, V2_AT, receipt, V2_AT, delivered_at),
        )  # fmt: skip


@needs_pg
class TestPostgres(StoreContract):
    """The whole contract on PostgreSQL, where stores share one database (and schema)."""

    @pytest.fixture
    def v2_store(self, connect: Callable[[], PostgresStore], schema: str) -> PostgresStore:
        """A store on this test's schema at version 2, holding the V2 data set."""
        store = connect()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("bot.store.postgres._base.MIGRATIONS", MIGRATIONS[:2])
            assert store.migrate() == 2
        with psycopg.connect(in_schema(schema)) as db:
            _seed_v2(db)  # committed when the block ends
        return store


# -- PostgreSQL's own: concurrency a single SQLite writer never meets ---------------------------


@needs_pg
def test_concurrent_commits_of_one_poll_both_succeed_and_queue_once(
    connect: Callable[[], PostgresStore],
) -> None:
    """Two processes committing the same entries, articles and alerts at once: no unique
    violation, no deadlock, and each alert is queued once."""
    with connect() as setup:
        setup.migrate()
        setup.sync_sources([cfg("a")], T0)
    entries = [entry(f"k{i:03}") for i in range(60)]
    seen = [identify(e) for e in entries]
    arts = [article(f"k{i:03}", f"NATO story {i}") for i in range(0, 60, 3)]
    alerts = [alert(f"x{i:03}") for i in range(0, 60, 3)]
    start = threading.Barrier(4)

    def committer(reverse: bool) -> int:
        with connect() as own:
            start.wait()
            order = -1 if reverse else 1
            return own.commit_poll(
                "a", T0, seen=seen[::order], articles=arts, alerts=alerts[::order]
            )

    with ThreadPoolExecutor(4) as pool:
        queued = [f.result() for f in [pool.submit(committer, i % 2 == 1) for i in range(4)]]
    assert sum(queued) == len(alerts)
    with connect() as check:
        assert check.outbox_counts()["pending"] == len(alerts)
        assert check.unseen("a", entries, identify) == []
        assert len(check.recent_articles(100)) == len(arts)
        assert all(r.signal_ids == ("nato",) for r in check.recent_articles(100))


@needs_pg
def test_a_claim_skips_rows_another_transaction_holds(schema: str) -> None:
    """SKIP LOCKED: a source or alert locked elsewhere is passed over at once, not waited for
    (a wait would end in the lock timeout's error); a locked head of a destination still
    holds back the alerts behind it."""
    with PostgresStore(in_schema(schema, "lock_timeout=5s")) as store:
        store.migrate()
        store.sync_sources([cfg("a"), cfg("b")], T0)
        store.commit_poll(
            "a",
            T0,
            seen=[],
            articles=[],
            alerts=[
                alert("a1", destination="channel:1"),
                alert("a2", destination="channel:1"),
                alert("b1", destination="channel:2"),
            ],
        )
        with psycopg.connect(in_schema(schema)) as other:
            other.execute("SELECT 1 FROM sources WHERE id = 'a' FOR UPDATE")
            other.execute("SELECT 1 FROM outbox WHERE alert_id = 'a1' FOR UPDATE")
            assert [s.id for s in store.claim_due_sources(T0, 10, LEASE)] == ["b"]
            heads = store.claim_alerts(T0, 10, LEASE, heads_only=True)
            assert [p.alert.alert_id for p in heads] == ["b1"]
            other.rollback()
        assert [s.id for s in store.claim_due_sources(T0, 10, LEASE)] == ["a"]
        assert [p.alert.alert_id for p in store.claim_alerts(T0, 10, LEASE)] == ["a1", "a2"]


@needs_pg
def test_concurrent_migrations_apply_each_step_once(
    connect: Callable[[], PostgresStore], schema: str
) -> None:
    """Several processes migrating one empty database at once apply every migration once."""
    stores = [connect() for _ in range(3)]
    start = threading.Barrier(len(stores))

    def migrate(store: PostgresStore) -> int:
        start.wait()
        return store.migrate()

    with ThreadPoolExecutor(len(stores)) as pool:
        applied = list(pool.map(migrate, stores))
    assert sum(applied) == len(MIGRATIONS)
    with psycopg.connect(in_schema(schema)) as db:
        versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [m.version for m in MIGRATIONS]


@needs_pg
def test_story_ids_follow_commit_order_across_stores(
    connect: Callable[[], PostgresStore], schema: str
) -> None:
    """A poll filing a new story waits for another poll filing one to commit, so its story
    gets a later id and a reader catching up by id (`after_id`) never misses one."""
    with connect() as setup:
        setup.migrate()
        setup.sync_sources([cfg("a")], T0)
    write = StoryWrite(StoryCopy("a", "k2", "T2", None, None), new_ref="s", fingerprint="f2")
    with psycopg.connect(in_schema(schema)) as other, connect() as store:
        # another process's poll, in flight: it has filed story `first` and not committed
        other.execute("SELECT pg_advisory_xact_lock(%s)", (STORY_ID_LOCK,))
        row = other.execute(
            "INSERT INTO stories (fingerprint, title, first_seen_at, last_seen_at)"
            " VALUES ('f1', 'T1', %s, %s) RETURNING id",
            (T0, T0),
        ).fetchone()
        assert row is not None
        first = int(row[0])
        with ThreadPoolExecutor(1) as pool:
            filing = pool.submit(
                store.commit_poll, "a", T0, seen=[], articles=[], alerts=[], stories=[write]
            )
            _wait_for_a_lock_waiter(schema)
            assert not filing.done()
            other.commit()
            filing.result(timeout=30)
        [(second, _, _)] = store.recent_story_fingerprints(T0, after_id=first)
        assert second > first


def _wait_for_a_lock_waiter(schema: str) -> None:
    """Return once some session waits for an advisory lock (fail after a generous 20 s)."""
    with psycopg.connect(in_schema(schema), autocommit=True) as probe:
        for _ in range(400):
            waiting = probe.execute(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            if waiting:
                return
            threading.Event().wait(0.05)
    pytest.fail("the second poll never waited for the story lock")


# -- opening: the URL, the server and the driver ------------------------------------------------


@needs_pg
def test_open_store_selects_postgres_by_url_and_migrates(schema: str) -> None:
    """A postgresql:// URL opens a PostgresStore, migrated to the current schema."""
    options = quote(f"-c search_path={schema}", safe="")
    with open_store(f"{PG_URL}?options={options}") as store:
        assert isinstance(store, PostgresStore)
        assert store.migrate() == 0
        assert store.sources() == []


@needs_pg
def test_migrate_command_applies_then_says_current(
    schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signalwatch migrate --db URL` applies every migration, and nothing the second time."""
    url = f"{PG_URL}?options={quote(f'-c search_path={schema}', safe='')}"
    assert main(["migrate", "--db", url]) == 0
    assert (
        capsys.readouterr().out == f"{len(MIGRATIONS)} migrations applied; the schema is current\n"
    )
    assert main(["migrate", "--db", url]) == 0
    assert capsys.readouterr().out == "0 migrations applied; the schema is current\n"


def test_unreachable_server_is_one_line_naming_the_setting_without_the_password() -> None:
    """A server that does not answer: one line, naming SIGNALWATCH_DB, no password in it."""
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://sw:s3cr%21t@127.0.0.1:1/sw?connect_timeout=2")
    message = str(caught.value)
    assert "SIGNALWATCH_DB" in message and "127.0.0.1:1/sw" in message
    assert "s3cr" not in message and "\n" not in message


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://sw:s3cret@db/sw?nosuchoption=1",
        "postgresql://sw:s3cret@[::1/sw",  # libpq quotes the URL back: the password is hidden
        "postgresql://sw:s3cret%zz@db/sw",  # ... even in the bad token it names
    ],
)
def test_bad_url_is_one_line_naming_the_setting_without_the_password(url: str) -> None:
    """A URL libpq cannot read: one line, naming SIGNALWATCH_DB, no password in it."""
    with pytest.raises(StoreError, match="bad PostgreSQL URL in SIGNALWATCH_DB") as caught:
        open_store(url)
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


def test_missing_driver_names_the_extra_and_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg installed, a postgresql:// URL says which extra to install."""
    monkeypatch.setitem(sys.modules, "bot.store.postgres", None)  # import now fails
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://sw:s3cret@db/sw")
    message = str(caught.value)
    assert "signalwatch[postgres]" in message and "SIGNALWATCH_DB" in message
    assert "s3cret" not in message


@pytest.mark.parametrize("url", ["postgresql+psycopg://db/sw", "mysql://sw:s3cret@db/sw"])
def test_unsupported_urls_are_refused_without_the_password(url: str) -> None:
    """Driver-qualified or foreign URLs are refused, the password never shown."""
    with pytest.raises(StoreError, match="unsupported store URL") as caught:
        open_store(url)
    assert "s3cret" not in str(caught.value)


def test_migrate_command_on_sqlite_and_its_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`signalwatch migrate` works on SQLite too; a server it cannot reach is one stderr line."""
    from bot.store.migrations import MIGRATIONS as SQLITE_MIGRATIONS

    assert main(["migrate", "--db", f"sqlite:///{tmp_path / 'sw.db'}"]) == 0
    applied = len(SQLITE_MIGRATIONS)
    assert capsys.readouterr().out == f"{applied} migrations applied; the schema is current\n"
    assert main(["migrate", "--db", "postgresql://sw:s3cret@127.0.0.1:1/sw?connect_timeout=2"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("signalwatch migrate: cannot connect to PostgreSQL")
    assert err.count("\n") == 1 and "SIGNALWATCH_DB" in err and "s3cret" not in err
