"""The console's web application (Starlette + Jinja2, server-rendered).

Each handler turns a page or form into gRPC calls made with the signed-in rep's token
(`Backend.call`) and renders the answer. Security lives in `_guard` and `_headers`:
a session cookie (signed id; the token stays server-side), a CSRF token on every POST,
a strict Content-Security-Policy (no inline script or style), `Cache-Control:
no-store` on every response except static files, and no referrer (the seller's link
carries a one-time token).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import cv2
import jinja2
import numpy as np
from google.protobuf.json_format import MessageToDict
from sellerverify.client import SellerVerifyError
from sellerverify.v1 import common_pb2, identity_pb2, review_pb2, trust_pb2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.console.backend import Backend
from services.console.calls import MAX_FRAME_BYTES, CallRelay, LiveCall
from services.console.sessions import RepSession, SessionStore
from services.identity.subjects import MRZ_NUMBER_FIELDS, mask_document_number, mask_id_number
from services.trust import review_policy

HERE = Path(__file__).parent
SESSION_COOKIE = "sv_session"
LOGIN_COOKIE = "sv_login"
SELLER_COOKIE = "sv_seller"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; "
    "media-src 'self' blob: mediastream:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
KIND_NAMES = {
    "document": review_pb2.CASE_KIND_DOCUMENT,
    "face_match": review_pb2.CASE_KIND_FACE_MATCH,
    "liveness": review_pb2.CASE_KIND_LIVENESS,
    "duplicate": review_pb2.CASE_KIND_DUPLICATE,
    "video_call": review_pb2.CASE_KIND_VIDEO_CALL,
    "suspicious_activity": review_pb2.CASE_KIND_SUSPICIOUS_ACTIVITY,
    "reverification": review_pb2.CASE_KIND_REVERIFICATION,
}
STATE_NAMES = {
    "open": review_pb2.CASE_STATE_OPEN,
    "approved": review_pb2.CASE_STATE_APPROVED,
    "rejected": review_pb2.CASE_STATE_REJECTED,
    "recapture_requested": review_pb2.CASE_STATE_RECAPTURE_REQUESTED,
}
# Risk bands from worst to best; the queue filter keeps a band and every worse one.
RISK_BANDS = {
    "very_high": trust_pb2.RISK_BAND_VERY_HIGH,
    "high": trust_pb2.RISK_BAND_HIGH,
    "medium": trust_pb2.RISK_BAND_MEDIUM,
    "low": trust_pb2.RISK_BAND_LOW,
}
DECISIONS = {
    "approve": review_pb2.CASE_DECISION_APPROVE,
    "reject": review_pb2.CASE_DECISION_REJECT,
    "request_new_capture": review_pb2.CASE_DECISION_REQUEST_NEW_CAPTURE,
}
DECISION_LABELS = {"approve": "Approve", "reject": "Reject", "request_new_capture": "Request new capture"}
REASON_LABELS = {
    "REVIEW_SAME_PERSON": "Same person as the ID document",
    "REVIEW_DOCUMENT_GENUINE": "Document genuine, fields right",
    "REVIEW_FALSE_ALARM": "False alarm (light, glasses, angle)",
    "REVIEW_DIFFERENT_PERSON": "Different person from the ID document",
    "REVIEW_DOCUMENT_FORGED": "Document forged or altered",
    "REVIEW_PRESENTATION_ATTACK": "Photo, screen or mask presented",
    "REVIEW_DUPLICATE_CONFIRMED": "Identity already used by another seller",
    "REVIEW_IMAGE_UNUSABLE": "Images too poor to decide",
    "REVIEW_NEEDS_VIDEO_CALL": "Needs a live video call",
}


def _asset_version() -> str:
    digest = hashlib.sha256()
    for name in ("console.js", "console.css"):
        digest.update((HERE / "static" / name).read_bytes())
    return digest.hexdigest()[:12]


ASSET_VERSION = _asset_version()
THRESHOLD = re.compile(r">=\s*([0-9.]+)")
IMAGE_ORDER = ("id_portrait", "selfie", "probe", "challenge_response", "video_frame", "document_front", "document_back")


@dataclass
class Console:
    """What the handlers share."""

    backend: Backend
    sessions: SessionStore = field(default_factory=SessionStore)
    calls: CallRelay = field(default_factory=CallRelay)
    secure_cookies: bool = False
    templates: Jinja2Templates = field(
        default_factory=lambda: Jinja2Templates(
            env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True)
        )
    )


class RedirectError(Exception):
    """Stop handling and redirect (for example to the login page)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def _ts(value: Any) -> str:
    return value.ToDatetime().strftime("%Y-%m-%d %H:%M UTC") if value and value.seconds else ""


def _duration(seconds: int) -> str:
    seconds = max(0, int(seconds))
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 86400} d {seconds % 86400 // 3600} h"


def _enum(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix).lower()


def case_view(case: review_pb2.ReviewCase, now_seconds: int) -> dict[str, Any]:
    """A case as the templates use it (plain values)."""
    due = case.sla_due_at.seconds
    return {
        "id": case.case_id,
        "short": case.case_id[:8],
        "subject_id": case.subject_id,
        "kind": _enum(review_pb2.CaseKind, case.kind, "CASE_KIND_"),
        "state": _enum(review_pb2.CaseState, case.state, "CASE_STATE_"),
        "risk": "" if not case.risk_band else _enum(trust_pb2.RiskBand, case.risk_band, "RISK_BAND_"),
        "is_open": case.state == review_pb2.CASE_STATE_OPEN,
        "age": _duration(case.age_seconds),
        "age_seconds": case.age_seconds,
        "due": _ts(case.sla_due_at),
        "due_in": _duration(abs(due - now_seconds)),
        "overdue": case.state == review_pb2.CASE_STATE_OPEN and due and due < now_seconds,
        "assignee": case.assignee,
        "snoozed": case.snoozed_until.seconds > now_seconds,
        "snoozed_until": _ts(case.snoozed_until),
        "escalated": case.escalated,
        "escalation_note": case.escalation_note,
        "pending": case.pending_decision if case.HasField("pending_decision") else None,
        "pending_decision": _enum(review_pb2.CaseDecision, case.pending_decision.decision, "CASE_DECISION_")
        if case.HasField("pending_decision")
        else "",
        "pending_reason": common_pb2.ReasonCode.Name(case.pending_decision.reason),
        "reasons": [(common_pb2.ReasonCode.Name(r.code), r.message) for r in case.reasons],
        "opened": _ts(case.opened_at),
        "decided": _ts(case.decided_at),
        "decided_by": case.decided_by,
        "confirmed_by": case.confirmed_by,
        "decision_note": case.decision_note,
        "decision_reason": common_pb2.ReasonCode.Name(case.decision_reason) if case.decision_reason else "",
        "ban": case.ban,
        "call": case.video_call if case.HasField("video_call") else None,
    }


def check_view(check: common_pb2.CheckResult, where: str = "") -> dict[str, Any]:
    """A check with its verdict, score, threshold (when the detail names one) and reasons."""
    found = THRESHOLD.search(check.detail)
    return {
        "name": check.name,
        "where": where,
        "verdict": _enum(common_pb2.Verdict, check.verdict, "VERDICT_"),
        "score": f"{check.score:.3f}" if check.score else "",
        "threshold": found.group(1).rstrip(".") if found else "",
        "detail": check.detail,
        "reasons": [(common_pb2.ReasonCode.Name(r.code), r.message) for r in check.reasons],
    }


def redact(content: bytes, boxes: list[tuple[float, float, float, float]]) -> bytes:
    """The image with each box painted over (a margin of a quarter of its height)."""
    image = cv2.imdecode(np.frombuffer(content, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return content
    for x, y, w, h in boxes:
        pad = h / 4
        top_left = (max(0, int(x - pad)), max(0, int(y - pad)))
        bottom_right = (int(x + w + pad), int(y + h + pad))
        cv2.rectangle(image, top_left, bottom_right, (90, 90, 90), thickness=-1)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return encoded.tobytes() if ok else content


def _masked(name: str, value: str) -> str:
    if name == "citizen_number":
        return mask_id_number(value)
    if name in MRZ_NUMBER_FIELDS:
        return mask_document_number(value)
    return value


def build(console: Console) -> Starlette:
    """The ASGI application."""
    backend = console.backend
    store = console.sessions
    render = console.templates.TemplateResponse

    def rep_of(request: Request) -> RepSession:
        session = store.get(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise RedirectError("/login?" + urlencode({"next": request.url.path}))
        return session

    async def form_of(request: Request, rep: RepSession) -> dict[str, str]:
        form = await request.form()
        given = request.headers.get("x-csrf-token") or str(form.get("csrf", ""))
        if not store.csrf_ok(rep.csrf, given):
            raise PermissionError("CSRF token missing or wrong; reload the page")
        return {k: str(v) for k, v in form.items() if isinstance(v, str)}

    def go(rep: RepSession | None, url: str, flash: str) -> Response:
        """Redirect (303) with a message for the next page the rep sees."""
        if rep is not None:
            rep.flash = flash
        return RedirectResponse(url, status_code=303)

    def call(rep: RepSession, stub: Any, method: str, request: Any) -> Any:
        return backend.call(rep.token, stub, method, request)

    def page(request: Request, name: str, rep: RepSession | None, status: int = 200, **context: Any) -> Response:
        # Messages travel in the rep's server-side session, never in the URL (a crafted
        # link cannot put words on the page).
        flash = context.pop("flash", None) or (rep.flash if rep else "")
        if rep:
            rep.flash = ""
        return render(
            request,
            name,
            {"rep": rep, "csrf": rep.csrf if rep else "", "flash": flash, "v": ASSET_VERSION, **context},
            status_code=status,
        )

    # ------------------------------------------------------------------ login
    def login_form(request: Request, target: str, error: str = "", status: int = 200) -> Response:
        """The sign-in page with a fresh double-submit CSRF nonce (cookie + hidden field)."""
        nonce = secrets.token_urlsafe(24)
        response = page(request, "login.html", None, status, next=target, login_csrf=nonce, error=error)
        response.set_cookie(
            LOGIN_COOKIE, store.sign(nonce), httponly=True, samesite="strict", secure=console.secure_cookies
        )
        return response

    def safe_next(target: str) -> str:
        return target if target.startswith("/") and not target.startswith("//") else "/queue"

    async def login_page(request: Request) -> Response:
        return login_form(request, safe_next(request.query_params.get("next", "/queue")))

    async def login(request: Request) -> Response:
        form = await request.form()
        target = safe_next(str(form.get("next", "/queue")))
        nonce = store.unsign(request.cookies.get(LOGIN_COOKIE, ""))
        if nonce is None or not store.csrf_ok(nonce, str(form.get("csrf", ""))):
            return login_form(request, target, "The form expired; try again.", 400)
        token = str(form.get("token", "")).strip()
        try:
            who = await run_in_threadpool(
                backend.call, token, backend.review, "GetReviewer", review_pb2.GetReviewerRequest()
            )
        except SellerVerifyError as err:
            message = (
                "This token may not use the console (CS reps and admins only)."
                if err.code.name == "PERMISSION_DENIED"
                else "The token was not recognised."
            )
            return login_form(request, target, message, 401)
        _, cookie = store.create(token, who.client_id, who.role)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, httponly=True, samesite="strict", secure=console.secure_cookies)
        response.delete_cookie(LOGIN_COOKIE)
        return response

    async def logout(request: Request) -> Response:
        rep = rep_of(request)
        await form_of(request, rep)
        store.drop(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # ------------------------------------------------------------------ queue
    async def home(request: Request) -> Response:
        return RedirectResponse("/queue", status_code=303)

    async def queue(request: Request) -> Response:
        rep = rep_of(request)
        q = request.query_params
        kind = q.get("kind", "")
        state = q.get("state", "open")
        who = q.get("assignee", "")
        risk = q.get("risk", "")
        names = list(RISK_BANDS)
        worse = names[: names.index(risk) + 1] if risk in RISK_BANDS else []
        req = review_pb2.ListCasesRequest(
            risk_bands=[RISK_BANDS[b] for b in worse],
            state=STATE_NAMES.get(state, review_pb2.CASE_STATE_OPEN),
            kind=KIND_NAMES.get(kind, review_pb2.CASE_KIND_UNSPECIFIED),
            assignee={"me": rep.client_id, "unclaimed": "-"}.get(who, ""),
            escalated_only=q.get("escalated") == "1",
            hide_snoozed=q.get("hide_snoozed") == "1",
            pending_confirmation_only=q.get("pending") == "1",
            page=common_pb2.PageRequest(page_size=50, page_token=q.get("page", "")),
        )
        got = await run_in_threadpool(call, rep, backend.review, "ListCases", req)
        now = int(time.time())
        cases = [case_view(c, now) for c in got.cases]
        filters = {k: v for k, v in q.items() if k != "page"}
        next_url = (
            "/queue?" + urlencode({**filters, "page": got.page.next_page_token}) if got.page.next_page_token else ""
        )
        return page(
            request,
            "queue.html",
            rep,
            cases=cases,
            kinds=list(KIND_NAMES),
            states=list(STATE_NAMES),
            risks=names,
            f={
                "kind": kind,
                "state": state,
                "assignee": who,
                "risk": risk,
                **{k: q.get(k, "") for k in ("escalated", "hide_snoozed", "pending")},
            },
            next_url=next_url,
        )

    async def next_case(request: Request) -> Response:
        rep = rep_of(request)
        form = await form_of(request, rep)
        kind = KIND_NAMES.get(form.get("kind", ""), review_pb2.CASE_KIND_UNSPECIFIED)
        got = await run_in_threadpool(call, rep, backend.review, "NextCase", review_pb2.NextCaseRequest(kind=kind))
        if not got.review_case.case_id:
            return go(rep, "/queue", "Nothing is waiting: the queue is empty.")
        return RedirectResponse(f"/cases/{got.review_case.case_id}", status_code=303)

    # ------------------------------------------------------------------ case view
    def load_case(rep: RepSession, case_id: str) -> dict[str, Any]:
        case = call(rep, backend.review, "GetCase", review_pb2.GetCaseRequest(case_id=case_id)).review_case
        view = case_view(case, int(time.time()))
        images: list[dict[str, Any]] = []
        for r in case.related:
            images.append({"id": r.evidence_id, "label": r.label, "subject": r.subject_id, "checks": []})
        for e in case.evidence:
            images.append(
                {
                    "id": e.evidence_id,
                    "label": e.label,
                    "subject": case.subject_id,
                    "checks": [check_view(c) for c in e.checks],
                }
            )
        images.sort(key=lambda i: IMAGE_ORDER.index(i["label"]) if i["label"] in IMAGE_ORDER else len(IMAGE_ORDER))
        checks = [check_view(c, "case") for c in case.checks]
        for img in images:
            checks.extend({**c, "where": img["label"]} for c in img["checks"])
        fields: list[dict[str, Any]] = []
        boxes: dict[str, list[dict[str, Any]]] = {"front": [], "back": []}
        document: dict[str, Any] = {}
        # The images are fetched (each GetEvidence audited) side by side with the rest,
        # so the browser's image requests that follow are answered from memory.
        image_waits = [
            (
                img["id"],
                backend.start(
                    rep.token,
                    backend.review,
                    "GetEvidence",
                    review_pb2.GetEvidenceRequest(case_id=case_id, evidence_id=img["id"]),
                ),
            )
            for img in images
        ]
        # The document, the trust score and the duplicate candidates are asked for at once.
        doc_wait = (
            backend.start(
                rep.token,
                backend.identity,
                "GetDocument",
                identity_pb2.GetDocumentRequest(document_id=case.document_id),
            )
            if case.document_id
            else None
        )
        trust_wait = backend.start(
            rep.token, backend.trust, "GetTrustScore", trust_pb2.GetTrustScoreRequest(subject_id=case.subject_id)
        )
        dup_wait = (
            backend.start(
                rep.token,
                backend.identity,
                "SearchDuplicates",
                identity_pb2.SearchDuplicatesRequest(subject_id=case.subject_id),
            )
            if view["kind"] == "duplicate"
            else None
        )
        if doc_wait is not None:
            doc = doc_wait()
            covers: dict[str, list[tuple[float, float, float, float]]] = {"front": [], "back": []}
            document = {
                "kind": _enum(identity_pb2.DocumentKind, doc.kind, "DOCUMENT_KIND_"),
                "verdict": _enum(common_pb2.Verdict, doc.verdict, "VERDICT_"),
                "reasons": [(common_pb2.ReasonCode.Name(r.code), r.message) for r in doc.reasons],
            }
            for f in doc.fields:
                side = "back" if f.side == identity_pb2.DOCUMENT_SIDE_BACK else "front"
                masked = _masked(f.name, f.value)
                fields.append(
                    {
                        "name": f.name,
                        "value": masked,
                        "secret": masked != f.value,
                        "confidence": f"{f.confidence:.2f}",
                        "status": _enum(identity_pb2.FieldStatus, f.status, "FIELD_STATUS_"),
                        "side": side,
                    }
                )
                if f.box.width and f.box.height:
                    boxes[side].append(
                        {"x": f.box.x, "y": f.box.y, "w": f.box.width, "h": f.box.height, "label": f.name}
                    )
                    if masked != f.value:
                        covers[side].append((f.box.x, f.box.y, f.box.width, f.box.height))
            rep.secret_boxes[case.document_id] = covers  # the image requests that follow need them
        trust: dict[str, Any] | None
        try:
            score = trust_wait()
            t = score.trust
            trust = {
                "score": f"{t.score:.0f}",
                "band": str(MessageToDict(t).get("band", "")),
                "signals": [
                    {
                        "name": s.name,
                        "value": f"{s.value:g}",
                        "points": f"{s.contribution:+g}",
                        "detail": s.detail,
                        "code": common_pb2.ReasonCode.Name(s.code) if s.code else "",
                    }
                    for s in t.signals
                ],
                "policy": t.policy_version,
            }
        except SellerVerifyError as err:
            trust = (
                None if err.code.name in ("UNIMPLEMENTED", "NOT_FOUND", "FAILED_PRECONDITION") else {"error": str(err)}
            )
        duplicates: list[dict[str, Any]] = []
        if dup_wait is not None:
            try:
                found = dup_wait()
                duplicates = [
                    {
                        "subject": d.other_subject_id,
                        "code": common_pb2.ReasonCode.Name(d.code),
                        "similarity": f"{d.similarity:.3f}",
                        "detail": d.detail,
                        "image": f"id_portrait.{d.other_subject_id}",
                    }
                    for d in found.findings
                ]
            except SellerVerifyError:
                duplicates = []
        for evidence_id, wait in image_waits:
            try:
                content, media = shown(rep, case_id, evidence_id, wait())
            except SellerVerifyError:
                continue  # the image request itself will say why (past retention, ...)
            rep.keep_image(case_id, evidence_id, content, media)
        decisions = [
            {
                "value": d,
                "label": DECISION_LABELS[d],
                "reasons": [
                    (r.value, REASON_LABELS.get(r.value, r.value)) for r in review_policy.REASONS_BY_DECISION[d]
                ],
            }
            for d in DECISIONS
        ]
        knockouts = review_policy.knockouts(
            [{"code": c} for c, _ in view["reasons"]],
            [{"reasons": [{"code": c} for c, _ in ch["reasons"]]} for ch in checks],
        )
        return {
            "case": view,
            "images": images,
            "checks": checks,
            "fields": fields,
            "boxes": boxes,
            "document": document,
            "trust": trust,
            "duplicates": duplicates,
            "decisions": decisions,
            "knockouts": knockouts,
        }

    async def case_page(request: Request) -> Response:
        rep = rep_of(request)
        data = await run_in_threadpool(load_case, rep, request.path_params["case_id"])
        revealed = request.query_params.get("revealed", "")
        return page(request, "case.html", rep, revealed=revealed, **data)

    def secret_boxes(rep: RepSession, document_id: str) -> dict[str, list[tuple[float, float, float, float]]]:
        """Where the ID number is printed on each side (cached per session and document)."""
        cached = rep.secret_boxes.get(document_id)
        if cached is not None:
            return cached
        doc = call(rep, backend.identity, "GetDocument", identity_pb2.GetDocumentRequest(document_id=document_id))
        out: dict[str, list[tuple[float, float, float, float]]] = {"front": [], "back": []}
        for f in doc.fields:
            if _masked(f.name, f.value) != f.value and f.box.width and f.box.height:
                side = "back" if f.side == identity_pb2.DOCUMENT_SIDE_BACK else "front"
                out[side].append((f.box.x, f.box.y, f.box.width, f.box.height))
        rep.secret_boxes[document_id] = out
        return out

    def image_for(rep: RepSession, case_id: str, evidence_id: str) -> tuple[bytes, str]:
        kept = rep.take_image(case_id, evidence_id)
        if kept is not None:
            return kept
        got = call(
            rep, backend.review, "GetEvidence", review_pb2.GetEvidenceRequest(case_id=case_id, evidence_id=evidence_id)
        )
        return shown(rep, case_id, evidence_id, got)

    def shown(rep: RepSession, case_id: str, evidence_id: str, got: Any) -> tuple[bytes, str]:
        """An evidence image as the rep may see it now (the ID number covered unless revealed)."""
        content, media = got.image.content, got.image.media_type or "image/jpeg"
        label, _, document_id = evidence_id.partition(".")
        if label in ("document_front", "document_back") and case_id not in rep.revealed:
            # The ID number printed on the card is covered too, until the rep asks for it.
            boxes = secret_boxes(rep, document_id)["back" if label == "document_back" else "front"]
            if boxes:
                content, media = redact(content, boxes), "image/jpeg"
        return content, media

    async def case_image(request: Request) -> Response:
        rep = rep_of(request)
        content, media = await run_in_threadpool(
            image_for, rep, request.path_params["case_id"], request.path_params["evidence_id"]
        )
        return Response(content, media_type=media)

    async def case_action(request: Request) -> Response:
        rep = rep_of(request)
        form = await form_of(request, rep)
        case_id = request.path_params["case_id"]
        action = request.path_params["action"]
        back = f"/cases/{case_id}"
        flash = ""
        rs = backend.review
        if action == "claim":
            await run_in_threadpool(call, rep, rs, "ClaimCase", review_pb2.ClaimCaseRequest(case_id=case_id))
            flash = "Claimed: the case is yours."
        elif action == "release":
            await run_in_threadpool(call, rep, rs, "ReleaseCase", review_pb2.ReleaseCaseRequest(case_id=case_id))
            flash = "Released back to the queue."
        elif action == "snooze":
            minutes = int(form.get("minutes") or 60)
            await run_in_threadpool(
                call,
                rep,
                rs,
                "SnoozeCase",
                review_pb2.SnoozeCaseRequest(case_id=case_id, minutes=minutes, note=form.get("note", "")),
            )
            return go(rep, "/queue", f"Case {case_id[:8]} snoozed for {minutes} min.")
        elif action == "escalate":
            await run_in_threadpool(
                call,
                rep,
                rs,
                "EscalateCase",
                review_pb2.EscalateCaseRequest(case_id=case_id, note=form.get("note", "")),
            )
            return go(rep, "/queue", f"Case {case_id[:8]} escalated.")
        elif action == "decide":
            decision = form.get("decision", "")
            reason = form.get("reason", "")
            got = await run_in_threadpool(
                call,
                rep,
                rs,
                "DecideCase",
                review_pb2.DecideCaseRequest(
                    case_id=case_id,
                    decision=DECISIONS.get(decision, review_pb2.CASE_DECISION_UNSPECIFIED),
                    reason=reason if reason in common_pb2.ReasonCode.keys() else None,
                    ban=form.get("ban") == "1",
                    note=form.get("note", ""),
                ),
            )
            if got.pending_confirmation:
                flash = (
                    f"Waiting for a second rep ({got.review_case.pending_decision.policy}): nothing took effect yet."
                )
            else:
                flash = f"Decided: {DECISION_LABELS.get(decision, decision)}."
        elif action == "confirm":
            confirm = form.get("confirm") == "1"
            await run_in_threadpool(
                call,
                rep,
                rs,
                "ConfirmDecision",
                review_pb2.ConfirmDecisionRequest(case_id=case_id, confirm=confirm, note=form.get("note", "")),
            )
            flash = "Confirmed: the decision took effect." if confirm else "Declined: the case stays open."
        elif action == "reveal":
            got = await run_in_threadpool(
                call,
                rep,
                rs,
                "RevealIdNumber",
                review_pb2.RevealIdNumberRequest(case_id=case_id, note=form.get("note", "")),
            )
            rep.revealed.add(case_id)  # the document images of this case are shown uncovered too
            data = await run_in_threadpool(load_case, rep, case_id)
            return page(
                request, "case.html", rep, revealed=got.id_number, flash="Full ID number shown (audited).", **data
            )
        elif action == "call":
            got = await run_in_threadpool(
                call,
                rep,
                rs,
                "StartVideoCall",
                review_pb2.StartVideoCallRequest(
                    case_id=case_id, reason=common_pb2.REVIEW_NEEDS_VIDEO_CALL, note=form.get("note", "")
                ),
            )
            vc = got.video_call
            join = str(request.url_for("join", call_id=vc.call_id, token=vc.join_token))
            console.calls.add(LiveCall(vc.call_id, case_id, rep.token, join))
            return RedirectResponse(f"/cases/{case_id}/call", status_code=303)
        else:
            return Response("unknown action", status_code=404)
        return go(rep, back, flash)

    # ------------------------------------------------------------------ video call (rep side)
    async def call_page(request: Request) -> Response:
        rep = rep_of(request)
        case_id = request.path_params["case_id"]
        data = await run_in_threadpool(load_case, rep, case_id)
        live = console.calls.for_case(case_id)
        captured = [i for i in data["images"] if i["label"] == "video_frame"]
        return page(request, "call.html", rep, live=live, captured=captured, **data)

    def _live_for(request: Request) -> LiveCall:
        live = console.calls.for_case(request.path_params["case_id"])
        if live is None:
            raise LookupError("no video call is running for this case")
        return live

    async def call_frame(request: Request) -> Response:
        rep_of(request)
        frame, _ = CallRelay.newest(_live_for(request))
        if not frame:
            return Response(status_code=204)
        return Response(frame, media_type="image/jpeg")

    async def call_guidance(request: Request) -> Response:
        rep = rep_of(request)
        live = _live_for(request)
        frame, seq = CallRelay.newest(live)
        if not frame:
            return JSONResponse({"seq": 0, "text": "Waiting for the seller's camera..."})
        if live.guidance_seq != seq:
            got = await run_in_threadpool(
                call,
                rep,
                backend.review,
                "CheckCallFrame",
                review_pb2.CheckCallFrameRequest(case_id=live.case_id, image=common_pb2.Image(content=frame)),
            )
            checks = [check_view(c) for c in got.checks]
            match = next((c for c in checks if c["name"] == "face_match"), None)
            faces = next((c for c in checks if c["name"] != "face_match"), None)
            if match:
                text = f"Face match {match['verdict']}: similarity {match['score'] or '0'}"
                text += f" (match at >= {match['threshold']})" if match["threshold"] else ""
            elif faces:
                text = faces["detail"] or faces["verdict"]
            else:
                text = "No check ran on this frame."
            live.guidance = {"seq": seq, "text": text, "checks": checks}
            live.guidance_seq = seq
        return JSONResponse(live.guidance)

    async def call_action(request: Request) -> Response:
        rep = rep_of(request)
        await form_of(request, rep)
        case_id = request.path_params["case_id"]
        action = request.path_params["action"]
        live = console.calls.for_case(case_id)
        if action == "capture":
            if live is None:
                raise LookupError("no video call is running for this case")
            frame, _ = CallRelay.newest(live)
            if not frame:
                return go(rep, f"/cases/{case_id}/call", "No frame from the seller yet.")
            got = await run_in_threadpool(
                call,
                rep,
                backend.review,
                "AttachEvidence",
                review_pb2.AttachEvidenceRequest(
                    case_id=case_id, label="video_frame", images=[common_pb2.Image(content=frame)]
                ),
            )
            verdicts = ", ".join(
                f"{c.name} {_enum(common_pb2.Verdict, c.verdict, 'VERDICT_')}" for c in got.evidence[0].checks
            )
            return go(rep, f"/cases/{case_id}/call", f"Frame captured as evidence: {verdicts}.")
        if action == "end":
            if live is not None:
                await run_in_threadpool(
                    call, rep, backend.review, "EndVideoCall", review_pb2.EndVideoCallRequest(call_id=live.call_id)
                )
                console.calls.end(live.call_id)
            return go(rep, f"/cases/{case_id}", "Video call ended.")
        return Response("unknown action", status_code=404)

    # ------------------------------------------------------------------ video call (seller side)
    async def join(request: Request) -> Response:
        call_id = request.path_params["call_id"]
        token = request.path_params["token"]
        live = console.calls.get(call_id)
        if live is None:
            return page(request, "seller_invalid.html", None, 410)
        try:
            await run_in_threadpool(
                backend.call,
                live.rep_token,
                backend.review,
                "JoinVideoCall",
                review_pb2.JoinVideoCallRequest(call_id=call_id, join_token=token),
            )
        except SellerVerifyError:
            return page(request, "seller_invalid.html", None, 410)
        live.seller_secret = secrets.token_urlsafe(24)
        response = RedirectResponse(f"/call/{call_id}", status_code=303)
        response.set_cookie(
            SELLER_COOKIE,
            store.sign(f"{call_id}:{live.seller_secret}"),
            httponly=True,
            samesite="strict",
            secure=console.secure_cookies,
            path="/call/",
        )
        return response

    def seller_of(request: Request) -> LiveCall:
        call_id = request.path_params["call_id"]
        live = console.calls.get(call_id)
        value = store.unsign(request.cookies.get(SELLER_COOKIE, "")) or ""
        if (
            live is None
            or not live.seller_secret
            or not secrets.compare_digest(value, f"{call_id}:{live.seller_secret}")
        ):
            raise PermissionError("this call link is not valid in this browser")
        return live

    async def seller_page(request: Request) -> Response:
        try:
            live = seller_of(request)
        except PermissionError:
            return page(request, "seller_invalid.html", None, 403)
        return page(request, "seller.html", None, call_id=live.call_id, seller_csrf=live.seller_csrf)

    async def seller_frame(request: Request) -> Response:
        live = seller_of(request)
        if not store.csrf_ok(live.seller_csrf, request.headers.get("x-csrf-token")):
            raise PermissionError("CSRF token missing or wrong")
        body = await request.body()
        if not body or len(body) > MAX_FRAME_BYTES or body[:2] != b"\xff\xd8":
            return JSONResponse({"error": "send one JPEG frame of at most 2 MiB"}, status_code=400)
        return JSONResponse({"seq": CallRelay.push(live, body)})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/", home),
        Route("/healthz", healthz),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/queue", queue),
        Route("/queue/next", next_case, methods=["POST"]),
        Route("/cases/{case_id}", case_page),
        Route("/cases/{case_id}/images/{evidence_id}", case_image),
        Route("/cases/{case_id}/call", call_page),
        Route("/cases/{case_id}/call/frame", call_frame),
        Route("/cases/{case_id}/call/guidance", call_guidance),
        Route("/cases/{case_id}/call/{action}", call_action, methods=["POST"]),
        Route("/cases/{case_id}/{action}", case_action, methods=["POST"]),
        Route("/join/{call_id}/{token}", join, name="join"),
        Route("/call/{call_id}", seller_page),
        Route("/call/{call_id}/frame", seller_frame, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]

    async def on_redirect(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RedirectError)
        return RedirectResponse(exc.url, status_code=303)

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        return page(request, "error.html", None, 403, message=str(exc), reason="CSRF_OR_SESSION")

    async def on_missing(request: Request, exc: Exception) -> Response:
        return page(request, "error.html", None, 404, message=str(exc), reason="NOT_FOUND")

    async def on_service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SellerVerifyError)
        err = exc
        if err.code.name == "UNAUTHENTICATED":
            store.drop(request.cookies.get(SESSION_COOKIE))
            return RedirectResponse("/login", status_code=303)
        status = {
            "PERMISSION_DENIED": 403,
            "NOT_FOUND": 404,
            "INVALID_ARGUMENT": 400,
            "FAILED_PRECONDITION": 409,
            "ALREADY_EXISTS": 409,
        }.get(err.code.name, 502)
        case_id = request.path_params.get("case_id")
        if request.method == "POST" and case_id and status in (400, 403, 409):
            # Back to the case with the service's own words (reason code and message).
            flash = f"Refused ({err.reason or err.code.name}): {err.message}"
            return go(store.get(request.cookies.get(SESSION_COOKIE)), f"/cases/{case_id}", flash)
        rep = store.get(request.cookies.get(SESSION_COOKIE))
        return page(request, "error.html", rep, status, message=err.message, reason=err.reason or err.code.name)

    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        RedirectError: on_redirect,
        PermissionError: on_forbidden,
        LookupError: on_missing,
        SellerVerifyError: on_service_error,
    }
    return Starlette(routes=routes, exception_handlers=handlers, middleware=[Middleware(SecurityHeaders)])


class SecurityHeaders:
    """Pure ASGI middleware adding the security and caching headers to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in header_values(static):
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def header_values(static: bool) -> list[tuple[str, str]]:
    """CSP and friends; no-store on everything but static files."""
    out = [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", "camera=(self), microphone=(), geolocation=()"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if static:
        # Versioned URLs (?v=<content hash>, see ASSET_VERSION): safe to keep for a day.
        out.append(("Cache-Control", "public, max-age=86400"))
    else:
        # Pages and every biometric image: never into the browser's disk cache.
        out += [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
    return out
