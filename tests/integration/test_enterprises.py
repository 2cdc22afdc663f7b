"""Enterprises and executives through a real server (SQLite and PostgreSQL): a business
licence read by SubmitDocument registers the enterprise, the legal representative's ID
name must match it, and GetEnterprise says each executive's state, expiry and what is
missing."""

from __future__ import annotations

import random
import uuid
from datetime import date

import cv2
import numpy as np
import pytest
from sellerverify import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, reverify_pb2

from services.vision.faces import default_engine
from tests.conftest import FACES
from tests.docgen.business_licence import random_licence, render
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import IdCard, random_card, render_back, render_front
from tests.portraits import id_portrait

TODAY = date.today()


def _jpeg(bgr: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def _subject(client) -> str:  # type: ignore[no-untyped-def]
    return client.identity.CreateSubject(
        identity_pb2.CreateSubjectRequest(
            external_ref=f"ent-{uuid.uuid4().hex[:10]}", kind=identity_pb2.SUBJECT_KIND_EXECUTIVE
        )
    ).subject.subject_id


def _with_id_card(client, seed: int) -> tuple[str, IdCard]:  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    card = random_card(
        rng, TODAY, id_portrait(cv2.imread(str(FACES / "barack_obama" / "facerec_obama.jpg")), default_engine())
    )
    front = _jpeg(capture(render_front(card, rng), "clean", seed).image)
    back = _jpeg(capture(render_back(card, rng), "clean", seed + 1).image)
    sid = _subject(client)
    read = client.identity.SubmitDocument(
        identity_pb2.SubmitDocumentRequest(
            subject_id=sid, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
        )
    )
    assert read.verdict == common_pb2.VERDICT_PASS, read
    return sid, card


def _licence_document(client, seed: int, legal_rep: str) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    rng = random.Random(f"ent-licence-{seed}")
    lic = random_licence(rng, TODAY, None)
    lic.legal_representative = lic.truth["legal_representative"] = legal_rep
    image = _jpeg(capture(render(lic, rng), "photo", seed).image)
    holder = _subject(client)
    read = client.identity.SubmitDocument(
        identity_pb2.SubmitDocumentRequest(
            subject_id=holder,
            front=common_pb2.Image(content=image),
            kind_hint=identity_pb2.DOCUMENT_KIND_CN_BUSINESS_LICENCE,
        )
    )
    assert read.verdict in (common_pb2.VERDICT_PASS, common_pb2.VERDICT_REVIEW)
    return read.document_id, lic.credit_code


def test_an_enterprise_registers_from_its_licence_and_shows_each_executives_standing(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as client:
        rep_id, card = _with_id_card(client, 15)
        doc_id, credit_code = _licence_document(client, 1, card.name)
        registered = client.reverify.RegisterEnterprise(
            reverify_pb2.RegisterEnterpriseRequest(
                request_id=uuid.uuid4().hex, external_ref=f"shop-{uuid.uuid4().hex[:6]}", licence_document_id=doc_id
            )
        ).enterprise
        assert registered.credit_code == credit_code
        assert registered.legal_representative == card.name
        assert registered.company_name and registered.registered_capital and registered.establishment_date
        codes = {common_pb2.ReasonCode.Name(r.code) for r in registered.reasons}
        assert "LEGAL_REPRESENTATIVE_MISSING" in codes

        with pytest.raises(SellerVerifyError) as err:  # one credit code, one enterprise
            client.reverify.RegisterEnterprise(
                reverify_pb2.RegisterEnterpriseRequest(request_id=uuid.uuid4().hex, licence_document_id=doc_id)
            )
        assert err.value.reason == "ALREADY_EXISTS"

        added = client.reverify.AddExecutive(
            reverify_pb2.AddExecutiveRequest(
                request_id=uuid.uuid4().hex,
                enterprise_id=registered.enterprise_id,
                subject_id=rep_id,
                role=reverify_pb2.EXECUTIVE_ROLE_LEGAL_REPRESENTATIVE,
            )
        ).enterprise
        shareholder = _subject(client)
        client.reverify.AddExecutive(
            reverify_pb2.AddExecutiveRequest(
                request_id=uuid.uuid4().hex,
                enterprise_id=registered.enterprise_id,
                subject_id=shareholder,
                role=reverify_pb2.EXECUTIVE_ROLE_MAJOR_SHAREHOLDER,
                name="股东甲",
                share_percent=40.0,
            )
        )
        with pytest.raises(SellerVerifyError) as err:
            client.reverify.AddExecutive(
                reverify_pb2.AddExecutiveRequest(
                    request_id=uuid.uuid4().hex,
                    enterprise_id=registered.enterprise_id,
                    subject_id=shareholder,
                    role=reverify_pb2.EXECUTIVE_ROLE_DIRECTOR,
                    name="股东甲",
                )
            )
        assert err.value.reason == "EXECUTIVE_ALREADY_ADDED"

    with server.client("cs_rep") as cs:
        got = cs.reverify.GetEnterprise(reverify_pb2.GetEnterpriseRequest(enterprise_id=registered.enterprise_id))
    ent = got.enterprise
    assert len(added.executives) == 1 and len(ent.executives) == 2
    rep = next(e for e in ent.executives if e.role == reverify_pb2.EXECUTIVE_ROLE_LEGAL_REPRESENTATIVE)
    assert rep.name == card.name
    # The ID card passed; face and challenge have not: that is what is missing.
    assert list(rep.missing_checks) == ["face_match", "liveness"]
    assert rep.id_document_valid_until == (card.valid_until.isoformat() if card.valid_until else "")
    assert "EXECUTIVE_NOT_VERIFIED" in {common_pb2.ReasonCode.Name(r.code) for r in rep.reasons}
    holder = next(e for e in ent.executives if e.role == reverify_pb2.EXECUTIVE_ROLE_MAJOR_SHAREHOLDER)
    assert list(holder.missing_checks) == ["document", "face_match", "liveness"]
    assert holder.share_percent == pytest.approx(40.0)
    assert not rep.HasField("last_full_verification_at")
    codes = {common_pb2.ReasonCode.Name(r.code) for r in ent.reasons}
    assert "LEGAL_REPRESENTATIVE_MISSING" not in codes and "EXECUTIVE_NOT_VERIFIED" in codes


def test_the_legal_representative_must_be_the_person_on_the_licence(server) -> None:  # type: ignore[no-untyped-def]
    with server.client() as client:
        rep_id, card = _with_id_card(client, 21)
        doc_id, _ = _licence_document(client, 2, "张伟明" if card.name != "张伟明" else "李建国")
        ent = client.reverify.RegisterEnterprise(
            reverify_pb2.RegisterEnterpriseRequest(request_id=uuid.uuid4().hex, licence_document_id=doc_id)
        ).enterprise
        with pytest.raises(SellerVerifyError) as err:
            client.reverify.AddExecutive(
                reverify_pb2.AddExecutiveRequest(
                    request_id=uuid.uuid4().hex,
                    enterprise_id=ent.enterprise_id,
                    subject_id=rep_id,
                    role=reverify_pb2.EXECUTIVE_ROLE_LEGAL_REPRESENTATIVE,
                )
            )
        assert err.value.reason == "LEGAL_REPRESENTATIVE_MISMATCH"
        no_card = _subject(client)
        with pytest.raises(SellerVerifyError) as err:
            client.reverify.AddExecutive(
                reverify_pb2.AddExecutiveRequest(
                    request_id=uuid.uuid4().hex,
                    enterprise_id=ent.enterprise_id,
                    subject_id=no_card,
                    role=reverify_pb2.EXECUTIVE_ROLE_LEGAL_REPRESENTATIVE,
                )
            )
        assert err.value.reason == "FAILED_PRECONDITION" and "ID card" in err.value.message
        with pytest.raises(SellerVerifyError) as err:
            client.reverify.RegisterEnterprise(
                reverify_pb2.RegisterEnterpriseRequest(request_id=uuid.uuid4().hex, licence_document_id="nope")
            )
        assert err.value.reason == "DOCUMENT_NOT_FOUND"
        after = client.reverify.GetEnterprise(reverify_pb2.GetEnterpriseRequest(enterprise_id=ent.enterprise_id))
        assert not after.enterprise.executives  # nothing half-written


def test_roles(server) -> None:  # type: ignore[no-untyped-def]
    with server.client("cs_rep") as cs, pytest.raises(SellerVerifyError) as err:
        cs.reverify.RegisterEnterprise(reverify_pb2.RegisterEnterpriseRequest(request_id="x", licence_document_id="y"))
    assert err.value.reason == "ROLE_NOT_ALLOWED"
    with server.client("onboarding") as ob, pytest.raises(SellerVerifyError) as err:
        ob.reverify.CreateCampaign(reverify_pb2.CreateCampaignRequest(request_id="x", all_enterprises=True))
    assert err.value.reason == "ROLE_NOT_ALLOWED"
    with server.client("scheduler") as sch, pytest.raises(SellerVerifyError) as err:
        sch.reverify.WaiveTask(reverify_pb2.WaiveTaskRequest(request_id="x", task_id="t", reason="r"))
    assert err.value.reason == "ROLE_NOT_ALLOWED"
    with server.client("onboarding") as ob, pytest.raises(SellerVerifyError) as err:
        ob.reverify.GetEnterprise(reverify_pb2.GetEnterpriseRequest(enterprise_id="missing"))
    assert err.value.reason == "ENTERPRISE_NOT_FOUND"
