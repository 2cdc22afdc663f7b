"""`sellerverify demo`: onboard one seller against a running suite and print every step.

Sample photos: $SELLERVERIFY_SAMPLES_DIR, else the development face set that ships in
the checkout (data/faces, origins in data/faces/SOURCES.md).

The ID card and the challenge photo (the seller holding a paper with the issued code)
are rendered with the project's own generators (tests/docgen, tests/attackgen), which
live in the source checkout, not in the installed package: the demo finds them next to
this file (a `pip install -e .` checkout) and skips those steps when they are missing.
"""

from __future__ import annotations

import os
import random
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

from google.protobuf.json_format import MessageToDict
from sellerverify.client import Client, SellerVerifyError

HERE = Path(__file__).resolve().parent
CHECKOUT = HERE.parents[1]  # clients/sellerverify/demo.py -> the source checkout
CANDIDATES = [
    Path(os.environ["SELLERVERIFY_SAMPLES_DIR"]) if os.environ.get("SELLERVERIFY_SAMPLES_DIR") else None,
    CHECKOUT / "data" / "faces",
]
SELLER = ("barack_obama/facerec_obama.jpg", "barack_obama/facerec_obama1.jpg")
STRANGER = "joe_biden/facerec_biden.jpg"

# Poses a still photo can show: the paper under the chin or in one half; a tilt by rotation.
STAGED_POSES = {
    "CHALLENGE_POSE_PAPER_UNDER_CHIN": ("under_chin", 0.0),
    "CHALLENGE_POSE_PAPER_LEFT_HALF": ("left", 0.0),
    "CHALLENGE_POSE_PAPER_RIGHT_HALF": ("right", 0.0),
    "CHALLENGE_POSE_HEAD_TILTED": ("under_chin", -14.0),  # about 20° of roll on the sample photo
}


def _generators() -> dict[str, ModuleType] | None:
    """The checkout's document and challenge-photo generators, or None outside a checkout."""
    if (CHECKOUT / "tests" / "docgen").is_dir() and str(CHECKOUT) not in sys.path:
        sys.path.append(str(CHECKOUT))
    try:
        from services.vision import faces
        from tests import attackgen, portraits
        from tests.docgen import capture, cn_id_card
    except ImportError:
        return None
    return {"attackgen": attackgen, "portraits": portraits, "capture": capture, "cards": cn_id_card, "faces": faces}


def _render_card(gen: dict[str, ModuleType], photo: Path) -> tuple[bytes, bytes]:
    """An ID card (front, back) whose portrait is the seller's photo, photographed flat."""
    import cv2

    engine = gen["faces"].default_engine()
    rng = random.Random(21)  # a card whose print reads cleanly
    portrait = gen["portraits"].id_portrait(cv2.imread(str(photo)), engine)
    card = gen["cards"].random_card(rng, date.today(), portrait)
    front = gen["capture"].capture(gen["cards"].render_front(card, rng), "clean", 1).image
    back = gen["capture"].capture(gen["cards"].render_back(card, rng), "clean", 2).image
    return gen["attackgen"].jpeg(front), gen["attackgen"].jpeg(back)


def _render_response(
    gen: dict[str, ModuleType], photo: Path, code: str, where: str, tilt: float
) -> tuple[bytes, bytes]:
    """(the seller without the paper yet, the seller holding the paper as the pose asks)."""
    import cv2

    img = cv2.imread(str(photo))
    if img is None:
        raise FileNotFoundError(f"cannot read the sample photo {photo}")
    if tilt:
        h, w = img.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), tilt, 1.0)
        img = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REPLICATE)
    engine = gen["faces"].default_engine()
    held = gen["attackgen"].compose(img, engine, gen["attackgen"].paper_with_code(code), where)
    return gen["attackgen"].jpeg(img), gen["attackgen"].jpeg(held)


def _samples() -> Path | None:
    for c in CANDIDATES:
        if c is not None and (c / SELLER[0]).exists():
            return c
    return None


def _step(n: int, title: str) -> None:
    print(f"\n== {n}. {title}")


def _show(message: object, keys: list[str]) -> None:
    data = MessageToDict(message, preserving_proto_field_name=True)  # type: ignore[arg-type]
    for k in keys:
        if k in data:
            print(f"   {k}: {data[k]}")


def run_demo(client: Client) -> int:
    """Onboard one seller step by step (document, face, challenge), then review a doubtful case."""
    from sellerverify.v1 import common_pb2, identity_pb2

    root = _samples()
    if root is None:
        print(
            f"no sample photos found in {CHECKOUT / 'data' / 'faces'} (they ship in the source checkout); "
            "set SELLERVERIFY_SAMPLES_DIR to a folder laid out like data/faces"
        )
        return 1
    image = lambda rel: common_pb2.Image(content=(root / rel).read_bytes())  # noqa: E731
    gen = _generators()
    steps = iter(range(1, 100))

    _step(next(steps), "health")
    for name in ("Identity", "Liveness", "Review", "Trust", "Reverify"):
        print(f"   sellerverify.v1.{name}Service: {client.health(f'sellerverify.v1.{name}Service')}")

    _step(next(steps), "register the seller")
    subject = client.identity.CreateSubject(
        identity_pb2.CreateSubjectRequest(external_ref=f"demo-seller-{uuid.uuid4().hex[:8]}")
    ).subject
    _show(subject, ["subject_id", "external_ref", "status"])

    if gen is not None:
        _step(next(steps), "read the seller's ID card (rendered by tests/docgen, portrait from the seller's photo)")
        front, back = _render_card(gen, root / SELLER[0])
        doc = client.identity.SubmitDocument(
            identity_pb2.SubmitDocumentRequest(
                subject_id=subject.subject_id,
                front=common_pb2.Image(content=front),
                back=common_pb2.Image(content=back),
            )
        )
        _show(doc, ["verdict", "reasons", "portrait_found"])
        for field in doc.fields:
            if field.name in ("name", "birth_date", "valid_until"):
                print(f"   {field.name}: {field.value}")
        _step(next(steps), "match the live face against the ID portrait")
        match = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(subject_id=subject.subject_id, probe=image(SELLER[1]))
        )
    else:
        print("\n   (no document generator outside a source checkout: matching against a reference photo)")
        _step(next(steps), "match the live face against the reference portrait")
        match = client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=subject.subject_id, reference=image(SELLER[0]), probe=image(SELLER[1])
            )
        )
    _show(
        match,
        ["decision", "similarity", "match_threshold", "no_match_threshold", "estimated_false_match_rate", "model"],
    )
    _show(match.probe_quality, ["eye_distance_px", "sharpness", "yaw_degrees", "pitch_degrees", "roll_degrees"])

    _step(next(steps), "the persisted verification record")
    record = client.identity.GetVerification(
        identity_pb2.GetVerificationRequest(verification_id=match.verification_id)
    ).verification
    _show(record, ["verification_id", "kind", "verdict", "client_id", "method", "created_at", "checks"])

    _step(next(steps), "someone else in front of the camera")
    other = client.identity.MatchFace(
        identity_pb2.MatchFaceRequest(
            subject_id=subject.subject_id, reference=image(SELLER[0]), probe=image(STRANGER), skip_enrolment=True
        )
    )
    _show(other, ["decision", "similarity", "reasons"])

    if gen is not None:
        _challenge(client, gen, root, subject.subject_id, next(steps))

    _step(next(steps), "one person behind a second account: the same face under another subject")
    second = client.identity.CreateSubject(
        identity_pb2.CreateSubjectRequest(external_ref=f"demo-second-{uuid.uuid4().hex[:8]}")
    ).subject
    dup = client.identity.MatchFace(
        identity_pb2.MatchFaceRequest(subject_id=second.subject_id, reference=image(SELLER[1]), probe=image(SELLER[0]))
    )
    _show(dup, ["decision", "duplicates", "review_case_id"])
    if dup.review_case_id:
        _review(client, dup.review_case_id, second.subject_id, image(SELLER[0]), next(steps))

    _step(next(steps), "a bad upload gets a clear, stable error")
    try:
        client.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=subject.subject_id, probe=common_pb2.Image(content=b"\xff\xd8\xff")
            )
        )
    except SellerVerifyError as err:
        print(f"   {err.code.name} {err.reason}: {err.message}")

    _step(next(steps), "the seller's state")
    final = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject.subject_id)).subject
    _show(final, ["subject_id", "status", "id_number_masked", "face_enrolled", "verified_at"])
    _shop_opening(client, subject.subject_id, next(steps))
    return 0


def _shop_opening(client: Client, subject_id: str, n: int) -> None:
    """The answer the platform acts on: may this seller open a shop now, and why."""
    from sellerverify.cli_trust import describe
    from sellerverify.v1 import trust_pb2

    _step(n, "open a shop: the trust score and the shop-opening decision")
    decided = client.trust.DecideShopOpening(
        trust_pb2.DecideShopOpeningRequest(subject_id=subject_id, shop_ref=f"demo-shop-{uuid.uuid4().hex[:6]}")
    )
    for line in describe(decided.trust):
        print(f"   {line}")
    print(
        f"   decision id: {decided.decision_id}"
        + (f", review case {decided.review_case_id}" if decided.review_case_id else "")
    )


def _challenge(client: Client, gen: dict[str, ModuleType], root: Path, subject_id: str, n: int) -> None:
    """Issue a challenge, then answer it over the live stream: guidance per frame, then the verdict."""
    from sellerverify.v1 import common_pb2, identity_pb2, liveness_pb2

    _step(n, "the challenge photo: a one-time code on paper, in a pose the system picks")
    for _ in range(12):
        challenge = client.liveness.IssueChallenge(liveness_pb2.IssueChallengeRequest(subject_id=subject_id)).challenge
        pose = liveness_pb2.ChallengePose.Name(challenge.pose)
        if pose in STAGED_POSES:
            break
        print(f"   ({pose}: a still photo cannot turn a head; asking for another challenge)")
    else:
        print("   no challenge with a pose the demo can stage; skipped")
        return
    _show(challenge, ["challenge_id", "code", "pose", "instructions_en", "expires_at"])
    where, tilt = STAGED_POSES[pose]
    bare, held = _render_response(gen, root / "barack_obama/facerec_obama2.jpg", challenge.code, where, tilt)

    def frames() -> Iterator[Any]:
        yield liveness_pb2.StreamChallengeRequest(
            config=liveness_pb2.StreamChallengeConfig(
                request_id=str(uuid.uuid4()), challenge_id=challenge.challenge_id, subject_id=subject_id
            )
        )
        # The camera first sees the seller without the paper, then holding it up.
        for seq, data in enumerate([bare, held, held, held]):
            yield liveness_pb2.StreamChallengeRequest(
                frame=identity_pb2.CameraFrame(sequence=seq, jpeg=data, captured_at_ms=int(time.time() * 1000))
            )
            time.sleep(1.5)

    print("   streaming camera frames (StreamChallenge):")
    result = None
    for message in client.liveness.StreamChallenge(frames()):
        if message.HasField("feedback"):
            f = message.feedback
            guidance = liveness_pb2.ChallengeGuidance.Name(f.guidance).removeprefix("CHALLENGE_GUIDANCE_")
            print(f"     frame {f.sequence}: {guidance:18s} {f.message_en} / {f.message_zh} ({f.processing_ms:.0f} ms)")
        else:
            result = message.result
    if result is None:
        # No frame was final (for example the code was not read on any of them): the
        # seller's photo is still answered, as a one-shot response, and recorded.
        print("   no frame settled the challenge; sending the held-up photo with RespondChallenge")
        result = client.liveness.RespondChallenge(
            liveness_pb2.RespondChallengeRequest(
                request_id=str(uuid.uuid4()),
                challenge_id=challenge.challenge_id,
                subject_id=subject_id,
                images=[common_pb2.Image(content=held)],
            )
        )
    print(f"   verdict: {common_pb2.Verdict.Name(result.verdict)}  verification_id: {result.verification_id}")
    for check in result.checks:
        print(f"     {check.name:12s} {common_pb2.Verdict.Name(check.verdict):14s} {check.detail}")
    if any(common_pb2.ReasonCode.Name(r.code).endswith("REPLAYED_IMAGE") for r in result.reasons):
        print(
            "   (this data folder has seen the demo's sample photo in an earlier run, and a photo that"
            " already answered a challenge is refused as a replay: run the demo on a fresh"
            " SELLERVERIFY_DATA_DIR to see a PASS)"
        )
    state = client.liveness.GetChallenge(
        liveness_pb2.GetChallengeRequest(challenge_id=challenge.challenge_id)
    ).challenge.state
    print(f"   challenge state now: {liveness_pb2.ChallengeState.Name(state)} (single use)")


def _review(client: Client, case_id: str, subject_id: str, frame: Any, n: int) -> None:
    """A CS rep reviews the doubtful case: evidence, a video-call frame, the decision."""
    from sellerverify.v1 import common_pb2, identity_pb2, review_pb2

    _step(n, "a CS rep reviews the doubtful case (ReviewService; the demo token is admin, reps use cs_rep)")
    case = client.review.GetCase(review_pb2.GetCaseRequest(case_id=case_id)).review_case
    print(f"   case {case.case_id}: {review_pb2.CaseKind.Name(case.kind)}, {review_pb2.CaseState.Name(case.state)}")
    for reason in case.reasons:
        print(f"     {common_pb2.ReasonCode.Name(reason.code)}: {reason.message}")
    attached = client.review.AttachEvidence(
        review_pb2.AttachEvidenceRequest(case_id=case_id, label="video_frame", images=[frame])
    ).evidence[0]
    print(f"   video-call frame attached as evidence {attached.evidence_id}:")
    for check in attached.checks:
        print(f"     {check.name:12s} {common_pb2.Verdict.Name(check.verdict):14s} {check.detail}")
    seen = client.review.GetEvidence(review_pb2.GetEvidenceRequest(case_id=case_id, evidence_id=attached.evidence_id))
    print(f"   evidence read back: {len(seen.image.content)} bytes {seen.image.media_type} (the read is audited)")
    decided = client.review.DecideCase(
        review_pb2.DecideCaseRequest(
            case_id=case_id,
            decision=review_pb2.CASE_DECISION_REJECT,
            note="on the call: the same person as an existing seller, opening a second shop",
        )
    )
    print(
        f"   decision: {review_pb2.CaseState.Name(decided.review_case.state)} by {decided.review_case.decided_by}"
        f" (verification {decided.verification_id})"
    )
    status = client.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id=subject_id)).subject.status
    print(f"   second account's status: {identity_pb2.SubjectStatus.Name(status)}")
    try:
        client.review.DecideCase(
            review_pb2.DecideCaseRequest(case_id=case_id, decision=review_pb2.CASE_DECISION_APPROVE, note="again")
        )
    except SellerVerifyError as err:
        print(f"   deciding again: {err.code.name} {err.reason}")


def write_samples(folder: Path) -> int:
    """Write sample documents and photos for trying each verb, with the commands to try."""
    import cv2

    root = _samples()
    gen = _generators()
    if root is None or gen is None:
        print("the samples are rendered from the source checkout (data/faces, tests/docgen); run this from a clone")
        return 1
    from tests.docgen import business_licence, passport

    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    def put(name: str, data: bytes) -> None:
        (folder / name).write_bytes(data)
        written.append(name)

    front, back = _render_card(gen, root / SELLER[0])
    put("id_card_front.jpg", front)
    put("id_card_back.jpg", back)
    put("selfie.jpg", (root / SELLER[1]).read_bytes())
    put("someone_else.jpg", (root / STRANGER).read_bytes())
    engine = gen["faces"].default_engine()
    portrait = gen["portraits"].id_portrait(cv2.imread(str(root / SELLER[0])), engine)
    rng = random.Random(7)
    doc = passport.random_document(rng, date.today(), "passport_td3", portrait, None, chinese=False)
    page, _ = passport.render(doc, rng)
    put("passport.jpg", gen["attackgen"].jpeg(gen["capture"].capture(page, "clean", 3).image))
    rng = random.Random(11)
    lic = business_licence.random_licence(rng, date.today())
    put(
        "business_licence.jpg",
        gen["attackgen"].jpeg(gen["capture"].capture(business_licence.render(lic, rng), "clean", 4).image),
    )
    readme = f"""Sample inputs for the sellerverify CLI (rendered by the project's own generators;
the photos are from data/faces, see its SOURCES.md). With the suite running (bash scripts/run.sh):

  sellerverify verify-id {folder}/id_card_front.jpg --back {folder}/id_card_back.jpg
  sellerverify verify-id {folder}/passport.jpg
  sellerverify verify-licence {folder}/business_licence.jpg
  sellerverify subject create my-seller-1      # then, with its subject_id:
  sellerverify verify-id {folder}/id_card_front.jpg --back {folder}/id_card_back.jpg --subject SUBJECT_ID
  sellerverify match-face {folder}/selfie.jpg --subject SUBJECT_ID
  sellerverify match-face {folder}/someone_else.jpg --subject SUBJECT_ID
  sellerverify challenge issue --subject SUBJECT_ID
"""
    (folder / "README.txt").write_text(readme)
    print(f"wrote {', '.join(written)} and README.txt to {folder}/\n")
    print(readme)
    return 0
