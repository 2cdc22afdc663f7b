"""Deployment files: docker-compose.yml is valid (Debian's docker-compose validates it
offline) and runs each service in its own container with a health check, after a
migration job; the health-check commands of the compose file and the Dockerfile really
tell a serving server from a missing one (run here against a real server)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from services.platform.settings import ALL_SERVICES
from services.server import SERVICE_NAMES, ServerThread
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ALL_SERVICES
SECRETS = {
    "SELLERVERIFY_ENCRYPTION_KEY": "nKtsLWeeX7/ZDR3MyQ3HdQhWj3E9PcE8aV1Fy9Rpp7E=",
    "SELLERVERIFY_HASH_PEPPER": "pepper-for-validation-only",
    "SELLERVERIFY_API_TOKENS": "shop:onboarding:sha256:" + "0" * 64,
    "POSTGRES_PASSWORD": "validation-only",
}
BIN = str(Path(sys.executable).parent)  # where the `sellerverify` console script is


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (scripts/setup.sh --test installs Debian's docker-compose)")
    return subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
        cwd=ROOT,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    result = _config(SECRETS)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)  # type: ignore[no-any-return]


def test_compose_file_validates_and_wires_every_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "temporal", "reverify-worker", "console", *SERVICES}
    for name in SERVICES:
        svc = services[name]
        env = svc["environment"]
        assert env["SELLERVERIFY_SERVICES"] == name
        assert env["SELLERVERIFY_DATABASE_URL"].startswith("postgresql://")
        assert env["SELLERVERIFY_MIGRATE_ON_START"] == "false"  # the migrate job owns the schema
        assert env["SELLERVERIFY_ENCRYPTION_KEY"] == SECRETS["SELLERVERIFY_ENCRYPTION_KEY"]  # one key for all
        assert env["SELLERVERIFY_HASH_PEPPER"] == SECRETS["SELLERVERIFY_HASH_PEPPER"]
        assert SERVICE_NAMES[name] in svc["healthcheck"]["test"]
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert _seconds(svc["stop_grace_period"]) > 20  # > SELLERVERIFY_SHUTDOWN_GRACE_SECONDS
    ports = [p["published"] if isinstance(p, dict) else p for n in SERVICES for p in services[n]["ports"]]
    assert len(set(map(str, ports))) == len(SERVICES), "each service needs its own host port"
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart", "no") == "no"
    console = services["console"]  # the review console (issue 14): its own process, gRPC by service
    assert console["entrypoint"] == ["python", "-m", "services.console"]
    targets = dict(t.split("=") for t in console["environment"]["SELLERVERIFY_CONSOLE_GRPC_TARGET"].split(","))
    assert {targets[s].split(":")[0] for s in ("review", "identity", "trust")} <= set(services)
    assert "/healthz" in " ".join(console["healthcheck"]["test"])
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(str(v).endswith("/var/lib/postgresql/data") or "pgdata" in str(v) for v in postgres["volumes"])


def test_compose_runs_campaigns_on_temporal_with_a_separate_worker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    temporal = services["temporal"]
    assert temporal["environment"]["DB"].startswith("postgres")
    assert temporal["environment"]["POSTGRES_SEEDS"] == "postgres"
    assert temporal["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("reverify", "reverify-worker"):
        env = services[name]["environment"]
        assert env["SELLERVERIFY_REVERIFY_ENGINE"] == "remote"
        assert env["SELLERVERIFY_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert services[name]["depends_on"]["temporal"]["condition"] == "service_healthy"
    assert services["reverify"]["environment"]["SELLERVERIFY_REVERIFY_WORKER"] == "false"
    assert services["reverify-worker"]["command"] == ["campaign-worker"]
    assert services["reverify-worker"]["environment"]["SELLERVERIFY_DATABASE_URL"].startswith("postgresql://")


def test_compose_refuses_to_run_without_secrets() -> None:
    result = _config({})
    assert result.returncode != 0
    assert "SELLERVERIFY_ENCRYPTION_KEY" in result.stderr or "POSTGRES_PASSWORD" in result.stderr


def _seconds(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    match = re.fullmatch(r"(\d+)(s|m)", str(value))
    assert match, value
    return int(match[1]) * (60 if match[2] == "m" else 1)


@pytest.fixture(scope="module")
def trust_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A server like the `trust` container: one service in the process."""
    tmp = tmp_path_factory.mktemp("trust-only")
    with ServerThread(make_settings(tmp, f"sqlite:///{tmp / 'sv.db'}", services=["trust"])) as srv:
        yield srv


def _run(argv: list[str], env: dict[str, str] | None = None) -> int:
    full_env = {"PATH": f"{BIN}:{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/tmp"), **(env or {})}
    return subprocess.run(argv, env=full_env, capture_output=True, timeout=60).returncode


def test_compose_health_checks_pass_for_their_service_only(compose: dict[str, Any], trust_only: ServerThread) -> None:
    address = f"127.0.0.1:{trust_only.port}"
    for name in SERVICES:
        test = compose["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD"
        argv = [a.replace("127.0.0.1:50051", address) for a in test[1:]]
        assert (_run(argv) == 0) == (name == "trust"), f"{name}: {argv}"


def _dockerfile_healthcheck() -> str:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK\s.*?\bCMD\s+(.+)$", text, re.MULTILINE)
    assert match, "the Dockerfile has no HEALTHCHECK"
    return match[1]


def test_dockerfile_health_check_command(trust_only: ServerThread) -> None:
    # Docker runs a shell-form CMD with /bin/sh -c, in the image's environment.
    command = _dockerfile_healthcheck()
    port = str(trust_only.port)
    assert _run(["/bin/sh", "-c", command], {"SELLERVERIFY_PORT": port}) == 0  # every service it serves
    trust = {"SELLERVERIFY_PORT": port, "SELLERVERIFY_HEALTH_SERVICE": SERVICE_NAMES["trust"]}
    assert _run(["/bin/sh", "-c", command], trust) == 0
    identity = {"SELLERVERIFY_PORT": port, "SELLERVERIFY_HEALTH_SERVICE": SERVICE_NAMES["identity"]}
    assert _run(["/bin/sh", "-c", command], identity) != 0  # not served by this process
    assert _run(["/bin/sh", "-c", command], {"SELLERVERIFY_PORT": "1"}) != 0  # nothing listening


def test_dockerfile_runtime_image_is_lean_and_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.split(r"^FROM\s", text, flags=re.MULTILINE)[1:]
    assert all(stage.startswith("python:3.11-slim-bookworm") for stage in stages)
    runtime = stages[-1]
    assert re.search(r"^USER\s+(?!root\b|0\b)\S+", runtime, re.MULTILINE), "the runtime stage must not run as root"
    for build_only in ("g++", "libtesseract-dev", "libleptonica-dev"):
        assert build_only not in runtime, f"{build_only} belongs in the build stage"
    for needed in ("tesseract-ocr-chi-sim", "tesseract-ocr-eng", "fonts-ocr-b"):
        assert needed in runtime
    assert "build_protos.py" in text and "OMP_THREAD_LIMIT=1" in runtime
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tests/node/node_modules"} <= set(ignored)
