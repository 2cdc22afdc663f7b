"""Hypothesis strategies for every RPC's request messages, built from the descriptors.

Nothing here names an RPC: `methods()` reads every service of the contract, and
`message(descriptor)` builds a strategy for any message by walking its fields, so an
RPC added later is fuzzed without anyone listing it. Strings mix ordinary text, ids of
objects that exist (so calls get past the lookup), control characters, NULs, invisible
characters and lengths just over and far over every limit; bytes come from the
hostile-image corpus (tests/fuzz/corpus), its byte-level mutations and random bytes.
Used by tests/fuzz/test_fuzz_rpcs.py (bounded time) and bench/fuzz.py (by hand, longer).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from hypothesis import strategies as st

CORPUS = Path(__file__).resolve().parent / "corpus"
ROLE_NAMES = {1: "onboarding", 2: "cs_rep", 3: "scheduler", 4: "risk", 5: "admin"}


def corpus_images() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CORPUS.iterdir()) if p.suffix != ".json"]


@dataclass(frozen=True)
class Method:
    """One RPC of the contract."""

    path: str  # /package.Service/Method
    request: Descriptor
    streaming_in: bool
    streaming_out: bool
    roles: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


def methods() -> list[Method]:
    """Every RPC of every service, from the generated descriptors."""
    from sellerverify.v1 import common_pb2

    from services.server import _file_descriptors

    out = []
    for fd in _file_descriptors():
        for service in fd.services_by_name.values():
            for m in service.methods:
                roles = m.GetOptions().Extensions[common_pb2.allowed_roles]
                out.append(
                    Method(
                        f"/{service.full_name}/{m.name}",
                        m.input_type,
                        m.client_streaming,
                        m.server_streaming,
                        tuple(ROLE_NAMES[r] for r in roles),
                    )
                )
    return out


@dataclass
class Pool:
    """Ids of real objects, so fuzzed requests reach past their lookups."""

    ids: list[str] = field(default_factory=list)


_HOSTILE_STRINGS = [
    "",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "\u202e\u200b",
    "../../etc/passwd",
    "Asia/Shanghai",
    "UTC",
    "Asia",
    "zone.tab",
    "'; DROP TABLE subjects; --",
    "%s%s%n",
    "😀" * 10,
    "\ud7ff",
    "\ufeff",
    "店铺",
]
_LENGTHS = [36, 64, 65, 100, 101, 200, 201, 255, 256, 1024, 4096, 4097, 20_000, 1 << 20]


def _strings(pool: Pool) -> st.SearchStrategy[str]:
    long_ones = st.builds(lambda n, c: c * n, st.sampled_from(_LENGTHS), st.sampled_from(["a", "x", "\x00", "é", "/"]))
    choices = [
        st.text(max_size=40),
        st.sampled_from(_HOSTILE_STRINGS),
        long_ones,
        st.builds(lambda: str(uuid.uuid4())),
    ]
    if pool.ids:
        choices.append(st.sampled_from(pool.ids))
    return st.one_of(*choices)


def _mutate(data: bytes, positions: list[int], values: list[int], cut: int) -> bytes:
    b = bytearray(data)
    for p, v in zip(positions, values, strict=False):
        if b:
            b[p % len(b)] = v
    return bytes(b[: max(1, len(b) - cut)]) if cut else bytes(b)


def _bytes(images: list[bytes]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from(images),
        st.builds(
            _mutate,
            st.sampled_from(images),
            st.lists(st.integers(0, 1 << 20), max_size=8),
            st.lists(st.integers(0, 255), max_size=8),
            st.sampled_from([0, 0, 1, 100, 1000]),
        ),
        st.binary(max_size=256),
        st.just(b""),
    )


_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _scalar(f: FieldDescriptor, pool: Pool, images: list[bytes]) -> st.SearchStrategy[Any]:
    t = f.type
    if t == FieldDescriptor.TYPE_STRING:
        return _strings(pool)
    if t == FieldDescriptor.TYPE_BYTES:
        return _bytes(images)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_ENUM:
        known = [v.number for v in f.enum_type.values]
        return st.one_of(st.sampled_from(known), st.integers(-5, 1000))  # open enums: unknown numbers too
    if t in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
        return st.one_of(
            st.floats(allow_nan=True, allow_infinity=True, width=32 if t == FieldDescriptor.TYPE_FLOAT else 64),
            st.sampled_from([0.0, -1.0, 1e9, 0.5]),
        )
    lo, hi = _INT_RANGES[t]
    return st.one_of(st.integers(lo, hi), st.integers(-2, 100).filter(lambda v: lo <= v <= hi))


def message(desc: Descriptor, pool: Pool, images: list[bytes], depth: int = 0) -> st.SearchStrategy[Any]:
    """A strategy of messages of `desc` (any message of the contract or a well-known type)."""
    cls = message_factory.GetMessageClass(desc)
    parts: dict[str, st.SearchStrategy[Any]] = {}
    oneofs = {o.name: [f.name for f in o.fields] for o in desc.oneofs}
    for f in desc.fields:
        if f.type == FieldDescriptor.TYPE_MESSAGE:
            if depth >= 3:
                continue
            if f.message_type.GetOptions().map_entry:
                continue
            inner = message(f.message_type, pool, images, depth + 1)
        else:
            inner = _scalar(f, pool, images)
        if f.is_repeated:
            inner = st.one_of(st.lists(inner, max_size=4), st.lists(inner, min_size=30, max_size=40))
        parts[f.name] = st.one_of(st.none(), inner)
    chosen_oneof = {name: st.sampled_from(names) for name, names in oneofs.items()}

    def build(values: dict[str, Any], picks: dict[str, str]) -> Any:
        msg = cls()
        skip = {n for name, names in oneofs.items() for n in names if n != picks.get(name)}
        for name, value in values.items():
            if value is None or name in skip:
                continue
            fd = desc.fields_by_name[name]
            try:
                if fd.type == FieldDescriptor.TYPE_MESSAGE:
                    if fd.is_repeated:
                        getattr(msg, name).extend(value)
                    else:
                        getattr(msg, name).CopyFrom(value)
                elif fd.is_repeated:
                    getattr(msg, name).extend(value)
                else:
                    setattr(msg, name, value)
            except (ValueError, TypeError, OverflowError):
                continue  # a value the Python runtime itself refuses (e.g. a lone surrogate)
        return msg

    return st.builds(build, st.fixed_dictionaries(parts), st.fixed_dictionaries(chosen_oneof))


def requests_for(m: Method, pool: Pool, images: list[bytes]) -> st.SearchStrategy[list[Any]]:
    """What one call sends: one message, or for a client stream 0 to 4 messages."""
    one = message(m.request, pool, images)
    if m.streaming_in:
        return st.lists(one, max_size=4)
    return st.lists(one, min_size=1, max_size=1)


@dataclass
class Outcome:
    code: str
    seconds: float


def call(channel: grpc.Channel, m: Method, messages: list[Any], token: str, timeout: float = 20.0) -> Outcome:
    """Send `messages` to `m` and return the status code name (OK or the error's)."""
    metadata = (("authorization", f"Bearer {token}"),)
    started = time.perf_counter()
    ser: Callable[[Any], bytes] = lambda msg: msg.SerializeToString()  # noqa: E731
    try:
        if m.streaming_in and m.streaming_out:
            stub = channel.stream_stream(m.path, request_serializer=ser)
            for _ in stub(iter(messages), metadata=metadata, timeout=timeout):
                pass
        elif m.streaming_in:
            channel.stream_unary(m.path, request_serializer=ser)(iter(messages), metadata=metadata, timeout=timeout)
        elif m.streaming_out:
            for _ in channel.unary_stream(m.path, request_serializer=ser)(
                messages[0], metadata=metadata, timeout=timeout
            ):
                pass
        else:
            channel.unary_unary(m.path, request_serializer=ser)(messages[0], metadata=metadata, timeout=timeout)
        code = "OK"
    except grpc.RpcError as err:
        code = err.code().name
    return Outcome(code, time.perf_counter() - started)


def all_strategy(ms: list[Method], pool: Pool, images: list[bytes]) -> st.SearchStrategy[tuple[Method, list[Any]]]:
    """One (method, messages) draw across every RPC."""
    return st.sampled_from(ms).flatmap(lambda m: st.tuples(st.just(m), requests_for(m, pool, images)))


def seed_pool(client_factory: Callable[[str], Any]) -> Pool:
    """Create a few real objects (subjects, a case) and collect their ids."""
    from sellerverify.v1 import identity_pb2

    pool = Pool()
    with client_factory("onboarding") as c:
        for _ in range(3):
            sid = c.identity.CreateSubject(
                identity_pb2.CreateSubjectRequest(external_ref=f"fuzz-{uuid.uuid4().hex[:10]}")
            ).subject.subject_id
            pool.ids.append(sid)
    return pool


# Status codes a hostile request may legitimately get; INTERNAL and UNKNOWN are faults.
FAULTS = frozenset({"INTERNAL", "UNKNOWN", "DATA_LOSS"})


def tally(outcomes: Iterator[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        counts[o.code] = counts.get(o.code, 0) + 1
    return counts


def _random_string(rng: Any, pool: Pool) -> str:
    pick = rng.random()
    if pick < 0.3:
        return rng.choice(_HOSTILE_STRINGS)
    if pick < 0.55:
        return rng.choice(["a", "x", "\x00", "é", "/", "\x7f"]) * rng.choice(_LENGTHS)
    if pick < 0.75 and pool.ids:
        return rng.choice(pool.ids)
    if pick < 0.85:
        return str(uuid.uuid4())
    chars = (chr(rng.choice([rng.randrange(32, 127), rng.randrange(0, 0x3000)])) for _ in range(rng.randrange(0, 30)))
    return "".join(chars)


def _random_bytes(rng: Any, images: list[bytes]) -> bytes:
    pick = rng.random()
    base = rng.choice(images)
    if pick < 0.3:
        return base
    if pick < 0.8:
        b = bytearray(base)
        for _ in range(rng.randrange(1, 9)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        if rng.random() < 0.3:
            b = b[: rng.randrange(1, len(b) + 1)]
        return bytes(b)
    return rng.randbytes(rng.randrange(0, 300))


def mutate(msg: Any, rng: Any, pool: Pool, images: list[bytes], depth: int = 0) -> None:
    """Change one to three fields of `msg` in place (cheap protobuf-level mutation, for
    volume after Hypothesis has drawn the seeds)."""
    fields = list(msg.DESCRIPTOR.fields)
    if not fields:
        return
    for _ in range(rng.randrange(1, 4)):
        f = rng.choice(fields)
        try:
            if f.type == FieldDescriptor.TYPE_MESSAGE:
                if f.message_type.GetOptions().map_entry or depth >= 3:
                    continue
                if f.is_repeated:
                    items = getattr(msg, f.name)
                    if rng.random() < 0.2:
                        del items[:]
                    else:
                        for _ in range(rng.choice([1, 1, 2, 35])):
                            mutate(items.add(), rng, pool, images, depth + 1)
                else:
                    if rng.random() < 0.2:
                        msg.ClearField(f.name)
                    else:
                        mutate(getattr(msg, f.name), rng, pool, images, depth + 1)
                continue
            if f.type == FieldDescriptor.TYPE_STRING:
                value: Any = _random_string(rng, pool)
            elif f.type == FieldDescriptor.TYPE_BYTES:
                value = _random_bytes(rng, images)
            elif f.type == FieldDescriptor.TYPE_BOOL:
                value = rng.random() < 0.5
            elif f.type == FieldDescriptor.TYPE_ENUM:
                value = rng.choice([rng.randrange(-3, 20), rng.choice([v.number for v in f.enum_type.values])])
            elif f.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE):
                value = rng.choice([0.0, -1.0, 1e30, float("nan"), float("inf"), rng.random() * 100])
            else:
                lo, hi = _INT_RANGES[f.type]
                value = rng.choice([lo, hi, 0, -1 if lo < 0 else 1, rng.randrange(0, 1000)])
            if f.is_repeated:
                getattr(msg, f.name).extend([value] * rng.choice([1, 2, 120]))
            else:
                setattr(msg, f.name, value)
        except (ValueError, TypeError, OverflowError):
            continue
