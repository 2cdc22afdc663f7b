"""The public contract: generated code is fresh and the protos follow the house rules."""

from __future__ import annotations

import filecmp
import re
from pathlib import Path

from sellerverify.v1 import common_pb2, identity_pb2, liveness_pb2, reverify_pb2, review_pb2, trust_pb2

from scripts.build_protos import OUT_ROOT, PROTO_ROOT, generate, proto_files
from services.core.reasons import Reason

MODULES = [common_pb2, identity_pb2, liveness_pb2, reverify_pb2, review_pb2, trust_pb2]
SERVICE_FILES = [identity_pb2, liveness_pb2, reverify_pb2, review_pb2, trust_pb2]


def test_generated_code_is_not_stale(tmp_path: Path) -> None:
    fresh = generate(tmp_path)
    assert fresh, "protoc produced nothing"
    built = OUT_ROOT / "sellerverify" / "v1"
    for path in fresh:
        twin = built / path.name
        assert twin.exists(), f"{twin} missing: run python scripts/build_protos.py"
        assert filecmp.cmp(path, twin, shallow=False), f"{twin} is stale: run python scripts/build_protos.py"


def test_python_reason_mirror_equals_the_proto_enum() -> None:
    proto = {v.name for v in common_pb2.ReasonCode.DESCRIPTOR.values} - {"REASON_CODE_UNSPECIFIED"}
    assert proto == {r.value for r in Reason}


def test_every_enum_starts_with_unspecified_zero() -> None:
    for module in MODULES:
        enums = list(module.DESCRIPTOR.enum_types_by_name.values())
        for message in module.DESCRIPTOR.message_types_by_name.values():
            enums.extend(message.enum_types)
        for enum in enums:
            zero = enum.values_by_number[0]
            assert zero.name.endswith("_UNSPECIFIED"), f"{enum.full_name} starts with {zero.name}"


def test_every_rpc_declares_roles_and_owns_its_messages() -> None:
    seen_inputs: dict[str, str] = {}
    for module in SERVICE_FILES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                roles = method.GetOptions().Extensions[common_pb2.allowed_roles]
                assert roles, f"{service.name}.{method.name} declares no allowed_roles"
                assert method.input_type.name.startswith(method.name), f"{method.name} input {method.input_type.name}"
                assert method.output_type.name.startswith(method.name), (
                    f"{method.name} output {method.output_type.name}"
                )
                assert method.input_type.full_name not in seen_inputs
                seen_inputs[method.input_type.full_name] = method.name


def test_every_rpc_and_service_is_documented_in_the_proto() -> None:
    for path in proto_files():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(r"\s*rpc \w+", line) or re.match(r"^service \w+", line):
                assert lines[i - 1].strip().startswith("//"), f"{path.name}:{i + 1} has no comment: {line.strip()}"
    assert PROTO_ROOT.exists()
