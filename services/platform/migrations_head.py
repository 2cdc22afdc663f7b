"""The head of the schema migrations, read from the migration files without Alembic.

A restart whose database is at head already needs nothing of Alembic (database.migrate),
and the supervisor of worker processes checks it with the standard library's sqlite3
(services/supervisor.py): both skip about 0.3-0.5 s of imports before serving.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

VERSIONS = Path(__file__).resolve().parent / "migrations" / "versions"


@cache
def head_revisions() -> frozenset[str]:
    """The revisions no other migration builds on, from the files' own `revision` and
    `down_revision` lines (what Alembic computes; tests/unit/platform/test_migrations.py)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in VERSIONS.glob("*.py"):
        source = path.read_text()
        rev = re.search(r'^revision\s*=\s*"([^"]+)"', source, re.M)
        down = re.search(r"^down_revision\s*=\s*(.+)$", source, re.M)
        if rev:
            revisions.add(rev.group(1))
        if down:
            parents.update(re.findall(r'"([^"]+)"', down.group(1)))
    return frozenset(revisions - parents)
