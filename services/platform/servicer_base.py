"""What every servicer shares: running domain work off the event loop, idempotent
writes, image decoding and timestamps. Servicers stay thin: protobuf in, domain call,
protobuf out; no business rule lives here.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.orm import Session

from services.app import App
from services.core.errors import invalid, missing
from services.core.images import DecodedImage, decode_image
from services.core.reasons import Reason
from services.platform.admission import current_lane
from services.platform.auth import current_caller

T = TypeVar("T")
M = TypeVar("M", bound=Message)


class ServicerBase:
    """Base of the five servicers."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def offload(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run blocking work (models, database) on the worker pool, keeping the caller context.

        Within a heavy streaming call each unit of work takes a place in its admission
        lane (unary heavy calls hold theirs for the whole call, from the interceptor)."""
        ctx = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        lane = current_lane()
        if lane is None:
            return await loop.run_in_executor(self.app.executor, partial(ctx.run, fn, *args, **kwargs))
        async with lane.slot():
            return await loop.run_in_executor(self.app.executor, partial(ctx.run, fn, *args, **kwargs))

    async def mutate(
        self,
        method: str,
        request: Message,
        response_cls: type[M],
        write: Callable[[Session], M],
    ) -> M:
        """Run `write` once per request id, in one transaction with its idempotency record.

        Heavy computation belongs before this call (so the transaction stays short);
        `write` only persists and builds the response.
        """
        caller = current_caller()
        request_id: str = request.request_id  # type: ignore[attr-defined]  # every mutating request has one (contract test)
        # Write first: a new request id (the common case) costs no read of its own. A
        # replay finds its stored answer when the write collides with its idempotency
        # row, or when the write refuses what has changed since (commit_once).
        return await self.offload(
            self.app.idempotency.commit_once,
            caller,
            method,
            request_id,
            request,
            response_cls,
            write,
            self._fault_pause,
        )

    async def replayed(self, method: str, request: Message, response_cls: type[M]) -> M | None:
        """The stored response if this request id was already served (checked before heavy work)."""
        caller = current_caller()
        request_id: str = request.request_id  # type: ignore[attr-defined]
        return await self.offload(self.app.idempotency.lookup, caller, method, request_id, request, response_cls)

    def _fault_pause(self) -> None:
        ms = self.app.settings.fault_write_pause_ms
        if ms:
            time.sleep(ms / 1000)

    def decode(self, content: bytes, field: str, reduce_to: int = 0) -> DecodedImage:
        """Header checks, then pixels; blocking (up to ~0.1 s on a 25 Mpx JPEG): call it
        inside the function given to `offload`, or use `decode_off_loop`. `reduce_to`: see
        `decode_image` (a large JPEG decoded at reduced size)."""
        if not content:
            raise missing(field)
        return decode_image(content, self.app.image_limits, field, reduce_to)

    def decode_all(self, images: Sequence[Any]) -> list[DecodedImage]:
        """Every `images[i].content` decoded, or the first bad one's error (nothing is
        written before this returns)."""
        return [self.decode(img.content, f"images[{i}].content") for i, img in enumerate(images)]

    async def decode_off_loop(self, images: Sequence[Any]) -> list[DecodedImage]:
        """`decode_all` on the worker pool (the event loop serves other calls meanwhile)."""
        return await self.offload(self.decode_all, images)


def check_image_count(images: Sequence[Any], limit: int, when_none: str, per: str) -> None:
    """A repeated `images` field holds 1 to `limit` items."""
    if not images:
        raise invalid(Reason.MISSING_FIELD, f"images: {when_none}", "images")
    if len(images) > limit:
        raise invalid(Reason.INVALID_FIELD, f"at most {limit} images per {per}", "images")


async def first_config(request_iterator: AsyncIterator[Any]) -> Any:
    """The `config` of a stream's first message (every streaming RPC opens with one)."""
    first = await anext(aiter(request_iterator), None)
    if first is None or not first.HasField("config"):
        raise invalid(Reason.MISSING_FIELD, "the first message must carry config", "config")
    return first.config


def ts(value: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp, or None to leave the field unset."""
    if value is None:
        return None
    out = Timestamp()
    out.FromDatetime(value)
    return out


def require(value: str, field: str) -> str:
    if not value:
        raise missing(field)
    return value
