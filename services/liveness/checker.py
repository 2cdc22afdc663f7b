"""Checking a challenge response: one live face that matches the ID portrait, the paper
with the right code (or today's newspaper), the requested pose, a fresh challenge, no
replayed image, and no ID card held up instead of a face."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

import cv2
import imagehash
import numpy as np
from PIL import Image

from services.core.reasons import Reason
from services.identity.documents.cn_layout import CARD_H, CARD_W, FRONT
from services.identity.documents.ocr import Region, find_words_in
from services.identity.documents.rectify import find_document, warp
from services.identity.face_match import Decision, FaceMatcher, FaceTemplate, PairType
from services.liveness.challenge import Challenge, Mode, Pose, freshness, read_code
from services.vision.face_quality import head_pose

REPLAY_MAX_DISTANCE = 6  # bits of a 64-bit perceptual hash
TURN_MIN_YAW = 15.0
TILT_MIN_ROLL = 10.0
_DATE = re.compile(r"(20\d\d)\s*[年\-./]\s*(\d{1,2})\s*[月\-./]\s*(\d{1,2})")


class ReplayStore(Protocol):
    def seen(self, phash: str, max_distance: int) -> list[str]:
        """Subject ids that submitted a near-identical image before."""
        ...


class Ocr(Protocol):
    def read(self, regions: list[Region], lang: str, psm: int = 6, whitelist: str | None = None) -> dict: ...


@dataclass
class Check:
    name: str
    verdict: str  # pass / fail / review
    score: float = 0.0
    detail: str = ""
    reasons: list[tuple[Reason, str]] = field(default_factory=list)


@dataclass
class Outcome:
    verdict: str
    checks: list[Check]
    phashes: list[str]
    face_template: np.ndarray | None = None

    @property
    def reasons(self) -> list[tuple[Reason, str]]:
        return [r for c in self.checks for r in c.reasons]


def phash(bgr: np.ndarray) -> str:
    return str(imagehash.phash(Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))))


def find_paper(
    bgr: np.ndarray, face_box: tuple[float, float, float, float] | None
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """The largest white, unsaturated region that is not the face: (flattened crop, box)."""
    h, w = bgr.shape[:2]
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    mask = ((hsv[:, :, 2] > 170) & (hsv[:, :, 1] < 45)).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((9, 9), np.uint8), iterations=2)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    best = None
    for cnt in sorted(contours, key=cv2.contourArea, reverse=True)[:5]:
        x, y, bw, bh = cv2.boundingRect(cnt)
        if bw * bh < 0.015 * w * h or bw * bh > 0.7 * w * h:
            continue
        if face_box is not None:
            fx, fy, fw, fh = face_box
            ix = max(0, min(x + bw, fx + fw) - max(x, fx))
            iy = max(0, min(y + bh, fy + fh) - max(y, fy))
            if ix * iy > 0.5 * fw * fh:
                continue  # a bright face or wall behind the head, not the paper
        best = (x, y, bw, bh)
        break
    if best is None:
        return None
    x, y, bw, bh = best
    return bgr[y : y + bh, x : x + bw], best


def pose_check(
    pose: Pose,
    landmarks: np.ndarray,
    face_box: tuple[float, float, float, float],
    paper_box: tuple[int, int, int, int] | None,
    width: int,
) -> Check:
    """Head pose from landmarks and where the paper is relative to the face.

    Yaw sign: positive when the nose points towards the right of the picture, which is
    the person's left in an unmirrored photo.
    """
    yaw, _, roll = head_pose(landmarks)
    fx, fy, fw, fh = face_box
    px = py = None
    if paper_box is not None:
        px, py = paper_box[0] + paper_box[2] / 2, paper_box[1] + paper_box[3] / 2
    ok = {
        Pose.HEAD_TURNED_LEFT: yaw >= TURN_MIN_YAW,
        Pose.HEAD_TURNED_RIGHT: yaw <= -TURN_MIN_YAW,
        Pose.HEAD_TILTED: abs(roll) >= TILT_MIN_ROLL,
        Pose.PAPER_UNDER_CHIN: py is not None
        and px is not None
        and py > fy + fh * 0.9
        and abs(px - (fx + fw / 2)) < fw,
        Pose.PAPER_LEFT_HALF: px is not None and px < width / 2,
        Pose.PAPER_RIGHT_HALF: px is not None and px > width / 2,
    }[pose]
    detail = f"yaw {yaw:.0f}°, roll {roll:.0f}°, paper centre {'none' if px is None else f'({px:.0f}, {py:.0f})'}"
    if ok:
        return Check("pose", "pass", detail=f"{pose.value}: {detail}")
    return Check(
        "pose",
        "fail",
        detail=f"{pose.value} not taken: {detail}",
        reasons=[(Reason.POSE_NOT_SATISFIED, f"the requested pose ({pose.value.replace('_', ' ')}) was not taken")],
    )


def check_response(
    challenge: Challenge,
    subject_id: str,
    images: list[np.ndarray],
    reference: FaceTemplate,
    matcher: FaceMatcher,
    ocr: Ocr,
    replays: ReplayStore,
    now: datetime,
) -> Outcome:
    checks: list[Check] = []
    fresh = freshness(challenge, subject_id, now)
    checks.append(
        Check("freshness", "fail" if fresh else "pass", detail="" if fresh else "open, unused, in time", reasons=fresh)
    )
    hashes = [phash(img) for img in images]
    replayed = sorted({s for h in hashes for s in replays.seen(h, REPLAY_MAX_DISTANCE)})
    checks.append(
        Check(
            "replay",
            "fail" if replayed else "pass",
            detail=f"near-identical to {len(replayed)} earlier submission(s)" if replayed else "not seen before",
            reasons=[(Reason.REPLAYED_IMAGE, "this photo (or a near copy) was submitted before")] if replayed else [],
        )
    )
    image = images[0]
    quality, aligned = matcher.inspect(image, what="challenge photo")
    template = None
    if quality.face is None or aligned is None or not quality.usable:
        reason = quality.reasons[0] if quality.reasons else (Reason.NO_FACE, "no face found")
        checks.append(Check("single_face", "fail", detail=reason[1], reasons=[reason]))
    else:
        checks.append(
            Check("single_face", "pass", detail=f"one face, {quality.eye_distance_px:.0f} px between the eyes")
        )
        template = FaceTemplate(matcher.embed_aligned(aligned), quality)
        outcome = matcher.decide(reference, template, PairType.ID_PORTRAIT_VS_PHOTO)
        verdict = {Decision.MATCH: "pass", Decision.NO_MATCH: "fail", Decision.UNCERTAIN: "review"}[outcome.decision]
        checks.append(
            Check(
                "face_match",
                verdict,
                outcome.similarity,
                f"similarity {outcome.similarity:.3f} with the ID portrait (match at >= {outcome.threshold_match:.3f})",
                [r for r in outcome.reasons if r[0] in (Reason.FACE_NO_MATCH, Reason.FACE_MATCH_UNCERTAIN)],
            )
        )
        if _shows_id_card(image, quality.face.box, ocr):
            checks.append(
                Check(
                    "id_card",
                    "fail",
                    detail="the face is the portrait of a card-shaped document",
                    reasons=[(Reason.ID_CARD_AS_SELFIE, "the photo shows an ID card, not a live person")],
                )
            )
    paper = find_paper(image, quality.face.box if quality.face else None)
    read_check = _read_paper(challenge, paper[0], ocr) if paper is not None else None
    box = paper[1] if paper is not None else None
    if read_check is None or read_check.verdict != "pass":
        # The paper may have merged with a white shirt or wall: look for the code or date
        # anywhere in the picture, and take the paper to be where it was found.
        found = _find_in_scene(challenge, image, ocr)
        if found is not None:
            read_check, box = found
    if box is None or read_check is None:
        checks.append(
            Check(
                "paper",
                "fail",
                detail="no white paper found",
                reasons=[(Reason.PAPER_NOT_FOUND, "hold a white paper with the code in view")],
            )
        )
    else:
        checks.append(Check("paper", "pass", detail=f"paper at {box}"))
        checks.append(read_check)
        if quality.face is not None:
            checks.append(pose_check(challenge.pose, quality.face.landmarks, quality.face.box, box, image.shape[1]))
    verdicts = {c.verdict for c in checks}
    verdict = "fail" if "fail" in verdicts else "review" if "review" in verdicts else "pass"
    return Outcome(verdict, checks, hashes, template.vector if template else None)


def _shows_id_card(image: np.ndarray, face_box: tuple[float, float, float, float], ocr: Ocr) -> bool:
    """An ID card held up to the camera: a card-shaped quadrilateral (85.6 x 54 mm, aspect
    ~1.58) around the face that, flattened, carries a citizen-number line."""
    card = find_document(image)
    if card is None or not 0.04 < card.area_fraction < 0.9:
        return False
    q = card.quad
    long_side = max(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1]))
    short_side = min(np.linalg.norm(q[1] - q[0]), np.linalg.norm(q[2] - q[1]))
    if not 1.4 < long_side / max(short_side, 1.0) < 1.8:
        return False
    fx, fy, fw, fh = face_box
    if cv2.pointPolygonTest(q.reshape(-1, 1, 2), (fx + fw / 2, fy + fh / 2), False) <= 0:
        return False
    flat, _ = warp(image, q, (CARD_W, CARD_H))
    x, y, w, h = FRONT["citizen_number"]
    for candidate in (flat, cv2.rotate(flat, cv2.ROTATE_180)):
        text = ocr.read([Region("number", candidate[y : y + h, x : x + w])], "eng", 7, "0123456789X")["number"].text
        if sum(c.isdigit() for c in text) >= 15:
            return True
    return False


def _close(a: str, b: str) -> bool:
    """Same length and at most one character different: an OCR slip, not another code."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1


def _find_in_scene(challenge: Challenge, image: np.ndarray, ocr: Ocr) -> tuple[Check, tuple[int, int, int, int]] | None:
    lang = "eng" if challenge.mode is Mode.CODE_ON_PAPER else "chi_sim"
    for text, box in find_words_in(ocr, image, lang):  # type: ignore[arg-type]
        if challenge.mode is Mode.CODE_ON_PAPER and read_code(text) == challenge.code:
            return Check("code", "pass", 1.0, f"read {challenge.code} in the picture (expected {challenge.code})"), box
        if challenge.mode is Mode.NEWSPAPER:
            for y, m, d in _DATE.findall(text):
                if _valid(y, m, d) and date(int(y), int(m), int(d)).isoformat() == challenge.date:
                    return Check("date", "pass", 1.0, f"read {challenge.date} in the picture"), box
    return None


def _read_paper(challenge: Challenge, crop: np.ndarray, ocr: Ocr) -> Check:
    if challenge.mode is Mode.CODE_ON_PAPER:
        text = ocr.read([Region("code", crop, sparse=True)], "eng")["code"].text
        tokens = [read_code(t) for t in text.split()]
        if challenge.code in tokens:
            return Check("code", "pass", 1.0, f"read {challenge.code} (expected {challenge.code})")
        if any(_close(t, challenge.code) for t in tokens):
            # One character off is an OCR slip far more often than an attack (an attacker
            # does not know the code): a person looks rather than the seller being failed.
            near = next(t for t in tokens if _close(t, challenge.code))
            return Check(
                "code",
                "review",
                0.5,
                f"read {near} (expected {challenge.code})",
                reasons=[(Reason.CODE_UNREADABLE, "the code on the paper could not be read with certainty")],
            )
        candidates = [t for t in tokens if len(t) >= 4]
        if not candidates:
            return Check(
                "code",
                "review",
                detail="no code could be read",
                reasons=[(Reason.CODE_UNREADABLE, "the code on the paper could not be read")],
            )
        return Check(
            "code",
            "fail",
            detail=f"read {' '.join(candidates)} (expected {challenge.code})",
            reasons=[(Reason.CODE_MISMATCH, "the code on the paper is not the one issued")],
        )
    text = ocr.read([Region("date", crop, sparse=True)], "chi_sim")["date"].text
    found = [date(int(y), int(m), int(d)) for y, m, d in _DATE.findall(text) if _valid(y, m, d)]
    if not found:
        return Check(
            "date",
            "review",
            detail="no date could be read",
            reasons=[(Reason.DATE_UNREADABLE, "the newspaper's date could not be read")],
        )
    expected = date.fromisoformat(challenge.date)
    if expected in found:
        return Check("date", "pass", 1.0, f"read {found[0]} (expected {expected})")
    return Check(
        "date",
        "fail",
        detail=f"read {found[0]} (expected {expected})",
        reasons=[(Reason.DATE_MISMATCH, "the newspaper is not today's")],
    )


def _valid(y: str, m: str, d: str) -> bool:
    try:
        date(int(y), int(m), int(d))
    except ValueError:
        return False
    return True
