"""The face quality gate: is this picture good enough to decide on?

Measured on the dominant face: how many clear faces there are, size (inter-ocular
distance), sharpness (variance of the Laplacian on the aligned crop), exposure, head
pose from the 5 landmarks, and whether the face is cut by the border. Each problem is a
reason code with a message the person in front of the camera can act on, and maps to a
live `Guidance`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum

import cv2
import numpy as np

from services.core.reasons import Reason
from services.vision.faces import DetectedFace

# ArcFace template geometry: nose sits 0.494 of the way from the eye line to the mouth line.
_FRONTAL_NOSE_RATIO = 0.494


class Guidance(Enum):
    OK = "ok"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    MOVE_CLOSER = "move_closer"
    MOVE_BACK = "move_back"
    HOLD_STILL = "hold_still"
    FACE_THE_CAMERA = "face_the_camera"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"


GUIDANCE_TEXT: dict[Guidance, tuple[str, str]] = {
    Guidance.OK: ("Good, hold it there", "很好，请保持"),
    Guidance.NO_FACE: ("Show your face to the camera", "请将脸部对准摄像头"),
    Guidance.MULTIPLE_FACES: ("Only one person should be in the picture", "画面中只能有一个人"),
    Guidance.MOVE_CLOSER: ("Move closer to the camera", "请靠近摄像头"),
    Guidance.MOVE_BACK: ("Move back a little so your whole face is visible", "请稍微后退，露出完整脸部"),
    Guidance.HOLD_STILL: ("Hold still", "请保持不动"),
    Guidance.FACE_THE_CAMERA: ("Look straight at the camera", "请正对摄像头"),
    Guidance.TOO_DARK: ("Find more light", "光线太暗，请到明亮处"),
    Guidance.TOO_BRIGHT: ("Too bright: avoid direct light on your face", "光线太强，请避免强光直射"),
}


@dataclass(frozen=True)
class QualityPolicy:
    """Limits of the gate; portraits printed on documents get their own, looser, policy."""

    min_eye_distance_px: float = 28.0
    max_face_fraction: float = 0.9  # face width / image width: beyond this the face is too close
    min_sharpness: float = 25.0
    min_brightness: float = 45.0
    max_brightness: float = 220.0
    max_yaw_deg: float = 30.0
    max_pitch_deg: float = 25.0
    max_roll_deg: float = 25.0
    # A second person counts from this detector score: real second faces scored 0.87-0.95
    # in the two-faces attack after a camera pass, while patterns in a landscape painting
    # behind a seller (joe_biden/facerec_biden2.jpg) reached 0.71.
    second_face_min_score: float = 0.82
    second_face_min_area_ratio: float = 0.12
    # A second face at least this large (area relative to the main face) refuses the picture;
    # smaller ones are reported as background faces. Liveness and review keep refusing
    # every clear second face (ratio = second_face_min_area_ratio).
    second_face_refuse_area_ratio: float = 0.12


SELFIE_POLICY = QualityPolicy()
# A face match's probe: a passer-by far behind the seller (a face under half the seller's
# width, a quarter of the area) is reported, not refused; someone of comparable size is.
MATCH_POLICY = QualityPolicy(second_face_refuse_area_ratio=0.25)
# Sizes are in the uploaded picture's pixels: a chip portrait (102x126) has about 20 px between the
# eyes; below 8 there is too little face left to compare.
PORTRAIT_POLICY = QualityPolicy(min_eye_distance_px=8.0, min_sharpness=5.0, max_face_fraction=1.5)


@dataclass
class FaceQuality:
    faces_found: int
    face: DetectedFace | None = None
    eye_distance_px: float = 0.0
    sharpness: float = 0.0
    brightness: float = 0.0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    reasons: list[tuple[Reason, str]] = field(default_factory=list)
    # Clearly smaller faces behind the main one (reported, not refused; see QualityPolicy).
    background_faces: int = 0
    # Size of the picture `face` was found in relative to the uploaded one (upscaled small
    # pictures > 1, reduced JPEG decodes < 1): `face` is in that picture's pixels, the
    # sizes above in the uploaded picture's.
    scale: float = 1.0

    @property
    def ok(self) -> bool:
        return self.face is not None and not self.reasons

    @property
    def usable(self) -> bool:
        """A face that can be embedded (problems other than missing/several faces are soft)."""
        return self.face is not None and not any(r in (Reason.NO_FACE, Reason.MULTIPLE_FACES) for r, _ in self.reasons)


def _same_face(main: DetectedFace, other: DetectedFace) -> bool:
    """A second box over the main face (the detector's NMS let a looser box of the same face
    through): its centre lies inside the main box, or the boxes overlap by IoU > 0.3."""
    mx, my, mw, mh = main.box
    ox, oy, ow, oh = other.box
    cx, cy = ox + ow / 2, oy + oh / 2
    if mx <= cx <= mx + mw and my <= cy <= my + mh:
        return True
    iw = max(0.0, min(mx + mw, ox + ow) - max(mx, ox))
    ih = max(0.0, min(my + mh, oy + oh) - max(my, oy))
    inter = iw * ih
    return inter / (mw * mh + ow * oh - inter) > 0.3


def head_pose(landmarks: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees, approximated from 5 landmarks.

    Roll is the eye line's angle. In the roll-corrected frame, yaw follows the nose's
    horizontal offset from the eye midpoint (relative to eye distance) and pitch the
    nose's vertical position between the eye and mouth lines. Positive yaw: the person
    turned to their left (nose towards image right).
    """
    right_eye, left_eye, nose, mouth_r, mouth_l = landmarks.astype(np.float64)
    dx, dy = left_eye - right_eye
    roll = math.degrees(math.atan2(dy, dx))
    c, s = math.cos(-math.radians(roll)), math.sin(-math.radians(roll))
    rot = np.array([[c, -s], [s, c]])
    eyes_mid = (right_eye + left_eye) / 2
    pts = (np.stack([right_eye, left_eye, nose, mouth_r, mouth_l]) - eyes_mid) @ rot.T
    eye_dist = max(float(np.linalg.norm(left_eye - right_eye)), 1e-6)
    yaw_ratio = float(pts[2, 0]) / eye_dist
    yaw = math.degrees(math.asin(max(-1.0, min(1.0, yaw_ratio / 0.55))))
    mouth_y = float((pts[3, 1] + pts[4, 1]) / 2)
    ratio = float(pts[2, 1]) / mouth_y if mouth_y > 1e-6 else _FRONTAL_NOSE_RATIO
    pitch = (ratio - _FRONTAL_NOSE_RATIO) * 150.0
    return yaw, pitch, roll


def assess(
    image_bgr: np.ndarray,
    faces: list[DetectedFace],
    aligned_bgr: np.ndarray | None,
    policy: QualityPolicy = SELFIE_POLICY,
    what: str = "photo",
    scale: float = 1.0,
) -> FaceQuality:
    """Measure the dominant face and list what is wrong, with actionable messages.

    `scale` is how much `image_bgr` was enlarged from the uploaded picture (small pictures
    are upscaled before detection); the face size is judged in the uploaded picture's pixels,
    so upscaling never turns a too-small face into an acceptable one."""
    q = FaceQuality(faces_found=len(faces), scale=scale)
    if not faces:
        q.reasons.append((Reason.NO_FACE, f"no face found in the {what}; face the camera in good light"))
        return q
    main = faces[0]
    q.face = main
    clear_others = [
        f
        for f in faces[1:]
        if f.score >= policy.second_face_min_score
        and f.area >= policy.second_face_min_area_ratio * main.area
        and not _same_face(main, f)
    ]
    q.background_faces = sum(1 for f in clear_others if f.area < policy.second_face_refuse_area_ratio * main.area)
    clear_others = [f for f in clear_others if f.area >= policy.second_face_refuse_area_ratio * main.area]
    if clear_others:
        q.faces_found = 1 + len(clear_others)
        q.reasons.append(
            (
                Reason.MULTIPLE_FACES,
                f"{1 + len(clear_others)} faces in the {what}; only the seller may be in the picture",
            )
        )
    q.eye_distance_px = main.eye_distance / scale
    q.yaw_deg, q.pitch_deg, q.roll_deg = head_pose(main.landmarks)
    h, w = image_bgr.shape[:2]
    x, y, bw, bh = main.box
    if q.eye_distance_px < policy.min_eye_distance_px:
        q.reasons.append(
            (Reason.FACE_TOO_SMALL, f"the face is too small ({q.eye_distance_px:.0f} px between the eyes); move closer")
        )
    margin = 0.08
    if x < -margin * bw or y < -margin * bh or x + bw > w + margin * bw or y + bh > h + margin * bh:
        q.reasons.append((Reason.FACE_CUT_OFF, "part of the face is outside the picture; centre your face"))
    elif bw > policy.max_face_fraction * w:
        q.reasons.append((Reason.FACE_CUT_OFF, "the face is too close to the camera; move back a little"))
    if aligned_bgr is not None:
        gray = cv2.cvtColor(aligned_bgr, cv2.COLOR_BGR2GRAY)
        inner = gray[16:100, 16:96]
        q.sharpness = float(cv2.Laplacian(inner, cv2.CV_64F).var())
        q.brightness = float(inner.mean())
        if q.sharpness < policy.min_sharpness:
            q.reasons.append((Reason.FACE_BLURRY, "the face is blurred; hold the camera still and clean the lens"))
        if q.brightness < policy.min_brightness:
            q.reasons.append((Reason.FACE_TOO_DARK, "the face is too dark; find more light"))
        elif q.brightness > policy.max_brightness:
            q.reasons.append((Reason.FACE_OVEREXPOSED, "the face is overexposed; avoid direct light or flash"))
    if (
        abs(q.yaw_deg) > policy.max_yaw_deg
        or abs(q.pitch_deg) > policy.max_pitch_deg
        or abs(q.roll_deg) > policy.max_roll_deg
    ):
        q.reasons.append(
            (
                Reason.FACE_NOT_FRONTAL,
                f"head turned or tilted (yaw {q.yaw_deg:.0f}°, pitch {q.pitch_deg:.0f}°, roll {q.roll_deg:.0f}°); "
                "look straight at the camera",
            )
        )
    return q


def guidance_for(q: FaceQuality) -> Guidance:
    """The one instruction to show for this frame (most fundamental problem first)."""
    codes = [r for r, _ in q.reasons]
    order = [
        (Reason.NO_FACE, Guidance.NO_FACE),
        (Reason.MULTIPLE_FACES, Guidance.MULTIPLE_FACES),
        (Reason.FACE_TOO_SMALL, Guidance.MOVE_CLOSER),
        (Reason.FACE_CUT_OFF, Guidance.MOVE_BACK),
        (Reason.FACE_TOO_DARK, Guidance.TOO_DARK),
        (Reason.FACE_OVEREXPOSED, Guidance.TOO_BRIGHT),
        (Reason.FACE_NOT_FRONTAL, Guidance.FACE_THE_CAMERA),
        (Reason.FACE_BLURRY, Guidance.HOLD_STILL),
    ]
    for code, guidance in order:
        if code in codes:
            return guidance
    return Guidance.OK
