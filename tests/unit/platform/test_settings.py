"""Settings come from SELLERVERIFY_* environment variables, checked at start."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.platform.settings import ALL_SERVICES, Settings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SELLERVERIFY_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = Settings()
    assert s.enabled_services() == ALL_SERVICES
    assert (s.host, s.port, s.migrate_on_start) == ("127.0.0.1", 50051, True)
    assert s.resolved_database_url() == f"sqlite:///{tmp_path / 'var' / 'sellerverify.db'}"
    assert s.resolved_key_file() == Path("var") / "keys" / "master.key"
    assert s.max_message_bytes > s.image_max_bytes  # oversized images get our reason, not a transport error


def test_environment_is_parsed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "SELLERVERIFY_SERVICES": "identity, trust",
        "SELLERVERIFY_PORT": "6000",
        "SELLERVERIFY_MIGRATE_ON_START": "false",
        "SELLERVERIFY_SHUTDOWN_GRACE_SECONDS": "2.5",
        "SELLERVERIFY_DATABASE_URL": "postgresql://sv@db:5432/sv",
        "SELLERVERIFY_DATA_DIR": str(tmp_path),
        "SELLERVERIFY_TLS_CERT_FILE": str(tmp_path / "server.pem"),
        "SELLERVERIFY_IMAGE_MAX_PIXELS": "1000000",
        "SELLERVERIFY_FACE_MATCH_FMR": "0.0001",
        "SELLERVERIFY_CERT_ROLES": "risk.internal:risk",
        "sellerverify_log_level": "debug",  # names are case-insensitive
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = Settings()
    assert s.enabled_services() == ("identity", "trust")
    assert (s.port, s.migrate_on_start, s.shutdown_grace_seconds) == (6000, False, 2.5)
    assert s.resolved_database_url() == "postgresql://sv@db:5432/sv"
    assert s.data_dir == tmp_path and s.tls_cert_file == tmp_path / "server.pem"
    assert (s.image_max_pixels, s.face_match_fmr, s.cert_roles) == (1_000_000, 0.0001, "risk.internal:risk")
    assert s.log_level.lower() == "debug"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SELLERVERIFY_SERVICES", "identity,billing"),
        ("SELLERVERIFY_PORT", "fifty"),
        ("SELLERVERIFY_MIGRATE_ON_START", "perhaps"),
    ],
)
def test_bad_values_stop_the_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.removeprefix("SELLERVERIFY_").lower()):
        Settings()


def test_every_setting_is_documented_in_operations_guide() -> None:
    documented = set(re.findall(r"`(SELLERVERIFY_[A-Z0-9_]+)`", (ROOT / "docs" / "operations.md").read_text()))
    expected = {f"SELLERVERIFY_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "add these to the settings table in docs/operations.md"
