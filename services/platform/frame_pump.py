"""Latest-frame-wins processing of a bidirectional camera stream.

A camera sends 10-30 frames a second; on 2 cores the server may process fewer. Frames
are never queued: a reader task keeps only the newest unprocessed frame in a one-slot
mailbox (a newer frame replaces an older one, which counts as dropped), and the
processor takes whatever is newest each time it is free. Latency therefore stays at
one frame's processing time however fast the client sends.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

F = TypeVar("F")  # a frame
R = TypeVar("R")  # a response message


@dataclass
class PumpStats:
    received: int = 0
    processed: int = 0
    dropped: int = 0


@dataclass
class Step(Generic[R]):
    """What processing one frame produced: messages to send, and whether to stop."""

    messages: list[R]
    done: bool = False


class _Mailbox(Generic[F]):
    def __init__(self, stats: PumpStats) -> None:
        self._frame: F | None = None
        self._closed = False
        self._event = asyncio.Event()
        self._stats = stats

    def put(self, frame: F) -> None:
        if self._frame is not None:
            self._stats.dropped += 1  # replaced before it was processed: stale
        self._frame = frame
        self._event.set()

    def close(self) -> None:
        self._closed = True
        self._event.set()

    @property
    def closed(self) -> bool:
        return self._closed and self._frame is None

    async def take(self, timeout: float) -> F | None:
        """The newest frame, or None when the stream ended (or `timeout` passed) with none pending."""
        while self._frame is None and not self._closed:
            self._event.clear()
            try:
                await asyncio.wait_for(self._event.wait(), timeout)
            except TimeoutError:
                return None
        frame, self._frame = self._frame, None
        return frame


async def pump(
    frames: AsyncIterator[F],
    process: Callable[[F, PumpStats], Awaitable[Step[R]]],
    *,
    deadline_s: float,
    on_timeout: Callable[[PumpStats], Awaitable[list[R]]] | None = None,
) -> AsyncIterator[R]:
    """Process the newest frame whenever free until `process` says done, the client
    closes the stream, or `deadline_s` seconds pass."""
    stats = PumpStats()
    box: _Mailbox[F] = _Mailbox(stats)

    async def read() -> None:
        try:
            async for frame in frames:
                stats.received += 1
                box.put(frame)
        finally:
            box.close()

    reader = asyncio.create_task(read())
    ends_at = time.monotonic() + deadline_s
    try:
        while True:
            remaining = ends_at - time.monotonic()
            if remaining <= 0:
                if on_timeout:
                    for msg in await on_timeout(stats):
                        yield msg
                return
            frame = await box.take(remaining)
            if frame is None:
                if box.closed:
                    return  # the client closed the stream and every frame was seen
                continue
            step = await process(frame, stats)
            stats.processed += 1
            for msg in step.messages:
                yield msg
            if step.done:
                return
    finally:
        reader.cancel()
        try:
            await reader
        except (asyncio.CancelledError, Exception):  # noqa: BLE001 - the stream is over either way
            pass
