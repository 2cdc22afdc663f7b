"""Snapshots are refreshed inside the writers' own transactions: any service that records
a result (as identity does) moves the score in the same commit, and a change is announced
once with trust.score_changed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.app import App
from services.identity import subjects
from services.platform import events
from services.platform.auth import Caller, Role
from services.platform.models import DomainEventRow, EnterpriseRow, ExecutiveRow, TrustSnapshotRow
from services.platform.records import utcnow
from services.platform.settings import Settings

CALLER = Caller("identity-test", Role.ONBOARDING)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App.build(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'sv.db'}"))
    yield a
    a.close()


def _changes(app: App, target: str) -> int:
    with app.db.read() as s:
        return int(
            s.scalar(
                select(func.count()).where(
                    DomainEventRow.kind == "trust.score_changed",
                    (DomainEventRow.subject_id == target) | (DomainEventRow.enterprise_id == target),
                )
            )
        )


def _pass(app: App, subject_id: str, kind: str, check: str) -> None:
    with app.db.transaction() as s:
        subject = subjects.get_subject(s, subject_id, for_update=True)
        app.verifications.add(
            s,
            verification_id=f"v-{kind}-{subject_id[:8]}",
            caller=CALLER,
            method="/test",
            request_id="r",
            subject_id=subject_id,
            kind=kind,
            verdict="pass",
            reasons=[],
        )
        subjects.mark_passed(s, subject, check)


def test_a_recorded_result_moves_the_score_in_its_own_commit(app: App) -> None:
    with app.db.transaction() as s:
        sid = subjects.create_subject(s, "snap-1", "individual").id
    _pass(app, sid, "document", "document")
    with app.db.read() as s:
        snap = s.get(TrustSnapshotRow, sid)
        assert snap is not None and snap.facts["latest"]["document"]["verdict"] == "pass"
        first = snap.score
    assert _changes(app, sid) == 1
    _pass(app, sid, "face_match", "face")
    _pass(app, sid, "liveness", "liveness")
    with app.db.read() as s:
        snap = s.get(TrustSnapshotRow, sid)
        assert snap.score > first and snap.decision == "ALLOW"
    assert _changes(app, sid) == 3
    with app.db.transaction() as s:  # a write that cannot move the score announces nothing
        app.audit.record(s, CALLER, "read_document", sid)
    assert _changes(app, sid) == 3


def test_an_executives_result_re_scores_the_enterprise(app: App) -> None:
    now = utcnow()
    with app.db.transaction() as s:
        sid = subjects.create_subject(s, "snap-rep", "executive").id
        s.add(
            EnterpriseRow(
                id="ent-1",
                external_ref="ent-1",
                credit_code=None,
                company_name=None,
                legal_representative=None,
                licence_verdict="pass",
                licence_reasons=[],
                document_id=None,
                created_at=now,
            )
        )
        s.flush()
        s.add(ExecutiveRow(enterprise_id="ent-1", subject_id=sid, role="legal_representative", name="x", added_at=now))
        events.emit(
            s, "executive.added", subject_id=sid, enterprise_id="ent-1", payload={"role": "legal_representative"}
        )
    with app.db.read() as s:
        assert s.get(TrustSnapshotRow, "ent-1").decision == "DENY"  # an unverified representative
    for kind, check in (("document", "document"), ("face_match", "face"), ("liveness", "liveness")):
        _pass(app, sid, kind, check)
    with app.db.read() as s:
        ent = s.get(TrustSnapshotRow, "ent-1")
        assert ent.target_kind == "enterprise" and ent.decision == "ALLOW"
