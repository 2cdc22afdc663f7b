"""Generic request validation, applied by the interceptor to every message of every RPC.

Nothing here knows a particular RPC: limits are derived from each request's descriptor,
walked recursively, by field *kind* (an id, a reference, a time zone, free text), with
per-field overrides in one table (`OVERRIDES`). An RPC added later is covered without
its author doing anything; a field that needs a different limit gets one row below.

What is refused, with INVALID_ARGUMENT, reason INVALID_FIELD and a field violation:
- a string longer than its limit (ids and references are short, notes are bounded);
- NUL and other control characters (free text may keep tab and newlines), lone
  surrogates, and, in identifiers, any invisible format character;
- a repeated field with more items than its bound;
- a float that is NaN or infinite; a count, size or duration out of its range
  (`NUMBER_RANGES`: never negative; a stream's timeout at most 10 minutes);
- bytes beyond their bound (image fields are bounded by the image gate instead).

Error texts never quote the offending value: they name the field, its length and the
limit. Nothing user-supplied is logged from here.
"""

from __future__ import annotations

import math
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from services.core.errors import DomainError, ErrorKind, FieldViolation
from services.core.reasons import Reason

# --- Limits (characters for strings, items for repeated fields, bytes for bytes) ---
ID_MAX = 100  # object ids, request ids (server ids are 36-char UUIDs; request ids are the caller's)
REF_MAX = 200  # external references (subjects.external_ref is String(200))
TIME_ZONE_MAX = 64  # IANA names are at most ~32 characters; the column is String(64)
SHORT_TEXT_MAX = 200  # names, labels, media types, anything not named otherwise
TEXT_MAX = 4096  # notes, descriptions
TOKEN_MAX = 1024  # page tokens
REPEATED_MAX = 100  # items in a repeated scalar field
REPEATED_MESSAGES_MAX = 32  # items in a repeated message field (images: the RPC's own bound is lower)
BYTES_MAX = 64 * 1024 * 1024  # the transport's limit; image fields are checked by the image gate


@dataclass(frozen=True)
class Rule:
    """How one field is checked."""

    max_len: int
    text: bool = False  # free text: tab, CR and LF allowed
    identifier: bool = False  # no format characters (zero-width, bidi controls) either
    # A further check of a non-empty value: what is wrong with it, or None.
    check: Callable[[str], str | None] | None = None


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _known_zone(value: str) -> str | None:
    # Only names of the IANA database: a zoneinfo lookup of anything else reads the file
    # system ("Asia" is a directory, an over-long name is "File name too long").
    if value in _zones():
        return None
    return "is not an IANA time zone name (for example Asia/Shanghai or Europe/Paris)"


ID = Rule(ID_MAX, identifier=True)
REF = Rule(REF_MAX, identifier=True)
TIME_ZONE = Rule(TIME_ZONE_MAX, identifier=True, check=_known_zone)
SHORT = Rule(SHORT_TEXT_MAX)
TEXT = Rule(TEXT_MAX, text=True)
TOKEN = Rule(TOKEN_MAX, identifier=True)

# Per-field overrides: "<message full name>.<field>" or a bare field name (any message).
# The column a value lands in decides the tightest limit.
OVERRIDES: dict[str, Rule] = {
    "time_zone": TIME_ZONE,
    "external_ref": REF,
    "shop_ref": REF,
    "page_token": TOKEN,
    "note": TEXT,
    "description": TEXT,
    "detail": TEXT,
    "sellerverify.v1.AttachEvidenceRequest.label": Rule(40),  # case_evidence.label is String(40)
    "sellerverify.v1.AddExecutiveRequest.name": Rule(100),  # executives.name is String(100)
}
REPEATED_OVERRIDES: dict[str, int] = {
    "enterprise_ids": 1000,
}

# Numbers. Every float must be finite (a NaN passes every `low <= x <= high` test written
# as `not x < low` and then compares false with everything downstream: a stream whose
# timeout is NaN never times out). Counts, sizes and durations cannot be negative, and
# those that hold a resource open are bounded. (low, high) by field name; None = no bound.
NUMBER_RANGES: dict[str, tuple[float | None, float | None]] = {
    "timeout_seconds": (0, 600),  # a live camera stream: 10 minutes at most
    "limit": (0, 100),
    "page_size": (0, None),  # every list caps it itself (500)
    "max_events": (0, 100_000),
    "minutes": (0, 60 * 24 * 30),  # snooze: a month
    "ttl_minutes": (0, None),
    "remind_after_seconds": (0, 366 * 86_400),
    "sequence": (0, None),
    "captured_at_ms": (0, None),
    "after_seq": (0, None),
}


def rule_for(message: Descriptor, field: FieldDescriptor) -> Rule:
    """The rule of a string field: override table first, then the field's kind by name."""
    for key in (f"{message.full_name}.{field.name}", field.name):
        if key in OVERRIDES:
            return OVERRIDES[key]
    name = field.name
    if name == "request_id" or name.endswith("_id") or name.endswith("_ids") or name == "id":
        return ID
    if name.endswith("_ref"):
        return REF
    return SHORT


@dataclass(frozen=True)
class _Check:
    field: FieldDescriptor
    rule: Rule | None  # for strings
    repeated_max: int
    sub: Descriptor | None  # for messages
    enum_numbers: frozenset[int] | None = None  # for enums: the defined values
    timestamp: bool = False  # a google.protobuf.Timestamp
    number: tuple[float | None, float | None] | None = None  # for numbers: (low, high)
    finite: bool = False  # a float or double: NaN and infinities are refused


# What a Timestamp may hold (0001-01-01 to 9999-12-31, as protobuf's own rules say).
_TS_MIN, _TS_MAX = -62_135_596_800, 253_402_300_799


@cache
def _plan(message: Descriptor) -> tuple[_Check, ...]:
    checks: list[_Check] = []
    for f in message.fields:
        if f.type == FieldDescriptor.TYPE_STRING:
            checks.append(_Check(f, rule_for(message, f), REPEATED_OVERRIDES.get(f.name, REPEATED_MAX), None))
        elif f.type == FieldDescriptor.TYPE_BYTES:
            checks.append(_Check(f, None, REPEATED_OVERRIDES.get(f.name, REPEATED_MAX), None))
        elif f.type == FieldDescriptor.TYPE_MESSAGE:
            # Well-known types (Timestamp, Duration) carry no strings worth checking.
            mt = f.message_type
            sub = None if mt is None or mt.full_name.startswith("google.protobuf.") else mt
            is_ts = mt is not None and mt.full_name == "google.protobuf.Timestamp"
            checks.append(_Check(f, None, REPEATED_OVERRIDES.get(f.name, REPEATED_MESSAGES_MAX), sub, timestamp=is_ts))
        elif f.type == FieldDescriptor.TYPE_ENUM and f.enum_type is not None:
            # proto3 enums are open: an undefined number parses, then breaks Name() lookups.
            numbers = frozenset(v.number for v in f.enum_type.values)
            checks.append(_Check(f, None, REPEATED_OVERRIDES.get(f.name, REPEATED_MAX), None, enum_numbers=numbers))
        elif f.type in _NUMBER_TYPES:
            finite = f.type in (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)
            bounds = NUMBER_RANGES.get(f"{message.full_name}.{f.name}") or NUMBER_RANGES.get(f.name)
            if finite or bounds is not None or f.is_repeated:
                checks.append(
                    _Check(f, None, REPEATED_OVERRIDES.get(f.name, REPEATED_MAX), None, number=bounds, finite=finite)
                )
        elif f.is_repeated:
            checks.append(_Check(f, None, REPEATED_OVERRIDES.get(f.name, REPEATED_MAX), None))
    return tuple(checks)


_NUMBER_TYPES = frozenset(
    {
        FieldDescriptor.TYPE_FLOAT,
        FieldDescriptor.TYPE_DOUBLE,
        FieldDescriptor.TYPE_INT32,
        FieldDescriptor.TYPE_INT64,
        FieldDescriptor.TYPE_SINT32,
        FieldDescriptor.TYPE_SINT64,
        FieldDescriptor.TYPE_SFIXED32,
        FieldDescriptor.TYPE_SFIXED64,
        FieldDescriptor.TYPE_UINT32,
        FieldDescriptor.TYPE_UINT64,
        FieldDescriptor.TYPE_FIXED32,
        FieldDescriptor.TYPE_FIXED64,
    }
)


def _number_violation(path: str, value: float, check: _Check) -> FieldViolation | None:
    if check.finite and not math.isfinite(value):
        return FieldViolation(path, f"{path} must be a finite number")
    if check.number is not None:
        low, high = check.number
        if low is not None and value < low:
            return FieldViolation(path, f"{path} is {value:g}; it must be at least {low:g}")
        if high is not None and value > high:
            return FieldViolation(path, f"{path} is {value:g}; the limit is {high:g}")
    return None


def _bad_character(value: str, rule: Rule) -> str | None:
    """What is wrong with the characters of `value` (a description, never the value), or None."""
    if value.isprintable() and (value.isascii() or not rule.identifier):
        # Fast path: printable text. isprintable() is False for every Cc/Cf/Cs/Co/Cn/Zl/Zp/Zs-but-space char.
        return None
    for ch in value:
        if ch == "\x00":
            return "contains a NUL character"
        if ch == " " or (rule.text and ch in "\t\r\n"):
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc" or cat in ("Zl", "Zp"):
            return f"contains the control character U+{ord(ch):04X}"
        if cat == "Cs":
            return "contains an unpaired surrogate (not valid UTF-8 text)"
        if rule.identifier and (cat == "Cf" or cat.startswith("Z")):
            return f"contains the invisible or space character U+{ord(ch):04X}"
    return None


def _violations(message: Message, prefix: str) -> Iterator[FieldViolation]:
    desc = message.DESCRIPTOR
    for check in _plan(desc):
        f = check.field
        path = f"{prefix}{f.name}"
        if f.is_repeated:
            values = getattr(message, f.name)
            if len(values) > check.repeated_max:
                yield FieldViolation(
                    path, f"{path} has {len(values):,} items; at most {check.repeated_max:,} are allowed"
                )
                continue
            items = [(f"{path}[{i}]", v) for i, v in enumerate(values)]
        else:
            if f.type == FieldDescriptor.TYPE_MESSAGE and not message.HasField(f.name):
                continue
            items = [(path, getattr(message, f.name))]
        for item_path, value in items:
            if check.rule is not None:
                yield from _check_string(item_path, value, check.rule)
            elif f.type == FieldDescriptor.TYPE_BYTES:
                if len(value) > BYTES_MAX:
                    yield FieldViolation(item_path, f"{item_path} is {len(value):,} bytes; the limit is {BYTES_MAX:,}")
            elif check.enum_numbers is not None:
                if value not in check.enum_numbers:
                    yield FieldViolation(item_path, f"{item_path} is {value}, not one of the defined values")
            elif check.finite or check.number is not None:
                wrong = _number_violation(item_path, value, check)
                if wrong is not None:
                    yield wrong
            elif check.timestamp:
                if not (0 <= value.nanos < 1_000_000_000 and _TS_MIN <= value.seconds <= _TS_MAX):
                    yield FieldViolation(item_path, f"{item_path} is not a valid timestamp")
            elif check.sub is not None:
                yield from _violations(value, f"{item_path}.")


def _check_string(path: str, value: str, rule: Rule) -> Iterator[FieldViolation]:
    if len(value) > rule.max_len:
        yield FieldViolation(path, f"{path} is {len(value):,} characters long; the limit is {rule.max_len:,}")
        return
    bad = _bad_character(value, rule)
    if bad:
        yield FieldViolation(path, f"{path} {bad}; send plain text")
    elif rule.check is not None and value:
        wrong = rule.check(value)
        if wrong:
            yield FieldViolation(path, f"{path} {wrong}")


def validate(message: Message) -> None:
    """Raise INVALID_INPUT (INVALID_FIELD, with every field violation) if `message` breaks a limit."""
    violations = list(_violations(message, ""))
    if violations:
        first = violations[0].description
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise DomainError(
            Reason.INVALID_FIELD,
            first + more,
            ErrorKind.INVALID_INPUT,
            violations[:20],
            metadata={"rule": "request_limits"},
        )


def undecodable(method: str) -> DomainError:
    """The error for request bytes that do not parse as the RPC's message (bad wire
    format or a string field that is not valid UTF-8)."""
    return DomainError(
        Reason.INVALID_FIELD,
        f"the request is not a valid {method.rsplit('/', 1)[-1]} message "
        "(malformed protobuf, or a string field that is not valid UTF-8)",
        ErrorKind.INVALID_INPUT,
        metadata={"rule": "request_encoding"},
    )
