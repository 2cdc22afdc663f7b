"""ReviewService servicer: thin protobuf <-> domain glue."""

from __future__ import annotations

import grpc
from sellerverify.v1 import review_pb2_grpc as pb_grpc

from services.app import App
from services.platform.servicer_base import ServicerBase


class ReviewServicer(pb_grpc.ReviewServiceServicer, ServicerBase):
    """Review cases for CS reps."""


def register(server: grpc.aio.Server, app: App) -> None:
    pb_grpc.add_ReviewServiceServicer_to_server(ReviewServicer(app), server)
