"""1:1 face matching with calibrated decisions.

A calibration table (services/identity/calibration/<engine>.json, written by
bench/calibrate_faces.py) maps false-match rates to similarity thresholds per pair type,
because a printed ID portrait (small, washed out, compressed) scores lower against a
live photo than two ordinary photos do. The decision:

    similarity >= threshold at the operating FMR (default 0.1%)   -> MATCH
    similarity <  threshold at FMR 1%                             -> NO_MATCH
    in between                                                    -> UNCERTAIN (a person decides)

Small pictures (short side under 320 px: card portraits, tight crops) are upscaled before
detection. Document portraits are embedded with their mirror image
averaged in (test-time augmentation, which steadies small crops; portraits are embedded
once per document, so it costs nothing on the live path). Live photos get one embedding.

Borderline pairs get a second opinion: when the SFace similarity falls in the calibrated
grey band and a second recogniser is installed (services/vision/second_opinion.py), the
two scores are fused (each z-normalised on the calibration impostors, then averaged) and
the decision is taken on the fused score against its own calibrated thresholds. Outside
the band SFace decides alone; the band is set so that the cascade's false-match rate is
measured on all calibration impostors, not only those in the band.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from services.core.errors import DomainError, ErrorKind, invalid
from services.core.images import DecodedImage
from services.core.reasons import Reason
from services.vision.face_quality import (
    MATCH_POLICY,
    PORTRAIT_POLICY,
    SELFIE_POLICY,
    FaceQuality,
    QualityPolicy,
    assess,
)
from services.vision.faces import DETECT_MAX_SIDE, DetectedFace, FaceEngine, ModelInfo

# Images whose short side is below this are upscaled (bicubic) before detection: YuNet's
# landmarks on small inputs (a 150 px tight crop, a 102x126 card portrait) are loose, and
# alignment from them costs SFace accuracy (photo pairs TAR@FMR0.1% 0.967 -> 1.000 alone,
# docs/face-calibration.md). Camera frames (640x480) and ordinary photos are untouched.
DETECT_MIN_SIDE = 320
# Faces to be matched (selfies, camera frames, reference photos, video-call frames) are
# searched on a copy at most this long: a face that fills a 640x480 frame is found as well
# at 480 (ID-portrait pairs 236 of 240 either way, docs/face-calibration.md) for 2.8 ms
# less per frame. ID portraits keep the full working size (they are small, and upscaled),
# and the liveness checks pass DETECT_MAX_SIDE: their paper and presentation-attack rules
# were tuned on the face boxes found at 640. (320 would save about 8 ms of CPU per
# MatchFace, but its landmarks raised the highest impostor similarity of the shared set
# from 0.334 to 0.405: docs/hardening.md, 2026-12-04.)
MATCH_DETECT_SIDE = 480
# MatchFace decodes a large JPEG at 1/2, 1/4 or 1/8 of its size (libjpeg's DCT scaling:
# a 4098x2735 photo in 31 ms of CPU instead of 69) as long as its longer side stays at
# least this long: a 12 Mpx phone photo (4,000-4,032 px) at a quarter. 640 would also
# halve the ordinary 1,280-1,900 px photos (3.7 ms less per MatchFace on the bench's), but
# moved the shipped decisions on the shared set (photo impostors accepted 3 -> 5 of
# 2,961); at 960, 1,024 and 1,280 the counts are the full-size decode's (3 and 6).
MATCH_DECODE_SIDE = 960
# ... and decodes it again at full size when the face in the reduced picture is smaller
# than this between the eyes (or not found): the 112 px aligned crop (35 px between the
# eyes) is then never enlarged from a reduced picture.
REDUCED_MIN_EYE_PX = 40.0


class PairType(Enum):
    ID_PORTRAIT_VS_PHOTO = "id_portrait_vs_photo"
    PHOTO_VS_PHOTO = "photo_vs_photo"


class Decision(Enum):
    MATCH = "match"
    NO_MATCH = "no_match"
    UNCERTAIN = "uncertain"


def _threshold_between(thresholds: dict[float, float], fmr: float) -> float:
    if fmr in thresholds:
        return thresholds[fmr]
    # Interpolate in log-FMR between the calibrated points.
    pts = sorted(thresholds.items())
    xs = np.log10([p[0] for p in pts])
    ys = [p[1] for p in pts]
    return float(np.interp(np.log10(fmr), xs, ys))


def _fmr_on_curve(curve: list[tuple[float, float]], score: float, impostor_pairs: int) -> float:
    sims = [c[0] for c in curve]
    fmrs = [c[1] for c in curve]
    floor = 1.0 / max(impostor_pairs, 1)
    # N impostor pairs cannot show a rate below 1/N: report that as the estimate's floor.
    return max(float(np.interp(score, sims, fmrs, left=1.0, right=0.0)), floor)


@dataclass(frozen=True)
class Fusion:
    """How a borderline SFace similarity and a second engine's distance become one score."""

    band_low: float  # SFace similarities in [band_low, band_high) ask for a second opinion
    band_high: float
    primary_mean: float  # SFace similarity of calibration impostors: mean and spread
    primary_std: float
    second_mean: float  # second engine's distance of calibration impostors
    second_std: float
    thresholds: dict[float, float]  # FMR -> fused-score threshold (FMR over all impostors)
    curve: list[tuple[float, float]]  # (fused score, FMR), ascending score
    impostor_pairs: int

    def in_band(self, similarity: float) -> bool:
        return self.band_low <= similarity < self.band_high

    def score(self, similarity: float, distance: float) -> float:
        """Mean of the two z-scores; higher means more alike."""
        z1 = (similarity - self.primary_mean) / self.primary_std
        z2 = (self.second_mean - distance) / self.second_std
        return 0.5 * (z1 + z2)

    def threshold(self, fmr: float) -> float:
        return _threshold_between(self.thresholds, fmr)

    def estimated_fmr(self, fused: float) -> float:
        return _fmr_on_curve(self.curve, fused, self.impostor_pairs)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fusion:
        return cls(
            band_low=float(data["band"][0]),
            band_high=float(data["band"][1]),
            primary_mean=float(data["primary_impostor"][0]),
            primary_std=float(data["primary_impostor"][1]),
            second_mean=float(data["second_impostor"][0]),
            second_std=float(data["second_impostor"][1]),
            thresholds={float(p["fmr"]): float(p["threshold"]) for p in data["points"]},
            curve=[(float(s), float(f)) for s, f in data["curve"]],
            impostor_pairs=int(data["impostor_pairs"]),
        )


@dataclass(frozen=True)
class Operating:
    """Thresholds of one pair type, and the impostor curve for FMR estimates."""

    thresholds: dict[float, float]  # FMR -> similarity threshold
    curve: list[tuple[float, float]]  # (similarity, FMR at that similarity), ascending similarity
    impostor_pairs: int
    genuine_pairs: int
    fusion: Fusion | None = None

    def threshold(self, fmr: float) -> float:
        return _threshold_between(self.thresholds, fmr)

    def estimated_fmr(self, similarity: float) -> float:
        return _fmr_on_curve(self.curve, similarity, self.impostor_pairs)


@dataclass(frozen=True)
class CalibrationTable:
    engine: str
    model_version: str
    pair_types: dict[PairType, Operating]
    source: str

    @classmethod
    def load(cls, engine: str, path: Path | None = None) -> CalibrationTable:
        if path is None:
            path = Path(str(resources.files("services.identity") / "calibration" / f"{engine}.json"))
        data: dict[str, Any] = json.loads(path.read_text())
        ops = {}
        for name, entry in data["pair_types"].items():
            ops[PairType(name)] = Operating(
                thresholds={float(p["fmr"]): float(p["threshold"]) for p in entry["points"]},
                curve=[(float(s), float(f)) for s, f in entry["curve"]],
                impostor_pairs=int(entry["impostor_pairs"]),
                genuine_pairs=int(entry["genuine_pairs"]),
                fusion=Fusion.from_json(entry["fusion"]) if entry.get("fusion") else None,
            )
        return cls(engine=data["engine"], model_version=data["model_version"], pair_types=ops, source=str(path))


@dataclass
class FaceTemplate:
    vector: np.ndarray
    quality: FaceQuality
    # The image the face was found in and the face itself, kept for a second opinion.
    source: tuple[np.ndarray, DetectedFace] | None = None
    second: np.ndarray | None = None  # the second engine's descriptor, computed on demand


@dataclass(frozen=True)
class SecondOpinion:
    """The second engine's view of a borderline pair, and the fused decision score."""

    model: ModelInfo
    distance: float
    fused_score: float
    match_threshold: float
    no_match_threshold: float


@dataclass
class MatchOutcome:
    similarity: float
    decision: Decision
    threshold_match: float
    threshold_no_match: float
    estimated_fmr: float
    model: ModelInfo
    pair_type: PairType
    reference: FaceQuality
    probe: FaceQuality
    probe_template: np.ndarray
    reasons: list[tuple[Reason, str]] = field(default_factory=list)
    second_opinion: SecondOpinion | None = None


class Describer(Protocol):
    """A second recogniser: a descriptor of a face found by the primary engine."""

    info: ModelInfo

    def describe(self, image_bgr: np.ndarray, face: DetectedFace) -> np.ndarray: ...


class FaceMatcher:
    """Compares two faces with an engine and a calibration table."""

    def __init__(
        self,
        engine: FaceEngine,
        table: CalibrationTable,
        operating_fmr: float = 0.001,
        second_opinion: Describer | None = None,
    ) -> None:
        self.engine = engine
        self.table = table
        self.operating_fmr = operating_fmr
        self.second_opinion = second_opinion

    def inspect(
        self, image_bgr: np.ndarray, *, portrait: bool = False, what: str = "photo", detect_side: int | None = None
    ) -> tuple[FaceQuality, np.ndarray | None]:
        """Detect and gate the dominant face: its quality and aligned crop (None without a face)."""
        quality, aligned, _ = self.inspect_full(image_bgr, portrait=portrait, what=what, detect_side=detect_side)
        return quality, aligned

    def inspect_full(
        self,
        image_bgr: np.ndarray,
        *,
        portrait: bool = False,
        what: str = "photo",
        detect_side: int | None = None,
        policy: QualityPolicy | None = None,
        scale: float = 1.0,
    ) -> tuple[FaceQuality, np.ndarray | None, tuple[np.ndarray, DetectedFace] | None]:
        """As `inspect`, plus the (image, face) a second opinion would look at. Faces are
        searched on a copy at most `detect_side` long (default: DETECT_MAX_SIDE for an ID
        portrait, MATCH_DETECT_SIDE for anything else). `scale`: the size of `image_bgr` relative to the
        uploaded picture (a reduced JPEG decode: services/core/images.py), so that face
        sizes are judged in the uploaded picture's pixels."""
        image, upscale = _upscale_small(image_bgr)
        side = detect_side or (DETECT_MAX_SIDE if portrait else MATCH_DETECT_SIDE)
        faces = self.engine.detect(image, side)
        if not faces and portrait:
            image, faces = _faint_portrait(self.engine, image, side)
        aligned = self.engine.align(image, faces[0]) if faces else None
        policy = policy or (PORTRAIT_POLICY if portrait else SELFIE_POLICY)
        quality = assess(image, faces, aligned, policy, what, scale=upscale * scale)
        return quality, aligned, ((image, faces[0]) if faces else None)

    def inspect_template(
        self, image_bgr: np.ndarray, *, portrait: bool = False, what: str = "photo", detect_side: int | None = None
    ) -> tuple[FaceQuality, FaceTemplate | None]:
        """Gate the dominant face; its template (able to take a second opinion) when the
        face is usable, else None. Never raises for a bad face: the quality says why."""
        quality, aligned, source = self.inspect_full(image_bgr, portrait=portrait, what=what, detect_side=detect_side)
        if aligned is None or quality.face is None or not quality.usable:
            return quality, None
        return quality, FaceTemplate(self.embed_aligned(aligned, mirror=portrait), quality, source)

    def embed_aligned(self, aligned: np.ndarray, *, mirror: bool = False) -> np.ndarray:
        """Template of an aligned crop; with `mirror`, averaged with its mirror image."""
        vector = self.engine.embed(aligned)
        if mirror:
            vector = vector + self.engine.embed(cv2.flip(aligned, 1))
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)

    def template(
        self, image_bgr: np.ndarray, *, portrait: bool = False, what: str = "photo", scale: float = 1.0
    ) -> FaceTemplate:
        """Detect, gate and embed the dominant face. Raises when no usable face is found.

        Document portraits are embedded with their mirror image (once per document); live
        photos once, to keep the per-frame cost to one detection and one embedding.
        `scale`: as in `inspect_full`."""
        # A face match tolerates a clearly smaller face in the background (MATCH_POLICY).
        quality, aligned, source = self.inspect_full(
            image_bgr, portrait=portrait, what=what, policy=None if portrait else MATCH_POLICY, scale=scale
        )
        if aligned is None or not quality.usable:
            reason, message = quality.reasons[0]
            raise invalid(reason, message, "reference" if portrait else "probe")
        return FaceTemplate(self.embed_aligned(aligned, mirror=portrait), quality, source)

    def template_of(
        self, image: DecodedImage, *, portrait: bool = False, what: str = "photo"
    ) -> tuple[DecodedImage, FaceTemplate]:
        """The template of a decoded picture, and the picture its face was found in: a
        picture decoded at reduced size whose face is not found there, or is smaller than
        REDUCED_MIN_EYE_PX between the eyes, is decoded again at full size and looked at
        again (what a one-size decode would have found and refused is found and refused)."""
        if image.scale < 1.0:
            try:
                template = self.template(image.bgr, portrait=portrait, what=what, scale=image.scale)
            except DomainError:
                template = None
            if template is not None and template.quality.eye_distance_px * image.scale >= REDUCED_MIN_EYE_PX:
                return image, template
            image = image.at_full_size()
        return image, self.template(image.bgr, portrait=portrait, what=what, scale=image.scale)

    def describe(self, template: FaceTemplate) -> np.ndarray | None:
        """The second engine's descriptor of a template's face (cached on the template)."""
        if self.second_opinion is None or template.source is None:
            return None
        if template.second is None:
            image, face = template.source
            template.second = self.second_opinion.describe(image, face)
        return template.second

    def compare(self, reference_bgr: np.ndarray, probe_bgr: np.ndarray, pair_type: PairType) -> MatchOutcome:
        portrait = pair_type is PairType.ID_PORTRAIT_VS_PHOTO
        ref = self.template(reference_bgr, portrait=portrait, what="ID portrait" if portrait else "reference photo")
        probe = self.template(probe_bgr, what="selfie")
        return self.decide(ref, probe, pair_type)

    def decide(self, ref: FaceTemplate, probe: FaceTemplate, pair_type: PairType) -> MatchOutcome:
        op = self.table.pair_types.get(pair_type)
        if op is None:
            raise DomainError(Reason.INTERNAL_FAULT, f"no calibration for {pair_type.value}", ErrorKind.INTERNAL)
        similarity = float(np.dot(ref.vector, probe.vector))
        t_match = op.threshold(self.operating_fmr)
        t_no = min(op.threshold(0.01), t_match)
        estimated_fmr = op.estimated_fmr(similarity)
        second = self._second_opinion(op.fusion, similarity, ref, probe)
        score, s_match, s_no, label = similarity, t_match, t_no, "similarity"
        if second is not None and op.fusion is not None:
            score, s_match, s_no = second.fused_score, second.match_threshold, second.no_match_threshold
            label = f"borderline similarity {similarity:.3f}; fused score with {second.model.engine}"
            estimated_fmr = op.fusion.estimated_fmr(score)
        if score >= s_match:
            decision = Decision.MATCH
        elif score < s_no:
            decision = Decision.NO_MATCH
        else:
            decision = Decision.UNCERTAIN
        reasons: list[tuple[Reason, str]] = []
        if decision is Decision.NO_MATCH:
            reasons.append((Reason.FACE_NO_MATCH, f"the faces differ ({label} {score:.3f} < {s_no:.3f})"))
        elif decision is Decision.UNCERTAIN:
            reasons.append(
                (
                    Reason.FACE_MATCH_UNCERTAIN,
                    f"{label} {score:.3f} lies between {s_no:.3f} and {s_match:.3f}; a reviewer decides",
                )
            )
        # Soft quality problems of an embeddable face are reported alongside the decision.
        reasons.extend(probe.quality.reasons)
        return MatchOutcome(
            similarity=similarity,
            decision=decision,
            threshold_match=t_match,
            threshold_no_match=t_no,
            estimated_fmr=estimated_fmr,
            model=self.engine.info,
            pair_type=pair_type,
            reference=ref.quality,
            probe=probe.quality,
            probe_template=probe.vector,
            reasons=reasons,
            second_opinion=second,
        )

    def _second_opinion(
        self, fusion: Fusion | None, similarity: float, ref: FaceTemplate, probe: FaceTemplate
    ) -> SecondOpinion | None:
        if fusion is None or self.second_opinion is None or not fusion.in_band(similarity):
            return None
        a, b = self.describe(ref), self.describe(probe)
        if a is None or b is None:
            return None
        distance = float(np.linalg.norm(a - b))
        t_match = fusion.threshold(self.operating_fmr)
        return SecondOpinion(
            model=self.second_opinion.info,
            distance=distance,
            fused_score=fusion.score(similarity, distance),
            match_threshold=t_match,
            no_match_threshold=min(fusion.threshold(0.01), t_match),
        )


# A document portrait holds one face; a washed-out, low-contrast or JPEG-damaged print may
# score under the detector's usual threshold. Measured on the shared set's derived
# portraits (79 each): washed out 76 -> 79 found, very low contrast 48 -> 79, washed out
# and JPEG quality 15: 24 -> 65.
FAINT_PORTRAIT_MIN_SCORE = 0.3


def _faint_portrait(engine: FaceEngine, image: np.ndarray, side: int) -> tuple[np.ndarray, list[DetectedFace]]:
    """Find the face of a portrait the detector missed: contrast stretched (1st-99th
    percentile of lightness), JPEG blocks smoothed, then a lower score threshold."""
    lab = cv2.cvtColor(image, cv2.COLOR_BGR2LAB)
    lightness = lab[:, :, 0].astype(np.float32)
    lo, hi = np.percentile(lightness, 1), np.percentile(lightness, 99)
    lab[:, :, 0] = np.clip((lightness - lo) * 255.0 / max(float(hi - lo), 1.0), 0, 255).astype(np.uint8)
    restored = cv2.cvtColor(lab, cv2.COLOR_LAB2BGR)
    faces = engine.detect(restored, side)
    if faces:
        return restored, faces
    smoothed = cv2.bilateralFilter(restored, 7, 40, 7)
    faces = engine.detect(smoothed, side, min_score=FAINT_PORTRAIT_MIN_SCORE)
    return (smoothed, faces[:1]) if faces else (image, [])


def _upscale_small(image_bgr: np.ndarray) -> tuple[np.ndarray, float]:
    """The image to detect on, and its scale from the uploaded image. Never enlarged past
    the detector's working size (it would only shrink it again): a long thin strip is not
    blown up to hundreds of megabytes."""
    h, w = image_bgr.shape[:2]
    scale = min(DETECT_MIN_SIDE / min(h, w), DETECT_MAX_SIDE / max(h, w))
    if scale <= 1.0:
        return image_bgr, 1.0
    size = (round(w * scale), round(h * scale))
    return cv2.resize(image_bgr, size, interpolation=cv2.INTER_CUBIC), size[0] / w
