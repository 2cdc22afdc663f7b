#!/usr/bin/env bash
# Set up whatever is missing (including Node.js for the cross-language test), then run
# the whole test suite: SQLite always, PostgreSQL too when one answers on 127.0.0.1:5432
# (or at $SELLERVERIFY_TEST_POSTGRES_URL).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
if command -v npm >/dev/null 2>&1 && [ -f tests/node/package.json ] && [ ! -d tests/node/node_modules ]; then
  (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
fi
if command -v npm >/dev/null 2>&1 && [ -f tests/browser/package.json ] && [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi

exec .venv/bin/python -m pytest "$@"
