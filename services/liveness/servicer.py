"""LivenessService servicer: thin protobuf <-> domain glue."""

from __future__ import annotations

import grpc
from sellerverify.v1 import liveness_pb2_grpc as pb_grpc

from services.app import App
from services.platform.servicer_base import ServicerBase


class LivenessServicer(pb_grpc.LivenessServiceServicer, ServicerBase):
    """RPCs not yet implemented answer UNIMPLEMENTED with reason NOT_IMPLEMENTED."""


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_LivenessServiceServicer_to_server(LivenessServicer(app), server)
