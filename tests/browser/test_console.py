"""The review console in a real browser (Debian's Chromium via Playwright) against the
real suite: sign-in by token, the queue, claim, the case view, decisions, four-eyes with
a second rep, the keyboard-only path, the video call with a fake camera whose captured
frames become case evidence, the security headers, and axe-core on every screen."""

from __future__ import annotations

import re
from typing import Any

from sellerverify import Client
from sellerverify.v1 import common_pb2, identity_pb2, review_pb2, trust_pb2
from sqlalchemy import func, select

from services.platform.models import AuditEventRow, DomainEventRow
from tests.browser.conftest import SECOND_REP, Suite, axe_violations, login, shot
from tests.conftest import FACES, TOKENS

STRANGER = FACES / "joe_biden" / "facerec_biden.jpg"
SAME = FACES / "barack_obama" / "facerec_obama2.jpg"


def _case(suite: Suite, kind: int = review_pb2.CASE_KIND_FACE_MATCH, selfie: bytes | None = None) -> str:
    """A real case: a subject whose ID card was read, a MatchFace with the given photo
    (default: another person's), and a case opened for the rep with that selfie attached."""
    subject_id = suite.make_subject()
    probe = selfie or STRANGER.read_bytes()
    with suite.server.client() as onboarding:
        match = onboarding.identity.MatchFace(
            identity_pb2.MatchFaceRequest(
                subject_id=subject_id, probe=common_pb2.Image(content=probe), skip_enrolment=True
            )
        )
    with suite.server.client("admin") as admin:
        case = admin.review.OpenCase(
            review_pb2.OpenCaseRequest(
                subject_id=subject_id, kind=kind, note=f"seller disputes the face match ({match.similarity:.2f})"
            )
        ).review_case
        admin.review.AttachEvidence(
            review_pb2.AttachEvidenceRequest(
                case_id=case.case_id, label="selfie", images=[common_pb2.Image(content=probe)]
            )
        )
    return case.case_id


def _get(suite: Suite, case_id: str) -> review_pb2.ReviewCase:
    with suite.server.client("admin") as admin:
        return admin.review.GetCase(review_pb2.GetCaseRequest(case_id=case_id)).review_case


def _events(suite: Suite, kind: str, case_id: str) -> list[dict[str, Any]]:
    with suite.server.app.db.read() as session:
        rows = session.scalars(select(DomainEventRow).where(DomainEventRow.kind == kind))
        return [r.payload for r in rows if r.payload.get("case_id") == case_id]


def _audits(suite: Suite, action: str, **where: str) -> int:
    with suite.server.app.db.read() as session:
        stmt = select(func.count()).where(AuditEventRow.action == action)
        for column, value in where.items():
            stmt = stmt.where(getattr(AuditEventRow, column) == value)
        return int(session.scalar(stmt) or 0)


def _csp_errors(page: Any) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


def test_sign_in_needs_a_rep_token(suite: Suite, context: Any) -> None:
    page = context.new_page()
    page.goto(f"{suite.url}/queue")
    assert "/login" in page.url  # no session: the queue is not shown
    shot(page, "01-login")
    page.fill("#token", "not-a-token-at-all-0000")
    page.click("button[type=submit]")
    assert "not recognised" in page.inner_text("[role=alert]")
    page.fill("#token", TOKENS["onboarding"])
    page.click("button[type=submit]")
    assert "may not use the console" in page.inner_text("[role=alert]")
    login(page, suite)
    assert "cs_rep-client" in page.inner_text("header")
    cookie = next(c for c in context.cookies() if c["name"] == "sv_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKENS["cs_rep"] not in cookie["value"]  # the token stays on the console server


def test_a_rep_claims_inspects_and_rejects_a_case(suite: Suite, context: Any) -> None:
    case_id = _case(suite)
    page = context.new_page()
    csp = _csp_errors(page)
    login(page, suite)
    row = page.locator(f"tr[data-case='{case_id}']")
    assert row.locator("td").nth(1).inner_text() == "face match"
    assert row.locator("td").nth(2).inner_text() in ("low", "medium", "high", "very high")  # the subject's risk band
    assert re.search(r"\d+ min", row.locator("td").nth(3).inner_text())  # how long it has waited
    assert re.match(r"in (1 h 5\d|2 h 00) min", row.locator("td").nth(4).inner_text())  # face-match SLA: 2 h
    row.get_by_role("button", name=re.compile("Claim")).click()
    page.wait_for_url(re.compile(case_id))
    assert page.inner_text("#assignee") == "cs_rep-client"
    assert _events(suite, "case.claimed", case_id)[-1]["assignee"] == "cs_rep-client"

    # Side by side: ID portrait, the selfie, and the document sides with the fields' boxes.
    labels = page.locator("figure.shot figcaption").all_inner_texts()
    assert [re.sub(r"^\d+\. ", "", t) for t in labels] == ["id portrait", "selfie", "document front", "document back"]
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('figure.shot img')).every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("figure[data-label=document_front] svg.boxes rect").count() >= 4
    selfie_check = page.locator("figure[data-label=selfie] .check-line", has_text="face_match").inner_text()
    assert re.search(r"fail face_match 0\.\d+ / threshold 0\.\d+", selfie_check.lower())
    # The ID number is masked until asked for.
    number = page.locator("table.fields tr", has_text="citizen_number").locator("td").first.inner_text()
    assert "*" in number
    # The subject's trust score and its named signals, from TrustService.
    assert re.match(r"Score \d+", page.inner_text("#trust-score"))
    signals = page.locator("section[aria-labelledby=trust-h] table tbody tr")
    assert signals.count() >= 3
    assert "face_match" in page.locator("section[aria-labelledby=trust-h] table").inner_text()
    # Zoom, rotate, compare.
    page.locator("#shot-1 [data-act=zoom-in]").click()
    page.locator("#shot-2 [data-act=rotate]").click()
    assert "scale(1.5)" in page.locator("#shot-1 img").get_attribute("style")
    page.locator("#shot-1 [data-act=compare]").click()
    page.locator("#shot-2 [data-act=compare]").click()
    assert page.locator("#compare .pair figure").count() == 2
    shot(page, "03-case")

    audits = _audits(suite, "get_evidence", subject_id=_get(suite, case_id).subject_id)
    assert audits >= 4  # every image the page showed was read through the audited GetEvidence
    # The number printed on the card image is covered too until then.
    front = page.locator("figure[data-label=document_front] img").get_attribute("src")
    evidence_id = front.rsplit("/", 1)[1]
    with suite.server.client("admin") as admin:
        original = admin.review.GetEvidence(
            review_pb2.GetEvidenceRequest(case_id=case_id, evidence_id=evidence_id)
        ).image.content
    assert page.request.get(f"{suite.url}{front}").body() != original
    page.fill("#reveal-note", "seller says the number is wrong")
    page.click("text=Show full number")
    assert re.fullmatch(r"\d{17}[\dX]", page.inner_text("#revealed"))
    assert _audits(suite, "reveal_id_number", resource=case_id) == 1
    assert page.request.get(f"{suite.url}{front}").body() == original

    page.check("#d-reject")
    page.select_option("#reason-reject", "REVIEW_DIFFERENT_PERSON")
    page.fill("#note", "the selfie shows a different man")
    page.click("#decide")
    assert "Decided: Reject" in page.inner_text("[role=status]")
    assert "rejected by cs_rep-client" in page.inner_text("#decided")
    decided = _get(suite, case_id)
    assert decided.state == review_pb2.CASE_STATE_REJECTED
    assert decided.decision_reason == common_pb2.REVIEW_DIFFERENT_PERSON
    assert _events(suite, "case.decided", case_id) == [
        {"case_id": case_id, "case_kind": "face_match", "decision": "reject", "reason": "REVIEW_DIFFERENT_PERSON"}
    ]
    assert csp == []  # the pages ran with the strict CSP and nothing was refused


def test_a_ban_takes_effect_only_when_a_second_rep_confirms(suite: Suite, browser: Any, context: Any) -> None:
    case_id = _case(suite)
    one = context.new_page()
    login(one, suite)
    one.goto(f"{suite.url}/cases/{case_id}")
    one.check("#d-reject")
    one.select_option("#reason-reject", "REVIEW_DOCUMENT_FORGED")
    one.check("#ban")
    one.fill("#note", "card number belongs to someone else")
    one.click("#decide")
    assert "Waiting for a second rep (reject with ban)" in one.inner_text("[role=status]")
    assert "You proposed this decision" in one.inner_text("#pending")
    assert _get(suite, case_id).state == review_pb2.CASE_STATE_OPEN and _events(suite, "case.decided", case_id) == []
    # The page offers the proposer no confirm button; the service refuses a forged POST too.
    csrf = one.locator("input[name=csrf]").first.get_attribute("value")
    forged = one.request.post(
        f"{suite.url}/cases/{case_id}/confirm", form={"csrf": csrf, "confirm": "1", "note": "me again"}
    )
    assert "FOUR_EYES_SAME_REP" in forged.text()
    assert _get(suite, case_id).state == review_pb2.CASE_STATE_OPEN

    other = browser.new_context(viewport={"width": 1360, "height": 900})
    try:
        two = other.new_page()
        login(two, suite, SECOND_REP[1])
        two.goto(f"{suite.url}/queue?pending=1")
        assert two.locator(f"tr[data-case='{case_id}']").count() == 1
        shot(two, "05-queue-waiting-for-second-rep")
        two.click(f"tr[data-case='{case_id}'] a.case-link")
        assert "cs_rep-client proposes reject with ban" in two.inner_text("#pending")
        shot(two, "06-four-eyes-confirm")
        two.fill("#confirm-note", "agree: the number is reused")
        two.click("#confirm-yes")
        assert "Confirmed" in two.inner_text("[role=status]")
        assert "confirmed by rep-two" in two.inner_text("#decided")
    finally:
        other.close()
    done = _get(suite, case_id)
    assert done.state == review_pb2.CASE_STATE_REJECTED and done.ban
    assert (done.decided_by, done.confirmed_by) == ("cs_rep-client", "rep-two")
    assert _events(suite, "case.decided", case_id)[-1]["ban"] is True


def test_keyboard_only_claim_inspect_and_decide(suite: Suite, context: Any) -> None:
    case_id = _case(suite, review_pb2.CASE_KIND_REVERIFICATION, selfie=SAME.read_bytes())
    page = context.new_page()
    page.goto(f"{suite.url}/login")
    page.keyboard.type(TOKENS["cs_rep"])  # the token field has focus
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile("/queue"))
    page.goto(f"{suite.url}/queue?kind=reverification")
    page.keyboard.press("n")  # next case: claims it
    page.wait_for_url(re.compile(case_id))
    assert page.inner_text("#assignee") == "cs_rep-client"
    page.keyboard.press("2")  # the selfie
    assert page.evaluate("document.activeElement.dataset.label") == "selfie"
    page.keyboard.press("+")
    page.keyboard.press("o")
    assert "rotate(90deg)" in page.locator("#shot-2 img").get_attribute("style")
    page.keyboard.press("x")
    page.keyboard.press("1")
    page.keyboard.press("x")
    assert page.locator("#compare .pair figure").count() == 2
    page.keyboard.press("a")  # approve: the reason list has focus
    assert page.evaluate("document.activeElement.id") == "reason-approve"
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "note"
    page.keyboard.type("same man as on the card, live")
    shot(page, "04-case-keyboard")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#decided")
    done = _get(suite, case_id)
    assert done.state == review_pb2.CASE_STATE_APPROVED and done.decision_note == "same man as on the card, live"
    assert done.decision_reason == common_pb2.REVIEW_DOCUMENT_GENUINE  # the second approve reason


def test_a_video_call_frame_becomes_case_evidence(suite: Suite, browser: Any, context: Any) -> None:
    case_id = _case(suite, review_pb2.CASE_KIND_VIDEO_CALL)
    rep = context.new_page()
    login(rep, suite)
    rep.goto(f"{suite.url}/cases/{case_id}")
    rep.click("#start-call")
    rep.wait_for_url(re.compile(f"{case_id}/call"))
    link = rep.input_value("#join-link")
    assert re.search(r"/join/[0-9a-f-]{36}/[A-Za-z0-9_-]{40,}$", link)

    seller_ctx = browser.new_context(viewport={"width": 900, "height": 800})
    try:
        seller = seller_ctx.new_page()
        seller.goto(link)
        seller.wait_for_url(re.compile(r"/call/"))
        seller.wait_for_function("() => Number(document.getElementById('seller-status').dataset.sent || 0) >= 2")
        shot(seller, "08-seller-call")
        rep.wait_for_function("() => document.getElementById('guidance').textContent.includes('similarity')")
        guidance = rep.inner_text("#guidance")
        assert re.search(r"Face match pass: similarity 0\.\d+ \(match at >= 0\.\d+\)", guidance), guidance
        shot(rep, "07-rep-call")
        rep.click("#capture")
        assert "Frame captured as evidence" in rep.inner_text("[role=status]")
        assert "pass face_match" in rep.locator("figure.captured .check-line").last.inner_text().lower()
        # The link worked once: opening it again (another browser) is refused.
        again = browser.new_context()
        try:
            reopened = again.new_page()
            reopened.goto(link)
            assert "does not work any more" in reopened.inner_text("h1")
            shot(reopened, "09-seller-link-used")
        finally:
            again.close()
    finally:
        seller_ctx.close()
    frames = [e for e in _get(suite, case_id).evidence if e.label == "video_frame"]
    assert len(frames) == 1
    checks = {c.name: c.verdict for c in frames[0].checks}
    assert checks["face_match"] == common_pb2.VERDICT_PASS
    rep.click("#end-call")
    assert _get(suite, case_id).video_call.HasField("ended_at")


def test_pages_and_images_are_never_cached_and_posts_need_the_csrf_token(suite: Suite, context: Any) -> None:
    case_id = _case(suite)
    page = context.new_page()
    login(page, suite)
    response = page.goto(f"{suite.url}/cases/{case_id}")
    headers = response.headers
    assert headers["cache-control"] == "no-store"
    assert (
        "script-src 'self'" in headers["content-security-policy"]
        and "unsafe-inline" not in headers["content-security-policy"]
    )
    assert headers["referrer-policy"] == "no-referrer"
    src = page.locator("figure.shot img").first.get_attribute("src")
    image = page.request.get(f"{suite.url}{src}")
    assert image.status == 200 and image.headers["cache-control"] == "no-store"
    assert page.locator("script:not([src])").count() == 0  # no inline script anywhere
    refused = page.request.post(f"{suite.url}/cases/{case_id}/claim", form={"csrf": "wrong"})
    assert refused.status == 403
    assert _get(suite, case_id).assignee == ""
    # Role checks are the services' own: an admin may open the console, onboarding may not.
    with Client(suite.server.address, token=TOKENS["admin"]) as admin:
        assert admin.review.GetReviewer(review_pb2.GetReviewerRequest()).role == "admin"


def _evidence_reads(suite: Suite, case_id: str) -> int:
    """Audited evidence reads of one case (every image a rep was given)."""
    with suite.server.app.db.read() as session:
        stmt = select(func.count()).where(
            AuditEventRow.action == "get_evidence", AuditEventRow.detail.contains(f"case={case_id}")
        )
        return int(session.scalar(stmt) or 0)


def test_each_image_a_case_page_shows_is_audited_once_per_view(suite: Suite, context: Any) -> None:
    # The page fetches its images while it is built (each GetEvidence audited) and hands
    # them to the browser from memory, once: a later request is a new, audited read.
    case_id = _case(suite)
    page = context.new_page()
    login(page, suite)
    before = _evidence_reads(suite, case_id)
    html = page.request.get(f"{suite.url}/cases/{case_id}").text()  # the page alone, no image loaded yet
    sources = re.findall(rf'src="(/cases/{case_id}/images/[^"]+)"', html)
    assert len(sources) >= 3  # the selfie, the ID portrait and the card's sides
    assert _evidence_reads(suite, case_id) - before == len(sources)
    for src in sources:
        got = page.request.get(f"{suite.url}{src}")
        assert got.status == 200 and got.headers["cache-control"] == "no-store"
        assert got.body()[:2] in (b"\xff\xd8", b"\x89P")
    assert _evidence_reads(suite, case_id) - before == len(sources)  # served from what the page read
    again = page.request.get(f"{suite.url}{sources[0]}")
    assert again.status == 200 and _evidence_reads(suite, case_id) - before == len(sources) + 1


def test_the_queue_shows_each_cases_risk_band_and_filters_by_it(suite: Suite, context: Any) -> None:
    case_id = _case(suite)
    subject_id = _get(suite, case_id).subject_id
    with suite.server.client("risk") as risk:
        band = risk.trust.GetTrustScore(trust_pb2.GetTrustScoreRequest(subject_id=subject_id)).trust.band
    name = trust_pb2.RiskBand.Name(band).removeprefix("RISK_BAND_").lower()
    assert band != trust_pb2.RISK_BAND_UNSPECIFIED
    page = context.new_page()
    login(page, suite)
    page.goto(f"{suite.url}/queue")
    page.select_option("#f-risk", name)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(rf"risk={name}"))
    row = page.locator(f'tr[data-case="{case_id}"]')
    assert row.count() == 1 and row.locator("td[data-risk]").get_attribute("data-risk") == name
    better = [b for b in ("very_high", "high", "medium", "low") if b != name]
    worst_first = ["very_high", "high", "medium", "low"]
    stricter = [b for b in better if worst_first.index(b) < worst_first.index(name)]
    if stricter:  # a filter for worse bands only leaves this case out
        page.goto(f"{suite.url}/queue?risk={stricter[-1]}")
        assert page.locator(f'tr[data-case="{case_id}"]').count() == 0


def test_every_screen_has_no_serious_or_critical_axe_violation(suite: Suite, browser: Any) -> None:
    case_id = _case(suite)
    call_case = _case(suite, review_pb2.CASE_KIND_VIDEO_CALL)
    # axe is injected as a script tag, which the console's CSP (rightly) refuses: this
    # context alone bypasses CSP so axe can run; the other tests run with CSP enforced.
    ctx = browser.new_context(bypass_csp=True, viewport={"width": 1360, "height": 900})
    try:
        page = ctx.new_page()
        seen: dict[str, list[dict[str, Any]]] = {}
        page.goto(f"{suite.url}/login")
        seen["login"] = axe_violations(page)
        login(page, suite)
        seen["queue"] = axe_violations(page)
        page.goto(f"{suite.url}/cases/{case_id}")
        page.wait_for_load_state("networkidle")
        seen["case"] = axe_violations(page)
        page.check("#d-reject")
        page.check("#ban")
        page.fill("#note", "ban for the axe check")
        page.click("#decide")
        seen["case-four-eyes-pending"] = axe_violations(page)
        page.goto(f"{suite.url}/cases/{call_case}")
        page.click("#start-call")
        page.wait_for_url(re.compile("/call"))
        seen["rep-call"] = axe_violations(page)
        link = page.input_value("#join-link")
        seller = ctx.new_page()
        seller.goto(link)
        seller.wait_for_url(re.compile("/call/"))
        seen["seller-call"] = axe_violations(seller)
        seller.goto(link)
        seen["seller-link-used"] = axe_violations(seller)
        page.goto(f"{suite.url}/cases/00000000-0000-0000-0000-000000000000")
        seen["error"] = axe_violations(page)
        page.goto(f"{suite.url}/cases/{case_id}")
        page.click("text=Decline") if page.locator("#confirm-no").count() else None
        page.goto(f"{suite.url}/queue?state=rejected")
        seen["queue-decided"] = axe_violations(page)
    finally:
        ctx.close()
    assert {k: v for k, v in seen.items() if v} == {}
    assert len(seen) == 9


def test_a_crafted_link_cannot_put_a_message_on_the_page(suite: Suite, context: Any) -> None:
    page = context.new_page()
    login(page, suite)
    page.goto(f"{suite.url}/queue?flash=Your+session+expired%2C+call+555-0100")
    assert page.locator("[role=status]").count() == 0  # messages come from the session only


def test_a_machine_opened_duplicate_case_shows_the_candidate_and_needs_four_eyes_to_approve(
    suite: Suite, context: Any
) -> None:
    from tests.conftest import id_card_subjects

    first = suite.make_subject()
    other_card = id_card_subjects(suite.server, 42, "browser-dup")()  # another ID number, the same face
    with suite.server.client() as onboarding:
        enrolled = onboarding.identity.MatchFace(
            identity_pb2.MatchFaceRequest(subject_id=first, probe=common_pb2.Image(content=SAME.read_bytes()))
        )
        assert enrolled.decision == common_pb2.MATCH_DECISION_MATCH
        dup = onboarding.identity.MatchFace(
            identity_pb2.MatchFaceRequest(subject_id=other_card, probe=common_pb2.Image(content=SAME.read_bytes()))
        )
    assert dup.review_case_id, "the duplicate face opens a case"
    page = context.new_page()
    login(page, suite)
    shot(page, "02-queue")  # by now the queue holds the earlier tests' open cases too
    page.goto(f"{suite.url}/cases/{dup.review_case_id}")
    assert "duplicate" in page.inner_text("h1")
    assert "DUPLICATE_FACE" in page.inner_text(".warn-box")  # the knock-out is named
    candidates = page.locator("#dup-h + figure, section[aria-labelledby=dup-h] figure")
    assert first[:8] in candidates.first.inner_text()
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('section[aria-labelledby=dup-h] img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    shot(page, "10-duplicate-case")
    page.check("#d-approve")
    page.fill("#note", "same man, two cards: I think it is a data error")
    page.click("#decide")
    assert "approval overrides knock-out DUPLICATE_FACE" in page.inner_text("[role=status]")
    assert _get(suite, dup.review_case_id).state == review_pb2.CASE_STATE_OPEN
