from __future__ import annotations

import hashlib

import pytest

from services.core.errors import DomainError
from services.core.reasons import Reason
from services.platform.auth import ConfigError, Role, TokenStore, parse_cert_roles


def test_tokens_map_to_callers_with_roles() -> None:
    store = TokenStore()
    store.load_spec("shop:onboarding:aaaaaaaaaaaaaaaaaaaa, alice:cs_rep:bbbbbbbbbbbbbbbbbbbb\n# comment\n")
    assert store.authenticate("aaaaaaaaaaaaaaaaaaaa").role is Role.ONBOARDING
    caller = store.authenticate("bbbbbbbbbbbbbbbbbbbb")
    assert (caller.client_id, caller.role) == ("alice", Role.CS_REP)


def test_sha256_entries_keep_the_token_out_of_configuration() -> None:
    store = TokenStore()
    store.add("risk-svc", "risk", "sha256:" + hashlib.sha256(b"the-real-token-123456").hexdigest())
    assert store.authenticate("the-real-token-123456").client_id == "risk-svc"


def test_unknown_token_is_refused_with_a_reason() -> None:
    store = TokenStore()
    store.load_spec("a:admin:cccccccccccccccccccc")
    with pytest.raises(DomainError) as err:
        store.authenticate("dddddddddddddddddddd")
    assert err.value.reason is Reason.CREDENTIALS_INVALID


@pytest.mark.parametrize("spec", ["a:root:cccccccccccccccccccc", "a:admin:short", "a-admin-token"])
def test_bad_configuration_is_rejected(spec: str) -> None:
    with pytest.raises(ConfigError):
        TokenStore().load_spec(spec)


def test_certificate_common_names_map_to_roles() -> None:
    callers = parse_cert_roles("scheduler.internal:scheduler,risk.internal:risk")
    assert callers["risk.internal"].role is Role.RISK
