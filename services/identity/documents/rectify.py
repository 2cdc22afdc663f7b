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


def _side_support(lab: np.ndarray, p: np.ndarray, q: np.ndarray, centre: np.ndarray, border: float) -> float | None:
    """Share of samples along side p->q where the colour steps across the side more than
    the background varies beyond it; None when the side lies on the picture's border."""
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
    return float(((step > MIN_STEP) & (step > 2.0 * noise + 4.0)).mean())


def _edge_score(lab: np.ndarray, quad: np.ndarray, lenient: bool = False) -> tuple[float, int]:
    """The support of the sides (those on the border excluded) and how many sides lie on
    the border; (0, 4) for a quad that is the frame."""
    q = _order(quad)
    centre = q.mean(axis=0)
    scores, on_border = [], 0
    for i in range(4):
        s = _side_support(lab, q[i], q[(i + 1) % 4], centre, 0)
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


def find_document(bgr: np.ndarray, min_fraction: float = 0.04) -> Found | None:
    """The document's outline in the picture, the whole frame for a picture that is the
    document (a full-frame scan or screenshot), or None when neither is there."""
    h, w = bgr.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    small = cv2.resize(bgr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA) if scale < 1 else bgr
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    gray = cv2.GaussianBlur(gray, (5, 5), 0)
    lab = cv2.GaussianBlur(small, (5, 5), 0)
    sh, sw = gray.shape
    glyphs = _glyphs(gray)
    # The outline the finder always took, when it passes the checks: photos it read keep
    # exactly the corners they had (field boxes were measured on them).
    first = _first_outline(small, gray, min_fraction * gray.size)
    # A frame that could itself be the document (print off its edges): an outline inside it
    # with print all around is a picture on the document, not the document.
    whole = _whole_frame(glyphs, w, h, sw, sh)
    frame_is_doc = whole is not None
    best = _best([first], lab, glyphs, frame_is_doc, lenient=True) if first is not None else None
    if best is None:
        best = _best(_candidates(small, gray, min_fraction * gray.size), lab, glyphs, frame_is_doc)
    if best is None:
        return whole
    quad = _order(best[0] / scale)
    margin = 3
    touches = bool(
        (quad[:, 0] <= margin).any()
        or (quad[:, 1] <= margin).any()
        or (quad[:, 0] >= w - 1 - margin).any()
        or (quad[:, 1] >= h - 1 - margin).any()
    )
    return Found(quad, touches, float(best[1] / gray.size), False, best[2])


def _best(
    candidates: list[np.ndarray], lab: np.ndarray, glyphs: np.ndarray, frame_is_doc: bool, lenient: bool = False
) -> tuple[np.ndarray, float, int] | None:
    """The largest candidate with a document's shape, edges and print: (quad, area, sides on border)."""
    size = lab.shape[0] * lab.shape[1]
    best: tuple[np.ndarray, float, int] | None = None
    for quad in candidates:
        area = float(cv2.contourArea(quad.reshape(-1, 1, 2)))
        aspect = _aspect(quad)
        if area > 0.97 * size or not CUT_ASPECT[0] <= aspect <= CUT_ASPECT[1]:
            continue
        support, on_border = _edge_score(lab, quad, lenient)
        if on_border == 0 and not DOC_ASPECT[0] <= aspect <= DOC_ASPECT[1]:
            continue  # (on the border, part may be outside: the gate judges its proportions)
        # Fewer sides to judge a candidate on the border by: it needs clearer ones.
        least = EDGE_SUPPORT_FIRST if lenient else EDGE_SUPPORT if on_border == 0 else EDGE_SUPPORT_ON_BORDER
        if on_border >= 3 or support < least:
            continue
        if best is not None and area <= best[1]:
            continue
        inside = _glyphs_inside(glyphs, quad)
        if inside < DOC_GLYPHS:
            continue  # an outlined picture inside the document (the portrait), not the document
        if frame_is_doc and area < INNER_AREA * size and _glyphs_around(glyphs, quad) >= INNER_AROUND:
            continue  # print all around it: a picture inside a document that fills the frame
        best = (quad, area, on_border)
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


def warp(bgr: np.ndarray, quad: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The document flattened to `size` (w, h), and the homography canvas -> original image."""
    w, h = size
    dst = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(quad, dst)
    flat = cv2.warpPerspective(bgr, m, (w, h), flags=cv2.INTER_CUBIC)
    return flat, np.linalg.inv(m)


def box_to_image(box: tuple[int, int, int, int], inverse: np.ndarray) -> tuple[float, float, float, float]:
    """A canvas box mapped back to the original image (axis-aligned bounds)."""
    x, y, w, h = box
    pts = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float32).reshape(-1, 1, 2)
    mapped = cv2.perspectiveTransform(pts, inverse).reshape(-1, 2)
    x0, y0 = mapped.min(axis=0)
    x1, y1 = mapped.max(axis=0)
    return float(x0), float(y0), float(x1 - x0), float(y1 - y0)
