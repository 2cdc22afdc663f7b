from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest

from services.platform.crypto import KeyConfigError, load_keyring


def _ring(tmp: Path, key_id: str = "k1", key: bytes | None = None, old: str = ""):  # type: ignore[no-untyped-def]
    key = key or secrets.token_bytes(32)
    return load_keyring(
        key_b64=base64.b64encode(key).decode(),
        key_id=key_id,
        key_file=tmp / "master.key",
        old_keys=old,
        pepper="pepper-for-tests",
        create_missing=True,
    )


def test_seal_round_trip_and_ciphertext_hides_plaintext(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    secret = b"\xff\xd8\xff\xe0JFIF portrait bytes" * 10
    sealed = ring.seal(secret, "blob:1")
    assert secret[:20] not in sealed
    assert ring.open(sealed, "blob:1") == secret
    assert ring.key_id_of(sealed) == "k1"


def test_tampering_and_row_swapping_are_detected(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    sealed = bytearray(ring.seal(b"template", "blob:1"))
    with pytest.raises(KeyConfigError):
        ring.open(bytes(sealed), "blob:2")  # copied to another row
    sealed[-1] ^= 1
    with pytest.raises(KeyConfigError):
        ring.open(bytes(sealed), "blob:1")


def test_rotation_keeps_old_data_readable(tmp_path: Path) -> None:
    old_key = secrets.token_bytes(32)
    old = _ring(tmp_path, "k1", old_key)
    sealed_old = old.seal(b"old image", "blob:7")
    new = _ring(tmp_path, "k2", old=f"k1:{base64.b64encode(old_key).decode()}")
    assert new.open(sealed_old, "blob:7") == b"old image"
    assert new.key_id_of(new.seal(b"x", "a")) == "k2"
    without_old = _ring(tmp_path, "k2")
    with pytest.raises(KeyConfigError, match="k1"):
        without_old.open(sealed_old, "blob:7")


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    kwargs = dict(key_b64="", key_id="k1", key_file=tmp_path / "keys" / "master.key", old_keys="", pepper="")
    first = load_keyring(create_missing=True, **kwargs)  # type: ignore[arg-type]
    assert (tmp_path / "keys" / "master.key").stat().st_mode & 0o077 == 0
    second = load_keyring(create_missing=False, **kwargs)  # type: ignore[arg-type]
    assert second.open(first.seal(b"x", "a"), "a") == b"x"
    assert first.keyed_hash("11010519491231002x", "id") == second.keyed_hash("11010519491231002X", "id")


def test_bad_key_is_a_clear_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigError, match="32 bytes"):
        load_keyring(
            key_b64=base64.b64encode(b"short").decode(),
            key_id="k",
            key_file=tmp_path / "k",
            old_keys="",
            pepper="p",
            create_missing=False,
        )


def test_same_plaintext_seals_differently_each_time(tmp_path: Path) -> None:
    ring = _ring(tmp_path)
    a, b = ring.seal(b"same", "blob:1"), ring.seal(b"same", "blob:1")
    assert a != b  # fresh nonce per seal: equal images are not recognisable as equal
    assert ring.open(a, "blob:1") == ring.open(b, "blob:1") == b"same"


def test_tampered_key_id_or_nonce_is_detected(tmp_path: Path) -> None:
    ring = _ring(tmp_path, "k1")
    sealed = ring.seal(b"portrait", "blob:3")
    forged_id = sealed.replace(b"k1", b"k9", 1)
    with pytest.raises(KeyConfigError, match="k9"):
        ring.open(forged_id, "blob:3")
    nonce_at = 4 + len(b"k1")
    flipped = bytearray(sealed)
    flipped[nonce_at] ^= 0x80
    with pytest.raises(KeyConfigError, match="authentication"):
        ring.open(bytes(flipped), "blob:3")
    with pytest.raises(KeyConfigError, match="not a sealed value"):
        ring.open(b"plain bytes that were never sealed", "blob:3")


@pytest.mark.parametrize("keep", [3, 6, 10])
def test_truncated_sealed_value_is_a_clear_error(tmp_path: Path, keep: int) -> None:
    ring = _ring(tmp_path)
    sealed = ring.seal(b"portrait", "blob:4")
    with pytest.raises(KeyConfigError):
        ring.open(sealed[:keep], "blob:4")


def test_keyed_hash_depends_on_pepper_and_purpose(tmp_path: Path) -> None:
    key = secrets.token_bytes(32)
    one = _ring(tmp_path, key=key)
    other = load_keyring(
        key_b64=base64.b64encode(key).decode(),
        key_id="k1",
        key_file=tmp_path / "master.key",
        old_keys="",
        pepper="another-pepper",
        create_missing=True,
    )
    number = "11010519491231002X"
    assert one.keyed_hash(number, "cn_id") != other.keyed_hash(number, "cn_id")
    assert one.keyed_hash(number, "cn_id") != one.keyed_hash(number, "passport")
    assert number not in one.keyed_hash(number, "cn_id")
