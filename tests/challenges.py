"""Issuing and answering liveness challenges through a real server, for the liveness tests."""

from __future__ import annotations

from typing import Any

from sellerverify.v1 import common_pb2, liveness_pb2

from services.platform.models import ChallengeRow
from tests import attackgen


def issue(
    server: Any, subject_id: str, mode: int = liveness_pb2.CHALLENGE_MODE_CODE_ON_PAPER, pose: str = "paper_under_chin"
) -> Any:
    """A challenge for the subject, with its pose fixed (it is drawn at random) so that the
    composed photo can satisfy it."""
    with server.client() as client:
        c = client.liveness.IssueChallenge(
            liveness_pb2.IssueChallengeRequest(subject_id=subject_id, mode=mode)  # type: ignore[arg-type]
        ).challenge
    with server.app.db.transaction() as session:
        session.get(ChallengeRow, c.challenge_id).pose = pose
    return c


def respond(server: Any, challenge: Any, subject_id: str, image: Any) -> liveness_pb2.RespondChallengeResponse:
    """Answer the challenge with one photo (encoded as a JPEG)."""
    with server.client() as client:
        return client.liveness.RespondChallenge(  # type: ignore[no-any-return]
            liveness_pb2.RespondChallengeRequest(
                challenge_id=challenge.challenge_id,
                subject_id=subject_id,
                images=[common_pb2.Image(content=attackgen.jpeg(image))],
            )
        )


def codes(response: liveness_pb2.RespondChallengeResponse) -> set[str]:
    """The response's reason codes by name."""
    return {common_pb2.ReasonCode.Name(r.code) for r in response.reasons}
