"""The code base stays `ruff` and `mypy` clean (STYLE.md): a regression fails CI, not review."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean() -> None:
    result = _run("ruff", "check", "--quiet", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean_on_services_and_the_client() -> None:
    clients = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "clients" / "sellerverify").glob("*.py"))
    result = _run("mypy", "services", *clients)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
