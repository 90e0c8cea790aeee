"""PostgreSQL store, the audit log of admin edits."""

from __future__ import annotations

from datetime import datetime

from bot.errors import StoreError
from bot.store import codec
from bot.store.base import AuditEntry
from bot.store.postgres._base import PostgresBase, utc_of


class AuditMixin(PostgresBase):
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
            codec.utc(now, "now"),
            codec.opt_snowflake(actor_id, "actor_id"),
            actor_name,
            action,
            target,
            codec.doc_to_json(before, "audit 'before'"),
            codec.doc_to_json(after, "audit 'after'"),
        )
        if not action or not target:
            raise ValueError("audit action and target must not be empty")
        with self._transaction("record_audit") as db:
            row = db.execute(
                "INSERT INTO audit_log (at, actor_id, actor_name, action, target, before_json,"
                " after_json) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                params,
            ).fetchone()
        if row is None:  # pragma: no cover - INSERT ... RETURNING always gives its row
            raise StoreError(f"PostgreSQL store {self.target}: record_audit got no id")
        return int(row["id"])

    def audit_history(self, limit: int, target: str | None = None) -> list[AuditEntry]:
        """The latest `limit` audit entries, newest first (by time, then id)."""
        if limit <= 0:
            return []
        with self._transaction("audit_history", write=False) as db:
            rows = db.execute(
                "SELECT * FROM audit_log WHERE (%s::text IS NULL OR target = %s)"
                " ORDER BY at DESC, id DESC LIMIT %s",
                (target, target, limit),
            ).fetchall()
        return [
            AuditEntry(
                id=int(row["id"]),
                at=utc_of(row["at"]),
                actor_id=None if row["actor_id"] is None else int(row["actor_id"]),
                actor_name=row["actor_name"],
                action=row["action"],
                target=row["target"],
                before=codec.doc_from_json(row["before_json"]),
                after=codec.doc_from_json(row["after_json"]),
            )
            for row in rows
        ]
