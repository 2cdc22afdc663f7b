"""LivenessService servicer: thin protobuf <-> domain glue."""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
from sellerverify.v1 import common_pb2, identity_pb2
from sellerverify.v1 import liveness_pb2 as pb
from sellerverify.v1 import liveness_pb2_grpc as pb_grpc
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.app import App
from services.core.errors import DomainError, not_found, precondition
from services.core.images import DecodedImage, decode_image
from services.core.reasons import Reason
from services.identity import subjects
from services.identity.face_flow import FaceFlow
from services.identity.face_match import PairType
from services.liveness import challenge as ch
from services.liveness import replay, stream
from services.liveness.checker import Ocr, Outcome, check_response
from services.platform.auth import current_caller
from services.platform.frame_pump import PumpStats, Step, pump
from services.platform.models import ChallengeRow, ImageHashRow
from services.platform.records import new_id, utcnow
from services.platform.records_pb import VERDICT_TO_PB, check_to_pb, reason_dict, reason_to_pb
from services.platform.servicer_base import ServicerBase, check_image_count, first_config, require, ts
from services.trust.results import settle

SERVICE = "sellerverify.v1.LivenessService"
MAX_IMAGES = 5
MODE_TO_PB = {ch.Mode.CODE_ON_PAPER: pb.CHALLENGE_MODE_CODE_ON_PAPER, ch.Mode.NEWSPAPER: pb.CHALLENGE_MODE_NEWSPAPER}
MODE_FROM_PB = {v: k for k, v in MODE_TO_PB.items()}
POSE_TO_PB = {p: getattr(pb, f"CHALLENGE_POSE_{p.name}") for p in ch.Pose}
STATE_TO_PB = {s: getattr(pb, f"CHALLENGE_STATE_{s.name}") for s in ch.State}
STREAM_GUIDANCE_TO_PB = {
    g: pb.CHALLENGE_GUIDANCE_UNSPECIFIED if g is stream.Guidance.DONE else getattr(pb, f"CHALLENGE_GUIDANCE_{g.name}")
    for g in stream.Guidance
}


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
    """Perceptual hashes of earlier responses, compared by Hamming distance, and their
    keypoint fingerprints (one row per keypoint, purpose "replay_kp:x:y"), across subjects."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(
            select(ImageHashRow.phash, ImageHashRow.subject_id, ImageHashRow.purpose, ImageHashRow.verification_id)
        ).all()
        self._rows = [(h, sid) for h, sid, purpose, _ in rows if not purpose.startswith(replay.PURPOSE_PREFIX)]
        grouped: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        for h, sid, purpose, vid in rows:
            if purpose.startswith(replay.PURPOSE_PREFIX):
                grouped[(vid or "", sid)].append((h, purpose))
        self._index = replay.Index()
        for (vid, sid), kps in grouped.items():
            self._index.add(vid, sid, replay.from_rows(kps))

    def index(self) -> replay.Index:
        return self._index

    def seen(self, phash: str, max_distance: int) -> list[str]:
        value = int(phash, 16)
        return [sid for h, sid in self._rows if bin(int(h, 16) ^ value).count("1") <= max_distance]


def _visible_challenge(session: Session, challenge_id: str) -> ChallengeRow:
    """The challenge, or CHALLENGE_NOT_FOUND when unknown or another onboarding client's
    (its one-time code must not reach anyone but the client that issued it)."""
    row = session.get(ChallengeRow, challenge_id)
    hidden = not_found(Reason.CHALLENGE_NOT_FOUND, f"no challenge with id {challenge_id!r}")
    if row is None:
        raise hidden
    subjects.require_visible(session, row.subject_id, hidden)
    return row


class LivenessServicer(pb_grpc.LivenessServiceServicer, ServicerBase):
    """Challenge photos: issue, check, review."""

    @property
    def faces(self) -> FaceFlow:
        return FaceFlow.shared(self.app)

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
                row = _visible_challenge(session, challenge_id)
                c = _to_domain(row)
                return pb.GetChallengeResponse(challenge=_to_pb(c, utcnow() >= c.expires_at))

        return await self.offload(read)

    async def RespondChallenge(
        self, request: pb.RespondChallengeRequest, context: grpc.aio.ServicerContext
    ) -> pb.RespondChallengeResponse:
        method = f"/{SERVICE}/RespondChallenge"
        challenge_id = require(request.challenge_id, "challenge_id")
        subject_id = require(request.subject_id, "subject_id")
        check_image_count(request.images, MAX_IMAGES, "send the challenge photo", "response")
        stored = await self.replayed(method, request, pb.RespondChallengeResponse)
        if stored is not None:
            return stored

        def work() -> tuple[list[DecodedImage], Outcome]:
            # One hop to the worker pool: decoding (bad photos refused before anything is
            # read), the challenge, the ID portrait and the checks; the event loop never decodes.
            decoded = self.decode_all(request.images)
            challenge, replays = self._open_challenge(challenge_id)
            reference, _ = self.faces.reference(challenge.subject_id, None, PairType.ID_PORTRAIT_VS_PHOTO)
            outcome = check_response(
                challenge,
                subject_id,
                [d.bgr for d in decoded],
                reference,
                self.faces.matcher,
                self._ocr,
                replays,
                utcnow(),
            )
            return decoded, outcome

        decoded, outcome = await self.offload(work)
        images = [(img.content, d.media_type) for img, d in zip(request.images, decoded, strict=True)]
        return await self._record_response(method, request, challenge_id, subject_id, images, outcome)

    def _open_challenge(self, challenge_id: str) -> tuple[ch.Challenge, DatabaseReplayStore]:
        """The challenge (NOT_FOUND when unknown) and the replay store, read in one go."""
        with self.app.db.read() as session:
            row = _visible_challenge(session, challenge_id)
            return _to_domain(row), DatabaseReplayStore(session)

    @property
    def _ocr(self) -> Ocr:
        return self.app.lazy("document_reader", self._reader).ocr

    async def _record_response(
        self,
        method: str,
        request: pb.RespondChallengeRequest | pb.StreamChallengeConfig,
        challenge_id: str,
        subject_id: str,
        images: list[tuple[bytes, str]],
        outcome: Outcome,
    ) -> pb.RespondChallengeResponse:
        """Persist a checked response in one idempotent transaction: the challenge is
        consumed (single use), the images sealed, their hashes kept for replay detection,
        a case opened on REVIEW, the subject marked on PASS, the record and audit written.
        Used by RespondChallenge and StreamChallenge alike."""
        caller = current_caller()
        verification_id = new_id()
        all_checks = [
            {
                "name": c.name,
                "verdict": c.verdict,
                "score": c.score,
                "detail": c.detail,
                "reasons": [reason_dict(r.value, m) for r, m in c.reasons],
            }
            for c in outcome.checks
        ]
        all_reasons = [reason_dict(r.value, m) for r, m in outcome.reasons]
        info = self.faces.matcher.engine.info

        def write(session: Session) -> pb.RespondChallengeResponse:
            locked = session.scalars(
                select(ChallengeRow).where(ChallengeRow.id == challenge_id).with_for_update()
            ).one()
            # Copies: a retried transaction must not see the previous attempt's additions.
            reasons, checks, verdict = list(all_reasons), list(all_checks), outcome.verdict
            if locked.used_at is not None and not any(
                r["code"] == Reason.CHALLENGE_ALREADY_USED.value for r in reasons
            ):
                # Answered concurrently by another request that was recorded first: this
                # one can neither pass nor open a second review on the same challenge, and
                # says why even when another check failed too.
                verdict = "fail"
                race = reason_dict(
                    Reason.CHALLENGE_ALREADY_USED.value,
                    "another response to this challenge was recorded first; request a new challenge",
                )
                reasons.append(race)
                checks.append(
                    {
                        "name": "freshness",
                        "verdict": "fail",
                        "score": 0.0,
                        "detail": "answered concurrently",
                        "reasons": [race],
                    }
                )
            blob_ids = [
                self.app.blobs.put(
                    session, content, purpose="challenge_response", media_type=media_type, subject_id=subject_id
                )
                for content, media_type in images
            ]
            for fp in outcome.fingerprints:
                for h, purpose in fp.rows():
                    session.add(
                        ImageHashRow(
                            id=new_id(),
                            subject_id=subject_id,
                            phash=h,
                            purpose=purpose,
                            verification_id=verification_id,
                            created_at=utcnow(),
                        )
                    )
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
            if locked.subject_id == subject_id and locked.used_at is None:
                locked.used_at = utcnow()
                locked.state = {"pass": "passed", "fail": "failed", "review": "in_review"}[verdict]
                locked.verification_id = verification_id
            subject = subjects.get_subject(session, subject_id, for_update=True)
            case_id = settle(
                session,
                subject=subject,
                verdict=verdict,
                case_kind="liveness",
                caller=caller,
                verification_id=verification_id,
                reasons=reasons,
                checks=checks,
                evidence=[(b, "challenge_response", m) for b, (_, m) in zip(blob_ids, images, strict=True)],
                passed_check="liveness",
            )
            response = pb.RespondChallengeResponse(
                verification_id=verification_id,
                verdict=VERDICT_TO_PB[verdict],
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
                verdict=verdict,
                reasons=reasons,
                checks=checks,
                models=[{"engine": info.engine, "model": info.model, "version": info.version}],
                input_blob_ids=blob_ids,
                result=response,
            )
            self.app.audit.record(session, caller, "respond_challenge", subject_id, challenge_id, f"verdict={verdict}")
            return response

        return await self.mutate(method, request, pb.RespondChallengeResponse, write)

    async def StreamChallenge(
        self, request_iterator: AsyncIterator[pb.StreamChallengeRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.StreamChallengeResponse]:
        """Live guidance on the newest camera frame until a frame's outcome is final (then it
        is recorded exactly like RespondChallenge and sent last) or the challenge expires
        (a CHALLENGE_EXPIRED feedback, then FAILED_PRECONDITION). Stale frames are dropped."""
        method = f"/{SERVICE}/StreamChallenge"
        config = await first_config(request_iterator)
        challenge_id = require(config.challenge_id, "config.challenge_id")
        subject_id = require(config.subject_id, "config.subject_id")
        stored = await self.replayed(method, config, pb.RespondChallengeResponse)
        if stored is not None:
            yield pb.StreamChallengeResponse(result=stored)
            return
        challenge, replays = await self.offload(self._open_challenge, challenge_id)
        reference, _ = await self.offload(
            self.faces.reference, challenge.subject_id, None, PairType.ID_PORTRAIT_VS_PHOTO
        )
        limits = self.app.image_limits

        async def process(frame: identity_pb2.CameraFrame, stats: PumpStats) -> Step[pb.StreamChallengeResponse]:
            started = time.perf_counter()

            def judge() -> stream.FrameJudgement:
                # Decoded on the worker pool, with the frame's checks (not on the event loop).
                try:
                    image = decode_image(frame.jpeg, limits, "frame.jpeg")
                except DomainError as err:
                    return stream.say(stream.Guidance.HOLD_STILL, err.message)
                return stream.judge_frame(
                    challenge, subject_id, image.bgr, reference, self.faces.matcher, self._ocr, replays, utcnow()
                )

            judgement = await self.offload(judge)
            messages = [pb.StreamChallengeResponse(feedback=_feedback(frame.sequence, judgement, stats, started))]
            if not judgement.final or judgement.outcome is None:
                return Step(messages)
            result = await self._record_response(
                method, config, challenge_id, subject_id, [(frame.jpeg, "image/jpeg")], judgement.outcome
            )
            messages.append(pb.StreamChallengeResponse(result=result))
            return Step(messages, done=True)

        expired = False

        async def on_timeout(stats: PumpStats) -> list[pb.StreamChallengeResponse]:
            nonlocal expired
            expired = True
            feedback = _feedback(0, stream.say(stream.Guidance.CHALLENGE_EXPIRED), stats, time.perf_counter())
            return [pb.StreamChallengeResponse(feedback=feedback)]

        remaining = (challenge.expires_at - utcnow()).total_seconds()
        async for message in pump(_frames(request_iterator), process, deadline_s=remaining, on_timeout=on_timeout):
            yield message
        if expired:
            raise precondition(
                Reason.CHALLENGE_EXPIRED, "the challenge expired before a response passed; ask for a new one"
            )

    def _reader(self):  # type: ignore[no-untyped-def]
        from services.identity.documents.reader import DocumentReader

        return DocumentReader(self.faces.matcher.engine)


async def _frames(requests: AsyncIterator[pb.StreamChallengeRequest]) -> AsyncIterator[identity_pb2.CameraFrame]:
    async for message in requests:
        if message.HasField("frame"):
            yield message.frame


def _feedback(
    sequence: int, judgement: stream.FrameJudgement, stats: PumpStats, started: float
) -> pb.ChallengeFeedback:
    return pb.ChallengeFeedback(
        sequence=sequence,
        guidance=STREAM_GUIDANCE_TO_PB[judgement.guidance],
        message_en=judgement.message_en,
        message_zh=judgement.message_zh,
        frames_dropped=stats.dropped,
        processing_ms=(time.perf_counter() - started) * 1000,
    )


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_LivenessServiceServicer_to_server(LivenessServicer(app), server)
