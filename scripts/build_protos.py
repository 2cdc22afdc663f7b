"""Generate the Python gRPC code from protos/ into clients/sellerverify/v1/.

The generated modules are build output (git-ignored), never edited by hand.
`tests/unit/test_contract.py` regenerates into a temporary folder and fails when the
checked-out build output is stale.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_ROOT = ROOT / "clients"


def proto_files() -> list[Path]:
    """Every .proto of the public contract, in a stable order."""
    return sorted((PROTO_ROOT / "sellerverify").rglob("*.proto"))


def generate(out_root: Path = OUT_ROOT) -> list[Path]:
    """Run protoc (from grpcio-tools) and return the generated files."""
    from grpc_tools import protoc  # build-time dependency

    include = str(resources.files("grpc_tools") / "_proto")
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *files,
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    pkg = out_root / "sellerverify" / "v1"
    init = pkg / "__init__.py"
    if not init.exists():
        init.write_text('"""Generated from protos/sellerverify/v1 by scripts/build_protos.py; do not edit."""\n')
    return sorted(p for p in pkg.iterdir() if p.suffix in {".py", ".pyi"})


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT_ROOT
    for path in generate(out):
        print(path.relative_to(out))
