"""Structured JSON logs that never carry images, templates, tokens or full ID numbers.

Code logs identifiers and outcomes only; as a second line of defence a filter masks
anything shaped like a citizen number or a bearer token and drops byte payloads.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

from pythonjsonlogger.json import JsonFormatter

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))
# No logged string, and no line of a traceback, is longer than this: a caller's 1 MiB
# field quoted in an exception message must not reach the log whole.
MAX_FIELD_CHARS = 300
MAX_TRACEBACK_LINE_CHARS = 500


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}…[{len(text) - limit:,} more characters]"


def redact(text: str) -> str:
    """Mask citizen-number-shaped digits and bearer tokens in free text (callers bound its length)."""
    text = _ID_NUMBER.sub(lambda m: m.group(1) + "********" + m.group(2)[:0] + "****", text)
    return _BEARER.sub(r"\1[redacted]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = _bounded(redact(record.msg), 4 * MAX_FIELD_CHARS)
        if record.args:
            record.args = tuple(_clean(a) for a in record.args) if isinstance(record.args, tuple) else record.args
        for key, value in list(vars(record).items()):
            if key not in _RESERVED:
                setattr(record, key, _clean(value))
        return True


def _clean(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, str):
        return _bounded(redact(value), MAX_FIELD_CHARS)
    return value


class RedactingJsonFormatter(JsonFormatter):
    """Also masks the formatted traceback and stack: exception messages may quote input."""

    def formatException(self, ei: Any) -> str:
        return _bounded_lines(redact(str(super().formatException(ei))))

    def formatStack(self, stack_info: str) -> str:
        return _bounded_lines(redact(str(super().formatStack(stack_info))))


def _bounded_lines(text: str) -> str:
    return "\n".join(_bounded(line, MAX_TRACEBACK_LINE_CHARS) for line in text.splitlines()[-60:])


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for every logger of the process."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        RedactingJsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            rename_fields={"levelname": "level", "asctime": "time", "process": "pid"},
        )
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
