"""The command line as a newcomer meets it: `sellerverify serve` from a folder, then every
verb finds that server with no flags (it writes <data dir>/endpoint.json), global options
work before or after the verb, no secret reaches the terminal, the data folder is private,
and `sellerverify samples` writes inputs that the verbs accept."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sellerverify.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SELLERVERIFY_")}
    return subprocess.run(
        [sys.executable, "-m", "sellerverify.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, subprocess.Popen[str], Path]]:
    """`sellerverify serve --port 0` started in an empty folder, as run.sh starts it."""
    home = tmp_path_factory.mktemp("newcomer")
    log = home / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SELLERVERIFY_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "clients")])
    env["SELLERVERIFY_CONSOLE_PORT"] = "0"  # the console's default 8080 may be taken on a test machine
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sellerverify.cli", "serve", "--port", "0"],
            cwd=home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    endpoint = home / "var" / "endpoint.json"
    deadline = time.monotonic() + 90
    while not endpoint.exists():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the server did not start in 90 s"
        time.sleep(0.2)
    yield home, proc, log
    proc.terminate()
    proc.wait(timeout=30)


def test_health_finds_the_local_server_with_no_flags(served) -> None:  # type: ignore[no-untyped-def]
    home, _, _ = served
    result = _cli("health", cwd=home)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    assert len(lines) == 6 and all(ln.rstrip().endswith("SERVING") for ln in lines), result.stdout


def test_global_options_work_before_and_after_the_verb(served) -> None:  # type: ignore[no-untyped-def]
    home, _, _ = served
    address = json.loads((home / "var" / "endpoint.json").read_text())["address"]
    elsewhere = home / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    token_file = str(home / "var" / "api_tokens.txt")
    for args in (
        ("--address", address, "--token-file", token_file, "health"),
        ("health", "--address", address, "--token-file", token_file),
        ("--address", "127.0.0.1:1", "health", "--address", address, "--token-file", token_file),
    ):
        result = _cli(*args, cwd=elsewhere)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    # From another folder the data folder is named instead.
    result = _cli("health", cwd=elsewhere, env={"SELLERVERIFY_DATA_DIR": str(home / "var")})
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_token_reaches_the_terminal_and_the_printed_command_works(served) -> None:  # type: ignore[no-untyped-def]
    home, _, log = served
    banner = log.read_text()
    tokens = [
        ln.split(":", 2)[2]
        for ln in (home / "var" / "api_tokens.txt").read_text().splitlines()
        if ln.count(":") >= 2 and not ln.startswith("#")
    ]
    assert len(tokens) == 5
    assert not any(tok in banner for tok in tokens), "a token was printed"
    printed = [ln.strip() for ln in banner.splitlines() if ln.strip().endswith(" demo")]
    assert printed, banner
    env_part, _cli_path = printed[0].split(" ", 1)
    name, value = env_part.split("=", 1)
    assert name == "SELLERVERIFY_DATA_DIR" and Path(value) == (home / "var").resolve()
    # The printed command's connection resolves (health instead of the whole demo, which its own test runs).
    result = _cli("health", cwd=ROOT, env={name: value})
    assert result.returncode == 0, result.stdout + result.stderr


def test_data_folder_keys_tokens_and_database_are_private(served) -> None:  # type: ignore[no-untyped-def]
    home, _, _ = served
    var = home / "var"
    _cli("health", cwd=home)  # the database has been written to (WAL present)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [var, var / "keys", *var.rglob("*")] if p.exists()}
    assert modes["var"] == 0o700 and modes["keys"] == 0o700
    for name in ("master.key", "api_tokens.txt", "endpoint.json", "sellerverify.db"):
        assert modes[name] == 0o600, (name, oct(modes[name]))
    for name, mode in modes.items():
        if name.startswith(("sellerverify.db", "temporal.")):  # the suite's and the campaign engine's state
            assert mode == 0o600, (name, oct(mode))
    assert "sellerverify.db-wal" in modes and "temporal.db" in modes


def test_samples_are_accepted_by_the_verbs(served, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    home, _, _ = served
    result = _cli("samples", str(tmp_path / "samples"), cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    folder = tmp_path / "samples"
    for name in ("id_card_front.jpg", "id_card_back.jpg", "passport.jpg", "business_licence.jpg", "selfie.jpg"):
        assert (folder / name).stat().st_size > 10_000, name
    env = {"SELLERVERIFY_DATA_DIR": str(home / "var")}
    card = _cli(
        "verify-id", str(folder / "id_card_front.jpg"), "--back", str(folder / "id_card_back.jpg"), cwd=ROOT, env=env
    )
    assert card.returncode == 0, card.stdout + card.stderr
    assert json.loads(card.stdout)["verdict"] == "VERDICT_PASS"
    passport = _cli("verify-id", str(folder / "passport.jpg"), cwd=ROOT, env=env)
    assert json.loads(passport.stdout)["verdict"] in ("VERDICT_PASS", "VERDICT_REVIEW"), passport.stdout


def test_every_argument_of_every_verb_has_help_text() -> None:
    parser = build_parser()
    missing: list[str] = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, f"{path} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{path}: {action.dest}")

    walk(parser, "sellerverify")
    assert missing == []
