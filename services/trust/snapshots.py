"""Trust snapshots: each subject's and enterprise's facts, refreshed in the transaction
that changed them, so that a score read is one primary-key lookup.

`TrustProjection.install(sessions)` hooks a session factory: every domain event that
can move a score (a verification recorded, a case opened or decided, a report, a
platform signal, a re-verification demand or task change, an executive added) marks
its subject / enterprise; just before the transaction commits their facts are re-read,
re-scored with the active policy, stored, and a `trust.score_changed` event is appended
when the score, band or decision moved. Writers in other services need not know about
trust: they emit their events as they do today.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, event, select
from sqlalchemy.orm import Session, sessionmaker

from services.core.errors import not_found
from services.core.reasons import Reason
from services.platform import events
from services.platform.database import Database
from services.platform.models import DomainEventRow, TrustSnapshotRow
from services.platform.records import utcnow
from services.trust import facts as facts_mod
from services.trust.policy import PolicySet
from services.trust.scorecard import Score, score

WATCHED = frozenset(
    {
        "subject.created",
        "verification.recorded",
        "duplicate.found",
        "case.opened",
        "case.decided",
        "suspicious_activity.reported",
        "platform_signal.recorded",
        "reverification.required",
        "reverification.task_changed",
        "enterprise.registered",
        "executive.added",
    }
)
_PENDING = "trust_pending_targets"
_FRESH = "trust_fresh_targets"  # stored in this transaction already (no second refresh)
Target = tuple[str, str]  # ("subject" | "enterprise", id)


class TrustProjection:
    """Keeps trust_snapshots current inside the writers' transactions."""

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies

    def install(self, sessions: sessionmaker[Session]) -> None:
        """Hook a session factory (App.build does it for the app's database)."""
        event.listen(sessions, "before_flush", self._collect)
        event.listen(sessions, "before_commit", self._before_commit)

    def _collect(self, session: Session, _ctx: Any, _instances: Any) -> None:
        pending: set[Target] = session.info.setdefault(_PENDING, set())
        for obj in session.new:
            if isinstance(obj, DomainEventRow) and obj.kind in WATCHED:
                if obj.subject_id:
                    pending.add(("subject", obj.subject_id))
                if obj.enterprise_id:
                    pending.add(("enterprise", obj.enterprise_id))

    def _before_commit(self, session: Session) -> None:
        for _ in range(3):  # a subject's refresh can mark its enterprises; never more
            session.flush()
            pending: set[Target] = session.info.pop(_PENDING, set())
            if not pending:
                session.info.pop(_FRESH, None)
                return
            fresh: set[Target] = session.info.setdefault(_FRESH, set())
            enterprises: set[str] = set()
            for kind, target_id in sorted(pending):
                if (kind, target_id) not in fresh:
                    self.refresh(session, kind, target_id)
                if kind == "subject":
                    enterprises.update(facts_mod.enterprises_of(session, target_id))
            for eid in sorted(enterprises):
                if ("enterprise", eid) not in fresh:
                    self.refresh(session, "enterprise", eid)

    def refresh(
        self, session: Session, kind: str, target_id: str, now: datetime | None = None, *, with_actions: bool = False
    ) -> Score | None:
        """Re-read one target's facts, store them with the new score; emit on change.

        `with_actions` also works out what would change the decision (for an answer to show)."""
        session.flush()  # the writer's rows (and events) first
        f = (
            facts_mod.subject_facts(session, target_id)
            if kind == "subject"
            else facts_mod.enterprise_facts(session, target_id)
        )
        if f is None:
            return None
        return self.store(session, kind, target_id, f, now or utcnow(), with_actions=with_actions)

    def store(
        self,
        session: Session,
        kind: str,
        target_id: str,
        f: dict[str, Any],
        now: datetime,
        row: TrustSnapshotRow | None = None,
        *,
        with_actions: bool = False,
        flush: bool = True,
    ) -> Score:
        """Store facts and their score as the target's snapshot (emitting trust.score_changed on change).

        `row` is the target's snapshot when the caller loaded it already (bulk updates)."""
        if flush:  # the writer's events first; this target is then up to date
            session.flush()
            session.info.setdefault(_FRESH, set()).add((kind, target_id))
        policy = self.policies.active
        result = score(policy, f, now, with_actions=with_actions)
        if row is None:
            row = session.get(TrustSnapshotRow, target_id)
        before = None if row is None else (row.score, row.band, row.decision, row.policy_version)
        if row is None:
            row = TrustSnapshotRow(target_id=target_id, target_kind=kind)
            session.add(row)
        row.facts = f
        row.score, row.band, row.decision = result.score, result.band, result.decision
        row.policy_version, row.computed_at = policy.version, now
        after = (result.score, result.band, result.decision, policy.version)
        if before != after:
            events.emit(
                session,
                "trust.score_changed",
                subject_id=target_id if kind == "subject" else None,
                enterprise_id=target_id if kind == "enterprise" else None,
                payload={
                    **result.summary(),
                    "previous": None
                    if before is None
                    else {"score": before[0], "band": before[1], "decision": before[2], "policy_version": before[3]},
                    "reasons": result.decision_reasons(),
                },
            )
        return result

    def facts_of(self, session: Session, kind: str, target_id: str) -> dict[str, Any]:
        """The stored facts of a target (read live when it has no snapshot yet)."""
        # Core select of one column: the hot path of every score read.
        stored = session.execute(self._facts_query(kind, target_id)).scalar()
        if stored is not None:
            return dict(stored)
        f = (
            facts_mod.subject_facts(session, target_id)
            if kind == "subject"
            else facts_mod.enterprise_facts(session, target_id)
        )
        if f is None:
            if kind == "subject":
                raise not_found(Reason.SUBJECT_NOT_FOUND, f"no subject with id {target_id!r}")
            raise not_found(Reason.ENTERPRISE_NOT_FOUND, f"no enterprise with id {target_id!r}")
        return f

    def read_now(self, db: Database, kind: str, target_id: str) -> tuple[Score, dict[str, Any]]:
        """`current` for a caller outside a transaction: the stored facts in one point
        read (one database round trip), a session only when there is no snapshot yet."""
        stored = db.scalar(self._facts_query(kind, target_id))
        if stored is not None:
            return score(self.policies.active, dict(stored), utcnow()), dict(stored)
        with db.read() as session:
            return self.current(session, kind, target_id)

    @staticmethod
    def _facts_query(kind: str, target_id: str) -> Select[tuple[Any]]:
        return select(TrustSnapshotRow.facts).where(
            TrustSnapshotRow.target_id == target_id, TrustSnapshotRow.target_kind == kind
        )

    def current(
        self, session: Session, kind: str, target_id: str, now: datetime | None = None
    ) -> tuple[Score, dict[str, Any]]:
        """The score now (stored facts aged to `now`, active policy) and the facts used."""
        f = self.facts_of(session, kind, target_id)
        return score(self.policies.active, f, now or utcnow()), f
