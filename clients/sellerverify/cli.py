"""The `sellerverify` command line, built on the SDK.

Server side:   sellerverify serve [--service identity] | migrate | purge | keygen | token
Client side:   sellerverify health | subject create/get | verify-id | verify-licence |
               match-face | challenge issue/respond | demo
               samples (sample documents and photos to try each verb with)

Client commands find the server that `sellerverify serve` started from the same folder:
it writes its address and where its tokens are to <data dir>/endpoint.json (./var by
default). --address/$SELLERVERIFY_ADDRESS and --token/$SELLERVERIFY_TOKEN (or
--token-file/$SELLERVERIFY_TOKEN_FILE) override it. Global options go before or after the verb.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from sellerverify.client import Client, SellerVerifyError

ROLES = ("onboarding", "cs_rep", "scheduler", "risk", "admin")


def _print(message: Any) -> None:
    if hasattr(message, "DESCRIPTOR"):
        data = MessageToDict(message, preserving_proto_field_name=True)
    else:
        data = message
    print(json.dumps(data, ensure_ascii=False, indent=2))


ENDPOINT_FILE = "endpoint.json"
DEFAULT_ADDRESS = "127.0.0.1:50051"


def _data_dir(args: argparse.Namespace) -> Path:
    return Path(args.data_dir or os.environ.get("SELLERVERIFY_DATA_DIR") or "var")


def _endpoint(args: argparse.Namespace) -> dict[str, Any]:
    """What the local server wrote about itself, or {} when none ran from this data folder."""
    path = _data_dir(args) / ENDPOINT_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _token_from_file(path: Path, role: str) -> str:
    """A token file holds one bare token, or `client_id:role:token` lines (embedded mode's file)."""
    lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    entries = [ln.split(":", 2) for ln in lines if ln.count(":") >= 2]
    if not entries and len(lines) == 1:
        return lines[0]
    return token_for(path, role)


def resolve_connection(args: argparse.Namespace) -> tuple[str, str | None]:
    """(address, token): flags, then environment, then the local server's endpoint file."""
    endpoint = _endpoint(args)
    address = args.address or os.environ.get("SELLERVERIFY_ADDRESS") or endpoint.get("address") or DEFAULT_ADDRESS
    token = args.token or os.environ.get("SELLERVERIFY_TOKEN")
    token_file = args.token_file or os.environ.get("SELLERVERIFY_TOKEN_FILE") or endpoint.get("tokens_file")
    if not token and token_file:
        token = _token_from_file(Path(token_file), args.token_role)
    return address, token


def _client(args: argparse.Namespace) -> Client:
    address, token = resolve_connection(args)
    return Client(
        address,
        token=token,
        tls=bool(args.ca),
        root_cert=Path(args.ca) if args.ca else None,
        timeout=args.timeout,
    )


def _image(path: str | None) -> Any:
    from sellerverify.v1 import common_pb2

    if not path:
        return None
    return common_pb2.Image(content=Path(path).read_bytes())


# ---------------------------------------------------------------- server side


def ensure_dev_tokens(data_dir: Path) -> Path:
    """Embedded mode with no tokens configured: create one random token per role (0600)."""
    path = data_dir / "api_tokens.txt"
    if not path.exists():
        from services.platform.private_files import private_dir

        private_dir(data_dir)
        lines = [f"local-{role}:{role}:{secrets.token_urlsafe(24)}" for role in ROLES]
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("# client_id:role:token — created on first run; keep private\n" + "\n".join(lines) + "\n")
    return path


def token_for(path: Path, role: str) -> str:
    for line in path.read_text().splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3 and parts[1] == role and not line.startswith("#"):
            return parts[2]
    raise SystemExit(f"no {role} token in {path}")


def cmd_serve(args: argparse.Namespace) -> int:
    # Tesseract (in-process) and faiss parallelise with OpenMP; on 2 cores, with several
    # requests in flight, nested OpenMP teams oversubscribe the CPU (a card took ~500 ms
    # instead of ~160). The limit is read when OpenMP loads, so it is set before the
    # server imports anything numeric. faiss is pinned to it (services/identity/duplicates.py).
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    from services.platform.logs import configure_logging
    from services.platform.settings import Settings

    if args.service:
        os.environ["SELLERVERIFY_SERVICES"] = ",".join(args.service)
    if args.port is not None:
        os.environ["SELLERVERIFY_PORT"] = str(args.port)
    if args.host:
        os.environ["SELLERVERIFY_HOST"] = args.host
    settings = Settings()
    configure_logging(settings.log_level)
    tokens_file = None
    if not settings.api_tokens and not settings.api_tokens_file:
        tokens_file = ensure_dev_tokens(settings.data_dir)
        settings.api_tokens_file = tokens_file

    from services.platform.private_files import write_private

    if settings.workers > 1 and settings.worker_index < 0:
        return _serve_workers(settings, tokens_file, args.ready_file)
    worker = settings.worker_index >= 0
    from services.server import Running, serve

    def ready(running: Running) -> None:
        address = f"{settings.host}:{running.port}"
        endpoint = settings.data_dir / ENDPOINT_FILE
        if worker:  # one of several processes: the supervisor writes the endpoint file
            from services.console.server import start_embedded

            console = start_embedded(settings, running.port)
            if args.ready_file:  # whole or absent: the supervisor reads it as soon as it exists
                info = {"address": address, "port": running.port, "console_port": console.port if console else 0}
                partial = Path(f"{args.ready_file}.part")
                partial.write_text(json.dumps(info))
                partial.replace(args.ready_file)
            return
        # Where the CLI finds this server: its address and the path of the tokens file
        # (never a token itself; no secret is printed or logged).
        write_private(
            endpoint,
            json.dumps(
                {
                    "address": address,
                    "port": running.port,
                    "tokens_file": str(tokens_file.resolve()) if tokens_file else None,
                    "pid": os.getpid(),
                }
            ),
        )
        cli = Path(sys.argv[0]).absolute()
        print(f"\nSeller Verify is serving {', '.join(settings.enabled_services())} on {address}", file=sys.stderr)
        if tokens_file:
            print(f"API tokens (one per role) are in {tokens_file.resolve()}.", file=sys.stderr)
        from services.console.server import start_embedded

        console = start_embedded(settings, running.port)
        if console:
            print(f"Review console for CS reps: {console.url} (sign in with a cs_rep token)", file=sys.stderr)
        data_dir = settings.data_dir.resolve()
        print("Onboard a sample seller end to end, in another terminal:", file=sys.stderr)
        print(f"  SELLERVERIFY_DATA_DIR={data_dir} {cli} demo", file=sys.stderr)
        print(
            f"(the CLI reads {endpoint.resolve()} for the address and the token; `{cli} --help` lists the verbs)\n",
            file=sys.stderr,
        )
        if args.ready_file:
            info = {"address": address, "port": running.port, "console_port": console.port if console else 0}
            Path(args.ready_file).write_text(json.dumps(info))

    try:
        serve(settings, on_ready=ready)
    finally:
        if not worker:
            (settings.data_dir / ENDPOINT_FILE).unlink(missing_ok=True)
    return 0


def _serve_workers(settings: Any, tokens_file: Path | None, ready_file: str | None) -> int:
    """SELLERVERIFY_WORKERS > 1: a supervisor of that many server processes on one port."""
    from services.platform.private_files import write_private
    from services.supervisor import Supervisor

    sup = Supervisor(settings, tokens_file)
    sup.prepare()
    endpoint = settings.data_dir / ENDPOINT_FILE
    try:
        info = sup.start()
        address = f"{settings.host}:{sup.port}"
        write_private(
            endpoint,
            json.dumps(
                {
                    "address": address,
                    "port": sup.port,
                    "tokens_file": str(tokens_file.resolve()) if tokens_file else None,
                    "pid": os.getpid(),
                }
            ),
        )
        print(
            f"\nSeller Verify is serving {', '.join(settings.enabled_services())} on {address} "
            f"with {settings.workers} worker processes",
            file=sys.stderr,
        )
        if tokens_file:
            print(f"API tokens (one per role) are in {tokens_file.resolve()}.", file=sys.stderr)
        if ready_file:
            Path(ready_file).write_text(
                json.dumps({"address": address, "port": sup.port, "console_port": info.get("console_port", 0)})
            )
        sup.supervise()
    finally:
        sup.stop()
        endpoint.unlink(missing_ok=True)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from services.platform.database import make_engine, migrate
    from services.platform.private_files import private_dir
    from services.platform.settings import Settings

    settings = Settings()
    private_dir(settings.data_dir)
    migrate(make_engine(settings.resolved_database_url()))
    print("database is at the latest schema")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from services.app import App
    from services.platform.records import purge_expired
    from services.platform.settings import Settings

    app = App.build(Settings())
    try:
        _print(purge_expired(app.db, app.blobs, app.retention))
    finally:
        app.close()
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    print(base64.b64encode(secrets.token_bytes(32)).decode())
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    import hashlib

    token = secrets.token_urlsafe(24)
    print(f"token:          {token}")
    print(f"config entry:   {args.client_id}:{args.role}:sha256:{hashlib.sha256(token.encode()).hexdigest()}")
    return 0


# ---------------------------------------------------------------- client side


def cmd_health(args: argparse.Namespace) -> int:
    names = ["", *(f"sellerverify.v1.{n}Service" for n in ("Identity", "Liveness", "Reverify", "Review", "Trust"))]
    if args.service:
        names = [args.service]
    worst = 0
    with _client(args) as client:
        for name in names:
            try:
                status = client.health(name)
            except SellerVerifyError as err:
                status = f"{err.code.name} ({err.message})"
            print(f"{name or '(server)':40s} {status}")
            if status != "SERVING" and not (args.service is None and status.startswith("NOT_FOUND")):
                worst = 1
    return worst


def cmd_subject(args: argparse.Namespace) -> int:
    from sellerverify.v1 import identity_pb2 as pb

    with _client(args) as client:
        if args.action == "create":
            kind = pb.SUBJECT_KIND_EXECUTIVE if args.executive else pb.SUBJECT_KIND_INDIVIDUAL
            _print(client.identity.CreateSubject(pb.CreateSubjectRequest(external_ref=args.ref, kind=kind)))
        else:
            _print(client.identity.GetSubject(pb.GetSubjectRequest(subject_id=args.ref)))
    return 0


def cmd_verify_id(args: argparse.Namespace) -> int:
    from sellerverify.v1 import identity_pb2 as pb

    kinds = {
        "cn-id": pb.DOCUMENT_KIND_CN_RESIDENT_ID,
        "passport": pb.DOCUMENT_KIND_PASSPORT_TD3,
        "td1": pb.DOCUMENT_KIND_ID_CARD_TD1,
        "licence": pb.DOCUMENT_KIND_CN_BUSINESS_LICENCE,
        "auto": pb.DOCUMENT_KIND_UNSPECIFIED,
    }
    with _client(args) as client:
        subject_id = args.subject
        if not subject_id:  # a throwaway subject, so that one command reads one document
            subject_id = client.identity.CreateSubject(
                pb.CreateSubjectRequest(external_ref=f"cli-{secrets.token_hex(6)}")
            ).subject.subject_id
        kind = "licence" if args.command == "verify-licence" else args.kind
        resp = client.identity.SubmitDocument(
            pb.SubmitDocumentRequest(
                subject_id=subject_id or "",
                kind_hint=kinds[kind],
                front=_image(args.file),
                back=_image(getattr(args, "back", None)),
                licence_document_id=getattr(args, "licence_document", None) or "",
                legal_representative_subject_id=getattr(args, "legal_rep_subject", None) or "",
            )
        )
        _print(resp)
        from sellerverify.v1 import common_pb2

        return 0 if resp.verdict == common_pb2.VERDICT_PASS else 2


def cmd_match_face(args: argparse.Namespace) -> int:
    from sellerverify.v1 import common_pb2
    from sellerverify.v1 import identity_pb2 as pb

    with _client(args) as client:
        resp = client.identity.MatchFace(
            pb.MatchFaceRequest(subject_id=args.subject, probe=_image(args.selfie), reference=_image(args.reference))
        )
        _print(resp)
        return 0 if resp.decision == common_pb2.MATCH_DECISION_MATCH else 2


def cmd_challenge(args: argparse.Namespace) -> int:
    from sellerverify.v1 import common_pb2
    from sellerverify.v1 import liveness_pb2 as pb

    with _client(args) as client:
        if args.action == "issue":
            mode = pb.CHALLENGE_MODE_NEWSPAPER if args.newspaper else pb.CHALLENGE_MODE_CODE_ON_PAPER
            _print(client.liveness.IssueChallenge(pb.IssueChallengeRequest(subject_id=args.subject, mode=mode)))
            return 0
        resp = client.liveness.RespondChallenge(
            pb.RespondChallengeRequest(
                challenge_id=args.challenge, subject_id=args.subject, images=[_image(p) for p in args.images]
            )
        )
        _print(resp)
        return 0 if resp.verdict == common_pb2.VERDICT_PASS else 2


def cmd_samples(args: argparse.Namespace) -> int:
    from sellerverify.demo import write_samples

    return write_samples(Path(args.folder))


def cmd_demo(args: argparse.Namespace) -> int:
    from sellerverify.demo import run_demo

    with _client(args) as client:
        return run_demo(client)


def _global_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The connection options, accepted before or after the verb.

    The top-level parser holds the defaults; each verb's copy is SUPPRESSed so that a
    value given after the verb overrides one given before it, and none resets it."""

    def d(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--address",
        default=d(None),
        help="host:port of the suite (default: $SELLERVERIFY_ADDRESS, else the local server's "
        f"<data dir>/endpoint.json, else {DEFAULT_ADDRESS})",
    )
    parser.add_argument("--token", default=d(None), help="API token (default: $SELLERVERIFY_TOKEN)")
    parser.add_argument(
        "--token-file",
        default=d(None),
        help="file with the token, or embedded mode's tokens file (default: $SELLERVERIFY_TOKEN_FILE, "
        "else the local server's)",
    )
    parser.add_argument(
        "--token-role",
        default=d("admin"),
        choices=ROLES,
        help="which token to take from a tokens file (default admin, which may call every RPC)",
    )
    parser.add_argument(
        "--data-dir",
        default=d(None),
        help="the local server's data folder, where it writes endpoint.json (default: $SELLERVERIFY_DATA_DIR or ./var)",
    )
    parser.add_argument(
        "--ca", default=d(os.environ.get("SELLERVERIFY_CA_FILE")), help="CA certificate file: connect with TLS"
    )
    parser.add_argument("--timeout", type=float, default=d(60.0), help="seconds to wait for each call (default 60)")


# Verbs that live in their own modules: each has `register(sub, common)`.
EXTENSIONS = ("sellerverify.cli_trust", "sellerverify.cli_campaign", "sellerverify.cli_console")
SERVICES = ["identity", "liveness", "reverify", "review", "trust"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sellerverify", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _global_options(parser, defaults=True)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, defaults=False)
    sub = parser.add_subparsers(dest="command", required=True, metavar="VERB")

    def verb(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], help=help, description=help)  # type: ignore[no-any-return]

    p = verb("serve", "run the gRPC services (all in one process by default)")
    p.add_argument("--service", action="append", choices=SERVICES, help="serve only this service (repeatable)")
    p.add_argument("--port", type=int, help="port to listen on (default: $SELLERVERIFY_PORT or 50051; 0 = any free)")
    p.add_argument("--host", help="address to bind (default: $SELLERVERIFY_HOST or 127.0.0.1)")
    p.add_argument("--ready-file", help="write {address, port} here once serving")
    p.set_defaults(func=cmd_serve)
    verb("migrate", "bring the database to the latest schema").set_defaults(func=cmd_migrate)
    verb("purge", "delete biometric data past its retention").set_defaults(func=cmd_purge)
    verb("keygen", "print a new base64 AES-256 key").set_defaults(func=cmd_keygen)
    p = verb("token", "make an API token and its config entry")
    p.add_argument("client_id", help="the API client's name, recorded with everything it does")
    p.add_argument("role", choices=ROLES, help="the role the token carries")
    p.set_defaults(func=cmd_token)

    p = verb("health", "health of every service")
    p.add_argument("--service", help="one service's full name, e.g. sellerverify.v1.IdentityService")
    p.set_defaults(func=cmd_health)
    p = verb("samples", "write sample ID documents, a licence and photos to try each verb with")
    p.add_argument("folder", nargs="?", default="samples", help="where to write them (default ./samples)")
    p.set_defaults(func=cmd_samples)
    p = verb("subject", "create or read a subject")
    p.add_argument("action", choices=["create", "get"], help="create a subject, or get one")
    p.add_argument("ref", help="external reference (create) or subject id (get)")
    p.add_argument("--executive", action="store_true", help="create an enterprise executive, not an individual")
    p.set_defaults(func=cmd_subject)
    p = verb("verify-id", "read and validate an ID document")
    p.add_argument("file", help="photo or scan of the document's front (or the passport's data page)")
    p.add_argument("--back", help="photo of the back (Chinese resident ID card)")
    p.add_argument("--subject", help="subject id to attach it to (default: a new throwaway subject)")
    p.add_argument(
        "--kind", choices=["auto", "cn-id", "passport", "td1"], default="auto", help="document kind (default: detect)"
    )
    p.add_argument("--licence-document", help="document id of the enterprise's licence: compare with its legal rep")
    p.set_defaults(func=cmd_verify_id)
    p = verb("verify-licence", "read and validate a business licence")
    p.add_argument("file", help="photo or scan of the business licence")
    p.add_argument("--subject", help="subject id to attach it to (default: a new throwaway subject)")
    p.add_argument(
        "--legal-rep-subject", help="subject id of the legal representative (ID card read): compare the names"
    )
    p.set_defaults(func=cmd_verify_id)
    p = verb("match-face", "match a selfie against the subject's ID portrait")
    p.add_argument("selfie", help="the live photo")
    p.add_argument("--subject", required=True, help="subject id (its ID portrait is the reference)")
    p.add_argument("--reference", help="a reference photo instead of the ID portrait on file")
    p.set_defaults(func=cmd_match_face)
    p = verb("challenge", "issue or answer a liveness challenge")
    p.add_argument("action", choices=["issue", "respond"], help="issue a new challenge, or answer one")
    p.add_argument("--subject", required=True, help="subject id")
    p.add_argument("--challenge", help="challenge id (respond)")
    p.add_argument("--newspaper", action="store_true", help="ask for today's newspaper instead of a one-time code")
    p.add_argument("images", nargs="*", help="the challenge photo(s) (respond)")
    p.set_defaults(func=cmd_challenge)
    verb("demo", "onboard one seller end to end against the running suite").set_defaults(func=cmd_demo)
    import importlib

    for name in EXTENSIONS:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SellerVerifyError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
