"""The contract works outside Python: Node.js (@grpc/grpc-js + @grpc/proto-loader) loads
protos/ directly, calls a running server and reads our rich errors."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.rpc import error_details_pb2, status_pb2

from tests.conftest import TOKENS

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed (scripts/setup.sh --test installs them on Debian/Ubuntu)")
    lock = NODE_DIR / "package-lock.json"
    installed = NODE_DIR / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True, timeout=300
        )
    return exe


@pytest.fixture(scope="module")
def result(node: str, sqlite_server) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    out = subprocess.run(
        [node, "client.mjs", sqlite_server.address, TOKENS["onboarding"]],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_node_health_check_per_service(result: dict[str, Any]) -> None:
    assert result["health"]["server"] == {"ok": True, "response": {"status": "SERVING"}}
    assert result["health"]["identity"]["response"]["status"] == "SERVING"


def test_node_creates_and_reads_a_subject(result: dict[str, Any]) -> None:
    assert result["created"]["ok"], result["created"]
    subject = result["created"]["response"]["subject"]
    assert subject["kind"] == "SUBJECT_KIND_INDIVIDUAL" and subject["status"] == "SUBJECT_STATUS_PENDING"
    assert subject["external_ref"].startswith("node-user-")
    assert result["fetched"]["ok"] and result["fetched"]["response"]["subject"]["subject_id"] == subject["subject_id"]


def test_node_unauthenticated_call_carries_the_reason(result: dict[str, Any]) -> None:
    anonymous = result["anonymous"]
    assert anonymous["ok"] is False and anonymous["code"] == "UNAUTHENTICATED"
    assert (anonymous["reason"], anonymous["domain"]) == ("CREDENTIALS_MISSING", "sellerverify.v1")
    # The same trailer, decoded independently in Python: grpc-status-details-bin is a google.rpc.Status.
    status = status_pb2.Status.FromString(base64.b64decode(anonymous["statusDetailsBase64"]))
    info = error_details_pb2.ErrorInfo()
    assert status.code == 16 and any(d.Unpack(info) for d in status.details)
    assert (info.reason, info.domain) == ("CREDENTIALS_MISSING", "sellerverify.v1")


def test_node_sees_field_violations(result: dict[str, Any]) -> None:
    missing = result["missingField"]
    assert (missing["code"], missing["reason"]) == ("INVALID_ARGUMENT", "MISSING_FIELD")
    assert [v["field"] for v in missing["violations"]] == ["external_ref"]
