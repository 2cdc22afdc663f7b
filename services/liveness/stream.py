"""Live guidance while a seller frames the challenge photo, frame by frame.

Each processed camera frame gets one instruction (show your face, show the paper, move
it closer, turn your head further, ...). The instruction comes from the same checks as a
one-shot response (`checker.check_response`): a frame with a usable face is checked in
full, and the first check a seller can fix by moving decides what to say. A frame is
*final* when its outcome can no longer be improved by moving: it passed, or a check the
seller cannot fix failed (stale or used challenge, replayed image, another person's
face, an ID card held up, signs of a screen or a print), or only doubtful checks remain
(for example an uncertain face match): that outcome is recorded exactly as
RespondChallenge records it and the stream ends.

Pure domain: no gRPC, no database; the servicer pumps frames and persists outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import numpy as np

from services.core.reasons import Reason
from services.identity.face_match import FaceMatcher, FaceTemplate
from services.liveness.challenge import Challenge, Pose, freshness
from services.liveness.checker import Check, Ocr, Outcome, ReplayStore, check_response, find_paper
from services.vision.face_quality import FaceQuality
from services.vision.face_quality import Guidance as FaceGuidance
from services.vision.face_quality import guidance_for as face_guidance_for
from services.vision.faces import DETECT_MAX_SIDE

# Checks a seller can satisfy by moving, adding light or holding the paper better. Any
# other check that fails (freshness, replay, face_match, id_card, screen, print, ...)
# ends the stream with the recorded outcome.
FIXABLE_CHECKS = frozenset({"single_face", "paper", "code", "date", "pose"})
# A paper narrower than this (pixels, or a fraction of the face width) is too far away
# for its code to be read reliably.
MIN_PAPER_WIDTH_PX = 140
MIN_PAPER_TO_FACE_WIDTH = 0.9


class Guidance(Enum):
    """One instruction for the seller (mirrors the contract's ChallengeGuidance)."""

    OK = "ok"
    SHOW_FACE = "show_face"
    ONLY_ONE_PERSON = "only_one_person"
    SHOW_PAPER = "show_paper"
    MOVE_PAPER_CLOSER = "move_paper_closer"
    TURN_HEAD_FURTHER = "turn_head_further"
    HOLD_STILL = "hold_still"
    MOVE_PAPER = "move_paper"
    MORE_LIGHT = "more_light"
    TILT_HEAD_FURTHER = "tilt_head_further"
    LESS_LIGHT = "less_light"
    MOVE_CLOSER = "move_closer"
    MOVE_BACK = "move_back"
    FACE_THE_CAMERA = "face_the_camera"
    SHOW_ISSUED_CODE = "show_issued_code"
    CHALLENGE_EXPIRED = "challenge_expired"
    # Final frame that did not pass: no instruction helps any more; the result says why.
    DONE = "done"


GUIDANCE_TEXT: dict[Guidance, tuple[str, str]] = {
    Guidance.OK: ("Good, hold it there", "很好，请保持"),
    Guidance.SHOW_FACE: ("Show your face to the camera", "请将脸部对准摄像头"),
    Guidance.ONLY_ONE_PERSON: ("Only one person should be in the picture", "画面中只能有一个人"),
    Guidance.SHOW_PAPER: ("Hold the white paper with the code in view", "请将写有验证码的白纸举到画面中"),
    Guidance.MOVE_PAPER_CLOSER: ("Move the paper closer to the camera", "请将纸张靠近摄像头"),
    Guidance.TURN_HEAD_FURTHER: ("Turn your head further to the side", "请把头再转过去一些"),
    Guidance.HOLD_STILL: ("Hold still", "请保持不动"),
    Guidance.MOVE_PAPER: ("Move the paper to where the instructions ask", "请按提示位置举起纸张"),
    Guidance.MORE_LIGHT: ("Find more light", "光线太暗，请到明亮处"),
    Guidance.TILT_HEAD_FURTHER: ("Tilt your head further to one side", "请把头再偏一些"),
    Guidance.LESS_LIGHT: ("Too bright: avoid direct light on your face", "光线太强，请避免强光直射"),
    Guidance.MOVE_CLOSER: ("Move closer to the camera", "请靠近摄像头"),
    Guidance.MOVE_BACK: ("Move back a little so your whole face is visible", "请稍微后退，露出完整脸部"),
    Guidance.FACE_THE_CAMERA: ("Look towards the camera", "请面向摄像头"),
    Guidance.SHOW_ISSUED_CODE: (
        "The paper does not show the code (or date) that was issued: show the right one",
        "纸上的验证码（或日期）与下发的不一致，请出示正确的",
    ),
    Guidance.CHALLENGE_EXPIRED: ("The challenge expired: ask for a new one", "验证已过期，请重新获取"),
    Guidance.DONE: ("The response was checked: see the result", "已完成检查，请查看结果"),
}

_FROM_FACE = {
    FaceGuidance.OK: Guidance.OK,
    FaceGuidance.NO_FACE: Guidance.SHOW_FACE,
    FaceGuidance.MULTIPLE_FACES: Guidance.ONLY_ONE_PERSON,
    FaceGuidance.MOVE_CLOSER: Guidance.MOVE_CLOSER,
    FaceGuidance.MOVE_BACK: Guidance.MOVE_BACK,
    FaceGuidance.HOLD_STILL: Guidance.HOLD_STILL,
    FaceGuidance.FACE_THE_CAMERA: Guidance.FACE_THE_CAMERA,
    FaceGuidance.TOO_DARK: Guidance.MORE_LIGHT,
    FaceGuidance.TOO_BRIGHT: Guidance.LESS_LIGHT,
}
_POSE_GUIDANCE = {
    Pose.HEAD_TURNED_LEFT: Guidance.TURN_HEAD_FURTHER,
    Pose.HEAD_TURNED_RIGHT: Guidance.TURN_HEAD_FURTHER,
    Pose.HEAD_TILTED: Guidance.TILT_HEAD_FURTHER,
    Pose.PAPER_UNDER_CHIN: Guidance.MOVE_PAPER,
    Pose.PAPER_LEFT_HALF: Guidance.MOVE_PAPER,
    Pose.PAPER_RIGHT_HALF: Guidance.MOVE_PAPER,
}
_TURNING_POSES = frozenset({Pose.HEAD_TURNED_LEFT, Pose.HEAD_TURNED_RIGHT, Pose.HEAD_TILTED})


@dataclass
class FrameJudgement:
    """What one frame earned: an instruction, and when `final`, the outcome to record."""

    guidance: Guidance
    message_en: str
    message_zh: str
    outcome: Outcome | None = None
    final: bool = False


def say(guidance: Guidance, detail: str = "") -> FrameJudgement:
    """A non-final judgement with the standard text (and a more precise English detail)."""
    en, zh = GUIDANCE_TEXT[guidance]
    return FrameJudgement(guidance, detail or en, zh)


def judge_frame(
    challenge: Challenge,
    subject_id: str,
    image: np.ndarray,
    reference: FaceTemplate,
    matcher: FaceMatcher,
    ocr: Ocr,
    replays: ReplayStore,
    now: datetime,
) -> FrameJudgement:
    """Judge one decoded camera frame (BGR) against the challenge.

    Frames without a usable face get an instruction at once (no OCR). A challenge that
    can no longer be answered (used, another subject's, expired) makes any frame final,
    so the stream fails exactly as RespondChallenge would.
    """
    stale = bool(freshness(challenge, subject_id, now))
    quality, _ = matcher.inspect(image, what="camera frame", detect_side=DETECT_MAX_SIDE)
    if not stale and not quality.usable:
        reason = quality.reasons[0][1] if quality.reasons else ""
        return say(_FROM_FACE[face_guidance_for(quality)], reason)
    outcome = check_response(challenge, subject_id, [image], reference, matcher, ocr, replays, now)
    return judge_outcome(challenge, outcome, image, quality)


def judge_outcome(challenge: Challenge, outcome: Outcome, image: np.ndarray, quality: FaceQuality) -> FrameJudgement:
    """Final when the outcome cannot be improved by moving; otherwise the instruction
    for the first fixable check that did not pass."""
    if outcome.verdict == "pass":
        return FrameJudgement(Guidance.OK, *GUIDANCE_TEXT[Guidance.OK], outcome=outcome, final=True)
    hard_fail = [c for c in outcome.checks if c.name not in FIXABLE_CHECKS and c.verdict == "fail"]
    fixable = [c for c in outcome.checks if c.name in FIXABLE_CHECKS and c.verdict != "pass"]
    if hard_fail or not fixable:
        first = (hard_fail or [c for c in outcome.checks if c.verdict != "pass"] or outcome.checks)[0]
        expired = any(r is Reason.CHALLENGE_EXPIRED for r, _ in first.reasons)
        guidance = Guidance.CHALLENGE_EXPIRED if expired else Guidance.DONE
        en = first.reasons[0][1] if first.reasons else first.detail
        return FrameJudgement(guidance, en or GUIDANCE_TEXT[guidance][0], GUIDANCE_TEXT[guidance][1], outcome, True)
    judgement = _instruction(challenge, fixable[0], image, quality)
    judgement.outcome = outcome
    return judgement


def _instruction(challenge: Challenge, check: Check, image: np.ndarray, quality: FaceQuality) -> FrameJudgement:
    face_guidance = _FROM_FACE[face_guidance_for(quality)]
    if face_guidance is Guidance.FACE_THE_CAMERA and challenge.pose in _TURNING_POSES:
        face_guidance = Guidance.OK  # the pose itself asks for a turned or tilted head
    if check.name == "single_face" or (face_guidance is not Guidance.OK and check.name in ("code", "date")):
        # A dark, blurred or tiny face usually means an unreadable paper too: fix the picture first.
        return say(face_guidance if face_guidance is not Guidance.OK else Guidance.SHOW_FACE)
    if check.name == "paper":
        return say(Guidance.SHOW_PAPER)
    if check.name in ("code", "date"):
        if check.verdict == "fail":
            return say(Guidance.SHOW_ISSUED_CODE)
        if _paper_too_small(image, quality):
            return say(Guidance.MOVE_PAPER_CLOSER)
        return say(Guidance.HOLD_STILL, "Hold the paper still and flat so the code can be read")
    guidance = _POSE_GUIDANCE[challenge.pose]
    en = challenge.instructions_en if guidance is Guidance.MOVE_PAPER else ""
    return say(guidance, en)


def _paper_too_small(image: np.ndarray, quality: FaceQuality) -> bool:
    face_box = quality.face.box if quality.face is not None else None
    found = find_paper(image, face_box)
    if found is None:
        return True
    width = found[1][2]
    face_width = face_box[2] if face_box is not None else 0.0
    return width < MIN_PAPER_WIDTH_PX or width < MIN_PAPER_TO_FACE_WIDTH * face_width
