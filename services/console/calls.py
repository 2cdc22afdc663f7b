"""Video calls as the console relays them: the seller's page posts camera frames, the
rep's page shows the newest one. Frames live only in this process's memory (the newest
frame per call, dropped when the call ends); a frame becomes evidence only when the rep
captures it (AttachEvidence: sealed at rest, audited)."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

MAX_FRAME_BYTES = 2 * 1024 * 1024
# Calls are forgotten after the longest link lifetime (ReviewService: 120 min) even if
# nobody pressed "End call", so their frames do not stay in memory.
MAX_CALL_SECONDS = 2 * 3600


@dataclass
class LiveCall:
    """One call's relay state."""

    call_id: str
    case_id: str
    rep_token: str  # the starting rep's API token: redeems the seller's link (never sent to a browser)
    join_url: str
    seller_secret: str = ""
    seller_csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    frame: bytes = b""
    seq: int = 0
    frame_at: float = 0.0
    guidance_seq: int = -1
    guidance: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    started: float = field(default_factory=time.monotonic)


class CallRelay:
    """Live calls by call id."""

    def __init__(self) -> None:
        self._calls: dict[str, LiveCall] = {}
        self._lock = threading.Lock()

    def add(self, call: LiveCall) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [c for c in self._calls.values() if c.case_id == call.case_id or now - c.started > MAX_CALL_SECONDS]
            for old in stale:
                self._calls.pop(old.call_id, None)
            self._calls[call.call_id] = call

    def get(self, call_id: str) -> LiveCall | None:
        with self._lock:
            return self._calls.get(call_id)

    def for_case(self, case_id: str) -> LiveCall | None:
        with self._lock:
            return next((c for c in self._calls.values() if c.case_id == case_id), None)

    def end(self, call_id: str) -> None:
        with self._lock:
            self._calls.pop(call_id, None)

    @staticmethod
    def push(call: LiveCall, frame: bytes) -> int:
        with call.lock:
            call.frame = frame
            call.seq += 1
            call.frame_at = time.monotonic()
            return call.seq

    @staticmethod
    def newest(call: LiveCall) -> tuple[bytes, int]:
        with call.lock:
            return call.frame, call.seq
