"""A write transaction that reads a row and then changes it sees the row as the last
committed writer left it: two transactions claiming one row at the same moment never
both win (no lost update), on SQLite as on PostgreSQL. Single-use challenges, review
case claims and idempotent requests rely on this."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.platform.database import Database, make_engine, migrate
from services.platform.models import ChallengeRow
from tests.conftest import BACKENDS, fresh_database_url


def _challenge(challenge_id: str) -> ChallengeRow:
    now = datetime.now(UTC)
    return ChallengeRow(
        id=challenge_id,
        subject_id="s-1",
        mode="code_on_paper",
        code="ABCDEF",
        date="2026-11-23",
        time_zone="Asia/Shanghai",
        pose="paper_under_chin",
        instructions_zh="",
        instructions_en="",
        issued_at=now,
        expires_at=now + timedelta(minutes=10),
        state="open",
        used_at=None,
        verification_id=None,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_claims_at_once_one_wins(backend: str, tmp_path: Path) -> None:
    gen = fresh_database_url(backend, tmp_path)
    engine = make_engine(next(gen))
    try:
        migrate(engine)
        db = Database(engine)
        with db.transaction() as session:
            session.add(_challenge("c-1"))
        # Both read before either writes, when the database lets them: each waits up to
        # a second for the other's read. A serialising database blocks the second read
        # until the first commits, and the wait just times out.
        both_read = threading.Barrier(2, timeout=1.0)
        claims: dict[str, bool] = {}

        def claim(who: str) -> None:
            with db.transaction() as session:
                row = session.scalars(select(ChallengeRow).where(ChallengeRow.id == "c-1").with_for_update()).one()
                free = row.used_at is None
                try:
                    both_read.wait()
                except threading.BrokenBarrierError:
                    pass
                if free:
                    row.used_at = datetime.now(UTC)
                    row.verification_id = who
                claims[who] = free

        threads = [threading.Thread(target=claim, args=(who,)) for who in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(claims) == ["a", "b"]
        winners = [who for who, won in claims.items() if won]
        assert len(winners) == 1, claims
        with db.read() as session:
            assert session.get(ChallengeRow, "c-1").verification_id == winners[0]  # type: ignore[union-attr]
    finally:
        engine.dispose()
        gen.close()
