"""1:1 face matching with calibrated decisions.

A calibration table (services/identity/calibration/<engine>.json, written by
bench/calibrate_faces.py) maps false-match rates to similarity thresholds per pair type,
because a printed ID portrait (small, washed out, compressed) scores lower against a
live photo than two ordinary photos do. The decision:

    similarity >= threshold at the operating FMR (default 0.1%)   -> MATCH
    similarity <  threshold at FMR 1%                             -> NO_MATCH
    in between                                                    -> UNCERTAIN (a person decides)

Document portraits are upscaled before detection and both sides are embedded with
their mirror image averaged in (test-time augmentation), which steadies small crops.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from services.core.errors import DomainError, ErrorKind, invalid
from services.core.reasons import Reason
from services.vision.face_quality import PORTRAIT_POLICY, SELFIE_POLICY, FaceQuality, assess
from services.vision.faces import FaceEngine, ModelInfo

PORTRAIT_MIN_SIDE = 320  # portraits smaller than this are upscaled before detection


class PairType(Enum):
    ID_PORTRAIT_VS_PHOTO = "id_portrait_vs_photo"
    PHOTO_VS_PHOTO = "photo_vs_photo"


class Decision(Enum):
    MATCH = "match"
    NO_MATCH = "no_match"
    UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class Operating:
    """Thresholds of one pair type, and the impostor curve for FMR estimates."""

    thresholds: dict[float, float]  # FMR -> similarity threshold
    curve: list[tuple[float, float]]  # (similarity, FMR at that similarity), ascending similarity
    impostor_pairs: int
    genuine_pairs: int

    def threshold(self, fmr: float) -> float:
        if fmr in self.thresholds:
            return self.thresholds[fmr]
        # Interpolate in log-FMR between the calibrated points.
        pts = sorted(self.thresholds.items())
        xs = np.log10([p[0] for p in pts])
        ys = [p[1] for p in pts]
        return float(np.interp(np.log10(fmr), xs, ys))

    def estimated_fmr(self, similarity: float) -> float:
        sims = [c[0] for c in self.curve]
        fmrs = [c[1] for c in self.curve]
        floor = 1.0 / max(self.impostor_pairs, 1)
        # N impostor pairs cannot show a rate below 1/N: report that as the estimate's floor.
        return max(float(np.interp(similarity, sims, fmrs, left=1.0, right=0.0)), floor)


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
            )
        return cls(engine=data["engine"], model_version=data["model_version"], pair_types=ops, source=str(path))


@dataclass
class FaceTemplate:
    vector: np.ndarray
    quality: FaceQuality


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


class FaceMatcher:
    """Compares two faces with an engine and a calibration table."""

    def __init__(self, engine: FaceEngine, table: CalibrationTable, operating_fmr: float = 0.001) -> None:
        self.engine = engine
        self.table = table
        self.operating_fmr = operating_fmr

    def inspect(
        self, image_bgr: np.ndarray, *, portrait: bool = False, what: str = "photo"
    ) -> tuple[FaceQuality, np.ndarray | None]:
        """Detect and gate the dominant face: its quality and aligned crop (None without a face)."""
        image = _upscale_small(image_bgr) if portrait else image_bgr
        faces = self.engine.detect(image)
        aligned = self.engine.align(image, faces[0]) if faces else None
        quality = assess(image, faces, aligned, PORTRAIT_POLICY if portrait else SELFIE_POLICY, what)
        return quality, aligned

    def embed_aligned(self, aligned: np.ndarray) -> np.ndarray:
        """Template of an aligned crop, averaged with its mirror image."""
        vector = self.engine.embed(aligned) + self.engine.embed(cv2.flip(aligned, 1))
        return (vector / max(float(np.linalg.norm(vector)), 1e-12)).astype(np.float32)

    def template(self, image_bgr: np.ndarray, *, portrait: bool = False, what: str = "photo") -> FaceTemplate:
        """Detect, gate and embed the dominant face. Raises when no usable face is found."""
        quality, aligned = self.inspect(image_bgr, portrait=portrait, what=what)
        if aligned is None or not quality.usable:
            reason, message = quality.reasons[0]
            raise invalid(reason, message, "reference" if portrait else "probe")
        return FaceTemplate(self.embed_aligned(aligned), quality)

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
        if similarity >= t_match:
            decision = Decision.MATCH
        elif similarity < t_no:
            decision = Decision.NO_MATCH
        else:
            decision = Decision.UNCERTAIN
        reasons: list[tuple[Reason, str]] = []
        if decision is Decision.NO_MATCH:
            reasons.append((Reason.FACE_NO_MATCH, f"the faces differ (similarity {similarity:.3f} < {t_no:.3f})"))
        elif decision is Decision.UNCERTAIN:
            reasons.append(
                (
                    Reason.FACE_MATCH_UNCERTAIN,
                    f"similarity {similarity:.3f} lies between {t_no:.3f} and {t_match:.3f}; a reviewer decides",
                )
            )
        # Soft quality problems of an embeddable face are reported alongside the decision.
        reasons.extend(probe.quality.reasons)
        return MatchOutcome(
            similarity=similarity,
            decision=decision,
            threshold_match=t_match,
            threshold_no_match=t_no,
            estimated_fmr=op.estimated_fmr(similarity),
            model=self.engine.info,
            pair_type=pair_type,
            reference=ref.quality,
            probe=probe.quality,
            probe_template=probe.vector,
            reasons=reasons,
        )


def _upscale_small(image_bgr: np.ndarray) -> np.ndarray:
    h, w = image_bgr.shape[:2]
    if min(h, w) >= PORTRAIT_MIN_SIDE:
        return image_bgr
    scale = PORTRAIT_MIN_SIDE / min(h, w)
    return cv2.resize(image_bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
