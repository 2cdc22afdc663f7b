"""When personal-data retention ends, a document keeps only what the policy keeps
(masked number, verdict, reason codes, field statuses), its reads say what was purged,
and a lowered retention setting applies to what was stored before it changed.
A real server is restarted over the same real database with the new setting."""

from __future__ import annotations

import time

import pytest
from sellerverify.v1 import identity_pb2
from sqlalchemy import func, select

from services.platform.models import BlobRow, DocumentRow, SubjectRow, VerificationRow
from services.server import ServerThread
from tests.conftest import BACKENDS, fresh_database_url, id_card_subjects, make_settings


@pytest.mark.parametrize("backend", BACKENDS)
def test_lowered_retention_purges_stored_personal_data_and_reads_say_so(tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    gen = fresh_database_url(backend, tmp_path)
    url = next(gen)
    try:
        with ServerThread(make_settings(tmp_path, url)) as first:
            from tests.conftest import LiveServer

            live = LiveServer(first, backend)
            subject_id = id_card_subjects(live, seed=11, ref_prefix="retention")()
            with first.app.db.read() as session:
                document_id = session.scalars(select(DocumentRow.id).where(DocumentRow.subject_id == subject_id)).one()
            with live.client("cs_rep") as rep:
                before = rep.identity.GetDocument(identity_pb2.GetDocumentRequest(document_id=document_id))
            values = {f.name: f.value for f in before.fields}
            assert values["name"] and values["address"] and "*" not in values["citizen_number"]
            assert not before.HasField("personal_data_purged_at") and not before.purged_fields

        # The operator lowers retention to 0 days and restarts: the purge at start applies it.
        lowered = make_settings(tmp_path, url, retention_images_days=0, retention_personal_days=0)
        with ServerThread(lowered) as second:
            live = LiveServer(second, backend)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with second.app.db.read() as session:
                    row = session.get(DocumentRow, document_id)
                    if row.personal_data_purged_at is not None:
                        break
                time.sleep(0.2)
            with live.client("cs_rep") as rep:
                after = rep.identity.GetDocument(identity_pb2.GetDocumentRequest(document_id=document_id))
            with live.client("onboarding") as onboarding:
                masked_read = onboarding.identity.GetDocument(identity_pb2.GetDocumentRequest(document_id=document_id))
            with second.app.db.read() as session:
                blobs = session.scalar(
                    select(func.count()).select_from(BlobRow).where(BlobRow.subject_id == subject_id)
                )
                subject = session.get(SubjectRow, subject_id)
                results = list(
                    session.scalars(
                        select(VerificationRow.result_sealed).where(VerificationRow.subject_id == subject_id)
                    )
                )
    finally:
        gen.close()

    purged = {f.name: f.value for f in after.fields}
    assert after.HasField("personal_data_purged_at")
    assert {"name", "address", "birth_date", "citizen_number"} <= set(after.purged_fields)
    assert purged["name"] == "" and purged["address"] == "" and purged["birth_date"] == ""
    number = values["citizen_number"]
    assert purged["citizen_number"] == number[:4] + "*" * 10 + number[-4:]
    # What the policy keeps: verdict, reasons, each field's status.
    assert after.verdict == before.verdict and list(after.reasons) == list(before.reasons)
    assert [f.status for f in after.fields] == [f.status for f in before.fields]
    assert masked_read.purged_fields == after.purged_fields
    # Images, the subject's sealed name and sealed full responses are gone; the masked number stays.
    assert blobs == 0
    assert subject.name_sealed is None and subject.id_number_masked == purged["citizen_number"]
    assert results and all(r is None for r in results)
