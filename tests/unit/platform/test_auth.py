from __future__ import annotations

import hashlib

import pytest

from services.core.errors import DomainError
from services.core.reasons import Reason
from services.platform import auth
from services.platform.auth import ConfigError, Role, TokenStore, parse_cert_roles


def test_tokens_map_to_callers_with_roles() -> None:
    store = TokenStore()
    store.load_spec("shop:onboarding:aaaaaaaaaaaaaaaaaaaa, alice:cs_rep:bbbbbbbbbbbbbbbbbbbb\n# comment\n")
    assert len(store) == 2
    assert store.authenticate("aaaaaaaaaaaaaaaaaaaa").role is Role.ONBOARDING
    caller = store.authenticate("bbbbbbbbbbbbbbbbbbbb")
    assert (caller.client_id, caller.role) == ("alice", Role.CS_REP)


def test_tokens_file_one_entry_per_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "tokens.txt"
    digest = hashlib.sha256(b"scheduler-token-0000").hexdigest()
    path.write_text(f"# issued 2026-11-22\nrisk-svc:risk:rrrrrrrrrrrrrrrrrrrr\n\ncron:scheduler:sha256:{digest}\n")
    store = TokenStore()
    store.load_file(path)
    assert store.authenticate("rrrrrrrrrrrrrrrrrrrr").role is Role.RISK
    assert store.authenticate("scheduler-token-0000").client_id == "cron"


def test_sha256_entries_keep_the_token_out_of_configuration() -> None:
    store = TokenStore()
    store.add("risk-svc", "risk", "sha256:" + hashlib.sha256(b"the-real-token-123456").hexdigest())
    assert store.authenticate("the-real-token-123456").client_id == "risk-svc"
    with pytest.raises(DomainError):  # the digest itself is not a token
        store.authenticate(hashlib.sha256(b"the-real-token-123456").hexdigest())


def test_unknown_token_is_refused_with_a_reason() -> None:
    store = TokenStore()
    store.load_spec("a:admin:cccccccccccccccccccc")
    with pytest.raises(DomainError) as err:
        store.authenticate("dddddddddddddddddddd")
    assert err.value.reason is Reason.CREDENTIALS_INVALID
    assert "dddd" not in str(err.value)  # the presented token is never echoed


def test_lookup_compares_digests_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """No dict lookup or `==` on secrets: every configured digest goes through
    hmac.compare_digest, so response time does not reveal how much of a token matched."""
    store = TokenStore()
    store.load_spec(",".join(f"c{i}:risk:{'t' * 20}{i:04d}" for i in range(5)))
    compared: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    with pytest.raises(DomainError):
        store.authenticate("t" * 20 + "9999")
    assert len(compared) == 5
    assert all(len(a) == len(b) == 32 for a, b in compared)  # digests, never the raw token


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a:root:cccccccccccccccccccc", "unknown role 'root'"),
        ("a:admin:short", "at least 16"),
        ("a-admin-token", "client_id:role:token"),
        ("a:admin:sha256:abcd", "64 hex"),
    ],
    ids=["bad-role", "short-token", "no-separators", "short-digest"],
)
def test_bad_configuration_is_rejected(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TokenStore().load_spec(spec)


def test_non_hex_digest_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="hex"):
        TokenStore().load_spec("a:admin:sha256:" + "z" * 64)


def test_certificate_common_names_map_to_roles() -> None:
    callers = parse_cert_roles("scheduler.internal:scheduler, risk.internal:risk")
    assert callers["risk.internal"].role is Role.RISK
    assert callers["scheduler.internal"].client_id == "scheduler.internal"
    with pytest.raises(ConfigError, match="unknown role"):
        parse_cert_roles("x.internal:superuser")
