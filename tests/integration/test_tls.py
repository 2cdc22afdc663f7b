"""TLS and mutual TLS, with certificates made here by `cryptography`."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sellerverify import Client, SellerVerifyError
from sellerverify.v1 import identity_pb2

from services.server import ServerThread
from tests.conftest import TOKENS, make_settings


def _cert(cn: str, issuer_key, issuer_name, key, *, ca: bool = False, san: bool = False):  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Seller Verify Test CA", ca_key, None, ca_key, ca=True)
    out: dict[str, Path] = {}

    def write(name: str, data: bytes) -> None:
        out[name] = d / name
        out[name].write_bytes(data)

    write("ca.pem", ca.public_bytes(serialization.Encoding.PEM))
    rogue_key = ec.generate_private_key(ec.SECP256R1())
    rogue = _cert("Somebody Else's CA", rogue_key, None, rogue_key, ca=True)
    signers = {"server": (ca_key, ca), "risk.internal": (ca_key, ca), "shop.internal": (ca_key, ca)}
    signers["rogue.internal"] = (rogue_key, rogue)  # a client certificate our CA never signed
    for who, (signer_key, signer) in signers.items():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(who, signer_key, signer.subject, key, san=who == "server")
        write(f"{who}.pem", cert.public_bytes(serialization.Encoding.PEM))
        write(
            f"{who}.key",
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
        )
    return out


def test_tls_server_accepts_tls_clients_only(pki: dict[str, Path], tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'sv.db'}", tls_cert_file=pki["server.pem"], tls_key_file=pki["server.key"]
    )
    with ServerThread(settings) as srv:
        address = f"localhost:{srv.port}"
        with Client(address, token=TOKENS["onboarding"], root_cert=pki["ca.pem"]) as client:
            assert client.health("") == "SERVING"
            client.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref="over-tls"))
        with (
            Client(address, token=TOKENS["onboarding"], retries=0, timeout=3) as plain,
            pytest.raises(SellerVerifyError) as err,
        ):
            plain.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="x"))
        assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_mutual_tls_requires_a_client_certificate_and_maps_it_to_a_role(pki: dict[str, Path], tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'sv.db'}",
        tls_cert_file=pki["server.pem"],
        tls_key_file=pki["server.key"],
        tls_client_ca_file=pki["ca.pem"],
        cert_roles="risk.internal:risk",
    )
    with ServerThread(settings) as srv:
        address = f"localhost:{srv.port}"
        with (
            Client(address, token=TOKENS["risk"], root_cert=pki["ca.pem"], retries=0, timeout=3) as anonymous,
            pytest.raises(SellerVerifyError) as err,
        ):
            anonymous.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="x"))
        assert err.value.code == grpc.StatusCode.UNAVAILABLE  # refused in the handshake, token or not
        with (
            Client(
                address,
                token=TOKENS["risk"],
                root_cert=pki["ca.pem"],
                client_cert=pki["rogue.internal.pem"],
                client_key=pki["rogue.internal.key"],
                retries=0,
                timeout=3,
            ) as rogue,
            pytest.raises(SellerVerifyError) as err,
        ):
            rogue.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="x"))
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
        shop = {
            "root_cert": pki["ca.pem"],
            "client_cert": pki["shop.internal.pem"],
            "client_key": pki["shop.internal.key"],
        }
        with Client(address, **shop) as unmapped, pytest.raises(SellerVerifyError) as err:  # type: ignore[arg-type]
            unmapped.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="x"))
        assert err.value.reason == "CREDENTIALS_MISSING"  # a valid certificate is not a role by itself
        with Client(address, token=TOKENS["onboarding"], **shop) as shop_with_token:  # type: ignore[arg-type]
            created = shop_with_token.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref="mtls"))
            assert created.subject.subject_id
        with Client(
            address,
            root_cert=pki["ca.pem"],
            client_cert=pki["risk.internal.pem"],
            client_key=pki["risk.internal.key"],
        ) as risk:
            # Authenticated by certificate alone (no token): the risk role may read subjects...
            with pytest.raises(SellerVerifyError) as err:
                risk.identity.GetSubject(identity_pb2.GetSubjectRequest(subject_id="missing"))
            assert err.value.reason == "SUBJECT_NOT_FOUND"
            # ...but not create them.
            with pytest.raises(SellerVerifyError) as err:
                risk.identity.CreateSubject(identity_pb2.CreateSubjectRequest(external_ref="x"))
            assert err.value.reason == "ROLE_NOT_ALLOWED"
