"""Near-duplicate replay: is this photo an edited copy of one submitted before?

A perceptual hash of the whole picture survives re-encoding and a slight resize, but not
a 5% crop, a 0.9 scale, a few degrees of rotation or a mirror image. What survives all of
those is the picture's local structure: the same corners and edges (hair, eyes, the
background, the paper's letters) at the same places relative to each other. So every
response leaves a fingerprint of local binary descriptors (ORB: oriented FAST corners,
rotation-invariant, found over an 8-level scale pyramid) with their positions, and a new
photo is a replay when many of its descriptors match one earlier fingerprint AND the
matched positions agree on one similarity transform (shift, scale, rotation; the mirror
image is tried too). Two distinct photos of the same person share a face but not the
exact pixels around it, so their matches do not line up under one transform.

Storage: one ImageHashRow per keypoint (`phash` holds the 256-bit descriptor as 64 hex
digits; `purpose` the position in the normalised picture), so no new table or column is
needed and the comparison runs across every subject. The descriptors describe pixel
neighbourhoods, not a face: they cannot be turned back into a picture or a template.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

WORK_SIDE = 512  # every picture is fingerprinted at this longer side (scale-normalised)
KEYPOINTS = 200  # descriptors kept per picture, spread over it
GRID = 8  # spread: the strongest corners of each cell of a GRID x GRID grid first
MATCH_BITS = 56  # of 256: a descriptor this close is "the same neighbourhood"
MIN_MATCHES = 8  # an earlier picture needs this many close descriptors to be tried
MIN_INLIERS = 20  # ... and this many on one similarity transform (distinct photos reach 15 with the wide query)
INLIER_PX = 6.0  # reprojection tolerance at WORK_SIDE
SCALE_RANGE = (0.4, 2.5)  # a replay's plausible rescale
PURPOSE_PREFIX = "replay_kp:"
QUERY_KEYPOINTS = 500  # a new picture's keypoints compared with the stored ones
QUERY_SIDES = (WORK_SIDE, int(0.89 * WORK_SIDE), int(0.8 * WORK_SIDE))

Box = tuple[float, float, float, float]

_orb = cv2.ORB_create(nfeatures=1500, scaleFactor=1.2, nlevels=8, edgeThreshold=15, fastThreshold=12)  # type: ignore[attr-defined]


@dataclass
class Fingerprint:
    """Keypoints of one picture: positions (N, 2) at WORK_SIDE and descriptors (N, 32)."""

    points: np.ndarray
    descriptors: np.ndarray
    scale: float = 1.0  # WORK_SIDE / the picture's longer side

    def outside(self, boxes: Iterable[Box]) -> Fingerprint:
        """Without the keypoints in these boxes (image pixels, a margin added): what is
        stored leaves out the held paper, since two sellers holding the same day's
        newspaper share its masthead, which is no replay."""
        keep = np.ones(len(self.points), bool)
        for x, y, bw, bh in boxes:
            x0, y0 = (x - 0.1 * bw) * self.scale, (y - 0.1 * bh) * self.scale
            x1, y1 = (x + 1.1 * bw) * self.scale, (y + 1.1 * bh) * self.scale
            px, py = self.points[:, 0], self.points[:, 1]
            keep &= ~((px >= x0) & (px <= x1) & (py >= y0) & (py <= y1))
        return Fingerprint(self.points[keep], self.descriptors[keep], self.scale)

    def rows(self) -> list[tuple[str, str]]:
        """(descriptor as 64 hex digits, purpose carrying the position) per keypoint."""
        return [
            (bytes(d).hex(), f"{PURPOSE_PREFIX}{x:.1f}:{y:.1f}")
            for (x, y), d in zip(self.points.tolist(), self.descriptors, strict=True)
        ]


def _normalised(bgr: np.ndarray, side: int = WORK_SIDE) -> np.ndarray:
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
    s = side / max(gray.shape[:2])
    gray = cv2.resize(gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    # Colour, brightness and contrast edits: descriptors compare intensities, and an
    # equalised picture keeps the same order of intensities under any monotone tone curve.
    return cv2.equalizeHist(gray)


def fingerprint(bgr: np.ndarray, limit: int = KEYPOINTS, side: int = WORK_SIDE) -> Fingerprint:
    """The picture's strongest corners, spread over a grid so a crop keeps most of them."""
    gray = _normalised(bgr, side)
    kps, desc = _orb.detectAndCompute(gray, None)
    if desc is None or not kps:
        return Fingerprint(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    h, w = gray.shape
    cells: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i in sorted(range(len(kps)), key=lambda i: -kps[i].response):
        x, y = kps[i].pt
        cells[(min(GRID - 1, int(GRID * y / h)), min(GRID - 1, int(GRID * x / w)))].append(i)
    chosen: list[int] = []
    rank = 0
    while len(chosen) < limit and any(len(v) > rank for v in cells.values()):
        chosen += [v[rank] for v in cells.values() if len(v) > rank]
        rank += 1
    chosen = chosen[:limit]
    pts = np.array([kps[i].pt for i in chosen], np.float32)
    return Fingerprint(pts, desc[chosen], gray.shape[1] / bgr.shape[1])


def mirrored(
    bgr: np.ndarray, exclude: Iterable[Box] = (), limit: int = KEYPOINTS, side: int = WORK_SIDE
) -> Fingerprint:
    """The fingerprint of the left-right mirror image (ORB descriptors are not
    mirror-invariant), without the keypoints in `exclude` (boxes in the unmirrored picture)."""
    w = bgr.shape[1]
    return fingerprint(cv2.flip(bgr, 1), limit, side).outside([(w - x - bw, y, bw, bh) for x, y, bw, bh in exclude])


def queries(bgr: np.ndarray, exclude: Iterable[Box] = ()) -> list[Fingerprint]:
    """What a new picture is compared with the index as: more keypoints than are stored
    (the stored few must be among them), at several working sizes (a crop shrinks the
    picture's longer side, so its content is normalised larger than the original's, by
    up to 1 / 0.8 at the issue's 20% crop; ORB's pyramid steps are 1.2 apart), and
    mirrored. Each is matched on its own: one similarity transform per query."""
    boxes = list(exclude)
    out = []
    for side in QUERY_SIDES:
        out.append(fingerprint(bgr, QUERY_KEYPOINTS, side).outside(boxes))
        out.append(mirrored(bgr, boxes, QUERY_KEYPOINTS, side))
    return out


def stored_and_queries(bgr: np.ndarray, exclude: Iterable[Box] = ()) -> tuple[Fingerprint, list[Fingerprint]]:
    """`fingerprint(bgr).outside(exclude)` (what is stored) and `queries(bgr, exclude)`,
    with one ORB pass fewer: the stored keypoints are the first KEYPOINTS of the
    full-size query's selection (the grid selection is built rank by rank, so a longer
    selection starts with the shorter one)."""
    boxes = list(exclude)
    first = fingerprint(bgr, QUERY_KEYPOINTS, QUERY_SIDES[0])
    stored = Fingerprint(first.points[:KEYPOINTS], first.descriptors[:KEYPOINTS], first.scale).outside(boxes)
    out = [first.outside(boxes), mirrored(bgr, boxes, QUERY_KEYPOINTS, QUERY_SIDES[0])]
    for side in QUERY_SIDES[1:]:
        out.append(fingerprint(bgr, QUERY_KEYPOINTS, side).outside(boxes))
        out.append(mirrored(bgr, boxes, QUERY_KEYPOINTS, side))
    return stored, out


def replayed_from(consistent: dict[str, int]) -> list[str]:
    """Subjects whose earlier picture this one copies (enough consistent keypoints)."""
    return sorted(s for s, n in consistent.items() if n >= MIN_INLIERS)


def from_rows(rows: Iterable[tuple[str, str]]) -> Fingerprint:
    """The fingerprint back from its stored rows (descriptor hex, purpose)."""
    pts, desc = [], []
    for hexdesc, purpose in rows:
        x, y = purpose[len(PURPOSE_PREFIX) :].split(":")
        pts.append((float(x), float(y)))
        desc.append(np.frombuffer(bytes.fromhex(hexdesc), np.uint8))
    if not pts:
        return Fingerprint(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    return Fingerprint(np.array(pts, np.float32), np.stack(desc))


class Index:
    """Fingerprints of earlier submissions, each under a key (a verification) and a subject."""

    def __init__(self) -> None:
        self._points: list[np.ndarray] = []
        self._desc: list[np.ndarray] = []
        self._group: list[np.ndarray] = []
        self._subjects: list[str] = []
        self._keys: dict[str, int] = {}
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, key: str, subject: str, fp: Fingerprint) -> None:
        if key not in self._keys:
            self._keys[key] = len(self._subjects)
            self._subjects.append(subject)
        g = self._keys[key]
        self._points.append(fp.points)
        self._desc.append(fp.descriptors)
        self._group.append(np.full(len(fp.points), g, np.int32))
        self._cache = None

    def __len__(self) -> int:
        return len(self._subjects)

    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._cache is None:
            if self._points:
                self._cache = (np.concatenate(self._points), np.concatenate(self._desc), np.concatenate(self._group))
            else:
                self._cache = (np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), np.zeros(0, np.int32))
        return self._cache

    def consistent(self, *fps: Fingerprint) -> dict[str, int]:
        """Per earlier subject: the most keypoints of any of these fingerprints of one
        picture (queries(): sizes, mirror image) that match one earlier picture on one
        similarity transform."""
        points, desc, group = self._arrays()
        best: dict[str, int] = {}
        if not len(desc):
            return best
        for f in fps:
            for g, n in _consistent(f, points, desc, group).items():
                subject = self._subjects[g]
                best[subject] = max(best.get(subject, 0), n)
        return best


_matcher = cv2.BFMatcher(cv2.NORM_HAMMING)


def _consistent(fp: Fingerprint, points: np.ndarray, desc: np.ndarray, group: np.ndarray) -> dict[int, int]:
    """Per earlier picture: how many of this picture's keypoints match it on one
    similarity transform."""
    if not len(fp.descriptors):
        return {}
    k = min(4, len(desc))
    pairs: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for qi, cand in enumerate(_matcher.knnMatch(fp.descriptors, desc, k=k)):
        taken: set[int] = set()
        for m in cand:
            g = int(group[m.trainIdx])
            if m.distance <= MATCH_BITS and g not in taken:
                taken.add(g)
                pairs[g].append((qi, m.trainIdx))
    out: dict[int, int] = {}
    for g, pr in pairs.items():
        if len(pr) < MIN_MATCHES:
            continue
        src = fp.points[[q for q, _ in pr]]
        dst = points[[t for _, t in pr]]
        transform, inliers = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=INLIER_PX, maxIters=300, confidence=0.99
        )
        if transform is None or inliers is None:
            continue
        scale = float(np.hypot(transform[0, 0], transform[1, 0]))
        if not SCALE_RANGE[0] <= scale <= SCALE_RANGE[1]:
            continue
        out[g] = int(inliers.sum())
    return out
