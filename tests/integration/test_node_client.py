"""The contract works outside Python: Node.js (@grpc/grpc-js + @grpc/proto-loader) loads
protos/ directly and calls a running server."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import pytest
from google.rpc import error_details_pb2, status_pb2

from tests.conftest import TOKENS

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


@pytest.fixture(scope="module")
def node() -> str:
    exe = shutil.which("node")
    if exe is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed (scripts/test.sh installs them on Debian/Ubuntu)")
    if not (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR, check=True, timeout=300
        )
    return exe


def test_node_client_creates_and_reads_a_subject_and_gets_rich_errors(node: str, sqlite_server) -> None:  # type: ignore[no-untyped-def]
    well_known = str(resources.files("grpc_tools") / "_proto")
    out = subprocess.run(
        [node, "client.mjs", sqlite_server.address, TOKENS["onboarding"], well_known],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(out.stdout)
    assert result["created"]["ok"], result
    subject = result["created"]["response"]["subject"]
    assert subject["kind"] == "SUBJECT_KIND_INDIVIDUAL" and subject["status"] == "SUBJECT_STATUS_PENDING"
    assert result["fetched"]["response"]["subject"]["subject_id"] == subject["subject_id"]
    anonymous = result["anonymous"]
    assert anonymous["ok"] is False and anonymous["code"] == "UNAUTHENTICATED"
    status = status_pb2.Status.FromString(__import__("base64").b64decode(anonymous["statusDetailsBase64"]))
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("CREDENTIALS_MISSING", "sellerverify.v1")
