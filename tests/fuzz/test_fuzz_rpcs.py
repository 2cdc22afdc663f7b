"""Fuzzing every RPC of every service against a real server, for a bounded time.

Hypothesis draws request messages from the descriptors (tests/fuzz/requests.py) and
images from the hostile corpus; each call is made with a token of a role the RPC allows,
so requests reach validation and the handlers. No call may end INTERNAL or UNKNOWN,
and the server must still report SERVING. Budget: FUZZ_SECONDS per database backend
(40 s in all, so the suite's fuzzing with server start-up stays under 60 s); `python -m bench.fuzz` runs it longer.
"""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, Phase, given, settings

from tests.conftest import BACKENDS, TOKENS
from tests.fuzz.requests import FAULTS, all_strategy, call, corpus_images, methods, seed_pool

FUZZ_SECONDS = 40.0 / len(BACKENDS)
METHODS = methods()
IMAGES = corpus_images()


MIN_REQUESTS = 50


class _TimeUpError(Exception):
    pass


def test_every_rpc_survives_fuzzed_requests(server) -> None:  # type: ignore[no-untyped-def]
    pool = seed_pool(server.client)
    counts: dict[str, int] = {}
    faults: list[str] = []
    per_method: dict[str, int] = {}
    started = time.monotonic()
    ends, hard_stop = started + FUZZ_SECONDS, started + 4 * FUZZ_SECONDS
    channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", 64 << 20)])

    @settings(
        max_examples=100_000,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(all_strategy(METHODS, pool, IMAGES))
    def one(drawn) -> None:  # type: ignore[no-untyped-def]
        # Bounded in time, but on a loaded machine it runs on (up to 4x) until enough requests
        # went through and at least half the contract's RPCs were called.
        now = time.monotonic()
        covered = sum(counts.values()) >= MIN_REQUESTS and len(per_method) >= len(METHODS) // 2
        if now > hard_stop or (now > ends and covered):
            raise _TimeUpError
        m, messages = drawn
        outcome = call(channel, m, messages, TOKENS[m.roles[0]], timeout=20)
        counts[outcome.code] = counts.get(outcome.code, 0) + 1
        per_method[m.name] = per_method.get(m.name, 0) + 1
        if outcome.code in FAULTS:
            faults.append(f"{m.name}: {outcome.code} for {[str(x)[:300] for x in messages]}")

    with pytest.raises(_TimeUpError):
        one()
    health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    channel.close()
    total = sum(counts.values())
    print(f"fuzzed {total} requests over {len(per_method)} RPCs: {counts}")
    assert not faults, "\n".join(faults[:10])
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert total >= MIN_REQUESTS and len(per_method) >= len(METHODS) // 2  # it really ran, across the contract
