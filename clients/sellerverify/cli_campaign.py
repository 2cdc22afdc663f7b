"""`sellerverify` verbs of the campaign area (registered by cli.build_parser).

sellerverify enterprise register LICENCE_DOCUMENT_ID [--ref REF]
sellerverify enterprise get ID
sellerverify enterprise add-executive ID SUBJECT --role legal-rep|shareholder|director|manager
sellerverify campaign create [--enterprise ID ...] [--subject ID ...] [--region 31] [--all]
                             [--deadline-days 30] [--remind-days 7 --remind-days 21] [--name N]
sellerverify campaign get ID | tasks ID [--state overdue] | watch ID
sellerverify campaign pause|resume ID --reason R
sellerverify campaign waive|extend TASK --reason R [--days N]
sellerverify campaign plan            (run today's annual planning now)
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

ROLE_NAMES = {
    "legal-rep": "EXECUTIVE_ROLE_LEGAL_REPRESENTATIVE",
    "shareholder": "EXECUTIVE_ROLE_MAJOR_SHAREHOLDER",
    "director": "EXECUTIVE_ROLE_DIRECTOR",
    "manager": "EXECUTIVE_ROLE_MANAGER",
}
ORDER = ("pending", "notified", "reminded", "passed", "failed", "overdue", "waived")


def _cli() -> Any:
    from sellerverify import cli

    return cli


def progress_line(counts: dict[str, int], width: int = 40) -> str:
    """A one-line progress bar: closed tasks (passed, failed, overdue, waived) of all."""
    total = sum(counts.values())
    closed = sum(counts.get(k, 0) for k in ("passed", "failed", "overdue", "waived"))
    filled = int(width * closed / total) if total else width
    parts = " ".join(f"{k} {counts.get(k, 0)}" for k in ORDER if counts.get(k, 0))
    pct = 100.0 * closed / total if total else 100.0
    return f"[{'#' * filled}{'.' * (width - filled)}] {pct:5.1f}% {closed}/{total}  {parts}"


def cmd_enterprise(args: argparse.Namespace) -> int:
    from sellerverify.v1 import reverify_pb2 as pb

    cli = _cli()
    with cli._client(args) as client:
        if args.action == "register":
            cli._print(
                client.reverify.RegisterEnterprise(
                    pb.RegisterEnterpriseRequest(
                        request_id=uuid.uuid4().hex, external_ref=args.ref or "", licence_document_id=args.target
                    )
                )
            )
        elif args.action == "get":
            cli._print(client.reverify.GetEnterprise(pb.GetEnterpriseRequest(enterprise_id=args.target)))
        else:
            if not args.subject or not args.role:
                print("error: add-executive needs SUBJECT and --role", file=sys.stderr)
                return 2
            cli._print(
                client.reverify.AddExecutive(
                    pb.AddExecutiveRequest(
                        request_id=uuid.uuid4().hex,
                        enterprise_id=args.target,
                        subject_id=args.subject,
                        role=ROLE_NAMES[args.role],
                        name=args.name or "",
                        share_percent=args.share or 0.0,
                    )
                )
            )
    return 0


def _counts(campaign: Any) -> dict[str, int]:
    return {k: int(v) for k, v in campaign.task_counts.items()}


def cmd_campaign(args: argparse.Namespace) -> int:
    from google.protobuf.timestamp_pb2 import Timestamp
    from sellerverify.v1 import common_pb2
    from sellerverify.v1 import reverify_pb2 as pb

    cli = _cli()
    with cli._client(args) as client:
        rv = client.reverify
        if args.action == "create":
            deadline = Timestamp()
            deadline.FromDatetime(datetime.now(UTC) + timedelta(days=args.deadline_days))
            cli._print(
                rv.CreateCampaign(
                    pb.CreateCampaignRequest(
                        request_id=uuid.uuid4().hex,
                        name=args.name or "",
                        kind=pb.CAMPAIGN_KIND_AD_HOC,
                        enterprise_ids=args.enterprise or [],
                        subject_ids=args.subject or [],
                        region=args.region or "",
                        all_enterprises=args.all,
                        deadline=deadline,
                        remind_after_seconds=[int(d * 86400) for d in (args.remind_days or [])],
                    )
                )
            )
        elif args.action == "plan":
            cli._print(rv.RunScheduler(pb.RunSchedulerRequest(request_id=uuid.uuid4().hex)))
        elif args.action == "get":
            cli._print(rv.GetCampaign(pb.GetCampaignRequest(campaign_id=args.target)))
        elif args.action == "tasks":
            state = f"TASK_STATE_{args.state.upper()}" if args.state else None
            token = ""
            while True:
                page = rv.ListCampaignTasks(
                    pb.ListCampaignTasksRequest(
                        campaign_id=args.target,
                        state=state,
                        page=common_pb2.PageRequest(page_size=200, page_token=token),
                    )
                )
                for t in page.tasks:
                    print(
                        f"{t.task_id}  {pb.TaskState.Name(t.state)[11:].lower():9s} {t.subject_id}  "
                        f"deadline {t.deadline.ToDatetime(UTC).isoformat()}  reminders {t.reminders_sent}"
                    )
                token = page.page.next_page_token
                if not token or not args.all_pages:
                    if token:
                        print(f"(more: --all-pages; next page token {token})")
                    break
        elif args.action == "watch":
            interactive = sys.stdout.isatty()
            while True:
                c = rv.GetCampaign(pb.GetCampaignRequest(campaign_id=args.target)).campaign
                line = f"{c.name[:30]:30s} {progress_line(_counts(c))}"
                print(("\r" + line) if interactive else line, end="" if interactive else "\n", flush=True)
                if c.state == pb.CAMPAIGN_STATE_COMPLETED:
                    print("\ncompleted" if interactive else "completed")
                    return 0
                if args.once:
                    if interactive:
                        print()
                    return 0
                time.sleep(args.interval)
        elif args.action in ("pause", "resume"):
            req_cls = pb.PauseCampaignRequest if args.action == "pause" else pb.ResumeCampaignRequest
            call = rv.PauseCampaign if args.action == "pause" else rv.ResumeCampaign
            cli._print(call(req_cls(request_id=uuid.uuid4().hex, campaign_id=args.target, reason=args.reason or "")))
        elif args.action == "waive":
            cli._print(
                rv.WaiveTask(
                    pb.WaiveTaskRequest(request_id=uuid.uuid4().hex, task_id=args.target, reason=args.reason or "")
                )
            )
        elif args.action == "extend":
            new = Timestamp()
            new.FromDatetime(datetime.now(UTC) + timedelta(days=args.days))
            cli._print(
                rv.ExtendTask(
                    pb.ExtendTaskRequest(
                        request_id=uuid.uuid4().hex, task_id=args.target, new_deadline=new, reason=args.reason or ""
                    )
                )
            )
    return 0


def cmd_campaign_worker(args: argparse.Namespace) -> int:
    """Run the campaign worker (server side; the same settings as `serve`)."""
    from services.reverify.worker import main

    main()
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the enterprise and campaign verbs to the `sellerverify` parser."""
    sub.add_parser(
        "campaign-worker", parents=[common], help="run the campaign worker against SELLERVERIFY_TEMPORAL_ADDRESS"
    ).set_defaults(func=cmd_campaign_worker)
    p = sub.add_parser("enterprise", parents=[common], help="register and read enterprises, add executives")
    p.add_argument("action", choices=["register", "get", "add-executive"], help="what to do")
    p.add_argument("target", help="licence document id (register) or enterprise id")
    p.add_argument("subject", nargs="?", help="subject id (add-executive)")
    p.add_argument("--ref", help="your reference for the enterprise (register)")
    p.add_argument("--role", choices=sorted(ROLE_NAMES), help="the executive's role (add-executive)")
    p.add_argument("--name", help="executive's name (not needed for the legal representative)")
    p.add_argument("--share", type=float, help="share percent (shareholders)")
    p.set_defaults(func=cmd_enterprise)

    p = sub.add_parser("campaign", parents=[common], help="re-verification campaigns: create, watch, waive, ...")
    p.add_argument(
        "action",
        choices=["create", "get", "tasks", "watch", "pause", "resume", "waive", "extend", "plan"],
        help="what to do",
    )
    p.add_argument("target", nargs="?", default="", help="campaign id (get/tasks/watch/pause/resume) or task id")
    p.add_argument("--enterprise", action="append", help="enterprise id to include (repeatable; create)")
    p.add_argument("--subject", action="append", help="subject id to include (repeatable; create)")
    p.add_argument("--region", help="GB/T 2260 division code prefix of the credit code, e.g. 31")
    p.add_argument("--all", action="store_true", help="every enterprise's executives")
    p.add_argument("--name", help="the campaign's name (create)")
    p.add_argument(
        "--deadline-days", type=float, default=30.0, help="days to re-verify in (create, extend; default 30)"
    )
    p.add_argument("--remind-days", type=float, action="append", help="remind after this many days (repeatable)")
    p.add_argument("--state", choices=list(ORDER), help="only tasks in this state (tasks)")
    p.add_argument("--all-pages", action="store_true", help="list every page of tasks (tasks)")
    p.add_argument("--reason", help="why, recorded in the audit trail (waive, extend)")
    p.add_argument("--days", type=float, default=7.0, help="extend: new deadline this many days from now")
    p.add_argument("--interval", type=float, default=2.0, help="watch: seconds between looks")
    p.add_argument("--once", action="store_true", help="watch: print one line and exit")
    p.set_defaults(func=cmd_campaign)
