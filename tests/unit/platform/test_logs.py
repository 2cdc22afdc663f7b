from __future__ import annotations

import json
import logging

import pytest

from services.platform.logs import configure_logging


def test_json_logs_never_carry_id_numbers_tokens_or_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    log = logging.getLogger("sellerverify.test")
    log.info("looked up 11010519491231002X with Bearer s3cr3t-token-value", extra={"image": b"\xff\xd8" * 100})
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert "11010519491231002X" not in line and "s3cr3t-token-value" not in line
    assert record["image"] == "<200 bytes>"
    assert record["level"] == "INFO"
    logging.getLogger().handlers.clear()
