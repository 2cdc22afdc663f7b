"""Find a document in a photo and warp it flat onto the canonical canvas.

Candidates for the outline come from several cues (Canny edges closed into regions,
every edge contour on its own, what differs from the border colour). Each candidate is
judged by its outline: along each side that is not the picture's own border, the colour
just inside must differ from the colour just outside by more than the background varies
on its own (a textured desk, a printed page). The largest candidate with such sides is
the document. When none has them (a scan or a screenshot cropped to the document, which
fills the whole frame) and the picture itself looks like a printed document, the whole
frame is taken as the document.

The long side is made horizontal; which way is up is decided by the caller (a face on
the right of an ID front, the title on top of the back).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import cv2
import numpy as np

WORK_SIDE = 960
# Long side / short side of any document this service reads, as seen in a photo
# (ID-1 cards 1.585, passport pages and licences about 1.42), with room for perspective.
DOC_ASPECT = (1.15, 2.1)
CUT_ASPECT = (1.0, 2.6)  # an outline on the picture's border may be a cut-off document
# A side is a document edge when at least this share of its samples shows a step in colour.
EDGE_SUPPORT = 0.75
EDGE_SUPPORT_ON_BORDER = 0.85
EDGE_SUPPORT_FIRST = 0.6  # the old first choice, judged on its second weakest side
# How far (px at the working scale) inside and outside a side its colours are sampled.
_IN, _OUT, _FAR = 4, 4, 11
# The bands either side of a side judged on medians: depths (px) and samples per stretch.
_BAND = (2, 10)
_ALONG = 5
# The least colour step (0-255, strongest channel) that counts: a light page on a white scanner lid.
MIN_STEP = 4.0
# A frame that shows no outline is the document itself when it carries at least this many
# character-sized dark marks (a selfie, a plain wall or noise do not).
FULL_FRAME_GLYPHS = 25
# ... and at most this many of them within FULL_FRAME_EDGE (share of the short side) of an edge.
FULL_FRAME_EDGE = 0.025
FULL_FRAME_EDGE_GLYPHS = 3
# An outline smaller than this share of the frame with print all around it lies inside a document.
INNER_AREA = 0.3
INNER_AROUND = 8
# An outline holds the document only when this many such marks lie inside it.
DOC_GLYPHS = 12


@dataclass
class Found:
    quad: np.ndarray  # (4, 2) float32 in original-image pixels: TL, TR, BR, BL
    touches_border: bool
    area_fraction: float
    full_frame: bool = False  # no outline: the whole picture is the document
    sides_on_border: int = 0  # sides of the quad that lie on the picture's border


def _order(pts: np.ndarray) -> np.ndarray:
    """TL, TR, BR, BL with the long side first (TL->TR)."""
    c = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - c[1], pts[:, 0] - c[0])
    pts = pts[np.argsort(angles)]  # clockwise in image coordinates, starting near the left
    start = int(np.argmin(pts.sum(axis=1)))
    pts = np.roll(pts, -start, axis=0)
    if np.linalg.norm(pts[1] - pts[0]) < np.linalg.norm(pts[2] - pts[1]):
        pts = np.roll(pts, -1, axis=0)
    return pts.astype(np.float32)


def _quad_of(hull: np.ndarray) -> np.ndarray:
    approx = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
    quad = approx.reshape(-1, 2) if len(approx) == 4 else cv2.boxPoints(cv2.minAreaRect(hull))
    return quad.astype(np.float32)


def _quads_of(hull: np.ndarray) -> list[np.ndarray]:
    """The polygon fit and the minimum-area rectangle of a hull (rounded corners or a
    nick in the outline can bend the fit; the rectangle cannot follow perspective)."""
    fit = _quad_of(hull)
    box = cv2.boxPoints(cv2.minAreaRect(hull)).astype(np.float32)
    return [fit, box]


def _aspect(quad: np.ndarray) -> float:
    q = _order(quad)
    a = float(np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    b = float(np.linalg.norm(q[2] - q[1]) + np.linalg.norm(q[3] - q[0])) / 2
    return max(a, b) / max(1.0, min(a, b))


def _first_outline(small: np.ndarray, gray: np.ndarray, min_area: float) -> np.ndarray | None:
    """The largest closed edge region (the finder's first choice before issue #15), or
    what differs from the border colour when that is much larger (a light card on white)."""
    best: tuple[np.ndarray, float] | None = None
    for lo, hi in ((20, 60), (40, 120)):
        edges = cv2.Canny(gray, lo, hi)
        edges = cv2.morphologyEx(edges, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8), iterations=2)
        contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
            hull = cv2.convexHull(cnt)
            area = float(cv2.contourArea(hull))
            if area >= min_area and (best is None or area > best[1]):
                best = (_quad_of(hull), area)
        if best is not None:
            break
    by_background = _by_background(small, min_area)
    if by_background is not None:
        area = float(cv2.contourArea(by_background.reshape(-1, 1, 2)))
        if best is None or area > 1.2 * best[1]:
            return by_background
    return best[0] if best is not None else None


def _candidates(small: np.ndarray, gray: np.ndarray, min_area: float) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    for lo, hi in ((20, 60), (40, 120)):
        raw = cv2.Canny(gray, lo, hi)
        closed = cv2.morphologyEx(raw, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8), iterations=2)
        contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for cnt in sorted(contours, key=cv2.contourArea, reverse=True)[:3]:
            hull = cv2.convexHull(cnt)
            if cv2.contourArea(hull) >= min_area:
                out += _quads_of(hull)
        # Every edge contour on its own: on a textured or printed background the closed
        # regions merge the document with the texture, but its outline is one long edge.
        contours, _ = cv2.findContours(
            cv2.dilate(raw, np.ones((3, 3), np.uint8)), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE
        )
        for cnt in contours:
            _, _, w, h = cv2.boundingRect(cnt)
            if w * h < min_area:
                continue
            hull = cv2.convexHull(cnt)
            if cv2.contourArea(hull) >= min_area:
                out += _quads_of(hull)
    # A document that reaches the picture's border (a screenshot with no side margin): with
    # the border drawn as an edge, the document is a hole bounded by its own edges and the border.
    framed = cv2.dilate(raw, np.ones((3, 3), np.uint8))
    cv2.rectangle(framed, (0, 0), (framed.shape[1] - 1, framed.shape[0] - 1), 255, 2)
    contours, _ = cv2.findContours(framed, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    for cnt in contours:
        _, _, w, h = cv2.boundingRect(cnt)
        if w * h >= min_area and cv2.contourArea(cnt) >= min_area:
            out += _quads_of(cv2.convexHull(cnt))
    by_background = _by_background(small, min_area, hull_only=True)
    if by_background is not None:
        out += _quads_of(by_background)
    return out


def _side_support(
    lab: np.ndarray, p: np.ndarray, q: np.ndarray, centre: np.ndarray, bands: bool = False
) -> float | None:
    """Share of samples along side p->q where the colour steps across the side more than
    the background varies beyond it (with `bands`, also where the bands either side differ
    as `_band_steps` judges); None when the side lies on the picture's border."""
    h, w = lab.shape[:2]
    n = 24
    t = (np.arange(n) + 0.5) / n
    pts = p[None, :] + t[:, None] * (q - p)[None, :]
    d = q - p
    normal = np.array([-d[1], d[0]], np.float32) / max(1e-6, float(np.linalg.norm(d)))
    if float(np.dot(centre - (p + q) / 2, normal)) > 0:
        normal = -normal  # pointing outwards
    outer = pts + _FAR * normal
    off = (outer[:, 0] < 0) | (outer[:, 0] > w - 1) | (outer[:, 1] < 0) | (outer[:, 1] > h - 1)
    if off.mean() > 0.5:
        return None
    pts, keep_normal = pts[~off], normal

    def sample(at: np.ndarray) -> np.ndarray:
        xs = np.clip(np.round(at[:, 0]).astype(int), 0, w - 1)
        ys = np.clip(np.round(at[:, 1]).astype(int), 0, h - 1)
        return lab[ys, xs].astype(np.float32)

    inside = sample(pts - _IN * keep_normal)
    near = sample(pts + _OUT * keep_normal)
    far = sample(pts + _FAR * keep_normal)
    step = np.abs(inside - near).max(axis=1)
    noise = np.abs(near - far).max(axis=1)
    point = (step > MIN_STEP) & (step > 2.0 * noise + 4.0)
    if bands:
        point |= _band_steps(lab, p, q, keep_normal, n)[~off]
    return float(point.mean())


def _band_steps(lab: np.ndarray, p: np.ndarray, q: np.ndarray, normal: np.ndarray, n: int) -> np.ndarray:
    """Per stretch of side p->q (n stretches): whether the band just inside and the band
    just outside differ as a document's edge does, judged on medians over the stretch, so
    that print or speckle beside the edge does not hide it. Either the colour steps by more
    than both bands vary within themselves (a light card on a light, flat app background;
    a text line beside the edge only moves a median a little), or the outside is textured
    where the inside is smooth (a card on a printed page or stone of its own lightness: the
    step is one of texture, the card's margin being plain)."""
    h, w = lab.shape[:2]
    along = (np.arange(n * _ALONG) + 0.5) / (n * _ALONG)
    base = p[None, :] + along[:, None] * (q - p)[None, :]  # (n*A, 2)
    depths = np.arange(_BAND[0], _BAND[1] + 1, 2, dtype=np.float32)

    def band(sign: float) -> np.ndarray:
        at = base[:, None, :] + sign * depths[None, :, None] * normal[None, None, :]  # (n*A, D, 2)
        xs = np.clip(np.round(at[..., 0]).astype(int), 0, w - 1)
        ys = np.clip(np.round(at[..., 1]).astype(int), 0, h - 1)
        return lab[ys, xs].astype(np.float32).reshape(n, -1, lab.shape[2])  # (n, A*D, 3)

    inner, outer = band(-1.0), band(1.0)
    mi, mo = np.median(inner, axis=1), np.median(outer, axis=1)
    si = np.median(np.abs(inner - mi[:, None, :]), axis=1).max(axis=1)
    so = np.median(np.abs(outer - mo[:, None, :]), axis=1).max(axis=1)
    colour = np.abs(mi - mo).max(axis=1)
    by_colour = (colour > MIN_STEP) & (colour > 1.5 * (si + so) + 2.0)
    by_texture = (so > 3.0 * si + 4.0) & (si < 4.0)
    return np.asarray(by_colour | by_texture)


def _edge_score(lab: np.ndarray, quad: np.ndarray, lenient: bool = False, bands: bool = False) -> tuple[float, int]:
    """The support of the sides (those on the border excluded) and how many sides lie on
    the border; (0, 4) for a quad that is the frame."""
    q = _order(quad)
    centre = q.mean(axis=0)
    scores, on_border = [], 0
    for i in range(4):
        s = _side_support(lab, q[i], q[(i + 1) % 4], centre, bands)
        if s is None:
            on_border += 1
        else:
            scores.append(s)
    if not scores:
        return 0.0, on_border
    # One side may pass unseen when all four are in view (a passport page's white MRZ
    # band on a white scanner lid): for the old first choice the second weakest decides.
    ranked = sorted(scores)
    return (ranked[1] if lenient and len(ranked) == 4 else ranked[0]), on_border


def _glyphs(gray: np.ndarray) -> np.ndarray:
    """Centres (N, 2) of character-sized dark marks (print) in the working-size grey image."""
    h = gray.shape[0]
    ink = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 15)
    n, _, stats, centres = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return np.zeros((0, 2), np.float32)
    bw, bh, area = stats[1:, 2], stats[1:, 3], stats[1:, 4]
    ok = (bh >= 0.012 * h) & (bh <= 0.12 * h) & (bw <= 3 * bh) & (area >= 0.15 * bw * bh) & (area >= 8)
    return centres[1:][ok].astype(np.float32)


def _inside(points: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Which points lie inside the convex quad (vectorised: signed areas against each side)."""
    q = _order(quad)
    if len(points) == 0:
        return np.zeros(0, bool)
    signs = []
    for i in range(4):
        p, r = q[i], q[(i + 1) % 4]
        signs.append((r[0] - p[0]) * (points[:, 1] - p[1]) - (r[1] - p[1]) * (points[:, 0] - p[0]))
    s = np.stack(signs, axis=1)
    return np.asarray((s >= 0).all(axis=1) | (s <= 0).all(axis=1))


def _glyphs_around(glyphs: np.ndarray, quad: np.ndarray) -> int:
    """Print marks outside the quad but inside the quad grown twice as large about its centre."""
    q = _order(quad)
    centre = q.mean(axis=0)
    grown = centre + (q - centre) * 2.0
    return int((_inside(glyphs, grown) & ~_inside(glyphs, q)).sum())


def _glyphs_inside(glyphs: np.ndarray, quad: np.ndarray) -> int:
    return int(_inside(glyphs, quad).sum())


class _Picture:
    """What the finder works on for one picture, whatever the document's known shape: the
    working-size copies, the print marks, the first outline and the frame-as-document
    verdict, and (computed when first needed) the other outline candidates."""

    def __init__(self, bgr: np.ndarray, min_fraction: float) -> None:
        h, w = bgr.shape[:2]
        self.scale = scale = min(1.0, WORK_SIDE / max(h, w))
        small = (
            cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else bgr
        )
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        self.small, self.gray = small, cv2.GaussianBlur(gray, (5, 5), 0)
        self.lab = cv2.GaussianBlur(small, (5, 5), 0)
        sh, sw = self.gray.shape
        self.glyphs = _glyphs(self.gray)
        self.min_area = min_fraction * self.gray.size
        # The outline the finder always took, when it passes the checks: photos it read keep
        # exactly the corners they had (field boxes were measured on them).
        self.first = _first_outline(small, self.gray, self.min_area)
        # A frame that could itself be the document (print off its edges): an outline inside
        # it with print all around is a picture on the document, not the document.
        self.whole = _whole_frame(self.glyphs, w, h, sw, sh)
        self._candidates: list[np.ndarray] | None = None
        self._line_candidates: list[np.ndarray] | None = None

    def candidates(self) -> list[np.ndarray]:
        if self._candidates is None:
            self._candidates = _candidates(self.small, self.gray, self.min_area)
        return self._candidates

    def line_candidates(self) -> list[np.ndarray]:
        if self._line_candidates is None:
            self._line_candidates = _line_candidates(self.gray, self.small, self.lab, self.min_area)
        return self._line_candidates


# Pictures already worked on in the current reading (see `shared_finding`): id -> (the
# picture itself, kept so that its id is not reused, and what was computed for it).
_SHARED: ContextVar[dict[tuple[int, float], tuple[np.ndarray, _Picture]] | None] = ContextVar(
    "sv_rectify_shared", default=None
)
_SHARED_WARPS: ContextVar[
    dict[tuple[int, bytes, tuple[int, int]], tuple[np.ndarray, np.ndarray, np.ndarray]] | None
] = ContextVar("sv_rectify_warps", default=None)


@contextmanager
def shared_finding() -> Iterator[None]:
    """Within this block (one document reading) the finder's work on a picture, and a
    shared warp of a picture by the same outline to the same size, are done once: the classifier, the
    quality gate and the reader each look for the outline of the same photos (measured
    2026-12-04: 5 finder runs and 13 warps per Chinese ID card, a quarter of its CPU).
    The pictures must not be changed in place inside the block."""
    token, warps = _SHARED.set({}), _SHARED_WARPS.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)
        _SHARED_WARPS.reset(warps)


def _picture(bgr: np.ndarray, min_fraction: float) -> _Picture:
    shared = _SHARED.get()
    if shared is None:
        return _Picture(bgr, min_fraction)
    key = (id(bgr), min_fraction)
    kept = shared.get(key)
    if kept is not None and kept[0] is bgr:
        return kept[1]
    picture = _Picture(bgr, min_fraction)
    shared[key] = (bgr, picture)
    return picture


def find_document(bgr: np.ndarray, min_fraction: float = 0.04, aspect: float | None = None) -> Found | None:
    """The document's outline in the picture, the whole frame for a picture that is the
    document (a full-frame scan or screenshot), or None when neither is there.

    `aspect` (long side / short side) is the document's known shape, as for an ID card.
    With it the finder works harder for any capture (issue #15): sides are also judged on
    the bands either side of them, an outline that reaches the picture's border is taken
    only when it keeps that shape (else another candidate that does is looked for: a strip
    of app background under a title bar is not part of the card), and when no closed
    outline passes, quads of straight edges are tried. Without it the finder behaves as it
    always did (readers tuned on it keep their corners)."""
    h, w = bgr.shape[:2]
    pic = _picture(bgr, min_fraction)
    frame_is_doc = pic.whole is not None
    bands = aspect is not None

    def pick(candidates: list[np.ndarray], lenient: bool = False) -> tuple[np.ndarray, float, int] | None:
        return _best(candidates, pic.lab, pic.glyphs, frame_is_doc, lenient, bands, aspect)

    best = pick([pic.first], lenient=True) if pic.first is not None else None
    if not _settled(best, aspect):
        best = _better(best, pick(pic.candidates()), aspect)
    if bands and not _settled(best, aspect):
        # No closed outline: the document's sides as straight edges (a light card on a
        # printed page or under an app's title bar, where regions merge with the background).
        best = _better(best, pick(pic.line_candidates()), aspect)
    if best is None:
        return pic.whole
    quad = _order(best[0] / pic.scale)
    margin = 3
    touches = bool(
        (quad[:, 0] <= margin).any()
        or (quad[:, 1] <= margin).any()
        or (quad[:, 0] >= w - 1 - margin).any()
        or (quad[:, 1] >= h - 1 - margin).any()
    )
    return Found(quad, touches, float(best[1] / pic.gray.size), False, best[2])


# A document that reaches the picture's border is whole when its outline keeps the
# document's proportions to within this share (a card cut by a tenth is 10% shorter).
WHOLE_ASPECT_TOLERANCE = 0.06


def keeps_aspect(quad: np.ndarray, aspect: float) -> bool:
    """Whether the quad has the document's proportions (long side / short side)."""
    q = _order(quad)
    a = float(np.linalg.norm(q[1] - q[0]) + np.linalg.norm(q[2] - q[3])) / 2
    b = float(np.linalg.norm(q[2] - q[1]) + np.linalg.norm(q[3] - q[0])) / 2
    seen = max(a, b) / max(1.0, min(a, b))
    return abs(seen / aspect - 1.0) <= WHOLE_ASPECT_TOLERANCE


def _keeps_shape(best: tuple[np.ndarray, float, int], aspect: float | None) -> bool:
    """A candidate that can be the whole document: inside the picture, or on its border
    with the document's proportions (always, when the shape is not known)."""
    return aspect is None or best[2] == 0 or keeps_aspect(best[0], aspect)


# An outline inside the picture is near the document's shape within this share (perspective
# bends it; the portrait on an ID card, 1.24 against 1.585, is not).
NEAR_ASPECT = 0.18


def _rank(candidate: tuple[np.ndarray, float, int], aspect: float | None) -> tuple[bool, bool, bool, float, float]:
    """How candidates are preferred: with a known aspect, one that can be the whole
    document, then one near the document's shape (not the portrait on it), then one inside
    the picture (a screenshot's card may reach the border, but a quad that runs off into a
    printed page around the card only keeps its shape by chance), then, on the border, the
    one closer to the document's shape (a strip of app background between a title bar and
    the card keeps the shape within tolerance, less closely), then the larger. Without an
    aspect only the area counts, as it always did."""
    quad, area, on_border = candidate
    if aspect is None:
        return (True, True, True, 0.0, area)
    off = abs(_aspect(quad) / aspect - 1.0)
    closeness = -round(off, 2) if on_border else 0.0
    return (_keeps_shape(candidate, aspect), off <= NEAR_ASPECT, on_border == 0, closeness, area)


def _settled(best: tuple[np.ndarray, float, int] | None, aspect: float | None) -> bool:
    """Whether no later cue can give a better candidate: one inside the picture with the
    document's shape, or on its border within 2% of that shape."""
    if best is None:
        return False
    keeps, near, inside, closeness, _ = _rank(best, aspect)
    return keeps and near and (inside or closeness >= -0.02)


def _better(
    old: tuple[np.ndarray, float, int] | None, new: tuple[np.ndarray, float, int] | None, aspect: float | None
) -> tuple[np.ndarray, float, int] | None:
    """The new candidate when it ranks before the old on shape and place (or there is no
    old one); the old one was found by the finder's earlier, preferred cues."""
    if new is None:
        return old
    if old is None or _rank(new, aspect)[:3] > _rank(old, aspect)[:3]:
        return new
    return old


def _best(
    candidates: list[np.ndarray],
    lab: np.ndarray,
    glyphs: np.ndarray,
    frame_is_doc: bool,
    lenient: bool = False,
    bands: bool = False,
    aspect: float | None = None,
) -> tuple[np.ndarray, float, int] | None:
    """The largest candidate with a document's shape, edges and print: (quad, area, sides
    on border); with a known `aspect`, one that can be the whole document comes first."""
    size = lab.shape[0] * lab.shape[1]
    best: tuple[np.ndarray, float, int] | None = None
    for quad in candidates:
        area = float(cv2.contourArea(quad.reshape(-1, 1, 2)))
        shape = _aspect(quad)
        if area > 0.97 * size or not CUT_ASPECT[0] <= shape <= CUT_ASPECT[1]:
            continue
        support, on_border = _edge_score(lab, quad, lenient, bands)
        if on_border == 0 and not DOC_ASPECT[0] <= shape <= DOC_ASPECT[1]:
            continue  # (on the border, part may be outside: the gate judges its proportions)
        # Fewer sides to judge a candidate on the border by: it needs clearer ones.
        least = EDGE_SUPPORT_FIRST if lenient else EDGE_SUPPORT if on_border == 0 else EDGE_SUPPORT_ON_BORDER
        if on_border >= 3 or support < least:
            continue
        candidate = (quad, area, on_border)
        if best is not None and _rank(candidate, aspect) <= _rank(best, aspect):
            continue
        inside = _glyphs_inside(glyphs, quad)
        if inside < DOC_GLYPHS:
            continue  # an outlined picture inside the document (the portrait), not the document
        if (
            frame_is_doc
            and area < INNER_AREA * size
            and not (aspect is not None and keeps_aspect(quad, aspect))  # (the portrait has not the card's shape)
            and _glyphs_around(glyphs, quad) >= INNER_AROUND
        ):
            continue  # print all around it: a picture inside a document that fills the frame
        best = candidate
    return best


def _whole_frame(glyphs: np.ndarray, w: int, h: int, sw: int, sh: int) -> Found | None:
    """The picture as the document, when it is document-shaped and carries print, and the
    print keeps off the picture's edges as a document's margins do (print running off
    every edge is a page or a scene larger than the picture)."""
    if not DOC_ASPECT[0] <= max(w, h) / max(1, min(w, h)) <= DOC_ASPECT[1] or len(glyphs) < FULL_FRAME_GLYPHS:
        return None
    band = FULL_FRAME_EDGE * min(sw, sh)
    x, y = glyphs[:, 0], glyphs[:, 1]
    at_edge = int(((x < band) | (y < band) | (x > sw - band) | (y > sh - band)).sum())
    if at_edge > FULL_FRAME_EDGE_GLYPHS:
        return None
    quad = _order(np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32))
    return Found(quad, False, 1.0, True, 4)


def _by_background(small: np.ndarray, min_area: float, hull_only: bool = False) -> np.ndarray | None:
    """Low-contrast scans (a light card on white): whatever differs from the border colour."""
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]]).astype(np.float32)
    ref = np.median(border, axis=0)
    # How much the background itself varies (a textured desk), so texture is not "document".
    spread = float(np.median(np.abs(border - ref).max(axis=1)))
    # The largest channel difference, in OpenCV (numpy's abs/max over a float copy of the
    # whole photo took ~50 ms of a 300 ms budget).
    scalar = (*map(float, ref[:3]), 0.0)  # a per-channel cv2 Scalar (the stubs miss this overload)
    d = cv2.absdiff(cv2.GaussianBlur(small, (7, 7), 0).astype(np.float32), scalar)  # type: ignore[call-overload]
    diff = cv2.max(cv2.max(d[:, :, 0], d[:, :, 1]), d[:, :, 2])
    mask = (diff > max(6.0, 4.0 * spread)).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8), iterations=2)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    area = cv2.contourArea(hull)
    if area < min_area or area > 0.9 * mask.size:
        return None
    return hull if hull_only else _quad_of(hull)


def warp(
    bgr: np.ndarray, quad: np.ndarray, size: tuple[int, int], share: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The document flattened to `size` (w, h), and the homography canvas -> original image.
    `share`: within `shared_finding`, kept for the next caller asking for the same warp
    (the quality gate's and the ID card reader's; other warps are used once)."""
    shared = _SHARED_WARPS.get() if share else None
    key = (id(bgr), np.asarray(quad, np.float32).tobytes(), size)
    if shared is not None and (kept := shared.get(key)) is not None and kept[0] is bgr:
        return kept[1].copy(), kept[2].copy()  # (callers may draw on theirs)
    w, h = size
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(quad, dst)
    flat = cv2.warpPerspective(bgr, m, (w, h), flags=cv2.INTER_CUBIC)
    inverse = np.linalg.inv(m)
    if shared is not None:
        shared[key] = (bgr, flat.copy(), inverse.copy())
    return flat, inverse


def box_to_image(box: tuple[int, int, int, int], inverse: np.ndarray) -> tuple[float, float, float, float]:
    """A canvas box mapped back to the original image (axis-aligned bounds)."""
    x, y, w, h = box
    pts = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(pts, inverse).reshape(-1, 2)
    x0, y0 = mapped.min(axis=0)
    x1, y1 = mapped.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)


# Straight-edge candidates: Hough lines (at most LINES of them), each kept where the band
# test shows a document's edge along at least SEGMENT_MIN px (working scale); a side of a
# candidate must be covered by its edge over SIDE_COVER of its length.
LINES = 48
SEGMENT_MIN = 60
SIDE_COVER = 0.4
SNAP = 8  # px either side of a segment where its line is looked for
EDGES_MAX = 24  # the longest edges kept for quads
QUADS_MAX = 80  # the largest quads judged
_STRETCH = 12  # px per stretch of a line judged on its own


@dataclass(frozen=True)
class _Edge:
    """A straight edge: the line x*cos(theta) + y*sin(theta) = rho, the sign of its normal
    that points out of the document, and the stretch [t0, t1] along the line it covers."""

    rho: float
    theta: float
    out: float
    t0: float
    t1: float

    def point(self, t: float) -> np.ndarray:
        c, s = np.cos(self.theta), np.sin(self.theta)
        return np.array([self.rho * c - t * s, self.rho * s + t * c], np.float32)

    def t_of(self, pt: np.ndarray) -> float:
        return float(-pt[0] * np.sin(self.theta) + pt[1] * np.cos(self.theta))


def _hough_lines(gray: np.ndarray, colour: np.ndarray, colour_lab: np.ndarray) -> list[tuple[float, float]]:
    """Strong straight lines (rho, theta) in the edges of each colour channel with dark
    print closed away (a light card on a light grey app background differs in hue more
    than in grey) and in the texture (where a plain card meets a printed page or stone),
    strongest first."""
    closed = cv2.morphologyEx(colour, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    detail = cv2.absdiff(gray, cv2.GaussianBlur(gray, (0, 0), 2.0)).astype(np.float32)
    texture = cv2.blur(detail, (9, 9))
    texture8 = np.clip(texture * (255.0 / max(1.0, float(np.percentile(texture, 99)))), 0, 255).astype(np.uint8)
    edges = cv2.Canny(texture8, 20, 60)
    for channel in cv2.split(closed):
        # Thresholds over how busy the picture is: on a flat app background a step of a few
        # levels is the card's edge, on speckled stone only a much stronger one stands out.
        magnitude = cv2.magnitude(cv2.Sobel(channel, cv2.CV_32F, 1, 0), cv2.Sobel(channel, cv2.CV_32F, 0, 1))
        high = float(np.clip(3.0 * np.percentile(magnitude, 90), 18.0, 150.0))
        edges |= cv2.Canny(channel, high / 3, high, L2gradient=True)
    # Segments, not lines: a document's side is one unbroken edge, a row of print is not.
    found = cv2.HoughLinesP(edges, 1, np.pi / 360, 40, minLineLength=SEGMENT_MIN, maxLineGap=4)
    segments = found.reshape(-1, 4).astype(np.float32) if found is not None else np.zeros((0, 4), np.float32)
    lengths = np.hypot(segments[:, 2] - segments[:, 0], segments[:, 3] - segments[:, 1])
    kept: list[tuple[float, float]] = []
    for i in np.argsort(-lengths):
        x0, y0, x1, y1 = segments[i]
        theta = float(np.arctan2(x1 - x0, -(y1 - y0)))  # the normal's angle
        theta = theta % np.pi
        rho = float(x0 * np.cos(theta) + y0 * np.sin(theta))
        rho, theta = _snapped(colour_lab, rho, theta, (x0, y0), (x1, y1))
        same = any(abs(rho - r) < 8 and abs(theta - t) < np.radians(3) for r, t in kept)
        if not same:
            kept.append((rho, theta))
        if len(kept) >= LINES:
            break
    return kept


def _snapped(
    lab: np.ndarray, rho: float, theta: float, a: tuple[float, float], b: tuple[float, float]
) -> tuple[float, float]:
    """The line moved onto the strongest colour step within SNAP px of a segment, point by
    point along it, and fitted through those points: the segment's own end points are only
    as good as the edge map (texture edges sit several px off the true side) and Hough's bins."""
    h, w = lab.shape[:2]
    c, s = np.cos(theta), np.sin(theta)
    normal = np.array([c, s], np.float32)
    ta, tb = sorted((-a[0] * s + a[1] * c, -b[0] * s + b[1] * c))
    ts = np.linspace(ta, tb, 32, dtype=np.float32)
    base = np.stack([rho * c - ts * s, rho * s + ts * c], axis=1)  # (K, 2)
    offsets = np.arange(-SNAP, SNAP + 1, dtype=np.float32)

    def at(shift: float) -> np.ndarray:
        pts = base[:, None, :] + (offsets[None, :, None] + shift) * normal[None, None, :]
        xs = np.clip(np.round(pts[..., 0]).astype(int), 0, w - 1)
        ys = np.clip(np.round(pts[..., 1]).astype(int), 0, h - 1)
        return lab[ys, xs].astype(np.float32)  # (K, O, 3)

    step = np.abs(at(2.0) - at(-2.0)).max(axis=2)  # (K, O)
    best = step.argmax(axis=1)
    strong = step[np.arange(len(ts)), best] > 8.0
    if strong.sum() < 8:
        return rho, theta
    pts = (base + offsets[best][:, None] * normal[None, :])[strong]
    vx, vy, x0, y0 = cv2.fitLine(pts, cv2.DIST_HUBER, 0, 0.01, 0.01).reshape(-1).tolist()
    fitted = float(np.arctan2(vx, -vy)) % np.pi
    return float(x0 * np.cos(fitted) + y0 * np.sin(fitted)), fitted


def _edges_on(lab: np.ndarray, rho: float, theta: float) -> list[_Edge]:
    """The longest stretch of the line, for either side as the outside, where the band test
    sees a document's edge (gaps of one stretch bridged)."""
    h, w = lab.shape[:2]
    line = _Edge(rho, theta, 1.0, 0.0, 0.0)
    ts = np.arange(-(h + w), h + w, _STRETCH, dtype=np.float32)
    pts = np.stack([line.point(float(t)) for t in ts])
    pad = _BAND[1] + 2
    ok = (pts[:, 0] >= pad) & (pts[:, 0] <= w - 1 - pad) & (pts[:, 1] >= pad) & (pts[:, 1] <= h - 1 - pad)
    if ok.sum() < 3:
        return []
    ts = ts[ok]
    p, q = line.point(float(ts[0])), line.point(float(ts[-1]) + _STRETCH)
    normal = np.array([np.cos(theta), np.sin(theta)], np.float32)
    out = []
    for sign in (1.0, -1.0):
        steps = _band_steps(lab, p, q, sign * normal, len(ts))
        steps = steps | (np.roll(steps, 1) & np.roll(steps, -1))  # bridge single gaps
        best, start = (0, 0), None
        for i, v in enumerate([*steps.tolist(), False]):
            if v and start is None:
                start = i
            elif not v and start is not None:
                if i - start > best[1] - best[0]:
                    best = (start, i)
                start = None
        if (best[1] - best[0]) * _STRETCH >= SEGMENT_MIN:
            out.append(_Edge(rho, theta, sign, float(ts[best[0]]), float(ts[best[1] - 1]) + _STRETCH))
    return out


def _line_candidates(gray: np.ndarray, small: np.ndarray, lab: np.ndarray, min_area: float) -> list[np.ndarray]:
    """Quads bounded by four straight edges (the picture's border may stand for up to two),
    each side covered by its edge, the document on each edge's inner side; the largest
    QUADS_MAX of them. Worked out for all edge pairs at once (a printed page gives dozens
    of edges, and quads go with the fourth power of their number)."""
    h, w = gray.shape
    found = [e for rho, theta in _hough_lines(gray, small, lab) for e in _edges_on(lab, rho, theta)]
    found = sorted(found, key=lambda e: e.t1 - e.t0, reverse=True)[:EDGES_MAX]
    # The picture's border, for a document that fills the frame across (a screenshot).
    span = float(h + w)
    found += [
        _Edge(0.0, np.pi, 1.0, -span, span),  # x = 0 (theta pi: the normal -x points out)
        _Edge(float(w - 1), 0.0, 1.0, -span, span),
        _Edge(0.0, 3 * np.pi / 2, 1.0, -span, span),  # y = 0
        _Edge(float(h - 1), np.pi / 2, 1.0, -span, span),
    ]
    rho = np.array([e.rho for e in found])
    cos, sin = np.cos([e.theta for e in found]), np.sin([e.theta for e in found])
    t0, t1 = np.array([e.t0 for e in found]), np.array([e.t1 for e in found])
    normal = np.array([e.out for e in found])[:, None] * np.stack([cos, sin], axis=1)  # outward
    dots = normal @ normal.T
    det = cos[:, None] * sin[None, :] - sin[:, None] * cos[None, :]
    safe = np.where(np.abs(det) < 0.2, np.nan, det)
    meet_x = (rho[:, None] * sin[None, :] - sin[:, None] * rho[None, :]) / safe
    meet_y = (cos[:, None] * rho[None, :] - rho[:, None] * cos[None, :]) / safe
    pa, pb = np.nonzero(np.triu(dots < -np.cos(np.radians(25)), 1))  # opposite sides
    p, q = np.triu_indices(len(pa), 1)
    a, b, c, d = pa[p], pb[p], pa[q], pb[q]
    keep = np.abs(dots[a, c]) < np.cos(np.radians(50))  # the two pairs run across each other
    a, b, c, d = a[keep], b[keep], c[keep], d[keep]
    sides = np.stack([a, c, b, d], axis=1)  # the edge of side k, from corner k-1 to corner k
    firsts, seconds = np.stack([a, c, b, d], axis=1), np.stack([c, b, d, a], axis=1)
    quads = np.stack([meet_x[firsts, seconds], meet_y[firsts, seconds]], axis=2)  # (N, 4, 2)
    ok = ~np.isnan(quads).any(axis=(1, 2))
    ok &= (quads[..., 0] >= -2).all(axis=1) & (quads[..., 0] <= w + 1).all(axis=1)
    ok &= (quads[..., 1] >= -2).all(axis=1) & (quads[..., 1] <= h + 1).all(axis=1)
    quads, sides = quads[ok], sides[ok]
    nxt = np.roll(quads, -1, axis=1)
    area = 0.5 * np.abs((quads[..., 0] * nxt[..., 1] - nxt[..., 0] * quads[..., 1]).sum(axis=1))
    edge_vec = nxt - quads
    turn = (
        edge_vec[..., 0] * np.roll(edge_vec, -1, axis=1)[..., 1]
        - edge_vec[..., 1] * np.roll(edge_vec, -1, axis=1)[..., 0]
    )
    convex = (turn > 0).all(axis=1) | (turn < 0).all(axis=1)
    # Side k runs from corner k-1 to corner k, along edge sides[:, k].
    start, end = np.roll(quads, 1, axis=1), quads
    centre = quads.mean(axis=1, keepdims=True)
    towards = ((centre - (start + end) / 2) * normal[sides]).sum(axis=2)
    inner = (towards <= 0).all(axis=1)  # the document on each edge's inner side

    def along(pts: np.ndarray) -> np.ndarray:
        return -pts[..., 0] * sin[sides] + pts[..., 1] * cos[sides]

    ta, tb = along(start), along(end)
    lo, hi = np.minimum(ta, tb), np.maximum(ta, tb)
    overlap = np.minimum(hi, t1[sides]) - np.maximum(lo, t0[sides])
    covered = (overlap >= SIDE_COVER * np.maximum(1.0, hi - lo)).all(axis=1)
    good = (area >= min_area) & convex & inner & covered
    order = np.argsort(-area[good])[:QUADS_MAX]
    return [quad.astype(np.float32) for quad in quads[good][order]]
