"""The SQLite schema, as an ordered list of migrations.

Each migration runs once, in order, inside the same transaction that records its version in
`schema_version`; a database is never left half-migrated. Append new migrations at the end
and never edit one that has shipped. Times are ISO-8601 UTC text (see `bot.store.codec`).

    1  core schema: sources, seen, articles, outbox
    2  full-text search over articles (FTS5, where the build has it)
    3  subscriptions, audit log, receipts by signal, title and summary text on seen entries
    4  stories (one alert per story across outlets), digest items, news-API call counts
    5  search cursors (how far each news-API source has searched for each signal); an index
       from an article to its story copy, for timelines
    6  a covering index for the flood guard's count
    7  lease holders and tokens on sources and alerts, so a restart releases its own leases
    8  the outbox knows each alert's kind and which alert an update is of (no more reading
       either from the id), and finds each destination's oldest pending alert by index
    9  what several processes share: the live watchlist by version, admin notices queued for
       the gateway, and each news API's next free request slot
   10  every copy's link and headline lead to its story (story_idents)
   11  subscribers' feedback on alerts (one verdict per user and alert, with a copy of the
       item judged), and matched articles by source and link, to find an alert's article

From 3 on, a migration is idempotent: it only creates what is missing (`IF NOT EXISTS`, and
`add_columns` for columns, which SQLite's ALTER TABLE cannot make conditional), so running
it over a database that already has some of it (a hand fix, an interrupted rollout) is safe.
New columns must be nullable or have a constant default: SQLite then adds them to a table
of any size without rewriting its rows, and old rows read as NULL (or the default).

Full-text search needs SQLite's FTS5 extension, which some builds lack: a migration may give
a `without_fts5` script to run instead, and search then falls back to LIKE.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AddColumn:
    """A column to add to an existing table, skipped when the table already has it."""

    table: str
    column: str
    decl: str  # type and constraints, e.g. "TEXT"; nullable or with a constant default

    @property
    def sql(self) -> str:
        """The ALTER TABLE statement that adds the column."""
        return f"ALTER TABLE {self.table} ADD COLUMN {self.column} {self.decl}"


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: `add_columns` first, then `sql`, a script of `;`-terminated statements."""

    version: int
    name: str
    sql: str
    without_fts5: str | None = None  # run instead of `sql` where FTS5 is unavailable
    add_columns: tuple[AddColumn, ...] = ()  # each added only if missing, before the script


SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    variant TEXT NOT NULL  -- 'standard' or 'without fts5'
)
"""

CORE = """
CREATE TABLE sources (
    id                   TEXT PRIMARY KEY,
    url                  TEXT NOT NULL,
    type                 TEXT NOT NULL,
    interval_s           INTEGER NOT NULL,
    configured           INTEGER NOT NULL DEFAULT 1,
    enabled              INTEGER NOT NULL DEFAULT 1,
    disabled_reason      TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    next_poll_at         TEXT NOT NULL,
    lease_until          TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_attempt_at      TEXT,
    last_success_at      TEXT,
    last_error           TEXT,
    last_status          INTEGER,
    entries_seen         INTEGER NOT NULL DEFAULT 0,
    first_fetch_done     INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL
);
-- the scheduler's question, "which sources are due?", reads only claimable rows
CREATE INDEX sources_due ON sources (next_poll_at)
    WHERE configured = 1 AND enabled = 1 AND disabled_reason IS NULL;

-- an entry is seen if its key, canonical link or normalised title was seen for its source
CREATE TABLE seen (
    source_id     TEXT NOT NULL REFERENCES sources (id),
    key           TEXT NOT NULL,
    link          TEXT,
    title_norm    TEXT,
    published     TEXT,
    first_seen_at TEXT NOT NULL,
    PRIMARY KEY (source_id, key)
);
CREATE INDEX seen_by_link ON seen (source_id, link) WHERE link IS NOT NULL;
CREATE INDEX seen_by_title ON seen (source_id, title_norm) WHERE title_norm IS NOT NULL;
CREATE INDEX seen_by_age ON seen (first_seen_at);

CREATE TABLE articles (
    id         INTEGER PRIMARY KEY,
    source_id  TEXT NOT NULL REFERENCES sources (id),
    key        TEXT NOT NULL,
    title      TEXT NOT NULL,
    summary    TEXT NOT NULL,
    link       TEXT,
    published  TEXT,
    publisher  TEXT,
    matched_at TEXT NOT NULL,
    UNIQUE (source_id, key)
);
CREATE INDEX articles_by_time ON articles (matched_at);

CREATE TABLE article_signals (
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    signal_id  TEXT NOT NULL,
    position   INTEGER NOT NULL,  -- keeps the matches in the order the matcher gave them
    terms      TEXT NOT NULL,     -- JSON list of the matched words
    snippet    TEXT NOT NULL,
    matched_at TEXT NOT NULL,
    PRIMARY KEY (article_id, signal_id)
);
CREATE INDEX article_signals_by_signal ON article_signals (signal_id, matched_at);

-- the outbox: an alert leaves 'pending' only when a sink accepted it or refused it for good
CREATE TABLE outbox (
    alert_id        TEXT PRIMARY KEY,
    signal_id       TEXT NOT NULL,
    destination     TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    payload         TEXT NOT NULL,  -- the Alert as JSON (bot.store.codec)
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until     TEXT,
    last_error      TEXT,
    receipt         TEXT,
    created_at      TEXT NOT NULL,
    delivered_at    TEXT
);
CREATE INDEX outbox_due ON outbox (created_at, alert_id) WHERE status = 'pending';
CREATE INDEX outbox_by_signal ON outbox (signal_id, created_at);
CREATE INDEX outbox_delivered ON outbox (delivered_at) WHERE status = 'delivered';
"""

# External-content FTS5 index over articles, kept in step by triggers. `remove_diacritics 2`
# folds accents, so "defence" style lookups behave like the matcher's normalisation.
ARTICLE_SEARCH = """
CREATE VIRTUAL TABLE articles_fts USING fts5 (
    title, summary,
    content = 'articles', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
    INSERT INTO articles_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
END;
CREATE TRIGGER articles_fts_update AFTER UPDATE OF title, summary ON articles BEGIN
    INSERT INTO articles_fts (articles_fts, rowid, title, summary)
        VALUES ('delete', old.id, old.title, old.summary);
    INSERT INTO articles_fts (rowid, title, summary) VALUES (new.id, new.title, new.summary);
END;
-- index the articles stored before this migration
INSERT INTO articles_fts (articles_fts) VALUES ('rebuild');
"""

SUBSCRIPTIONS_AUDIT_SEEN_TEXT = """
-- Discord users following a signal; user and guild ids are snowflakes (64-bit integers)
CREATE TABLE IF NOT EXISTS subscriptions (
    user_id    INTEGER NOT NULL,
    signal_id  TEXT NOT NULL,
    mode       TEXT NOT NULL CHECK (mode IN ('mention', 'dm')),
    guild_id   INTEGER,
    created_at TEXT NOT NULL,
    PRIMARY KEY (user_id, signal_id)
);
CREATE INDEX IF NOT EXISTS subscriptions_by_signal
    ON subscriptions (signal_id, created_at, user_id);

-- admin edits; AUTOINCREMENT so an id is never reused, even after old entries are deleted
CREATE TABLE IF NOT EXISTS audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          TEXT NOT NULL,
    actor_id    INTEGER,           -- the admin's Discord id; NULL for the CLI
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    before_json TEXT,              -- JSON object (bot.store.codec); NULL when created
    after_json  TEXT               -- NULL when deleted
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit_log (at, id);
CREATE INDEX IF NOT EXISTS audit_by_target ON audit_log (target, at, id);

-- receipts of one signal's delivered alerts, newest first, to edit the posted messages
CREATE INDEX IF NOT EXISTS outbox_delivered_by_signal ON outbox (signal_id, delivered_at)
    WHERE status = 'delivered';

-- recent seen entries that have text to preview a query against; rows without text (all
-- those seen before this migration) cost this index nothing
CREATE INDEX IF NOT EXISTS seen_text_by_age ON seen (first_seen_at)
    WHERE title IS NOT NULL OR summary IS NOT NULL;
"""

STORIES_DIGESTS_API_CALLS = """
-- a story: the same news from one or more outlets, announced once per signal and destination
CREATE TABLE IF NOT EXISTS stories (
    id            INTEGER PRIMARY KEY,
    fingerprint   TEXT NOT NULL,   -- bot.stories.StoryFingerprint.to_text()
    title         TEXT NOT NULL,   -- the first copy's headline
    first_seen_at TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);
-- the clustering window reads the stories seen lately
CREATE INDEX IF NOT EXISTS stories_by_time ON stories (last_seen_at);

-- every outlet's copy of a story, in the order they came
CREATE TABLE IF NOT EXISTS story_copies (
    story_id  INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    source_id TEXT NOT NULL,
    key       TEXT NOT NULL,
    title     TEXT NOT NULL,
    link      TEXT,
    publisher TEXT,
    added_at  TEXT NOT NULL,
    PRIMARY KEY (story_id, source_id, key)
);

-- the alert that announced a story for one signal at one destination: later copies update it
CREATE TABLE IF NOT EXISTS story_alerts (
    story_id    INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    signal_id   TEXT NOT NULL,
    destination TEXT NOT NULL,
    alert_id    TEXT NOT NULL,
    PRIMARY KEY (story_id, signal_id, destination)
);
-- delivering an alert asks which story it announced, to show the other outlets' copies
CREATE INDEX IF NOT EXISTS story_alerts_by_alert ON story_alerts (alert_id);

-- hits waiting for a digest route's next digest; digest_id is set when one took them
CREATE TABLE IF NOT EXISTS digest_items (
    alert_id    TEXT PRIMARY KEY,  -- the per-hit alert the item stands for
    destination TEXT NOT NULL,
    schedule    TEXT NOT NULL,     -- bot.digest.DigestSchedule.key
    payload     TEXT NOT NULL,     -- the Alert as JSON (bot.store.codec)
    created_at  TEXT NOT NULL,
    digest_id   TEXT               -- the digest alert in the outbox that carried it
);
CREATE INDEX IF NOT EXISTS digest_items_open ON digest_items (destination, schedule, created_at)
    WHERE digest_id IS NULL;

-- requests made to each news API per UTC day, against its daily quota
CREATE TABLE IF NOT EXISTS api_calls (
    api   TEXT NOT NULL,
    day   TEXT NOT NULL,  -- YYYY-MM-DD (UTC)
    calls INTEGER NOT NULL,
    PRIMARY KEY (api, day)
);
"""

SEARCH_CURSORS = """
-- per news-API source and signal: the end of the last window searched without an error,
-- so a signal the quota, a rate limit or a failure left out is searched from where it stopped
CREATE TABLE IF NOT EXISTS search_cursors (
    source_id      TEXT NOT NULL,
    signal_id      TEXT NOT NULL,
    searched_until TEXT NOT NULL,
    PRIMARY KEY (source_id, signal_id)
);

-- the timeline finds each matched article's story by the copy it was filed as
CREATE INDEX IF NOT EXISTS story_copies_by_entry ON story_copies (source_id, key);
"""

FLOOD_COUNT_INDEX = """
-- the flood guard counts a signal's alerts of the last hour, updates left out by their id:
-- with the id in the index the count reads the index alone, not every alert's row
CREATE INDEX IF NOT EXISTS outbox_by_signal_id ON outbox (signal_id, created_at, alert_id);
DROP INDEX IF EXISTS outbox_by_signal;
"""

LEASE_HOLDERS = """
-- a restarted process releases the alert leases its previous incarnation held: only the
-- alerts leased right now are indexed, a handful however long the outbox grows
CREATE INDEX IF NOT EXISTS outbox_leased ON outbox (lease_holder) WHERE lease_until IS NOT NULL;
"""

ALERT_KINDS = """
-- rows from before: the kind their id prefix meant, and an update's original from its payload
UPDATE outbox SET kind = CASE
    WHEN alert_id LIKE 'upd-%' THEN 'update'
    WHEN alert_id LIKE 'flood-%' THEN 'flood'
    WHEN alert_id LIKE 'digest-%' THEN 'digest'
    ELSE 'story' END
WHERE kind IS NULL;
UPDATE outbox SET update_of = json_extract(payload, '$.extra.update_of')
WHERE kind = 'update' AND update_of IS NULL;
-- the flood guard counts a signal's alerts of the last hour, updates left out by their kind
CREATE INDEX IF NOT EXISTS outbox_by_signal_kind ON outbox (signal_id, created_at, kind);
DROP INDEX IF EXISTS outbox_by_signal_id;
-- an update's follow-up receipt, found by the alert it updates
CREATE INDEX IF NOT EXISTS outbox_updates ON outbox (update_of, delivered_at)
    WHERE update_of IS NOT NULL;
-- delivery takes the oldest pending alert of each destination
CREATE INDEX IF NOT EXISTS outbox_pending_by_destination
    ON outbox (destination, created_at, alert_id) WHERE status = 'pending';
"""

CLUSTER = """
-- the live watchlist: workers on other hosts compile the newest version
CREATE TABLE IF NOT EXISTS watchlists (
    version  INTEGER PRIMARY KEY AUTOINCREMENT,
    text     TEXT NOT NULL,
    saved_at TEXT NOT NULL
);
-- admin notices a worker raised, for the gateway to post
CREATE TABLE IF NOT EXISTS admin_notices (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
-- per news API, when the next request may start (spacing across processes)
CREATE TABLE IF NOT EXISTS api_slots (
    api        TEXT PRIMARY KEY,
    next_start TEXT NOT NULL
);
"""

STORY_IDENTS = """
-- every copy's canonical link and identifying headline ("link:…", "title:…") → its story,
-- so a copy that joined by similar text is found again by its own link or headline
CREATE TABLE IF NOT EXISTS story_idents (
    ident    TEXT NOT NULL,
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    PRIMARY KEY (ident, story_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS story_idents_by_story ON story_idents (story_id);
"""

FEEDBACK = """
-- subscribers' verdicts on alerts: one row per user and alert (a new verdict replaces the
-- old, a withdrawn one is deleted), with a copy of the item judged, since the outbox row and
-- the seen record are pruned and the verdicts are labelled data for `signalwatch eval`
CREATE TABLE IF NOT EXISTS feedback (
    alert_id   TEXT NOT NULL,
    user_id    INTEGER NOT NULL,  -- Discord snowflake
    message_id INTEGER,           -- the Discord message judged, where known
    signal_id  TEXT NOT NULL,
    source_id  TEXT NOT NULL,
    item_key   TEXT NOT NULL,
    title      TEXT NOT NULL,
    summary    TEXT NOT NULL,
    link       TEXT,
    publisher  TEXT,
    published  TEXT,
    verdict    INTEGER NOT NULL CHECK (verdict IN (1, -1)),
    at         TEXT NOT NULL,
    PRIMARY KEY (alert_id, user_id)
);
CREATE INDEX IF NOT EXISTS feedback_by_time ON feedback (at);
-- /signal's share reads the index alone
CREATE INDEX IF NOT EXISTS feedback_by_signal
    ON feedback (signal_id, at, source_id, item_key, verdict);
-- a judged alert carries its item's source and link, not its key: find the article by them
CREATE INDEX IF NOT EXISTS articles_by_link ON articles (source_id, link) WHERE link IS NOT NULL;
"""

INDEX_AUDIT = """
-- `python -m bench.index_audit`: every row of seen keeps its text, so this partial index was
-- seen_by_age again, paid for on every insert; recent_seen walks seen_by_age instead
DROP INDEX IF EXISTS seen_text_by_age;
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "core schema: sources, seen, articles, outbox", CORE),
    Migration(2, "article full-text search", ARTICLE_SEARCH, without_fts5=""),
    Migration(
        3,
        "subscriptions, audit log, seen entry text",
        SUBSCRIPTIONS_AUDIT_SEEN_TEXT,
        add_columns=(AddColumn("seen", "title", "TEXT"), AddColumn("seen", "summary", "TEXT")),
    ),
    Migration(4, "stories, digest items, news-API calls", STORIES_DIGESTS_API_CALLS),
    Migration(5, "search cursors, story copies by entry", SEARCH_CURSORS),
    Migration(6, "outbox: a covering index for the flood count", FLOOD_COUNT_INDEX),
    Migration(
        7,
        "lease holders and tokens",
        LEASE_HOLDERS,
        add_columns=(
            AddColumn("sources", "lease_holder", "TEXT"),
            AddColumn("sources", "lease_token", "INTEGER NOT NULL DEFAULT 0"),
            AddColumn("outbox", "lease_holder", "TEXT"),
            AddColumn("outbox", "lease_token", "INTEGER NOT NULL DEFAULT 0"),
        ),
    ),
    Migration(
        8,
        "alert kinds, updates by original, pending alerts by destination",
        ALERT_KINDS,
        add_columns=(AddColumn("outbox", "kind", "TEXT"), AddColumn("outbox", "update_of", "TEXT")),
    ),
    Migration(9, "live watchlist, notice queue, API slots", CLUSTER),
    Migration(10, "story idents: every copy's link and headline", STORY_IDENTS),
    Migration(11, "subscribers' feedback, articles by link", FEEDBACK),
    Migration(12, "drop seen_text_by_age (seen_by_age serves its query)", INDEX_AUDIT),
)

# Probing with the exact tokenizer options the migration uses also catches builds too old
# for `remove_diacritics 2` (SQLite < 3.27).
FTS5_PROBE = (
    "CREATE VIRTUAL TABLE temp.fts5_probe"
    " USING fts5 (x, tokenize = 'unicode61 remove_diacritics 2')"
)


def statements(script: str) -> list[str]:
    """Split a script into statements; `;` inside strings and trigger bodies stays put."""
    result: list[str] = []
    *pieces, tail = script.split(";")
    pending = ""
    for piece in pieces:
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if _has_code(pending):
                result.append(pending.strip())
            pending = ""
    pending += tail
    if _has_code(pending):
        raise ValueError(f"incomplete SQL statement at end of script: {pending.strip()!r}")
    return result


def _has_code(sql: str) -> bool:
    """Whether the text holds anything but whitespace, `--` comments and semicolons."""
    code = "".join(line.split("--", 1)[0] for line in sql.splitlines())
    return bool(code.replace(";", "").strip())
