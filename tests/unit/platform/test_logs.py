"""JSON logs never carry citizen numbers, bearer tokens or byte payloads."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from services.platform.logs import configure_logging, redact

ID_NUMBER = "11010519491231002X"  # 18 characters, GB 11643 shape
TOKEN = "s3cr3t-token-value-0123"


@pytest.fixture
def log() -> Iterator[logging.Logger]:
    yield logging.getLogger("sellerverify.test")
    logging.getLogger().handlers.clear()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_message_args_and_extras_are_redacted(log: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")  # here, not in a fixture: the handler must bind the test's captured stderr
    log.info(f"looked up {ID_NUMBER} with Bearer {TOKEN}", extra={"image": b"\xff\xd8" * 100})
    log.info("subject %s from %s", ID_NUMBER.lower(), f"bearer {TOKEN}")
    log.warning("rpc", extra={"authorization": f"Bearer {TOKEN}", "id_number": ID_NUMBER, "template": bytearray(512)})
    lines = _lines(capsys)
    assert len(lines) == 3
    for line in lines:
        assert ID_NUMBER not in line and ID_NUMBER.lower() not in line and TOKEN not in line
    first, second, third = (json.loads(line) for line in lines)
    assert first["image"] == "<200 bytes>" and first["level"] == "INFO"
    assert first["message"].startswith("looked up 110105")  # the region code stays: useful, not identifying
    assert "[redacted]" in second["message"]
    assert third["template"] == "<512 bytes>" and third["level"] == "WARNING"


def test_ordinary_numbers_are_left_alone() -> None:
    text = "took 1234 ms; order 20261122000001; phone 13800138000"
    assert redact(text) == text
    assert ID_NUMBER not in redact(f"id={ID_NUMBER};")


def test_exception_text_is_redacted(log: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    try:
        raise ValueError(f"no subject for {ID_NUMBER}")
    except ValueError:
        log.exception("lookup failed")
    assert ID_NUMBER not in capsys.readouterr().err


def test_long_values_and_exception_texts_are_cut(log: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    huge = "Asia/" + "x" * (1 << 20)
    log.info("rpc", extra={"time_zone": huge})
    try:
        raise OSError(36, "File name too long", huge)
    except OSError:
        log.exception("unhandled error in %s", "/sellerverify.v1.LivenessService/IssueChallenge")
    lines = _lines(capsys)
    assert len(lines) == 2
    assert all(len(line) < 40_000 for line in lines)  # not the 1 MiB value
    first = json.loads(lines[0])
    assert first["time_zone"].startswith("Asia/xxx") and "more characters]" in first["time_zone"]
    assert "File name too long" in json.loads(lines[1])["exc_info"]
