"""Scoring: stored facts + a policy + a moment -> score, band, decision, reasons, actions.

Pure functions over plain data. `facts` is the JSON-able dict built by `facts.py`
(ids, verdicts, reason codes and times only); the same facts, policy version and
`now` always give the same score, which is what makes stored decisions reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from services.trust.policy import DECISION_RANK, Characteristic, Policy

TOP_REASONS = 4
CHECKS = ("document", "face_match", "liveness")
_PASSED_KEY = {"document": "document", "face_match": "face", "liveness": "liveness"}


@dataclass(frozen=True)
class SignalScore:
    """One characteristic as scored: its value, bin, points and what it would take to improve."""

    name: str
    value: float
    points: float
    reference_points: float
    bin: str
    code: str | None
    detail: str
    evidence: tuple[str, ...] = ()
    observed_at: datetime | None = None
    action: str | None = None

    @property
    def points_lost(self) -> float:
        return self.reference_points - self.points


@dataclass(frozen=True)
class KnockOutHit:
    """A knock-out rule that fired."""

    name: str
    code: str
    decision: str
    detail: str


@dataclass(frozen=True)
class ActionItem:
    """Something that would raise the score (and maybe change the decision)."""

    action: str
    text: str
    code: str
    points_gained: float
    subject_id: str = ""
    decision_after: str = ""


@dataclass
class Score:
    """The answer for one subject or enterprise."""

    target_id: str
    score: float
    band: str
    decision: str
    policy_version: str
    computed_at: datetime
    signals: list[SignalScore]
    reasons: list[str]
    knock_outs: list[KnockOutHit]
    actions: list[ActionItem]
    members: list[tuple[str, str, Score]] = field(default_factory=list)

    def decision_reasons(self) -> list[str]:
        """Knock-out codes first, then the ranked reasons (no repeats)."""
        return list(dict.fromkeys([k.code for k in self.knock_outs] + self.reasons))

    def summary(self) -> dict[str, Any]:
        """What changes when the score changes (for change events and snapshots)."""
        return {
            "score": self.score,
            "band": self.band,
            "decision": self.decision,
            "policy_version": self.policy_version,
        }


@lru_cache(maxsize=65536)
def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _at(value: str | None) -> datetime | None:
    return _parse(value) if value else None


def _days(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds() / 86400.0)


def worst(*decisions: str) -> str:
    """The most severe of several decisions."""
    return max(decisions, key=lambda d: DECISION_RANK[d])


# ---- category facts ----------------------------------------------------------------


def _check_bin(facts: dict[str, Any], check: str) -> tuple[str, tuple[str, ...], datetime | None, str]:
    passed = _at((facts.get("passed") or {}).get(_PASSED_KEY[check]))
    latest = (facts.get("latest") or {}).get(check)
    evidence = (latest["id"],) if latest else ()
    if passed is not None:
        return "passed", evidence, passed, f"passed {passed:%Y-%m-%d}"
    if latest is None:
        return "missing", (), None, "never submitted"
    verdict = latest["verdict"]
    at = _at(latest.get("at"))
    codes = ", ".join(latest.get("reasons") or []) or "no reason"
    if verdict == "review":
        return "review", evidence, at, f"waiting for review ({codes})"
    if verdict == "fail":
        return "failed", evidence, at, f"failed ({codes})"
    return "missing", evidence, at, "passed once, cleared since (rejected)"


def _review_bin(facts: dict[str, Any]) -> tuple[str, tuple[str, ...], str]:
    cases = facts.get("cases") or {}
    if cases.get("open"):
        return "open", tuple(cases["open"]), f"{len(cases['open'])} open case(s)"
    if facts.get("status") == "rejected" and cases.get("rejected"):
        ids = tuple(c[0] for c in cases["rejected"])
        return "rejected", ids, "rejected by a CS rep"
    if cases.get("approved"):
        ids = tuple(c[0] for c in cases["approved"])
        return "approved", ids, "approved by a CS rep"
    return "none", (), "no review needed"


def _reverification_bin(facts: dict[str, Any]) -> tuple[str, tuple[str, ...], datetime | None, str]:
    task = facts.get("reverify_task")
    required = _at(facts.get("reverify_required_at"))
    passed = facts.get("passed") or {}
    face, live = _at(passed.get("face")), _at(passed.get("liveness"))
    outstanding = required is not None and (face is None or face < required or live is None or live < required)
    if task and task.get("state") in ("overdue", "failed"):
        return "overdue", (task["task_id"],), _at(task.get("at")), f"re-verification task {task['state']}"
    if outstanding:
        evidence = (task["task_id"],) if task else ()
        return "pending", evidence, required, f"re-verification required since {required:%Y-%m-%d}"
    if task and task.get("state") in ("pending", "notified"):
        return "pending", (task["task_id"],), _at(task.get("at")), f"re-verification task {task['state']}"
    return "none", (), None, "no re-verification outstanding"


# ---- numeric facts -------------------------------------------------------------------


def _signal_number(
    c: Characteristic, facts: dict[str, Any], now: datetime
) -> tuple[float | None, tuple[str, ...], datetime | None, str]:
    rows = [s for s in facts.get("signals") or [] if s["name"] == c.signal]
    if c.source == "latest":
        window = c.window_days
        fresh = [s for s in rows if window is None or _days(now, _at(s["at"]) or now) <= window]
        if not fresh:
            return None, (), None, "no recent rating"
        newest = max(fresh, key=lambda s: (s["at"], s["id"]))
        return float(newest["value"]), (newest["id"],), _at(newest["at"]), f"rated {newest['value']:g}"
    total, used, newest_at = 0.0, [], None
    for s in rows:
        at = _at(s["at"]) or now
        age = _days(now, at)
        amount = float(s["value"]) * float(s.get("weight", 1.0))
        if c.source == "decayed_sum":
            factor = 0.5 ** (age / c.half_life_days) if c.half_life_days else 1.0
        else:  # window_sum
            factor = 1.0 if c.window_days is None or age <= c.window_days else 0.0
        if factor <= 0.0:
            continue
        total += amount * factor
        used.append(s["id"])
        newest_at = at if newest_at is None or at > newest_at else newest_at
    how = f"half-life {c.half_life_days:g} d" if c.source == "decayed_sum" else f"last {c.window_days:g} d"
    detail = f"{len(used)} record(s), aged total {total:.2f} ({how})" if used else "none recorded"
    return round(total, 6), tuple(used[-10:]), newest_at, detail


def _number(
    c: Characteristic, facts: dict[str, Any], now: datetime
) -> tuple[float | None, tuple[str, ...], datetime | None, str]:
    if c.source == "verification_age":
        passed = facts.get("passed") or {}
        stamps = [_at(passed.get(k)) for k in ("document", "face", "liveness")]
        if any(s is None for s in stamps):
            return None, (), None, "not fully verified"
        latest = max(s for s in stamps if s is not None)
        days = _days(now, latest)
        return round(days, 3), (), latest, f"{days:.0f} days since the last check passed"
    if c.source == "cluster_size":
        cluster = facts.get("cluster") or {}
        size = int(cluster.get("subjects") or 1)
        if size <= 1:
            return 1.0, (), None, "no other subject shares this face or ID number"
        detail = (
            f"cluster of {size} subjects, {cluster.get('faces', 0)} face(s), "
            f"{cluster.get('id_numbers', 0)} ID number(s)"
        )
        return float(size), (str(cluster.get("id", "")),), None, detail
    return _signal_number(c, facts, now)


def _score_characteristic(c: Characteristic, facts: dict[str, Any], now: datetime) -> SignalScore:
    if c.kind == "category":
        at: datetime | None = None
        if c.name in CHECKS:
            label, evidence, at, detail = _check_bin(facts, c.name)
        elif c.name == "review":
            label, evidence, detail = _review_bin(facts)
        elif c.name == "reverification":
            label, evidence, at, detail = _reverification_bin(facts)
        else:
            raise KeyError(f"no fact behind category characteristic {c.name!r}")
        b = c.category(label)
        value = float([x.label for x in c.bins].index(label))
    else:
        number, evidence, at, detail = _number(c, facts, now)
        b = c.number(number)
        value = -1.0 if number is None else number
    lost = c.reference_points - b.points
    code = b.code or (c.code if lost > 0 else None)
    return SignalScore(c.name, value, b.points, c.reference_points, b.label, code, detail, evidence, at, b.action)


# ---- knock-outs ------------------------------------------------------------------------


def _knock_outs(policy: Policy, facts: dict[str, Any]) -> list[KnockOutHit]:
    hits: list[KnockOutHit] = []
    latest = facts.get("latest") or {}
    cases = facts.get("cases") or {}

    def hit(name: str, detail: str) -> None:
        rule = policy.knock_outs.get(name)
        if rule is not None:
            hits.append(KnockOutHit(rule.name, rule.code, rule.decision, detail))

    doc = latest.get("document")
    if doc:
        reasons = set(doc.get("reasons") or [])
        rule = policy.knock_outs.get("forged_document")
        if rule and doc["verdict"] == "fail" and reasons & rule.reasons:
            hit("forged_document", f"document {doc['id']}: {', '.join(sorted(reasons & rule.reasons))}")
        rule = policy.knock_outs.get("expired_document")
        if rule and reasons & rule.reasons:
            hit("expired_document", f"document {doc['id']} has expired")
    live = latest.get("liveness")
    rule = policy.knock_outs.get("liveness_attack")
    if live and rule and live["verdict"] == "fail" and set(live.get("reasons") or []) & rule.reasons:
        found = sorted(set(live.get("reasons") or []) & rule.reasons)
        hit("liveness_attack", f"liveness {live['id']}: {', '.join(found)}")
    rejected_dups = [c[0] for c in cases.get("rejected") or [] if c[1] == "duplicate"]
    if rejected_dups:
        hit("confirmed_duplicate", f"duplicate case {rejected_dups[-1]} rejected by a CS rep")
    face = latest.get("face_match")
    cleared = set(facts.get("approved_verifications") or [])
    if face and "ID_REUSED_BY_OTHER_FACE" in (face.get("reasons") or []) and face["id"] not in cleared:
        hit("id_reused_by_other_face", f"face match {face['id']}: the ID number is enrolled with another face")
    bans = [s for s in facts.get("signals") or [] if s["name"] in ("ban", "ban_lifted")]
    if bans and max(bans, key=lambda s: (s["at"], s["id"]))["name"] == "ban":
        newest = max(bans, key=lambda s: (s["at"], s["id"]))
        hit("ban", f"banned by the platform (signal {newest['id']})")
    task = facts.get("reverify_task") or {}
    if task.get("state") in ("overdue", "failed"):
        hit("reverification_overdue", f"re-verification task {task.get('task_id')} is {task['state']}")
    if facts.get("status") == "rejected":
        hit("review_rejected", "a CS rep rejected this subject's verification")
    return hits


# ---- the answer ----------------------------------------------------------------------------


def _rank(signals: list[SignalScore]) -> list[str]:
    losing = [s for s in signals if s.points_lost > 0 and s.code]
    ordered = sorted(enumerate(losing), key=lambda t: (-t[1].points_lost, t[0]))
    return list(dict.fromkeys(s.code for _, s in ordered if s.code))[:TOP_REASONS]


def _simulate(action: str, facts: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The facts as they would be once `action` is done (and passes) now."""
    # Copy only what changes (the facts are plain dicts and lists; the rest is shared, read-only).
    f = dict(facts)
    f["passed"] = dict(facts.get("passed") or {})
    f["latest"] = dict(facts.get("latest") or {})
    f["cases"] = {k: list(v) for k, v in (facts.get("cases") or {}).items()}
    stamp = now.isoformat()
    checks = {
        "submit_id_document": ("document",),
        "match_live_face": ("face_match",),
        "complete_challenge_photo": ("liveness",),
        "complete_verification": CHECKS,
        "reverify": ("face_match", "liveness"),
    }.get(action, ())
    for check in checks:
        f["passed"][_PASSED_KEY[check]] = stamp
        f["latest"][check] = {"id": f"simulated-{check}", "verdict": "pass", "reasons": [], "at": stamp}
    if action == "reverify" and f.get("reverify_task"):
        f["reverify_task"] = {**f["reverify_task"], "state": "passed", "at": stamp}
    if action == "wait_for_review":
        cases = f["cases"]
        cases["approved"] = list(cases.get("approved") or []) + [[c, "review"] for c in cases.get("open") or []]
        cases["open"] = []
    return f


def _actions(
    policy: Policy, facts: dict[str, Any], now: datetime, signals: list[SignalScore], total: float
) -> list[ActionItem]:
    """Each action the losing signals name, with the points it would add (re-scored, so a
    check that also completes verification counts both) and the decision after it."""
    subject_id = facts.get("subject_id", "")
    seen: dict[str, str] = {}
    for s in signals:
        if s.action and s.points_lost > 0 and s.code and s.action not in seen:
            seen[s.action] = s.code
    out = []
    for action, code in seen.items():
        after = score_subject(policy, _simulate(action, facts, now), now, with_actions=False)
        gained = round(after.score - total, 2)
        if gained > 0 or after.decision != "DENY":
            out.append(ActionItem(action, policy.actions.get(action, action), code, gained, subject_id, after.decision))
    return sorted(out, key=lambda a: (-a.points_gained, a.action))


def score_subject(policy: Policy, facts: dict[str, Any], now: datetime, *, with_actions: bool = True) -> Score:
    """The score of one subject from its facts, aged to `now`."""
    signals = [_score_characteristic(c, facts, now) for c in policy.characteristics]
    total = round(min(100.0, max(0.0, sum(s.points for s in signals))), 2)
    band = policy.band(total)
    knocks = _knock_outs(policy, facts)
    decision = worst(policy.decisions[band], *(k.decision for k in knocks))
    return Score(
        target_id=facts.get("subject_id", ""),
        score=total,
        band=band,
        decision=decision,
        policy_version=policy.version,
        computed_at=now,
        signals=signals,
        reasons=_rank(signals),
        knock_outs=knocks,
        actions=_actions(policy, facts, now, signals, total) if with_actions else [],
    )


ROLE_TEXT = {"legal_representative": "the legal representative", "major_shareholder": "a major shareholder"}


def score_enterprise(policy: Policy, facts: dict[str, Any], now: datetime) -> Score:
    """An enterprise: its licence, its legal representative and every required executive.

    Score: the lowest score of its required executives, less what the enterprise's own
    platform signals lose. Decision: the worst of the band's, the enterprise rules' and
    the executives' knock-outs.
    """
    required = set(policy.required_roles)
    members: list[tuple[str, str, Score]] = []
    for ex in facts.get("executives") or []:
        members.append((ex["subject_id"], ex["role"], score_subject(policy, ex["facts"], now)))
    own = [
        _score_characteristic(c, {"signals": facts.get("signals") or []}, now)
        for c in policy.characteristics
        if c.kind == "number" and c.source in ("decayed_sum", "window_sum", "latest")
    ]
    # Only what was recorded against the enterprise itself costs it points (a missing
    # rating or an empty history is already priced into its executives' scores).
    own = [s for s in own if s.evidence]
    own_loss = sum(max(0.0, s.points_lost) for s in own)
    needed = [m for m in members if m[1] in required]
    base = min((m[2].score for m in needed), default=0.0)
    total = round(min(100.0, max(0.0, base - own_loss)), 2)
    band = policy.band(total)
    rules: list[KnockOutHit] = []
    licence = facts.get("licence") or {}
    verdict = licence.get("verdict")
    if verdict != "pass":
        decision = "REVIEW" if verdict == "review" else "DENY"
        rules.append(
            KnockOutHit(
                "licence_invalid", "LICENCE_INVALID", decision, f"business licence verdict {verdict or 'missing'}"
            )
        )
    reps = [m for m in members if m[1] == "legal_representative"]
    if not reps:
        rules.append(
            KnockOutHit(
                "legal_representative_missing",
                "LEGAL_REPRESENTATIVE_MISSING",
                "DENY",
                "no legal representative on record",
            )
        )
    mismatch = "LEGAL_REPRESENTATIVE_MISMATCH" in (licence.get("reasons") or []) or any(
        "LEGAL_REPRESENTATIVE_MISMATCH" in ((ex["facts"].get("latest") or {}).get("document") or {}).get("reasons", [])
        for ex in facts.get("executives") or []
        if ex["role"] == "legal_representative"
    )
    if mismatch:
        rules.append(
            KnockOutHit(
                "legal_representative_mismatch",
                "LEGAL_REPRESENTATIVE_MISMATCH",
                "DENY",
                "the representative's ID does not match the licence",
            )
        )
    for sid, role, s in needed:
        verified = all(x.bin == "passed" for x in s.signals if x.name in CHECKS)
        rever = next((x for x in s.signals if x.name == "reverification"), None)
        if role == "legal_representative" and not verified:
            rules.append(
                KnockOutHit(
                    "legal_representative_not_verified",
                    "LEGAL_REPRESENTATIVE_NOT_VERIFIED",
                    "REVIEW",
                    f"{sid} not verified",
                )
            )
        elif not verified:
            rules.append(
                KnockOutHit("executive_not_verified", "EXECUTIVE_NOT_VERIFIED", "REVIEW", f"{role} {sid} not verified")
            )
        if rever is not None and rever.bin == "overdue":
            rules.append(
                KnockOutHit(
                    "executive_overdue", "REVERIFICATION_OVERDUE", "REVIEW", f"{role} {sid}: re-verification overdue"
                )
            )
        elif rever is not None and rever.bin == "pending":
            rules.append(
                KnockOutHit(
                    "executive_pending", "REVERIFICATION_PENDING", "REVIEW", f"{role} {sid}: re-verification pending"
                )
            )
        for k in s.knock_outs:
            rules.append(KnockOutHit(f"executive_{k.name}", k.code, k.decision, f"{role} {sid}: {k.detail}"))
    decision = worst(policy.decisions[band], *(k.decision for k in rules))
    reasons: list[str] = [k.code for k in rules]
    for _, _, s in sorted(needed, key=lambda m: m[2].score):
        reasons += s.reasons
    reasons += _rank(own)
    actions: list[ActionItem] = []
    for sid, role, s in needed:
        who = ROLE_TEXT.get(role, f"the {role.replace('_', ' ')}")
        for a in s.actions:
            actions.append(ActionItem(f"{a.action}:{role}", f"{who}: {a.text}", a.code, a.points_gained, sid, ""))
    actions.sort(key=lambda a: -a.points_gained)
    signals = own + [
        SignalScore(
            f"executive:{role}",
            s.score,
            0.0,
            0.0,
            s.band,
            s.reasons[0] if s.reasons else None,
            f"{sid} scored {s.score:g}",
            (sid,),
        )
        for sid, role, s in members
    ]
    return Score(
        target_id=facts.get("enterprise_id", ""),
        score=total,
        band=band,
        decision=decision,
        policy_version=policy.version,
        computed_at=now,
        signals=signals,
        reasons=list(dict.fromkeys(reasons))[:TOP_REASONS],
        knock_outs=rules,
        actions=actions,
        members=members,
    )


def score(policy: Policy, facts: dict[str, Any], now: datetime, *, with_actions: bool = True) -> Score:
    """Score a subject's or an enterprise's facts (`with_actions=False` skips the what-if re-scoring)."""
    if facts.get("kind") == "enterprise":
        return score_enterprise(policy, facts, now)
    return score_subject(policy, facts, now, with_actions=with_actions)
