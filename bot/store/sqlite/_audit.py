"""SQLite store, the audit log of admin edits."""

from __future__ import annotations

from datetime import datetime

from bot.errors import StoreError
from bot.store import codec
from bot.store.base import AuditEntry
from bot.store.sqlite._base import SQLiteBase


class AuditMixin(SQLiteBase):
    """The audit log of admin edits."""

    def record_audit(
        self,
        now: datetime,
        *,
        actor_id: int | None,
        actor_name: str,
        action: str,
        target: str,
        before: dict[str, object] | None,
        after: dict[str, object] | None,
    ) -> int:
        """Append an admin edit to the audit log; return its id."""
        params = (
            codec.to_text(now, "now"),
            codec.opt_snowflake(actor_id, "actor_id"),
            actor_name,
            action,
            target,
            codec.doc_to_json(before, "audit 'before'"),
            codec.doc_to_json(after, "audit 'after'"),
        )
        if not action or not target:
            raise ValueError("audit action and target must not be empty")
        with self._transaction("record_audit", durable=True) as db:
            cursor = db.execute(
                "INSERT INTO audit_log (at, actor_id, actor_name, action, target, before_json,"
                " after_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )
            entry_id = cursor.lastrowid
        if entry_id is None:  # pragma: no cover - an INSERT into a rowid table always sets it
            raise StoreError(f"SQLite store {self.path!r}: record_audit got no id")
        return entry_id

    def audit_history(self, limit: int, target: str | None = None) -> list[AuditEntry]:
        """The latest `limit` audit entries, newest first (by time, then id)."""
        if limit <= 0:
            return []
        with self._transaction("audit_history", write=False) as db:
            if target is None:
                rows = db.execute(
                    "SELECT * FROM audit_log ORDER BY at DESC, id DESC LIMIT ?", (limit,)
                ).fetchall()
            else:
                rows = db.execute(
                    "SELECT * FROM audit_log WHERE target = ? ORDER BY at DESC, id DESC LIMIT ?",
                    (target, limit),
                ).fetchall()
        return [
            AuditEntry(
                id=row["id"],
                at=codec.from_text(row["at"]),
                actor_id=row["actor_id"],
                actor_name=row["actor_name"],
                action=row["action"],
                target=row["target"],
                before=codec.doc_from_json(row["before_json"]),
                after=codec.doc_from_json(row["after_json"]),
            )
            for row in rows
        ]
