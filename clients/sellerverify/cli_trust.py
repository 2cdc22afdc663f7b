"""`sellerverify trust ...`: trust scores, shop-opening decisions, reports, signals,
change events and the audit trail (registered by cli.build_parser).

    sellerverify trust score SUBJECT_ID [--enterprise] [--json]
    sellerverify trust decide SUBJECT_ID [--enterprise] [--shop-ref REF] [--request-id ID] [--json]
    sellerverify trust report SUBJECT_ID --kind fraud_complaint [--severity high] [--source S] [--description D]
    sellerverify trust signal SUBJECT_ID --kind penalty_record [--value 1] [--source S]
    sellerverify trust watch [--after SEQ] [--kind trust.score_changed ...] [--max N]
    sellerverify trust audit [--subject ID] [--actor CLIENT] [--page-size N]
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def _pb() -> Any:
    from sellerverify.v1 import trust_pb2

    return trust_pb2


def _code(value: int) -> str:
    from sellerverify.v1 import common_pb2

    return str(common_pb2.ReasonCode.Name(value))


def _target(args: argparse.Namespace) -> dict[str, str]:
    return {"enterprise_id": args.target} if args.enterprise else {"subject_id": args.target}


def describe(trust: Any) -> list[str]:
    """A score as lines a person reads: decision, band, reasons, knock-outs, what would change it."""
    pb = _pb()
    lines = [
        f"{pb.ShopDecision.Name(trust.decision).removeprefix('SHOP_DECISION_')}  score {trust.score:g}/100  "
        f"band {pb.RiskBand.Name(trust.band).removeprefix('RISK_BAND_').lower()}  (policy {trust.policy_version})"
    ]
    for k in trust.knock_outs:
        lines.append(f"  knock-out {_code(k.code)}: {k.detail}")
    for r in trust.reasons:
        lines.append(f"  reason {_code(r.code)}: {r.message}")
    for a in trust.actions[:4]:
        after = pb.ShopDecision.Name(a.decision_after).removeprefix("SHOP_DECISION_")
        then = f", then {after}" if a.decision_after else ""
        lines.append(f"  to change it: {a.text} (+{a.points_gained:g}{then})")
    return lines


def _emit(args: argparse.Namespace, message: Any, trust: Any) -> None:
    if args.json:
        from google.protobuf.json_format import MessageToDict

        print(json.dumps(MessageToDict(message, preserving_proto_field_name=True), ensure_ascii=False, indent=2))
    else:
        print("\n".join(describe(trust)))


def cmd_score(args: argparse.Namespace) -> int:
    from sellerverify.cli import _client

    pb = _pb()
    with _client(args) as client:
        got = client.trust.GetTrustScore(pb.GetTrustScoreRequest(**_target(args)))
    _emit(args, got, got.trust)
    if not args.json:
        for m in got.members:
            print(f"  member {m.role} {m.subject_id}: " + describe(m.trust)[0])
    return 0


def cmd_decide(args: argparse.Namespace) -> int:
    from sellerverify.cli import _client

    pb = _pb()
    with _client(args) as client:
        got = client.trust.DecideShopOpening(
            pb.DecideShopOpeningRequest(request_id=args.request_id or "", shop_ref=args.shop_ref, **_target(args))
        )
    _emit(args, got, got.trust)
    if not args.json:
        print(
            f"  decision id {got.decision_id}" + (f", review case {got.review_case_id}" if got.review_case_id else "")
        )
    return 0 if got.decision == pb.SHOP_DECISION_ALLOW else 3


def cmd_report(args: argparse.Namespace) -> int:
    from sellerverify.cli import _client

    pb = _pb()
    with _client(args) as client:
        got = client.trust.ReportSuspiciousActivity(
            pb.ReportSuspiciousActivityRequest(
                kind=pb.ActivityKind.Value(f"ACTIVITY_KIND_{args.kind.upper()}"),
                severity=pb.Severity.Value(f"SEVERITY_{args.severity.upper()}"),
                source=args.source,
                description=args.description,
                **_target(args),
            )
        )
    _emit(args, got, got.trust)
    if not args.json:
        print(f"  report {got.report_id}; must re-verify: {', '.join(got.subject_ids)}; case {got.review_case_id}")
    return 0


def cmd_signal(args: argparse.Namespace) -> int:
    from sellerverify.cli import _client

    pb = _pb()
    with _client(args) as client:
        got = client.trust.RecordPlatformSignal(
            pb.RecordPlatformSignalRequest(
                kind=pb.PlatformSignalKind.Value(f"PLATFORM_SIGNAL_KIND_{args.kind.upper()}"),
                value=args.value,
                source=args.source,
                **_target(args),
            )
        )
    _emit(args, got, got.trust)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict
    from sellerverify.cli import _client

    pb = _pb()
    with _client(args) as client:
        request = pb.WatchChangesRequest(after_seq=args.after, kinds=args.kind or [], max_events=args.max)
        for message in client.trust.WatchChanges(request, timeout=args.timeout):
            if message.HasField("event"):
                print(json.dumps(MessageToDict(message.event, preserving_proto_field_name=True), ensure_ascii=False))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from google.protobuf.json_format import MessageToDict
    from sellerverify.cli import _client
    from sellerverify.v1 import common_pb2

    pb = _pb()
    with _client(args) as client:
        got = client.trust.ListAuditEvents(
            pb.ListAuditEventsRequest(
                subject_id=args.subject or "",
                actor=args.actor or "",
                action=args.action or "",
                page=common_pb2.PageRequest(page_size=args.page_size, page_token=args.page_token or ""),
            )
        )
    print(json.dumps(MessageToDict(got, preserving_proto_field_name=True), ensure_ascii=False, indent=2))
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add `sellerverify trust ...` to the parser."""
    trust = sub.add_parser("trust", parents=[common], help="trust scores and shop-opening decisions")
    verbs = trust.add_subparsers(dest="trust_command", required=True)

    def targeted(name: str, text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = verbs.add_parser(name, parents=[common], help=text)
        p.add_argument("target", help="subject id (or enterprise id with --enterprise)")
        p.add_argument("--enterprise", action="store_true", help="the target is an enterprise")
        p.add_argument("--json", action="store_true", help="print the whole response as JSON")
        return p

    targeted("score", "the trust score, its reasons and what would change the decision").set_defaults(func=cmd_score)
    p = targeted("decide", "decide a shop opening (exit 0 ALLOW, 3 REVIEW or DENY)")
    p.add_argument("--shop-ref", default="", help="the platform's shop id, recorded with the decision")
    p.add_argument("--request-id", help="idempotency key (the same id gives the same answer)")
    p.set_defaults(func=cmd_decide)
    p = targeted("report", "report suspicious activity (the subject must re-verify; a case opens)")
    p.add_argument(
        "--kind",
        required=True,
        choices=["account_takeover", "fraud_complaint", "counterfeit_goods", "linked_accounts", "other"],
        help="what was seen",
    )
    p.add_argument(
        "--severity",
        default="medium",
        choices=["low", "medium", "high", "critical"],
        help="how serious (default medium)",
    )
    p.add_argument("--source", default="cli", help="which platform system reports it (default cli)")
    p.add_argument("--description", default="", help="what happened; no ID numbers or images")
    p.set_defaults(func=cmd_report)
    p = targeted("signal", "record a platform signal")
    p.add_argument(
        "--kind",
        required=True,
        choices=["penalty_record", "policy_violation", "user_credibility", "positive_behaviour", "ban", "ban_lifted"],
        help="the signal's kind",
    )
    p.add_argument("--value", type=float, default=0.0, help="the signal's value in its own unit (e.g. a rating)")
    p.add_argument("--source", default="cli", help="which platform system records it (default cli)")
    p.set_defaults(func=cmd_signal)
    p = verbs.add_parser("watch", parents=[common], help="stream change events (JSON lines)")
    p.add_argument("--after", type=int, default=0, help="resume after this seq")
    p.add_argument("--kind", action="append", help="event kind to deliver (repeatable; default all)")
    p.add_argument("--max", type=int, default=0, help="stop after this many events")
    p.set_defaults(func=cmd_watch)
    p = verbs.add_parser("audit", parents=[common], help="the audit trail (admin token)")
    p.add_argument("--subject", help="only events about this subject id")
    p.add_argument("--actor", help="only events by this API client")
    p.add_argument("--action", help="only this action (e.g. read_evidence)")
    p.add_argument("--page-size", type=int, default=50, help="events per page (default 50)")
    p.add_argument("--page-token", help="the next_page_token of the previous page")
    p.set_defaults(func=cmd_audit)
