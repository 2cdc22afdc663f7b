#!/usr/bin/env bash
# Set up whatever is missing, then run the whole suite on embedded defaults
# (SQLite file and keys under ./var, bundled models) on 127.0.0.1:50051.
# The server prints a ready-to-paste `sellerverify demo` command that onboards one seller.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

exec .venv/bin/sellerverify serve "$@"
