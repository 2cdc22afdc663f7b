"""Tesseract OCR of small regions, several regions per process call.

Crops that share a language and page-segmentation mode are stacked into one image with
white gaps and read with one `tesseract` call (TSV output); each word goes back to the
crop its line lies in. Tesseract runs as a subprocess with OMP_THREAD_LIMIT=1 set for
that process only: its own threads slow a 2-core machine down (about 3x on a whole
card), and the limit must not leak into this process, where it breaks faiss.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
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
    return cv2.normalize(flat, None, 0, 255, cv2.NORM_MINMAX)


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
        for row in csv.DictReader(
            io.StringIO(out.stdout.decode("utf-8", "replace")), delimiter="\t", quoting=csv.QUOTE_NONE
        ):
            text = (row.get("text") or "").strip()
            if not text or row.get("conf") in (None, "-1"):
                continue
            top, height, left = int(row["top"]), int(row["height"]), int(row["left"])
            centre = top + height / 2
            for name, y0, y1 in spans:
                if y0 <= centre <= y1:
                    words[name].append(
                        (
                            int(row["line_num"]) + 1000 * int(row["par_num"]) + 100000 * int(row["block_num"]),
                            left,
                            text,
                            float(row["conf"]),
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
