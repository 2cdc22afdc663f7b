"""Tesseract OCR of small regions.

Preferred engine: `tesserocr` (Tesseract's C API in-process): each language model loads
once per worker thread and every field is read on its own, as a single line (psm 7) or a
block (psm 6), in tens of milliseconds. Fallback when tesserocr is not installed: the
`tesseract` program, with crops sharing a language stacked into one image (one process
per call, TSV output mapped back to crops), run with OMP_THREAD_LIMIT=1 for that process
only (its threads slow a 2-core machine; the limit must not leak into this process,
where it breaks faiss).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from services.core.errors import DomainError, ErrorKind
from services.core.reasons import Reason

GAP = 30
TARGET_HEIGHT = 48  # text lines are scaled to about this many pixels


@dataclass(frozen=True)
class Region:
    name: str
    image: np.ndarray  # BGR or gray crop
    lines: int = 1  # how many text lines the crop holds
    single_char: bool = False  # one glyph (for example 男 / 女)
    sparse: bool = False  # text anywhere in a cluttered crop (a paper held up in a photo)
    # A gray crop the caller has already scaled, flattened and margined for one raw text
    # line (psm 13): read as it is. The LSTM sees the whole image as the line, so the glyph
    # height relative to the image height matters more than absolute size.
    raw_line: bool = False


@dataclass(frozen=True)
class Reading:
    text: str
    confidence: float  # 0..1, mean word confidence; 0 when nothing was read


def _prepare(img: np.ndarray, lines: int) -> np.ndarray:
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if img.ndim == 3 else img
    scale = TARGET_HEIGHT * lines / max(gray.shape[0], 1)
    gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    # Even out light and stretch contrast so faint print reads like a scan.
    background = cv2.morphologyEx(gray, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    flat = cv2.divide(gray, background, scale=255)
    return cv2.normalize(flat, None, 0, 255, cv2.NORM_MINMAX)  # type: ignore[call-overload,no-any-return]


class Tesseract:
    """One OCR engine per process; safe to call from several threads (each call is a process)."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("tesseract") or ""
        self._env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def available(self) -> bool:
        return bool(self.binary)

    def read(self, regions: list[Region], lang: str, psm: int = 6, whitelist: str | None = None) -> dict[str, Reading]:
        if not regions:
            return {}
        if not self.binary:
            raise DomainError(
                Reason.INTERNAL_FAULT,
                "Tesseract is not installed on the server (apt-get install tesseract-ocr tesseract-ocr-chi-sim)",
                ErrorKind.UNAVAILABLE,
            )
        prepared = [(r.name, _prepare(r.image, r.lines)) for r in regions]
        width = max(p.shape[1] for _, p in prepared) + 2 * GAP
        spans, y = [], GAP
        canvas_rows = [np.full((GAP, width), 255, np.uint8)]
        for name, p in prepared:
            row = np.full((p.shape[0], width), 255, np.uint8)
            row[:, GAP : GAP + p.shape[1]] = p
            canvas_rows += [row, np.full((GAP, width), 255, np.uint8)]
            spans.append((name, y, y + p.shape[0]))
            y += p.shape[0] + GAP
        canvas = np.vstack(canvas_rows)
        ok, png = cv2.imencode(".png", canvas)
        assert ok
        args = [self.binary, "stdin", "stdout", "-l", lang, "--psm", str(psm)]
        if whitelist:
            args += ["-c", f"tessedit_char_whitelist={whitelist}"]
        args += ["-c", "preserve_interword_spaces=1", "tsv"]
        out = subprocess.run(args, input=png.tobytes(), capture_output=True, env=self._env, timeout=30, check=False)
        words: dict[str, list[tuple[int, int, str, float]]] = {name: [] for name, _, _ in spans}
        for rec in csv.DictReader(
            io.StringIO(out.stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE
        ):
            text = (rec.get("text") or "").strip()
            if not text or rec.get("conf") in (None, "-1"):
                continue
            top, height, left = int(rec["top"]), int(rec["height"]), int(rec["left"])
            centre = top + height / 2
            for name, y0, y1 in spans:
                if y0 <= centre <= y1:
                    words[name].append(
                        (
                            int(rec["line_num"]) + 1000 * int(rec["par_num"]) + 100000 * int(rec["block_num"]),
                            left,
                            text,
                            float(rec["conf"]),
                        )
                    )
                    break
        result = {}
        for name, items in words.items():
            items.sort()
            text = "".join(t for _, _, t, _ in items) if lang.startswith("chi") else " ".join(t for _, _, t, _ in items)
            conf = float(np.mean([c for _, _, _, c in items])) / 100 if items else 0.0
            result[name] = Reading(text, conf)
        return result


MAX_SCENE_SIDE = 1200


def tessdata_dir() -> str:
    """Where Tesseract's language data lives (TESSDATA_PREFIX, else Debian's location)."""
    import glob

    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        return prefix.rstrip("/") + "/"
    found = sorted(glob.glob("/usr/share/tesseract-ocr/*/tessdata")) + sorted(glob.glob("/usr/share/tessdata"))
    return (found[-1] if found else "/usr/share/tesseract-ocr/5/tessdata") + "/"


class TesserocrEngine:
    """In-process Tesseract; one API object per (thread, language)."""

    def __init__(self) -> None:
        import tesserocr

        self._tesserocr = tesserocr
        self._local = threading.local()

    @staticmethod
    def available() -> bool:
        try:
            import tesserocr  # noqa: F401
        except ImportError:
            return False
        return True

    def _api(self, lang: str):  # type: ignore[no-untyped-def]
        apis = getattr(self._local, "apis", None)
        if apis is None:
            apis = self._local.apis = {}
        api = apis.get(lang)
        if api is None:
            api = apis[lang] = self._tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang=lang)
        return api

    def find_words(self, image: np.ndarray, lang: str) -> list[tuple[str, tuple[int, int, int, int]]]:
        """Sparse-text OCR of a whole scene; word boxes in the image's pixels."""
        from PIL import Image

        h, w = image.shape[:2]
        scale = min(1.0, MAX_SCENE_SIDE / max(h, w))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image
        api = self._api(lang)
        api.SetVariable("tessedit_char_whitelist", "")
        api.SetPageSegMode(self._tesserocr.PSM.SPARSE_TEXT)
        api.SetImage(Image.fromarray(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)))
        api.Recognize()
        words = []
        it = api.GetIterator()
        level = self._tesserocr.RIL.WORD
        while it is not None:
            try:
                text = it.GetUTF8Text(level)
                box = it.BoundingBox(level)
            except RuntimeError:  # an empty page: no words
                break
            if text and box:
                x0, y0, x1, y1 = (int(v / scale) for v in box)
                words.append((text.strip(), (x0, y0, x1 - x0, y1 - y0)))
            if not it.Next(level):
                break
        return words

    def read(self, regions: list[Region], lang: str, psm: int = 6, whitelist: str | None = None) -> dict[str, Reading]:
        from PIL import Image

        api = self._api(lang)
        api.SetVariable("tessedit_char_whitelist", whitelist or "")
        out = {}
        for region in regions:
            psm_enum = self._tesserocr.PSM
            mode = (
                psm_enum.RAW_LINE
                if region.raw_line
                else psm_enum.SPARSE_TEXT
                if region.sparse
                else psm_enum.SINGLE_CHAR
                if region.single_char
                else psm_enum.SINGLE_LINE
                if region.lines == 1
                else psm_enum.SINGLE_BLOCK
            )
            api.SetPageSegMode(mode)
            # Tesseract wants a quiet margin around the text.
            prepared = (
                cv2.cvtColor(region.image, cv2.COLOR_BGR2GRAY)
                if region.sparse
                else _prepare(region.image, region.lines)
            )
            padded = cv2.copyMakeBorder(prepared, 16, 16, 16, 16, cv2.BORDER_CONSTANT, value=255)
            api.SetImage(Image.fromarray(region.image if region.raw_line else padded))
            text = api.GetUTF8Text().strip()
            if lang.startswith("chi"):
                text = "".join(text.split()) if region.lines == 1 else text
            out[region.name] = Reading(text, api.MeanTextConf() / 100 if text else 0.0)
        return out


def find_words_in(
    engine: Tesseract | TesserocrEngine, image: np.ndarray, lang: str
) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Words anywhere in a picture with their boxes (in-process engine only; else none)."""
    return engine.find_words(image, lang) if isinstance(engine, TesserocrEngine) else []


def default_ocr() -> Tesseract | TesserocrEngine:
    """In-process Tesseract when tesserocr is installed, else the tesseract program."""
    return TesserocrEngine() if TesserocrEngine.available() else Tesseract()
