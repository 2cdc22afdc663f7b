"""`sellerverify` verbs of the console area (registered by cli.build_parser):

sellerverify console [--console-port 8080]   the review console, against --address
sellerverify queue [--kind face_match] [--mine]   open cases with age, SLA and assignee
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any


def cmd_console(args: argparse.Namespace) -> int:
    """Serve the review console against a running suite (`--address`) until Ctrl-C."""
    from services.console.server import start_console

    server = start_console(args.address, host=args.console_host, port=args.console_port)
    print(f"Review console on {server.url} (gRPC {args.address}); Ctrl-C stops it", file=sys.stderr)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    return 0


def cmd_queue(args: argparse.Namespace) -> int:
    """Print one page of open cases, oldest first (the rep's token in --token)."""
    from sellerverify.cli import _client
    from sellerverify.v1 import common_pb2, review_pb2

    kind = f"CASE_KIND_{args.kind.upper()}" if args.kind else None
    with _client(args) as client:
        assignee = client.review.GetReviewer(review_pb2.GetReviewerRequest()).client_id if args.mine else ""
        got = client.review.ListCases(
            review_pb2.ListCasesRequest(kind=kind, assignee=assignee, page=common_pb2.PageRequest(page_size=args.limit))
        )
    now = time.time()
    print(f"{'case':36s}  {'kind':20s} {'waiting':>8s} {'sla':>9s}  assignee")
    for c in got.cases:
        due = (c.sla_due_at.seconds - now) / 60
        sla = f"{due:.0f} min" if due >= 0 else f"-{-due:.0f} min"
        kind_name = review_pb2.CaseKind.Name(c.kind).removeprefix("CASE_KIND_").lower()
        print(f"{c.case_id:36s}  {kind_name:20s} {c.age_seconds // 60:>5d} min {sla:>9s}  {c.assignee or '-'}")
    return 0


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add this area's verbs to the `sellerverify` parser."""
    p = sub.add_parser("console", parents=[common], help="serve the CS review console against --address")
    p.add_argument("--console-host", default="127.0.0.1", help="address to bind the console to (default 127.0.0.1)")
    p.add_argument("--console-port", type=int, default=8080, help="0 = an ephemeral port")
    p.set_defaults(func=cmd_console)
    p = sub.add_parser("queue", parents=[common], help="list open review cases (age, SLA due, assignee)")
    p.add_argument(
        "--kind",
        choices=[
            "document",
            "face_match",
            "liveness",
            "duplicate",
            "video_call",
            "suspicious_activity",
            "reverification",
        ],
        help="only cases of this kind",
    )
    p.add_argument("--mine", action="store_true", help="only cases claimed by this token's client")
    p.add_argument("--limit", type=int, default=50, help="most cases to list (default 50)")
    p.set_defaults(func=cmd_queue)
