"""Embeddings of the shared face set, as photos and as derived ID portraits (shared by
calibration and the face benchmark)."""

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from services.core.images import ImageLimits, decode_image
from services.identity.face_match import MATCH_DECODE_SIDE, FaceMatcher
from services.vision.faces import FaceEngine
from tests.portraits import id_portrait

FACES = Path(__file__).resolve().parents[1] / "data" / "faces"  # ships in the repository
LIMITS = ImageLimits(max_bytes=50 << 20, max_side=10000, max_pixels=60_000_000)


@dataclass
class FaceSet:
    photo: dict[str, np.ndarray]  # relative path -> template (photo side)
    portrait: dict[str, np.ndarray]  # relative path -> template of its derived ID portrait
    identity: dict[str, str]
    photo_failures: list[str]
    portrait_failures: list[str]
    same_pairs: list[tuple[str, str]]
    # The second engine's descriptors (empty when the matcher has no second opinion).
    photo_second: dict[str, np.ndarray] = field(default_factory=dict)
    portrait_second: dict[str, np.ndarray] = field(default_factory=dict)


def document_portraits(engine: FaceEngine) -> list[np.ndarray]:
    """ID-portrait variants of every fourth photo of the shared set, for the benchmarks'
    generated documents."""
    out = []
    for path in sorted(FACES.glob("*/*.jpg"))[::4]:
        p = id_portrait(cv2.imread(str(path)), engine)
        if p is not None:
            out.append(p)
    return out


def load_images(root: Path = FACES) -> dict[str, np.ndarray]:
    out = {}
    for row in csv.DictReader(open(root / "images.csv")):
        out[row["path"]] = decode_image((root / row["path"]).read_bytes(), LIMITS).bgr
    return out


def build(matcher: FaceMatcher, root: Path = FACES) -> FaceSet:
    images = load_images(root)
    photo, portrait, pf, qf = {}, {}, [], []
    photo2, portrait2 = {}, {}
    for path, bgr in images.items():
        try:
            # As MatchFace decodes and looks at a photo (a large JPEG at reduced size).
            decoded = decode_image((root / path).read_bytes(), LIMITS, reduce_to=MATCH_DECODE_SIDE)
            _, t = matcher.template_of(decoded)
            photo[path] = t.vector
            if (d := matcher.describe(t)) is not None:
                photo2[path] = d
        except Exception:  # noqa: BLE001 - counted as a detection failure
            pf.append(path)
        variant = id_portrait(bgr, matcher.engine)
        try:
            if variant is None:
                raise ValueError("no face")
            t = matcher.template(variant, portrait=True)
            portrait[path] = t.vector
            if (d := matcher.describe(t)) is not None:
                portrait2[path] = d
        except Exception:  # noqa: BLE001
            qf.append(path)
    identity = {p: p.split("/")[0] for p in images}
    same = [(r["a"], r["b"]) for r in csv.DictReader(open(root / "pairs.csv")) if r["same"] == "1"]
    return FaceSet(photo, portrait, identity, pf, qf, same, photo2, portrait2)


def photo_pairs(fs: FaceSet) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(genuine, impostor) photo pairs as (a, b) paths, in the order photo_scores uses."""
    g = [(a, b) for a, b in fs.same_pairs if a in fs.photo and b in fs.photo]
    keys = sorted(fs.photo)
    imp = [(a, b) for a, b in itertools.combinations(keys, 2) if fs.identity[a] != fs.identity[b]]
    return g, imp


def portrait_pairs(fs: FaceSet) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(genuine, impostor) pairs as (portrait path, photo path), in portrait_scores' order."""
    g = []
    for a, b in fs.same_pairs:
        if a in fs.portrait and b in fs.photo:
            g.append((a, b))
        if b in fs.portrait and a in fs.photo:
            g.append((b, a))
    imp = [(a, b) for a in sorted(fs.portrait) for b in sorted(fs.photo) if fs.identity[a] != fs.identity[b]]
    return g, imp


def photo_scores(fs: FaceSet) -> tuple[np.ndarray, np.ndarray]:
    """Genuine: the labelled same-person pairs. Impostor: every cross-identity pair."""
    g, imp = photo_pairs(fs)
    return _cosines(fs.photo, fs.photo, g), _cosines(fs.photo, fs.photo, imp)


def portrait_scores(fs: FaceSet) -> tuple[np.ndarray, np.ndarray]:
    """Genuine: portrait of one image vs the *other* photo of a same-person pair (both
    directions). Impostor: portrait of X vs every photo of another identity."""
    g, imp = portrait_pairs(fs)
    return _cosines(fs.portrait, fs.photo, g), _cosines(fs.portrait, fs.photo, imp)


def _cosines(a: dict[str, np.ndarray], b: dict[str, np.ndarray], pairs: list[tuple[str, str]]) -> np.ndarray:
    return np.array([float(a[x] @ b[y]) for x, y in pairs])


def second_distances(a: dict[str, np.ndarray], b: dict[str, np.ndarray], pairs: list[tuple[str, str]]) -> np.ndarray:
    """The second engine's Euclidean distances (NaN where a descriptor is missing)."""
    return np.array([float(np.linalg.norm(a[x] - b[y])) if x in a and y in b else np.nan for x, y in pairs])


def threshold_at(impostor: np.ndarray, fmr: float) -> float:
    """Smallest threshold whose observed impostor accept rate is <= fmr."""
    s = np.sort(impostor)[::-1]
    k = int(np.floor(fmr * len(s)))  # impostors allowed at or above the threshold
    if k >= len(s):
        return float(s[-1])
    return float(np.nextafter(s[k], 2.0))


def tar_at(genuine: np.ndarray, impostor: np.ndarray, fmr: float) -> float:
    return float(np.mean(genuine >= threshold_at(impostor, fmr)))


def auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    g = genuine[:, None]
    i = impostor[None, :]
    return float(np.mean((g > i) + 0.5 * (g == i)))
