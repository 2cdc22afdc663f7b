"""Admission control: bounded concurrency per heavy path, with a bounded queue.

A *heavy* RPC is one whose request carries bytes (images, camera frames): these run
models. Each heavy RPC belongs to a lane (the models it uses: face, document, liveness;
an RPC added later gets a lane of its own, named after it, without anyone listing it).
A lane lets `concurrency` calls run and `queue` more wait; a call beyond that is refused
at once with RESOURCE_EXHAUSTED, reason RATE_LIMITED and a google.rpc.RetryInfo hint,
instead of every call slowing down together (the "slow collapse" above saturation).

Unary RPCs hold their lane for the whole call (taken in the interceptor, before the
handler decodes anything). Streaming RPCs are mostly waiting for the camera, so they
take their lane per unit of work: `ServicerBase.offload` asks `current_lane()`.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from services.core.errors import DomainError, ErrorKind
from services.core.reasons import Reason

# Method name -> lane; heavy methods not listed get a lane named after the method.
LANE_OF: dict[str, str] = {
    "MatchFace": "face",
    "StreamMatchFace": "face",
    "AttachEvidence": "face",
    "SubmitDocument": "document",
    "RegisterEnterprise": "document",
    "RespondChallenge": "liveness",
    "StreamChallenge": "liveness",
}


@dataclass
class Lane:
    """One heavy path: at most `concurrency` running and `queue` waiting."""

    name: str
    concurrency: int
    queue: int
    running: int = 0
    waiting: int = 0
    refused: int = 0
    admitted: int = 0
    # Moving average of a call's duration, for the retry hint.
    average_s: float = 0.1
    _sem: asyncio.Semaphore | None = field(default=None, repr=False)

    def _semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.concurrency)
        return self._sem

    def retry_after_s(self) -> float:
        """When a refused caller should try again: the time to drain the queue, 50 ms to 10 s."""
        backlog = (self.waiting + self.running + 1) / max(self.concurrency, 1)
        return min(10.0, max(0.05, backlog * self.average_s))

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the lane's places, or raise RATE_LIMITED at once if the queue is full."""
        sem = self._semaphore()
        if self.running >= self.concurrency and self.waiting >= self.queue:
            self.refused += 1
            delay = self.retry_after_s()
            raise DomainError(
                Reason.RATE_LIMITED,
                f"the server is at capacity for {self.name} work ({self.running} running, {self.waiting} queued); "
                f"retry in {delay:.2f} s",
                ErrorKind.RATE_LIMITED,
                metadata={"lane": self.name},
                retry_after_s=delay,
            )
        self.waiting += 1
        try:
            await sem.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        self.admitted += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self.running -= 1
            sem.release()
            self.average_s = 0.8 * self.average_s + 0.2 * (time.perf_counter() - started)


def _carries_bytes(message: Descriptor, seen: frozenset[str] = frozenset()) -> bool:
    if message.full_name in seen:
        return False
    for f in message.fields:
        if f.type == FieldDescriptor.TYPE_BYTES:
            return True
        sub = f.message_type
        if f.type != FieldDescriptor.TYPE_MESSAGE or sub is None:
            continue
        if _carries_bytes(sub, seen | {message.full_name}):
            return True
    return False


def parse_lane_settings(spec: str) -> dict[str, tuple[int, int]]:
    """`lane=concurrency:queue,...` (e.g. "face=2:8,document=1:4") -> {lane: (concurrency, queue)}."""
    out: dict[str, tuple[int, int]] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, numbers = part.partition("=")
        conc, _, queue = numbers.partition(":")
        out[name.strip()] = (max(1, int(conc)), max(0, int(queue or 0)))
    return out


class Admission:
    """The lanes of one server process."""

    def __init__(self, concurrency: int, queue: int, overrides: dict[str, tuple[int, int]] | None = None) -> None:
        self._default = (max(1, concurrency), max(0, queue))
        self._overrides = overrides or {}
        self.lanes: dict[str, Lane] = {}
        self._by_method: dict[str, Lane | None] = {}

    def register(self, full_method: str, request: Descriptor) -> None:
        """Decide once whether `full_method` is heavy, and which lane it uses."""
        if not _carries_bytes(request):
            self._by_method[full_method] = None
            return
        short = full_method.rsplit("/", 1)[-1]
        name = LANE_OF.get(short, short)
        lane = self.lanes.get(name)
        if lane is None:
            conc, queue = self._overrides.get(name, self._default)
            lane = self.lanes[name] = Lane(name, conc, queue)
        self._by_method[full_method] = lane

    def lane_for(self, full_method: str) -> Lane | None:
        return self._by_method.get(full_method)

    def stats(self) -> dict[str, dict[str, int]]:
        """Per lane: running, waiting, admitted and refused calls so far."""
        return {
            n: {"running": x.running, "waiting": x.waiting, "admitted": x.admitted, "refused": x.refused}
            for n, x in self.lanes.items()
        }


# The lane of the current streaming call (None for light calls and for unary calls,
# which took their slot already in the interceptor).
_STREAM_LANE: contextvars.ContextVar[Lane | None] = contextvars.ContextVar("sv_stream_lane", default=None)


def set_stream_lane(lane: Lane | None) -> None:
    _STREAM_LANE.set(lane)


def current_lane() -> Lane | None:
    """The lane a unit of work of the current streaming call must take, if any."""
    return _STREAM_LANE.get()
