"""gRPC calls on behalf of a signed-in rep: one shared channel, the rep's token per call."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from sellerverify.client import SellerVerifyError
from sellerverify.v1 import identity_pb2_grpc, review_pb2_grpc, trust_pb2_grpc

DEFAULT_TIMEOUT = 15.0


@dataclass
class Backend:
    """The suite's gRPC address and stubs; `call` adds the rep's bearer token."""

    target: str
    channel: grpc.Channel
    review: Any
    identity: Any
    trust: Any
    others: list[grpc.Channel] = field(default_factory=list)

    @classmethod
    def connect(cls, target: str, credentials: grpc.ChannelCredentials | None = None) -> Backend:
        """`target` is one address for every service ("host:port"), or one per service
        ("review=review:50051,identity=identity:50051,trust=trust:50051"; a service not
        named uses the first address)."""
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        named = dict(item.split("=", 1) for item in target.split(",") if "=" in item)
        default = next(iter(named.values()), target) if named else target
        channels: dict[str, grpc.Channel] = {}

        def channel(service: str) -> grpc.Channel:
            addr = named.get(service, default)
            if addr not in channels:
                channels[addr] = (
                    grpc.secure_channel(addr, credentials, options)
                    if credentials
                    else grpc.insecure_channel(addr, options)
                )
            return channels[addr]

        backend = cls(
            target,
            channel("review"),
            review_pb2_grpc.ReviewServiceStub(channel("review")),
            identity_pb2_grpc.IdentityServiceStub(channel("identity")),
            trust_pb2_grpc.TrustServiceStub(channel("trust")),
        )
        backend.others = [c for c in channels.values() if c is not backend.channel]
        return backend

    def call(self, token: str, stub: Any, method: str, request: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """One unary call as the rep; errors become SellerVerifyError (code, reason, message)."""
        if "request_id" in request.DESCRIPTOR.fields_by_name and not request.request_id:
            request.request_id = str(uuid.uuid4())
        try:
            return getattr(stub, method)(request, timeout=timeout, metadata=[("authorization", f"Bearer {token}")])
        except grpc.RpcError as err:
            raise SellerVerifyError.from_rpc_error(err) from None

    def start(
        self, token: str, stub: Any, method: str, request: Any, timeout: float = DEFAULT_TIMEOUT
    ) -> Callable[[], Any]:
        """Start a call without waiting (calls a page needs run side by side); the
        returned function waits for the answer, raising SellerVerifyError on failure."""
        future = getattr(stub, method).future(request, timeout=timeout, metadata=[("authorization", f"Bearer {token}")])

        def wait() -> Any:
            try:
                return future.result()
            except grpc.RpcError as err:
                raise SellerVerifyError.from_rpc_error(err) from None

        return wait

    def close(self) -> None:
        for ch in [self.channel, *self.others]:
            ch.close()
