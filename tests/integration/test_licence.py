"""SubmitDocument with generated business licences (营业执照), through a real server: the
licence is classified without a hint, read and validated, and its legal representative is
compared with the executive's ID card either way round."""

from __future__ import annotations

import random
import uuid
from datetime import date

import cv2
import numpy as np
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2

from services.vision.faces import default_engine
from tests.conftest import FACES
from tests.docgen.business_licence import Licence, random_licence, render
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import IdCard, random_card, render_back, render_front
from tests.portraits import id_portrait

TODAY = date.today()
SELLER_PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"


def _jpeg(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _licence(seed: int, invalid: str | None = None, legal_rep: str | None = None) -> tuple[Licence, bytes]:
    rng = random.Random(f"it-licence-{seed}")
    lic = random_licence(rng, TODAY, invalid)
    if legal_rep:
        lic.legal_representative = lic.truth["legal_representative"] = legal_rep
    return lic, _jpeg(capture(render(lic, rng), "photo", seed).image)


def _id_card(seed: int) -> tuple[IdCard, bytes, bytes]:
    rng = random.Random(seed)
    card = random_card(rng, TODAY, id_portrait(cv2.imread(str(SELLER_PHOTO)), default_engine()))
    front, back = render_front(card, rng), render_back(card, rng)
    return card, _jpeg(capture(front, "clean", seed).image), _jpeg(capture(back, "clean", seed + 1).image)


def _subject(client, kind: int = identity_pb2.SUBJECT_KIND_EXECUTIVE) -> str:  # type: ignore[no-untyped-def]
    return client.identity.CreateSubject(
        identity_pb2.CreateSubjectRequest(external_ref=f"lic-{uuid.uuid4().hex[:10]}", kind=kind)
    ).subject.subject_id


def _reasons(response) -> set[str]:  # type: ignore[no-untyped-def]
    return {common_pb2.ReasonCode.Name(r.code) for r in response.reasons}


def test_a_licence_is_classified_read_and_stored_without_a_portrait(server) -> None:  # type: ignore[no-untyped-def]
    lic, image = _licence(1)
    with server.client() as client:
        subject_id = _subject(client)
        response = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(subject_id=subject_id, front=common_pb2.Image(content=image))
        )
        assert response.kind == identity_pb2.DOCUMENT_KIND_CN_BUSINESS_LICENCE  # no hint given
        fields = {f.name: f for f in response.fields}
        assert fields["credit_code"].value == lic.credit_code
        assert fields["credit_code"].status in (identity_pb2.FIELD_STATUS_VALID, identity_pb2.FIELD_STATUS_CORRECTED)
        assert fields["establishment_date"].value == lic.truth["establishment_date"]
        assert {"company_name", "legal_representative", "address", "registered_capital"} <= set(fields)
        assert not response.portrait_found and fields["credit_code"].box.width > 0
        assert response.verdict in (common_pb2.VERDICT_PASS, common_pb2.VERDICT_REVIEW)
        assert (response.verdict == common_pb2.VERDICT_REVIEW) == bool(response.review_case_id)
        stored = client.identity.GetDocument(identity_pb2.GetDocumentRequest(document_id=response.document_id))
        assert stored.kind == identity_pb2.DOCUMENT_KIND_CN_BUSINESS_LICENCE
        assert {f.name: f.value for f in stored.fields}["credit_code"] == lic.credit_code
        subject = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject_id)).subject
        assert not subject.has_reference_portrait and not subject.id_number_masked


@pytest.mark.parametrize(
    ("defect", "reason", "verdict"),
    [
        ("bad_check_char", "CREDIT_CODE_CHECKSUM_FAILED", common_pb2.VERDICT_REVIEW),
        ("malformed", "CREDIT_CODE_MALFORMED", common_pb2.VERDICT_FAIL),
    ],
)
def test_invalid_credit_codes(sqlite_server, defect: str, reason: str, verdict: int) -> None:  # type: ignore[no-untyped-def]
    _, image = _licence(2, defect)
    with sqlite_server.client() as client:
        response = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=_subject(client),
                kind_hint=identity_pb2.DOCUMENT_KIND_CN_BUSINESS_LICENCE,
                front=common_pb2.Image(content=image),
            )
        )
    assert reason in _reasons(response) and response.verdict == verdict
    if verdict == common_pb2.VERDICT_REVIEW:
        assert response.review_case_id  # an early code that fails its checksum goes to a person


def test_legal_representative_is_compared_with_the_executive_id_card(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    card, front, back = _id_card(3)
    with sqlite_server.client() as client:
        rep = _subject(client)
        read = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=rep, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
        assert {f.name: f.value for f in read.fields}["name"] == card.name
        # The licence after the ID card: names match.
        _, same = _licence(4, legal_rep=card.name)
        ok = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=rep, front=common_pb2.Image(content=same), legal_representative_subject_id=rep
            )
        )
        fields = {f.name: f for f in ok.fields}
        assert fields["legal_representative"].value == card.name
        assert fields["legal_representative"].status == identity_pb2.FIELD_STATUS_VALID
        assert "LEGAL_REPRESENTATIVE_MISMATCH" not in _reasons(ok)
        # Another company's licence, someone else as legal representative.
        _, other = _licence(5)
        mismatch = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=rep, front=common_pb2.Image(content=other), legal_representative_subject_id=rep
            )
        )
        assert "LEGAL_REPRESENTATIVE_MISMATCH" in _reasons(mismatch)
        assert mismatch.verdict == common_pb2.VERDICT_REVIEW and mismatch.review_case_id
        # The other way round: an ID card that names the licence it belongs to.
        again = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=_subject(client),
                front=common_pb2.Image(content=front),
                back=common_pb2.Image(content=back),
                licence_document_id=mismatch.document_id,
            )
        )
        assert "LEGAL_REPRESENTATIVE_MISMATCH" in _reasons(again) and again.verdict != common_pb2.VERDICT_PASS
        with pytest.raises(SellerVerifyError) as err:  # a link to something that is not a licence
            client.identity.SubmitDocument(
                identity_pb2.SubmitDocumentRequest(
                    subject_id=rep,
                    front=common_pb2.Image(content=front),
                    back=common_pb2.Image(content=back),
                    licence_document_id=read.document_id,
                )
            )
        assert err.value.reason == "DOCUMENT_NOT_FOUND"


def test_licence_link_needs_the_representative_id_card_first(sqlite_server) -> None:  # type: ignore[no-untyped-def]
    _, image = _licence(6)
    with sqlite_server.client() as client:
        fresh = _subject(client)
        with pytest.raises(SellerVerifyError) as err:
            client.identity.SubmitDocument(
                identity_pb2.SubmitDocumentRequest(
                    subject_id=fresh, front=common_pb2.Image(content=image), legal_representative_subject_id=fresh
                )
            )
    assert err.value.reason == "FAILED_PRECONDITION" and "ID card" in err.value.message


def test_cli_verify_licence_prints_fields_and_verdict(sqlite_server, tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from sellerverify.cli import main

    from tests.conftest import TOKENS

    lic, image = _licence(7)
    path = tmp_path / "licence.jpg"
    path.write_bytes(image)
    code = main(["--address", sqlite_server.address, "--token", TOKENS["onboarding"], "verify-licence", str(path)])
    printed = json.loads(capsys.readouterr().out)
    fields = {f["name"]: f for f in printed["fields"]}
    assert printed["kind"] == "DOCUMENT_KIND_CN_BUSINESS_LICENCE"
    assert fields["credit_code"]["value"] == lic.credit_code
    assert code == (0 if printed["verdict"] == "VERDICT_PASS" else 2)
