"""docker-compose.yml is valid (Debian's docker-compose validates it offline) and runs
each service in its own container with a health check, after a migration job."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {
    "SELLERVERIFY_ENCRYPTION_KEY": "nKtsLWeeX7/ZDR3MyQ3HdQhWj3E9PcE8aV1Fy9Rpp7E=",
    "SELLERVERIFY_HASH_PEPPER": "pepper-for-validation-only",
    "SELLERVERIFY_API_TOKENS": "shop:onboarding:sha256:" + "0" * 64,
    "POSTGRES_PASSWORD": "validation-only",
}


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("docker-compose not installed (scripts/test.sh installs Debian's docker-compose)")
    return subprocess.run(
        [exe, "-f", str(ROOT / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": os.environ["PATH"], **env},
        cwd=ROOT,
    )


def test_compose_file_validates_and_wires_every_service() -> None:
    result = _config(SECRETS)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    for name in ("identity", "liveness", "reverify", "review", "trust"):
        svc = services[name]
        assert svc["environment"]["SELLERVERIFY_SERVICES"] == name
        assert svc["environment"]["SELLERVERIFY_DATABASE_URL"].startswith("postgresql://")
        assert "health" in svc["healthcheck"]["test"]
        assert svc["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_compose_refuses_to_run_without_secrets() -> None:
    result = _config({})
    assert result.returncode != 0
    assert "SELLERVERIFY_ENCRYPTION_KEY" in result.stderr or "POSTGRES_PASSWORD" in result.stderr
