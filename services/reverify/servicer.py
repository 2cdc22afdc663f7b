"""ReverifyService servicer: thin protobuf <-> domain glue."""

from __future__ import annotations

import grpc
from sellerverify.v1 import reverify_pb2_grpc as pb_grpc

from services.app import App
from services.platform.servicer_base import ServicerBase


class ReverifyServicer(pb_grpc.ReverifyServiceServicer, ServicerBase):
    """RPCs not yet implemented answer UNIMPLEMENTED with reason NOT_IMPLEMENTED."""


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_ReverifyServiceServicer_to_server(ReverifyServicer(app), server)
