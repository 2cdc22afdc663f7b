"""The domain event log: an event exists exactly when the work that emitted it
committed, readers follow it in order, and it refuses personal data."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.platform import events
from services.platform.database import Database, make_engine, migrate
from services.platform.models import SubjectRow
from services.platform.records import utcnow
from services.reverify.triggers import require_reverification
from tests.conftest import BACKENDS, fresh_database_url


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    gen = fresh_database_url(request.param, tmp_path)
    engine = make_engine(next(gen))
    migrate(engine)
    yield Database(engine)
    engine.dispose()
    gen.close()


def _subject(session, subject_id: str) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    session.add(
        SubjectRow(
            id=subject_id,
            external_ref=f"ref-{subject_id}",
            kind="individual",
            status="new",
            created_at=now,
            updated_at=now,
        )
    )


def test_events_commit_with_the_work_and_read_in_order(db: Database) -> None:
    with db.transaction() as s:
        events.emit(s, "subject.created", subject_id="a", payload={"n": 1})
        events.emit(s, "case.opened", subject_id="b", payload={"case_id": "c1"})
    with pytest.raises(RuntimeError), db.transaction() as s:
        events.emit(s, "subject.created", subject_id="lost")
        raise RuntimeError("the work failed")
    with db.read() as s:
        got = events.read_after(s, 0)
        assert [e.kind for e in got] == ["subject.created", "case.opened"]
        assert got[0].seq < got[1].seq and got[1].payload == {"case_id": "c1"}
        assert [e.subject_id for e in events.read_after(s, got[0].seq)] == ["b"]
        assert events.read_after(s, 0, kinds=["case.opened"])[0].subject_id == "b"
        assert events.for_subject(s, "lost") == []


def test_unknown_kinds_and_personal_data_are_refused(db: Database) -> None:
    with db.transaction() as s:
        with pytest.raises(ValueError, match="unknown"):
            events.emit(s, "subject.creatd")
        with pytest.raises(ValueError, match="personal data"):
            events.emit(s, "subject.created", payload={"id_number": "11010519491231002X"})


def test_require_reverification_marks_subjects_and_emits_one_event_each(db: Database) -> None:
    with db.transaction() as s:
        _subject(s, "s1")
        _subject(s, "s2")
    with db.transaction() as s:
        marked = require_reverification(
            s,
            subject_ids=["s1", "s2", "s1", "missing"],
            reason="SUSPICIOUS_ACTIVITY_REPORTED",
            source="report-1",
            actor="risk-client",
        )
    assert marked == ["s1", "s2"]
    with db.read() as s:
        assert s.get(SubjectRow, "s1").reverify_required_at is not None
        got = events.read_after(s, 0, kinds=["reverification.required"])
        assert [(e.subject_id, e.payload["source"]) for e in got] == [("s1", "report-1"), ("s2", "report-1")]
