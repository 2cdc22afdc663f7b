"""Encryption at rest (AES-256-GCM) and keyed hashing of identifiers.

Sealed format: b"SV1" | key-id length (1 byte) | key id | 12-byte nonce | ciphertext+tag.
The key id travels with the data so keys can be rotated: new data is sealed with the
current key, old data stays readable with the old keys listed in settings.
The associated data binds a ciphertext to its purpose and row (e.g. "blob:<id>"), so a
ciphertext copied to another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from services.platform.private_files import private_dir

_MAGIC = b"SV1"


class KeyConfigError(Exception):
    """A key is missing or malformed (configuration problem)."""


@dataclass(frozen=True)
class KeyRing:
    """The current key and any older keys kept for decryption."""

    current_id: str
    keys: dict[str, bytes]
    pepper: bytes

    def seal(self, plaintext: bytes, aad: str) -> bytes:
        """Encrypt `plaintext` with the current key, bound to `aad`."""
        key_id = self.current_id.encode()
        nonce = os.urandom(12)
        ct = AESGCM(self.keys[self.current_id]).encrypt(nonce, plaintext, aad.encode())
        return _MAGIC + bytes([len(key_id)]) + key_id + nonce + ct

    def open(self, sealed: bytes, aad: str) -> bytes:
        """Decrypt data sealed by `seal` with any known key; raises on tampering."""
        if not sealed.startswith(_MAGIC) or len(sealed) < 4:
            raise KeyConfigError("not a sealed value")
        n = sealed[3]
        # Header, key id, 12-byte nonce and the 16-byte GCM tag at least: anything shorter was cut.
        if len(sealed) < 4 + n + 12 + 16:
            raise KeyConfigError("sealed value is truncated")
        try:
            key_id = sealed[4 : 4 + n].decode()
        except UnicodeDecodeError:
            raise KeyConfigError("sealed value has a corrupt key id") from None
        nonce = sealed[4 + n : 16 + n]
        ct = sealed[16 + n :]
        key = self.keys.get(key_id)
        if key is None:
            raise KeyConfigError(f"data was sealed with key id {key_id!r}, which is not configured")
        try:
            return AESGCM(key).decrypt(nonce, ct, aad.encode())
        except InvalidTag:
            raise KeyConfigError("sealed value failed authentication (tampered or wrong row)") from None

    @staticmethod
    def key_id_of(sealed: bytes) -> str:
        n = sealed[3]
        return sealed[4 : 4 + n].decode()

    def keyed_hash(self, value: str, purpose: str) -> str:
        """HMAC-SHA256 of a normalised identifier, for lookups without storing it in clear."""
        msg = f"{purpose}:{value.strip().upper()}".encode()
        return hmac.new(self.pepper, msg, hashlib.sha256).hexdigest()


def _decode_key(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise KeyConfigError(f"{what} is not valid base64") from None
    if len(raw) != 32:
        raise KeyConfigError(f"{what} must be 32 bytes (base64 of 32 random bytes), got {len(raw)}")
    return raw


def _read_or_create(path: Path, create: bool) -> bytes:
    if path.exists():
        return _decode_key(path.read_text(), str(path))
    if not create:
        raise KeyConfigError(f"key file {path} does not exist")
    private_dir(path.parent)
    raw = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(raw).decode() + "\n")
    return raw


def load_keyring(
    *,
    key_b64: str,
    key_id: str,
    key_file: Path,
    old_keys: str,
    pepper: str,
    create_missing: bool,
) -> KeyRing:
    """Build the key ring from settings; in embedded mode missing key files are created (0600)."""
    if key_b64:
        current = _decode_key(key_b64, "SELLERVERIFY_ENCRYPTION_KEY")
    else:
        current = _read_or_create(key_file, create_missing)
    keys = {key_id: current}
    for item in filter(None, (s.strip() for s in old_keys.split(","))):
        old_id, _, b64 = item.partition(":")
        keys[old_id] = _decode_key(b64, f"old key {old_id}")
    if pepper:
        pepper_bytes = pepper.encode()
    else:
        pepper_bytes = _read_or_create(key_file.with_name("pepper.key"), create_missing)
    return KeyRing(current_id=key_id, keys=keys, pepper=pepper_bytes)
