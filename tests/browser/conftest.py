"""Browser tests of the review console: Debian's Chromium driven by Playwright, against
the real suite (a gRPC server over SQLite on an ephemeral port) and the console on an
ephemeral port. Nothing is downloaded: the browser is /usr/bin/chromium, axe-core comes
from tests/browser/node_modules (npm ci), the fake camera plays a face photo from the
shared data set.

Set SELLERVERIFY_CONSOLE_SCREENSHOTS=docs/console to refresh the screenshots in the docs.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from services.console.server import ConsoleServer, start_console
from services.server import ServerThread
from tests.browser.chromium import ARGS, CHROMIUM
from tests.conftest import FACES, TOKEN_SPEC, TOKENS, LiveServer, id_card_subjects, make_settings

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SECOND_REP = ("rep-two", "tok-cs-rep-two-browser-0123")
CAMERA_FACE = FACES / "barack_obama" / "facerec_obama2.jpg"

playwright_api = pytest.importorskip("playwright.sync_api")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed (scripts/setup.sh --test)", allow_module_level=True)


@dataclass
class Suite:
    """The running suite and console, and how to make cases through the gRPC API."""

    server: LiveServer
    console: ConsoleServer
    make_subject: Callable[[], str]

    @property
    def url(self) -> str:
        return self.console.url


def fake_camera_file(path: Path, photo: Path, frames: int = 20) -> Path:
    """A Y4M clip (I420, 640x480) of one face photo, for --use-file-for-fake-video-capture."""
    image = cv2.imread(str(photo))
    h, w = image.shape[:2]
    scale = min(640 / w, 480 / h)
    resized = cv2.resize(image, (int(w * scale) // 2 * 2, int(h * scale) // 2 * 2))
    canvas = np.full((480, 640, 3), 200, np.uint8)
    y0, x0 = (480 - resized.shape[0]) // 2, (640 - resized.shape[1]) // 2
    canvas[y0 : y0 + resized.shape[0], x0 : x0 + resized.shape[1]] = resized
    yuv = cv2.cvtColor(canvas, cv2.COLOR_BGR2YUV_I420).tobytes()
    with path.open("wb") as f:
        f.write(b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
        for _ in range(frames):
            f.write(b"FRAME\n" + yuv)
    return path


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    tmp = tmp_path_factory.mktemp("console-suite")
    spec = f"{TOKEN_SPEC},{SECOND_REP[0]}:cs_rep:{SECOND_REP[1]}"
    with ServerThread(make_settings(tmp, f"sqlite:///{tmp / 'sv.db'}", api_tokens=spec)) as thread:
        live = LiveServer(thread, "sqlite")
        console = start_console(f"127.0.0.1:{thread.port}", port=0)
        try:
            yield Suite(live, console, id_card_subjects(live, 41, "browser"))
        finally:
            console.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    camera = fake_camera_file(tmp_path_factory.mktemp("camera") / "face.y4m", CAMERA_FACE)
    args = [
        *ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={camera}",
    ]
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1360, "height": 900})
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()


def login(page: Any, suite: Suite, token: str = TOKENS["cs_rep"]) -> None:
    page.goto(f"{suite.url}/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/queue"))


def shot(page: Any, name: str) -> None:
    """A screenshot for docs/console.md (only when asked for)."""
    target = os.environ.get("SELLERVERIFY_CONSOLE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(target) / f"{name}.png"), full_page=True)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the current page."""
    if not AXE.exists():
        pytest.fail(f"axe-core is missing: run `npm ci` in {AXE.parents[2]}")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def new_ref() -> str:
    return uuid.uuid4().hex[:8]


__all__ = ["SECOND_REP", "Suite", "axe_violations", "login", "new_ref", "shot"]
