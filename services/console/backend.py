"""gRPC calls on behalf of a signed-in rep: one shared channel, the rep's token per call."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
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

    @classmethod
    def connect(cls, target: str, credentials: grpc.ChannelCredentials | None = None) -> Backend:
        options = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
        channel = (
            grpc.secure_channel(target, credentials, options) if credentials else grpc.insecure_channel(target, options)
        )
        return cls(
            target,
            channel,
            review_pb2_grpc.ReviewServiceStub(channel),
            identity_pb2_grpc.IdentityServiceStub(channel),
            trust_pb2_grpc.TrustServiceStub(channel),
        )

    def call(self, token: str, stub: Any, method: str, request: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """One unary call as the rep; errors become SellerVerifyError (code, reason, message)."""
        if "request_id" in request.DESCRIPTOR.fields_by_name and not request.request_id:
            request.request_id = str(uuid.uuid4())
        try:
            return getattr(stub, method)(request, timeout=timeout, metadata=[("authorization", f"Bearer {token}")])
        except grpc.RpcError as err:
            raise SellerVerifyError.from_rpc_error(err) from None

    def close(self) -> None:
        self.channel.close()
