"""Challenges: a one-time code or today's newspaper, held in a pose the system picks.

Pure domain: the clock and the random source are parameters.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.core.errors import DomainError, ErrorKind, invalid
from services.core.reasons import Reason

# No look-alikes: 0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, U/V are left out.
CODE_ALPHABET = "ACEFGHJKMNPRTWXY34679"
CODE_LENGTH = 6


class Mode(Enum):
    CODE_ON_PAPER = "code_on_paper"
    NEWSPAPER = "newspaper"


class Pose(Enum):
    PAPER_UNDER_CHIN = "paper_under_chin"
    HEAD_TURNED_LEFT = "head_turned_left"
    HEAD_TURNED_RIGHT = "head_turned_right"
    HEAD_TILTED = "head_tilted"
    PAPER_LEFT_HALF = "paper_left_half"
    PAPER_RIGHT_HALF = "paper_right_half"


class State(Enum):
    OPEN = "open"
    PASSED = "passed"
    FAILED = "failed"
    IN_REVIEW = "in_review"
    EXPIRED = "expired"


POSE_TEXT: dict[Pose, tuple[str, str]] = {
    Pose.PAPER_UNDER_CHIN: ("Hold the paper just under your chin.", "请将纸张举在下巴正下方。"),
    Pose.HEAD_TURNED_LEFT: (
        "Turn your head to your left and hold the paper beside your face.",
        "请向左转头，并将纸张举在脸旁。",
    ),
    Pose.HEAD_TURNED_RIGHT: (
        "Turn your head to your right and hold the paper beside your face.",
        "请向右转头，并将纸张举在脸旁。",
    ),
    Pose.HEAD_TILTED: (
        "Tilt your head to one side and hold the paper under your chin.",
        "请将头偏向一侧，并将纸张举在下巴下方。",
    ),
    Pose.PAPER_LEFT_HALF: (
        "Hold the paper in the left half of the picture, beside your face.",
        "请将纸张举在画面左半边、脸的旁边。",
    ),
    Pose.PAPER_RIGHT_HALF: (
        "Hold the paper in the right half of the picture, beside your face.",
        "请将纸张举在画面右半边、脸的旁边。",
    ),
}


@dataclass
class Challenge:
    challenge_id: str
    subject_id: str
    mode: Mode
    code: str
    date: str  # YYYY-MM-DD in the applicant's time zone
    time_zone: str
    pose: Pose
    instructions_en: str
    instructions_zh: str
    issued_at: datetime
    expires_at: datetime
    state: State = State.OPEN
    used_at: datetime | None = None


def new_code(rng: random.Random | secrets.SystemRandom) -> str:
    return "".join(rng.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def local_date(now: datetime, time_zone: str) -> date:
    try:
        return now.astimezone(ZoneInfo(time_zone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        raise invalid(
            Reason.INVALID_FIELD,
            f"unknown time zone {time_zone!r} (use an IANA name such as Asia/Shanghai)",
            "time_zone",
        ) from None


def issue(
    *,
    challenge_id: str,
    subject_id: str,
    mode: Mode,
    time_zone: str,
    now: datetime,
    ttl: timedelta,
    rng: random.Random | secrets.SystemRandom,
) -> Challenge:
    """A fresh challenge: code (or today's date), a random pose, instructions in zh and en."""
    today = local_date(now, time_zone)
    pose = rng.choice(list(Pose))
    code = new_code(rng) if mode is Mode.CODE_ON_PAPER else ""
    pose_en, pose_zh = POSE_TEXT[pose]
    minutes = int(ttl.total_seconds() // 60)
    if mode is Mode.CODE_ON_PAPER:
        en = f"Write or print the code {code} in large letters on a white paper. {pose_en} "
        en += f"Take the photo within {minutes} minutes."
        zh = f"请在白纸上用大字写下或打印验证码 {code}。{pose_zh}请在{minutes}分钟内拍照。"
    else:
        en = f"Hold today's newspaper ({today:%Y-%m-%d}) with its date visible. {pose_en}"
        zh = f"请手持今天（{today.year}年{today.month}月{today.day}日）的报纸，露出日期。{pose_zh}"
    return Challenge(
        challenge_id=challenge_id,
        subject_id=subject_id,
        mode=mode,
        code=code,
        date=today.isoformat(),
        time_zone=time_zone,
        pose=pose,
        instructions_en=en,
        instructions_zh=zh,
        issued_at=now,
        expires_at=now + ttl,
    )


def freshness(challenge: Challenge, subject_id: str, now: datetime) -> list[tuple[Reason, str]]:
    """Why this challenge cannot be answered now (empty when it can)."""
    if challenge.subject_id != subject_id:
        return [(Reason.CHALLENGE_SUBJECT_MISMATCH, "this challenge was issued to another subject")]
    if challenge.state is not State.OPEN or challenge.used_at is not None:
        return [(Reason.CHALLENGE_ALREADY_USED, "this challenge was already answered; ask for a new one")]
    if now >= challenge.expires_at:
        return [(Reason.CHALLENGE_EXPIRED, "this challenge expired; ask for a new one")]
    return []


def require_open(challenge: Challenge, subject_id: str, now: datetime) -> None:
    reasons = freshness(challenge, subject_id, now)
    if reasons:
        raise DomainError(reasons[0][0], reasons[0][1], ErrorKind.PRECONDITION)


def read_code(text: str) -> str:
    """Upper-case alphanumerics only. No look-alike guessing: the alphabet has no
    look-alike pairs, so a misread character is a mismatch, never silently repaired."""
    return "".join(c for c in text.upper() if c.isalnum())
