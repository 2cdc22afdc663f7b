"""Object-level access (issue 18): an onboarding client sees only the subjects it created
and what hangs off them; a second onboarding client gets exactly what an unknown id
gets (NOT_FOUND, same reason and message), writes nothing, and learns nothing. CS reps,
risk and admins read across clients. Real server, two onboarding tokens, real images."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import cv2
import pytest
from sellerverify import Client, SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, liveness_pb2

from services.server import ServerThread
from services.vision.faces import default_engine
from tests.conftest import BACKENDS, FACES, TOKEN_SPEC, TOKENS, LiveServer, fresh_database_url, make_settings
from tests.docgen.capture import capture
from tests.docgen.cn_id_card import random_card, render_back, render_front
from tests.portraits import id_portrait

OTHER_TOKEN = "tok-onboarding-b-0123456789"
PHOTO = FACES / "barack_obama" / "facerec_obama.jpg"
SELFIE = FACES / "barack_obama" / "facerec_obama2.jpg"


@pytest.fixture(scope="module", params=BACKENDS)
def two_clients_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("server-ownership")
    gen = fresh_database_url(request.param, tmp)
    url = next(gen)
    spec = TOKEN_SPEC + f",shop-b:onboarding:{OTHER_TOKEN}"
    thread = ServerThread(make_settings(tmp, url, api_tokens=spec))
    with thread:
        yield LiveServer(thread, request.param)
    gen.close()


def _jpeg(bgr: Any) -> bytes:
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


@pytest.fixture(scope="module")
def owned(two_clients_server: LiveServer) -> dict[str, str]:
    """Client A's subject with a document, two verifications and an open challenge."""
    rng = random.Random(5)
    card = random_card(rng, date.today(), id_portrait(cv2.imread(str(PHOTO)), default_engine()))
    front = _jpeg(capture(render_front(card, rng), "clean", 5).image)
    back = _jpeg(capture(render_back(card, rng), "clean", 6).image)
    with two_clients_server.client() as a:
        subject_id = a.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"own-{uuid.uuid4().hex[:10]}")
        ).subject.subject_id
        doc = a.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=subject_id, front=common_pb2.Image(content=front), back=common_pb2.Image(content=back)
            )
        )
        match = a.identity.MatchFace(
            identity_pb2.MatchFaceRequest(subject_id=subject_id, probe=common_pb2.Image(content=SELFIE.read_bytes()))
        )
        challenge = a.liveness.IssueChallenge(liveness_pb2.IssueChallengeRequest(subject_id=subject_id)).challenge
    return {
        "subject": subject_id,
        "document": doc.document_id,
        "doc_verification": doc.verification_id,
        "match_verification": match.verification_id,
        "challenge": challenge.challenge_id,
        "code": challenge.code,
        "front": front.hex(),
    }


def _reads(ids: dict[str, str]) -> dict[str, Callable[[Client], Any]]:
    """Every read an onboarding client has on a subject's records."""
    return {
        "GetSubject": lambda c: c.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=ids["subject"])),
        "GetDocument": lambda c: c.identity.GetDocument(identity_pb2.GetDocumentRequest(document_id=ids["document"])),
        "GetVerification(document)": lambda c: c.identity.GetVerification(
            identity_pb2.GetVerificationRequest(verification_id=ids["doc_verification"])
        ),
        "GetVerification(face)": lambda c: c.identity.GetVerification(
            identity_pb2.GetVerificationRequest(verification_id=ids["match_verification"])
        ),
        "GetChallenge": lambda c: c.liveness.GetChallenge(
            liveness_pb2.GetChallengeRequest(challenge_id=ids["challenge"])
        ),
        "SearchDuplicates": lambda c: c.identity.SearchDuplicates(
            identity_pb2.SearchDuplicatesRequest(subject_id=ids["subject"])
        ),
    }


def _writes(ids: dict[str, str]) -> dict[str, Callable[[Client], Any]]:
    """Every write an onboarding client could aim at another client's subject."""
    front = bytes.fromhex(ids["front"])
    selfie = SELFIE.read_bytes()
    return {
        "SubmitDocument": lambda c: c.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(subject_id=ids["subject"], front=common_pb2.Image(content=front))
        ),
        "MatchFace": lambda c: c.identity.MatchFace(
            identity_pb2.MatchFaceRequest(subject_id=ids["subject"], probe=common_pb2.Image(content=selfie))
        ),
        "IssueChallenge": lambda c: c.liveness.IssueChallenge(
            liveness_pb2.IssueChallengeRequest(subject_id=ids["subject"])
        ),
        "RespondChallenge": lambda c: c.liveness.RespondChallenge(
            liveness_pb2.RespondChallengeRequest(
                challenge_id=ids["challenge"], subject_id=ids["subject"], images=[common_pb2.Image(content=selfie)]
            )
        ),
    }


def _unknown(ids: dict[str, str]) -> dict[str, str]:
    fake = {k: str(uuid.uuid4()) for k in ("subject", "document", "doc_verification", "match_verification")}
    return {**ids, **fake, "challenge": str(uuid.uuid4())}


def _error(call: Callable[[Client], Any], client: Client) -> SellerVerifyError:
    with pytest.raises(SellerVerifyError) as err:
        call(client)
    return err.value


def _same_as_unknown(
    got: SellerVerifyError, unknown: SellerVerifyError, ids: dict[str, str], fake: dict[str, str]
) -> bool:
    message = unknown.message
    for key in ids:
        message = message.replace(fake[key], ids[key])
    return (got.code, got.reason, got.message) == (unknown.code, unknown.reason, message)


def test_a_second_onboarding_client_cannot_read_another_clients_records(
    two_clients_server: LiveServer, owned: dict[str, str]
) -> None:
    fake = _unknown(owned)
    with Client(two_clients_server.address, token=OTHER_TOKEN, retries=0) as b:
        for name, call in _reads(owned).items():
            got = _error(call, b)
            unknown = _error(_reads(fake)[name], b)
            assert got.code.name == "NOT_FOUND", name
            # Indistinguishable from an id that does not exist: nothing says the record is there.
            assert _same_as_unknown(got, unknown, owned, fake), (name, str(got), str(unknown))
            assert owned["code"] not in str(got)


def test_a_second_onboarding_client_cannot_write_onto_another_clients_subject(
    two_clients_server: LiveServer, owned: dict[str, str]
) -> None:
    with two_clients_server.client("admin") as admin:
        before = admin.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=owned["subject"])).subject
        challenge_before = admin.liveness.GetChallenge(
            liveness_pb2.GetChallengeRequest(challenge_id=owned["challenge"])
        ).challenge
    fake = _unknown(owned)
    with Client(two_clients_server.address, token=OTHER_TOKEN, retries=0) as b:
        for name, call in _writes(owned).items():
            got = _error(call, b)
            assert got.code.name == "NOT_FOUND", (name, str(got))
            assert _same_as_unknown(got, _error(_writes(fake)[name], b), owned, fake), name
    with two_clients_server.client("admin") as admin:
        after = admin.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=owned["subject"])).subject
        challenge_after = admin.liveness.GetChallenge(
            liveness_pb2.GetChallengeRequest(challenge_id=owned["challenge"])
        ).challenge
    assert after == before  # same status, masked number, timestamps: nothing was written
    assert challenge_after.state == challenge_before.state


def test_the_owner_and_cross_client_roles_read_every_record(
    two_clients_server: LiveServer, owned: dict[str, str]
) -> None:
    # Which roles each read admits is the contract's (allowed_roles); within it, the owner,
    # CS reps, risk and admins read across clients.
    from sellerverify.v1 import identity_pb2 as ipb
    from sellerverify.v1 import liveness_pb2 as lpb

    from services.platform.interceptor import allowed_roles_table

    table = allowed_roles_table([ipb.DESCRIPTOR, lpb.DESCRIPTOR])
    rpc_of = {
        "GetSubject": "/sellerverify.v1.IdentityService/GetSubject",
        "GetDocument": "/sellerverify.v1.IdentityService/GetDocument",
        "GetVerification(document)": "/sellerverify.v1.IdentityService/GetVerification",
        "GetVerification(face)": "/sellerverify.v1.IdentityService/GetVerification",
        "GetChallenge": "/sellerverify.v1.LivenessService/GetChallenge",
        "SearchDuplicates": "/sellerverify.v1.IdentityService/SearchDuplicates",
    }
    checked = 0
    for role in ("onboarding", "cs_rep", "risk", "admin"):
        with Client(two_clients_server.address, token=TOKENS[role], retries=0) as c:
            for name, call in _reads(owned).items():
                if role not in {r.value for r in table[rpc_of[name]]}:
                    continue
                call(c)  # raises if refused
                checked += 1
    assert checked >= 15


def test_trust_scores_and_shop_decisions_are_confined_to_the_subjects_owner(
    two_clients_server: LiveServer, owned: dict[str, str]
) -> None:
    from sellerverify.v1 import trust_pb2

    subject = owned["subject"]
    with two_clients_server.client() as a, Client(two_clients_server.address, token=OTHER_TOKEN) as b:
        mine = a.trust.GetTrustScore(trust_pb2.GetTrustScoreRequest(subject_id=subject)).trust
        assert mine.target_id == subject
        decided = a.trust.DecideShopOpening(
            trust_pb2.DecideShopOpeningRequest(request_id=str(uuid.uuid4()), subject_id=subject, shop_ref="shop-a")
        )
        assert decided.decision_id
        unknown = str(uuid.uuid4())
        for ask in (
            lambda c, s: c.trust.GetTrustScore(trust_pb2.GetTrustScoreRequest(subject_id=s)),
            lambda c, s: c.trust.DecideShopOpening(
                trust_pb2.DecideShopOpeningRequest(request_id=str(uuid.uuid4()), subject_id=s, shop_ref="shop-b")
            ),
        ):
            with pytest.raises(SellerVerifyError) as theirs:
                ask(b, subject)
            with pytest.raises(SellerVerifyError) as nobodys:
                ask(b, unknown)
            assert theirs.value.reason == nobodys.value.reason == "SUBJECT_NOT_FOUND"
            assert str(theirs.value).replace(subject, unknown) == str(nobodys.value)
    with two_clients_server.client("risk") as risk:  # risk reads across clients
        assert risk.trust.GetTrustScore(trust_pb2.GetTrustScoreRequest(subject_id=subject)).trust.target_id == subject


def test_change_events_reach_only_the_subjects_owner(two_clients_server: LiveServer, owned: dict[str, str]) -> None:
    from sellerverify.v1 import trust_pb2

    def take(client: Client, **ask: Any) -> list[Any]:
        """Events of the stream until its first heartbeat (it has caught up)."""
        stream = client.trust.WatchChanges(
            trust_pb2.WatchChangesRequest(kinds=["shop_opening.decided"], max_events=500, **ask), timeout=30
        )
        out = []
        for message in stream:
            if not message.HasField("event"):
                break
            out.append(message.event)
        stream.close()
        return out

    subject = owned["subject"]
    with two_clients_server.client() as a, Client(two_clients_server.address, token=OTHER_TOKEN, retries=0) as b:
        a.trust.DecideShopOpening(
            trust_pb2.DecideShopOpeningRequest(request_id=str(uuid.uuid4()), subject_id=subject, shop_ref="shop-a1")
        )
        mine = b.identity.CreateSubject(
            identity_pb2.CreateSubjectRequest(external_ref=f"own-b-{uuid.uuid4().hex[:10]}")
        ).subject.subject_id
        b.trust.DecideShopOpening(
            trust_pb2.DecideShopOpeningRequest(request_id=str(uuid.uuid4()), subject_id=mine, shop_ref="shop-b1")
        )
        seen_by_a = {e.subject_id for e in take(a)}
        seen_by_b = {e.subject_id for e in take(b)}
        assert subject in seen_by_a and mine not in seen_by_a
        assert seen_by_b == {mine}  # its own decision, nothing of client A's
        # Asking for A's subject by id is refused exactly like an unknown id.
        unknown = str(uuid.uuid4())
        with pytest.raises(SellerVerifyError) as theirs:
            take(b, subject_id=subject)
        with pytest.raises(SellerVerifyError) as nobodys:
            take(b, subject_id=unknown)
        assert theirs.value.reason == nobodys.value.reason == "SUBJECT_NOT_FOUND"
        assert str(theirs.value).replace(subject, unknown) == str(nobodys.value)
    with two_clients_server.client("risk") as risk:  # risk hears every client's events
        assert {subject, mine} <= {e.subject_id for e in take(risk)}
