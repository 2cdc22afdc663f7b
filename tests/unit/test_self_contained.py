"""The checkout stands on its own: no code, test, bench or script reads a path outside it,
and a fresh `git clone` into an empty folder (nothing beside it, as on a user's machine)
collects every test."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("services", "clients", "tests", "bench", "scripts")
SOURCE_SUFFIXES = {".py", ".sh", ".mjs", ".js", ".toml", ".cfg", ".ini", ".txt", ".html", ".json"}
# Ways code has reached outside the checkout: the sibling shared/ folder, ../ paths, a
# machine's absolute work folders.
OUTSIDE = re.compile(r"""(\.\./shared|["']shared["']\s*/|/work/|/home/\w+/)""")
RELATIVE = re.compile(r"""["'`]((?:\.\./)+[^"'`]*)["'`]""")


def _files() -> list[Path]:
    out = []
    for folder in FOLDERS:
        for path in (ROOT / folder).rglob("*"):
            if path.is_file() and path.suffix in SOURCE_SUFFIXES and "node_modules" not in path.parts:
                if "clients/sellerverify/v1" in path.as_posix() or "__pycache__" in path.parts:
                    continue
                out.append(path)
    return out


def _parents_depth_ok(path: Path, text: str) -> list[str]:
    """`Path(__file__).resolve().parents[N]` must stay inside the checkout."""
    depth = len(path.relative_to(ROOT).parts) - 1  # parents[depth] is the checkout's root
    bad = []
    for m in re.finditer(r"__file__\)\.resolve\(\)\.parents\[(\d+)\]", text):
        if int(m.group(1)) > depth:
            bad.append(m.group(0))
    for m in RELATIVE.finditer(text):  # "../x" relative to the file's folder
        target = (path.parent / m.group(1)).resolve()
        if not target.is_relative_to(ROOT):
            bad.append(m.group(0))
    return bad


def test_nothing_refers_to_a_path_outside_the_checkout() -> None:
    offenders = []
    me = Path(__file__).resolve()
    for path in _files():
        if path.resolve() == me:
            continue
        text = path.read_text(errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
        offenders += [f"{path.relative_to(ROOT)}: {b}" for b in _parents_depth_ok(path, text)]
    assert offenders == [], "\n".join(offenders)


def test_the_depth_rule_would_catch_a_reach_outside(tmp_path: Path) -> None:
    sample = ROOT / "tests" / "unit" / "x.py"
    assert _parents_depth_ok(sample, "Path(__file__).resolve().parents[3]")
    assert not _parents_depth_ok(sample, "Path(__file__).resolve().parents[2]")
    assert _parents_depth_ok(sample, 'path.resolve(here, "../../../shared")')
    assert not _parents_depth_ok(sample, 'path.resolve(here, "../../protos")')
    assert OUTSIDE.search('FACES = ROOT.parent / "shared" / "data"') or OUTSIDE.search('"shared" / "data"')


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_a_fresh_clone_with_nothing_beside_it_collects_every_test(tmp_path: Path) -> None:
    lonely = tmp_path / "empty" / "sv"
    lonely.parent.mkdir()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(lonely)], check=True, timeout=120)
    assert sorted(p.name for p in lonely.parent.iterdir()) == ["sv"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERVERIFY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(lonely), str(lonely / "clients")])
    subprocess.run(
        [sys.executable, "scripts/build_protos.py"], cwd=lonely, env=env, check=True, timeout=120, capture_output=True
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=lonely,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = result.stdout[-3000:]
    assert result.returncode == 0, tail + result.stderr[-2000:]
    assert "error" not in tail.splitlines()[-1].lower(), tail
    collected = int(re.search(r"(\d+) tests? collected", tail).group(1))  # type: ignore[union-attr]
    assert collected > 300, tail
