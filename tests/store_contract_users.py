"""Part of the Store contract: subscriptions and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from store_contract_data import GUILD, MAX_ID, T0, USER, ContractBase, at

from bot.store.base import AuditEntry, Store, Subscription


class UsersContract(ContractBase):
    """Subscriptions and the audit log."""

    # -- subscriptions -----------------------------------------------------------------------------

    def test_subscribe_then_again_is_no_change(self, store: Store) -> None:
        """A new subscription is a change; the same one again is not."""
        assert store.subscribe(USER, "nato", "mention", GUILD, T0)
        assert not store.subscribe(USER, "nato", "mention", GUILD, at(1))
        assert store.subscriptions_of(USER) == [Subscription(USER, "nato", "mention", GUILD, T0)]

    def test_mode_change_is_a_change_that_keeps_created_at(self, store: Store) -> None:
        """Switching mode counts and keeps created_at; a new guild alone is stored, not counted."""
        store.subscribe(USER, "nato", "mention", GUILD, T0)
        assert store.subscribe(USER, "nato", "dm", None, at(1))
        assert store.subscriptions_of(USER) == [Subscription(USER, "nato", "dm", None, T0)]
        assert not store.subscribe(USER, "nato", "dm", GUILD + 1, at(2))
        assert store.subscribers("nato") == [Subscription(USER, "nato", "dm", GUILD + 1, T0)]
        assert store.subscribe(USER, "nato", "mention", GUILD, at(3))
        [sub] = store.subscribers("nato")
        assert (sub.mode, sub.guild_id, sub.created_at) == ("mention", GUILD, T0)

    def test_unsubscribe_says_whether_anything_was_removed(self, store: Store) -> None:
        """unsubscribe removes one user's one signal and says so; a second time finds nothing."""
        store.subscribe(USER, "nato", "dm", None, T0)
        store.subscribe(USER, "eu", "dm", None, T0)
        store.subscribe(USER + 1, "nato", "dm", None, T0)
        assert store.unsubscribe(USER, "nato")
        assert not store.unsubscribe(USER, "nato")
        assert not store.unsubscribe(USER, "never")
        assert [s.signal_id for s in store.subscriptions_of(USER)] == ["eu"]
        assert [s.user_id for s in store.subscribers("nato")] == [USER + 1]
        # and subscribing again starts afresh
        assert store.subscribe(USER, "nato", "mention", GUILD, at(5))
        assert [s.created_at for s in store.subscriptions_of(USER)] == [T0, at(5)]

    def test_subscriptions_by_signal_and_subscribers_oldest_first(self, store: Store) -> None:
        """A user's subscriptions come by signal id; a signal's subscribers oldest first."""
        for signal in ["tariffs", "eu", "nato"]:
            store.subscribe(USER, signal, "mention", GUILD, at(len(signal)))
        store.subscribe(30, "nato", "dm", None, at(1))
        store.subscribe(20, "nato", "dm", None, at(9))
        store.subscribe(10, "nato", "mention", GUILD, at(9))  # same time: by user id
        assert [s.signal_id for s in store.subscriptions_of(USER)] == ["eu", "nato", "tariffs"]
        assert [s.user_id for s in store.subscribers("nato")] == [30, USER, 10, 20]
        assert store.subscribers("unknown") == []
        assert store.subscriptions_of(99) == []

    def test_subscriptions_keep_64_bit_snowflakes_exact(self, store: Store) -> None:
        """Discord ids up to 2**63 - 1 come back exactly; beyond that is a ValueError."""
        assert store.subscribe(MAX_ID, "nato", "mention", MAX_ID, T0)
        assert store.subscribe(0, "nato", "dm", None, T0)
        [top] = store.subscriptions_of(MAX_ID)
        assert (top.user_id, top.guild_id) == (MAX_ID, MAX_ID)
        assert isinstance(top.user_id, int) and isinstance(top.guild_id, int)
        for bad in (MAX_ID + 1, -1):
            with pytest.raises(ValueError, match="out of range"):
                store.subscribe(bad, "nato", "dm", None, T0)
            with pytest.raises(ValueError, match="out of range"):
                store.subscribe(USER, "nato", "mention", bad, T0)
            with pytest.raises(ValueError, match="out of range"):
                store.subscriptions_of(bad)
        assert [s.user_id for s in store.subscribers("nato")] == [0, MAX_ID]

    def test_subscribe_refuses_bad_arguments(self, store: Store) -> None:
        """An unknown mode, an empty signal id or a naive time is a ValueError; nothing stored."""
        with pytest.raises(ValueError, match="mode"):
            store.subscribe(USER, "nato", "email", None, T0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="signal id"):
            store.subscribe(USER, "", "dm", None, T0)
        with pytest.raises(ValueError, match="timezone-aware"):
            store.subscribe(USER, "nato", "dm", None, datetime(2025, 6, 24))
        assert store.subscriptions_of(USER) == []

    # -- audit log ---------------------------------------------------------------------------------

    def test_audit_round_trips_nested_json(self, store: Store) -> None:
        """An entry comes back with its before/after equal, nested, unicode and datetimes intact."""
        before: dict[str, object] = {
            "query": '"NATO" AND (5% OR "five percent")',
            "routes": [{"channel": GUILD, "severity": "high"}, {"webhook": "ops"}],
            "limits": {"flood": {"per_hour": 10, "ratio": 0.5}, "muted": False, "note": None},
            "label": "Türkiye – Черное море ✓",
            "edited": datetime(2025, 6, 24, 11, 0, tzinfo=timezone(timedelta(hours=2))),
        }
        after = {**before, "routes": [], "limits": {"flood": {"per_hour": 20}}}
        entry_id = store.record_audit(
            at(1),
            actor_id=USER,
            actor_name="ops#0001",
            action="signal.edit",
            target="signal:nato",
            before=before,
            after=after,
        )
        [got] = store.audit_history(10)
        assert got == AuditEntry(
            entry_id, at(1), USER, "ops#0001", "signal.edit", "signal:nato", before, after
        )
        assert got.before is not None and got.before["edited"] == T0  # 11:00+02:00
        assert isinstance(got.before["edited"], datetime)
        assert got.before["edited"].utcoffset() == got.at.utcoffset() == timedelta(0)

    def test_audit_history_newest_first_limited_and_by_target(self, store: Store) -> None:
        """Newest first by time (ids break ties), limited, optionally one target's entries."""

        def record(minutes: float, target: str, action: str) -> int:
            return store.record_audit(
                at(minutes),
                actor_id=None,
                actor_name="cli",
                action=action,
                target=target,
                before=None,
                after={"n": minutes},
            )

        created = record(0, "signal:nato", "signal.create")
        other = record(1, "source:a", "source.disable")
        edited = record(2, "signal:nato", "signal.edit")
        late = record(1.5, "signal:nato", "signal.edit")  # recorded after, but happened earlier
        tie = record(2, "source:a", "source.enable")
        assert created < other < edited < late < tie

        assert [e.id for e in store.audit_history(10)] == [tie, edited, late, other, created]
        assert [e.id for e in store.audit_history(2)] == [tie, edited]
        assert [e.id for e in store.audit_history(10, "signal:nato")] == [edited, late, created]
        assert store.audit_history(10, "signal:eu") == []
        assert store.audit_history(0) == []
        first = store.audit_history(10, "signal:nato")[-1]
        assert (first.actor_id, first.before, first.after) == (None, None, {"n": 0})

    def test_audit_refuses_what_json_cannot_keep(self, store: Store) -> None:
        """A state JSON would change or cannot hold, or an empty action, records nothing."""
        bad_states: list[dict[str, object]] = [
            {"obj": object()},
            {"nan": float("nan")},
            {"nested": {1: "int key"}},
            {"naive": datetime(2025, 6, 24)},
        ]
        for state in bad_states:
            with pytest.raises(ValueError):
                store.record_audit(
                    T0,
                    actor_id=USER,
                    actor_name="x",
                    action="a",
                    target="t",
                    before=state,
                    after=None,
                )
        with pytest.raises(ValueError, match="empty"):
            store.record_audit(
                T0, actor_id=USER, actor_name="x", action="", target="t", before=None, after=None
            )
        with pytest.raises(ValueError, match="out of range"):
            store.record_audit(
                T0, actor_id=-5, actor_name="x", action="a", target="t", before=None, after=None
            )
        assert store.audit_history(10) == []
