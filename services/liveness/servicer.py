"""LivenessService servicer: thin protobuf <-> domain glue."""

from __future__ import annotations

import secrets
from datetime import timedelta

import grpc
from sellerverify.v1 import common_pb2
from sellerverify.v1 import liveness_pb2 as pb
from sellerverify.v1 import liveness_pb2_grpc as pb_grpc
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.app import App
from services.core.errors import invalid, not_found
from services.core.reasons import Reason
from services.identity import subjects
from services.identity.face_flow import FaceFlow
from services.identity.face_match import PairType
from services.liveness import challenge as ch
from services.liveness.checker import check_response
from services.platform.auth import current_caller
from services.platform.models import ChallengeRow, ImageHashRow
from services.platform.records import new_id, utcnow
from services.platform.records_pb import VERDICT_TO_PB, check_to_pb, reason_dict, reason_to_pb
from services.platform.servicer_base import ServicerBase, require, ts
from services.trust.cases import open_case

SERVICE = "sellerverify.v1.LivenessService"
MAX_IMAGES = 5
MODE_TO_PB = {ch.Mode.CODE_ON_PAPER: pb.CHALLENGE_MODE_CODE_ON_PAPER, ch.Mode.NEWSPAPER: pb.CHALLENGE_MODE_NEWSPAPER}
MODE_FROM_PB = {v: k for k, v in MODE_TO_PB.items()}
POSE_TO_PB = {p: getattr(pb, f"CHALLENGE_POSE_{p.name}") for p in ch.Pose}
STATE_TO_PB = {s: getattr(pb, f"CHALLENGE_STATE_{s.name}") for s in ch.State}


def _to_domain(row: ChallengeRow) -> ch.Challenge:
    return ch.Challenge(
        challenge_id=row.id,
        subject_id=row.subject_id,
        mode=ch.Mode(row.mode),
        code=row.code,
        date=row.date,
        time_zone=row.time_zone,
        pose=ch.Pose(row.pose),
        instructions_en=row.instructions_en,
        instructions_zh=row.instructions_zh,
        issued_at=row.issued_at,
        expires_at=row.expires_at,
        state=ch.State(row.state),
        used_at=row.used_at,
    )


def _to_pb(c: ch.Challenge, now_expired: bool = False) -> pb.Challenge:
    state = ch.State.EXPIRED if now_expired and c.state is ch.State.OPEN else c.state
    return pb.Challenge(
        challenge_id=c.challenge_id,
        subject_id=c.subject_id,
        mode=MODE_TO_PB[c.mode],
        code=c.code,
        date=c.date,
        time_zone=c.time_zone,
        pose=POSE_TO_PB[c.pose],
        instructions_zh=c.instructions_zh,
        instructions_en=c.instructions_en,
        issued_at=ts(c.issued_at),
        expires_at=ts(c.expires_at),
        state=STATE_TO_PB[state],
    )


class DatabaseReplayStore:
    """Perceptual hashes of earlier responses, compared by Hamming distance."""

    def __init__(self, session: Session) -> None:
        self._rows = list(session.execute(select(ImageHashRow.phash, ImageHashRow.subject_id)))

    def seen(self, phash: str, max_distance: int) -> list[str]:
        value = int(phash, 16)
        return [sid for h, sid in self._rows if bin(int(h, 16) ^ value).count("1") <= max_distance]


class LivenessServicer(pb_grpc.LivenessServiceServicer, ServicerBase):
    """Challenge photos: issue, check, review."""

    @property
    def faces(self) -> FaceFlow:
        return self.app.lazy("face_flow", lambda: FaceFlow(self.app))

    async def IssueChallenge(
        self, request: pb.IssueChallengeRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueChallengeResponse:
        subject_id = require(request.subject_id, "subject_id")
        mode = MODE_FROM_PB.get(request.mode, ch.Mode.CODE_ON_PAPER)
        time_zone = request.time_zone or self.app.settings.default_time_zone
        caller = current_caller()

        def write(session: Session) -> pb.IssueChallengeResponse:
            subjects.get_subject(session, subject_id)
            c = ch.issue(
                challenge_id=new_id(),
                subject_id=subject_id,
                mode=mode,
                time_zone=time_zone,
                now=utcnow(),
                ttl=timedelta(seconds=self.app.settings.challenge_ttl_seconds),
                rng=secrets.SystemRandom(),
            )
            session.add(
                ChallengeRow(
                    id=c.challenge_id,
                    subject_id=subject_id,
                    mode=c.mode.value,
                    code=c.code,
                    date=c.date,
                    time_zone=c.time_zone,
                    pose=c.pose.value,
                    instructions_zh=c.instructions_zh,
                    instructions_en=c.instructions_en,
                    issued_at=c.issued_at,
                    expires_at=c.expires_at,
                    state=c.state.value,
                )
            )
            self.app.audit.record(session, caller, "issue_challenge", subject_id, c.challenge_id)
            return pb.IssueChallengeResponse(challenge=_to_pb(c))

        return await self.mutate(f"/{SERVICE}/IssueChallenge", request, pb.IssueChallengeResponse, write)

    async def GetChallenge(
        self, request: pb.GetChallengeRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetChallengeResponse:
        challenge_id = require(request.challenge_id, "challenge_id")

        def read() -> pb.GetChallengeResponse:
            with self.app.db.read() as session:
                row = session.get(ChallengeRow, challenge_id)
                if row is None:
                    raise not_found(Reason.CHALLENGE_NOT_FOUND, f"no challenge with id {challenge_id!r}")
                c = _to_domain(row)
                return pb.GetChallengeResponse(challenge=_to_pb(c, utcnow() >= c.expires_at))

        return await self.offload(read)

    async def RespondChallenge(
        self, request: pb.RespondChallengeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RespondChallengeResponse:
        method = f"/{SERVICE}/RespondChallenge"
        challenge_id = require(request.challenge_id, "challenge_id")
        subject_id = require(request.subject_id, "subject_id")
        if not request.images:
            raise invalid(Reason.MISSING_FIELD, "images: send the challenge photo", "images")
        if len(request.images) > MAX_IMAGES:
            raise invalid(Reason.INVALID_FIELD, f"at most {MAX_IMAGES} images per response", "images")
        stored = await self.replayed(method, request, pb.RespondChallengeResponse)
        if stored is not None:
            return stored
        decoded = [self.decode(img.content, f"images[{i}].content") for i, img in enumerate(request.images)]
        with self.app.db.read() as session:
            row = session.get(ChallengeRow, challenge_id)
            if row is None:
                raise not_found(Reason.CHALLENGE_NOT_FOUND, f"no challenge with id {challenge_id!r}")
            challenge = _to_domain(row)
            replays = DatabaseReplayStore(session)
        reference, _ = await self.offload(
            self.faces.reference, challenge.subject_id, None, PairType.ID_PORTRAIT_VS_PHOTO
        )
        ocr = self.app.lazy("document_reader", self._reader).ocr
        outcome = await self.offload(
            check_response,
            challenge,
            subject_id,
            [d.bgr for d in decoded],
            reference,
            self.faces.matcher,
            ocr,
            replays,
            utcnow(),
        )
        caller = current_caller()
        verification_id = new_id()
        checks = [
            {
                "name": c.name,
                "verdict": c.verdict,
                "score": c.score,
                "detail": c.detail,
                "reasons": [reason_dict(r.value, m) for r, m in c.reasons],
            }
            for c in outcome.checks
        ]
        reasons = [reason_dict(r.value, m) for r, m in outcome.reasons]
        info = self.faces.matcher.engine.info

        def write(session: Session) -> pb.RespondChallengeResponse:
            locked = session.scalars(
                select(ChallengeRow).where(ChallengeRow.id == challenge_id).with_for_update()
            ).one()
            if locked.used_at is not None and outcome.verdict == "pass":
                # Answered concurrently by another request: this one cannot pass.
                outcome.verdict = "fail"
            blob_ids = [
                self.app.blobs.put(
                    session, img.content, purpose="challenge_response", media_type=d.media_type, subject_id=subject_id
                )
                for img, d in zip(request.images, decoded, strict=True)
            ]
            for h in outcome.phashes:
                session.add(
                    ImageHashRow(
                        id=new_id(),
                        subject_id=subject_id,
                        phash=h,
                        purpose="challenge_response",
                        verification_id=verification_id,
                        created_at=utcnow(),
                    )
                )
            case_id = ""
            if locked.subject_id == subject_id and locked.used_at is None:
                locked.used_at = utcnow()
                locked.state = {"pass": "passed", "fail": "failed", "review": "in_review"}[outcome.verdict]
                locked.verification_id = verification_id
            subject = subjects.get_subject(session, subject_id, for_update=True)
            if outcome.verdict == "review":
                case_id = open_case(
                    session,
                    subject_id=subject_id,
                    kind="liveness",
                    opened_by=caller,
                    reasons=reasons,
                    checks=checks,
                    verification_ids=[verification_id],
                    evidence=[(b, "challenge_response", d.media_type) for b, d in zip(blob_ids, decoded, strict=True)],
                ).id
            elif outcome.verdict == "pass":
                subjects.mark_passed(session, subject, "liveness")
            response = pb.RespondChallengeResponse(
                verification_id=verification_id,
                verdict=VERDICT_TO_PB[outcome.verdict],
                reasons=[reason_to_pb(r) for r in reasons],
                checks=[check_to_pb(c) for c in checks],
                review_case_id=case_id,
                face_model=common_pb2.ModelInfo(engine=info.engine, model=info.model, version=info.version),
            )
            self.app.verifications.add(
                session,
                verification_id=verification_id,
                caller=caller,
                method=method,
                request_id=request.request_id,
                subject_id=subject_id,
                kind="liveness",
                verdict=outcome.verdict,
                reasons=reasons,
                checks=checks,
                models=[{"engine": info.engine, "model": info.model, "version": info.version}],
                input_blob_ids=blob_ids,
                result=response,
            )
            self.app.audit.record(
                session, caller, "respond_challenge", subject_id, challenge_id, f"verdict={outcome.verdict}"
            )
            return response

        return await self.mutate(method, request, pb.RespondChallengeResponse, write)

    def _reader(self):  # type: ignore[no-untyped-def]
        from services.identity.documents.reader import DocumentReader

        return DocumentReader(self.faces.matcher.engine)


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_LivenessServiceServicer_to_server(LivenessServicer(app), server)
