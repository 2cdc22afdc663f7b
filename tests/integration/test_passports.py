"""SubmitDocument with a generated passport data page, through a real server: the MRZ fields,
the verdict, the passport number kept only hashed and masked, and the page's portrait as the
reference for face matching."""

from __future__ import annotations

import random
import uuid
from datetime import date

import cv2
import numpy as np
from sellerverify.v1 import common_pb2, identity_pb2
from sqlalchemy import select

from services.platform.models import SubjectRow
from services.vision.faces import default_engine
from tests.conftest import FACES
from tests.docgen.capture import capture
from tests.docgen.passport import MrzDocument, random_document, render
from tests.portraits import id_portrait

TODAY = date.today()
SELLER_PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"
SELLER_SELFIE = FACES / "barack_obama" / "facerec_obama2.jpg"


def _jpeg(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _passport(seed: int) -> tuple[MrzDocument, bytes]:
    rng = random.Random(seed)
    portrait = id_portrait(cv2.imread(str(SELLER_PHOTO)), default_engine())
    doc = random_document(rng, TODAY, "passport_td3", portrait, None, chinese=False)
    page, _ = render(doc, rng)
    return doc, _jpeg(capture(page, "clean", seed).image)


def test_passport_is_read_its_number_kept_hashed_and_its_portrait_matches_the_selfie(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    doc, page = _passport(5)
    with sqlite_server.client() as client:
        subject_id = client.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"passport-{uuid.uuid4().hex[:10]}")
        ).subject.subject_id
        response = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=subject_id,
                kind_hint=identity_pb2.DOCUMENT_KIND_PASSPORT_TD3,
                front=common_pb2.Image(content=page),
            )
        )
        assert response.kind == identity_pb2.DOCUMENT_KIND_PASSPORT_TD3
        fields = {f.name: f for f in response.fields}
        for name in ("surname", "given_names", "document_number", "nationality", "issuing_state", "sex"):
            assert fields[name].value == doc.truth[name], name
        assert fields["birth_date"].value == doc.birth.isoformat()  # type: ignore[union-attr]
        assert fields["expiry_date"].value == doc.expiry.isoformat()
        assert fields["document_number"].status in (
            identity_pb2.FIELD_STATUS_VALID,
            identity_pb2.FIELD_STATUS_CORRECTED,
        )
        assert response.verdict == common_pb2.VERDICT_PASS, list(response.reasons)
        assert response.portrait_found
        # The visual zone as printed, each field compared with the MRZ (issue #15).
        assert fields["viz.surname"].value == doc.viz["surname"]
        assert fields["viz.birth_date"].value == doc.birth.isoformat()  # type: ignore[union-attr]
        for name in ("viz.surname", "viz.given_names", "viz.birth_date", "viz.expiry_date", "viz.nationality"):
            assert fields[name].status == identity_pb2.FIELD_STATUS_VALID, name
            assert fields[name].box.width > 0, name

        # Without a reference image, MatchFace compares with the passport's portrait.
        match = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=subject_id, probe=common_pb2.Image(content=SELLER_SELFIE.read_bytes())
            )
        )
        assert match.pair_type == identity_pb2.PAIR_TYPE_ID_PORTRAIT_VS_PHOTO
        assert match.decision == common_pb2.MATCH_DECISION_MATCH

        subject = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject_id)).subject
        number = doc.document_number
        assert subject.has_reference_portrait
        assert subject.id_number_masked == "*" * (len(number) - 3) + number[-3:]
        stored = client.identity.GetDocument(identity_pb2.GetDocumentRequest(document_id=response.document_id))
        shown = {f.name: f.value for f in stored.fields}
        assert shown["document_number"] != number and shown["document_number"].endswith(number[-3:])
    with sqlite_server.app.db.read() as session:
        row = session.scalars(select(SubjectRow).where(SubjectRow.id == subject_id)).one()
        assert row.id_number_hash and number not in row.id_number_hash
        assert number not in (row.id_number_masked or "")
