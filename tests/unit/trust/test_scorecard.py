"""The scorecard over plain facts: bins to points, knock-outs, bands, ranked reasons,
actions, ageing, enterprise rules, and reproducibility of stored inputs."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.core.errors import DomainError
from services.core.reasons import Reason
from services.trust.policy import PolicyError, PolicySet, load_file, shipped
from services.trust.scorecard import score

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
POLICIES = PolicySet.load()
P = POLICIES.active


def iso(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def verified(**over: Any) -> dict[str, Any]:
    """A subject whose document, face and liveness passed 10 days ago, nothing else on file."""
    f: dict[str, Any] = {
        "kind": "subject",
        "subject_id": "s1",
        "status": "verified",
        "passed": {"document": iso(10), "face": iso(10), "liveness": iso(10)},
        "verified_at": iso(10),
        "reverify_required_at": None,
        "latest": {
            "document": {"id": "v-doc", "verdict": "pass", "reasons": [], "at": iso(10)},
            "face_match": {"id": "v-face", "verdict": "pass", "reasons": [], "at": iso(10)},
            "liveness": {"id": "v-live", "verdict": "pass", "reasons": [], "at": iso(10)},
        },
        "cases": {"open": [], "approved": [], "rejected": []},
        "approved_verifications": [],
        "reverify_task": None,
        "cluster": None,
        "signals": [],
    }
    f.update(over)
    return f


def sig(name: str, days_ago: float, value: float = 1.0, weight: float = 1.0, sid: str = "") -> dict[str, Any]:
    return {
        "id": sid or f"{name}-{days_ago}-{value}",
        "name": name,
        "value": value,
        "weight": weight,
        "at": iso(days_ago),
    }


def test_the_shipped_policy_loads_and_its_reference_profile_is_100() -> None:
    assert P.version == "2026-12-03.1"  # the newest shipped file is the active policy
    assert sum(c.reference_points for c in P.characteristics) == 100


def test_a_fully_verified_clean_seller_is_allowed() -> None:
    s = score(P, verified(), NOW)
    assert s.decision == "ALLOW" and s.band == "low" and s.knock_outs == []
    assert s.score == 95  # no credibility rating (1 of 3), no positive history (0 of 3)
    assert s.reasons == ["POSITIVE_HISTORY_SHORT", "USER_CREDIBILITY_UNKNOWN"]


def test_a_new_seller_is_denied_with_what_to_do() -> None:
    f = verified(status="pending", passed={"document": None, "face": None, "liveness": None}, latest={})
    s = score(P, f, NOW)
    assert s.decision == "DENY" and s.band == "very_high"
    assert s.reasons[:3] == ["DOCUMENT_NOT_VERIFIED", "FACE_NOT_VERIFIED", "LIVENESS_NOT_VERIFIED"]
    first = s.actions[0]
    assert first.action == "complete_verification" and first.decision_after == "ALLOW"
    assert {"submit_id_document", "match_live_face", "complete_challenge_photo"} <= {a.action for a in s.actions}


def test_a_missing_challenge_photo_keeps_the_shop_in_review_and_says_so() -> None:
    f = verified(status="pending")
    f["passed"] = {**f["passed"], "liveness": None}
    del f["latest"]["liveness"]
    s = score(P, f, NOW)
    assert s.decision == "REVIEW"
    assert s.reasons[0] == "LIVENESS_NOT_VERIFIED"
    top = s.actions[0]
    assert top.action == "complete_challenge_photo" and top.text.startswith("complete the challenge photo")
    # Re-scored, not summed by hand: passing the challenge also completes verification (age bin).
    assert top.points_gained == pytest.approx(28) and top.decision_after == "ALLOW"


@pytest.mark.parametrize(
    ("name", "facts", "code"),
    [
        (
            "forged_document",
            lambda: verified(
                latest={
                    **verified()["latest"],
                    "document": {"id": "d", "verdict": "fail", "reasons": ["ID_NUMBER_CHECKSUM_FAILED"], "at": iso(1)},
                }
            ),
            "DOCUMENT_FORGED",
        ),
        (
            "expired_document",
            lambda: verified(
                latest={
                    **verified()["latest"],
                    "document": {"id": "d", "verdict": "fail", "reasons": ["DOCUMENT_EXPIRED"], "at": iso(1)},
                }
            ),
            "DOCUMENT_EXPIRED",
        ),
        (
            "liveness_attack",
            lambda: verified(
                latest={
                    **verified()["latest"],
                    "liveness": {"id": "l", "verdict": "fail", "reasons": ["SCREEN_REPLAY_SUSPECTED"], "at": iso(1)},
                }
            ),
            "LIVENESS_ATTACK_DETECTED",
        ),
        (
            "confirmed_duplicate",
            lambda: verified(cases={"open": [], "approved": [], "rejected": [["c1", "duplicate"]]}),
            "DUPLICATE_IDENTITY_CONFIRMED",
        ),
        (
            "id_reused_by_other_face",
            lambda: verified(
                latest={
                    **verified()["latest"],
                    "face_match": {
                        "id": "f",
                        "verdict": "review",
                        "reasons": ["ID_REUSED_BY_OTHER_FACE"],
                        "at": iso(1),
                    },
                }
            ),
            "ID_REUSED_BY_OTHER_FACE",
        ),
        ("ban", lambda: verified(signals=[sig("ban", 3)]), "SELLER_BANNED"),
        ("review_rejected", lambda: verified(status="rejected"), "REVIEW_REJECTED"),
        (
            "reverification_overdue",
            lambda: verified(reverify_task={"state": "overdue", "task_id": "t", "campaign_id": "c", "at": iso(1)}),
            "REVERIFICATION_OVERDUE",
        ),
    ],
)
def test_every_knock_out_forces_its_decision_whatever_the_points(name: str, facts: Any, code: str) -> None:
    s = score(P, facts(), NOW)
    assert score(P, verified(), NOW).decision == "ALLOW"
    assert [k.name for k in s.knock_outs] == [name]
    assert s.decision == P.knock_outs[name].decision == ("REVIEW" if name == "reverification_overdue" else "DENY")
    assert s.decision_reasons()[0] == code
    assert name in P.knock_outs


def test_a_code_shown_on_a_screen_knocks_out_from_policy_2026_12_03_only() -> None:
    attacked = verified(
        latest={
            **verified()["latest"],
            "liveness": {"id": "l", "verdict": "fail", "reasons": ["CODE_ON_SCREEN"], "at": iso(1)},
        }
    )
    now = score(P, attacked, NOW)
    assert now.decision == "DENY" and "LIVENESS_ATTACK_DETECTED" in [k.code for k in now.knock_outs]
    before = score(POLICIES.get("2026-12-02.1"), attacked, NOW)  # stored decisions re-score as they were
    assert "LIVENESS_ATTACK_DETECTED" not in [k.code for k in before.knock_outs]


def test_knock_outs_list_matches_the_policy() -> None:
    assert set(P.knock_outs) == {
        "forged_document",
        "expired_document",
        "liveness_attack",
        "confirmed_duplicate",
        "id_reused_by_other_face",
        "ban",
        "review_rejected",
        "reverification_overdue",
    }


def test_a_rep_clearing_the_reused_id_lifts_the_knock_out() -> None:
    f = verified(
        latest={
            **verified()["latest"],
            "face_match": {"id": "f", "verdict": "review", "reasons": ["ID_REUSED_BY_OTHER_FACE"], "at": iso(1)},
        }
    )
    f["approved_verifications"] = ["f"]
    assert score(P, f, NOW).knock_outs == []


def test_a_lifted_ban_clears_the_knock_out() -> None:
    assert score(P, verified(signals=[sig("ban", 5), sig("ban_lifted", 2)]), NOW).knock_outs == []


def test_failed_liveness_without_an_attack_is_no_knock_out() -> None:
    f = verified(
        latest={
            **verified()["latest"],
            "liveness": {"id": "l", "verdict": "fail", "reasons": ["CODE_MISMATCH"], "at": iso(1)},
        }
    )
    assert score(P, f, NOW).knock_outs == []


# Each reason code the subject scorecard raises, with facts that raise it.
REASON_CASES: dict[str, Any] = {
    "DOCUMENT_NOT_VERIFIED": lambda: verified(passed={"document": None, "face": iso(10), "liveness": iso(10)}),
    "FACE_NOT_VERIFIED": lambda: verified(passed={"document": iso(10), "face": None, "liveness": iso(10)}),
    "LIVENESS_NOT_VERIFIED": lambda: verified(passed={"document": iso(10), "face": iso(10), "liveness": None}),
    "NOT_VERIFIED": lambda: verified(passed={"document": iso(10), "face": iso(10), "liveness": None}),
    "VERIFICATION_STALE": lambda: verified(passed={"document": iso(500), "face": iso(500), "liveness": iso(500)}),
    "REVIEW_PENDING": lambda: verified(cases={"open": ["c1"], "approved": [], "rejected": []}),
    "REVIEW_REJECTED": lambda: verified(
        status="rejected", cases={"open": [], "approved": [], "rejected": [["c1", "face_match"]]}
    ),
    "REVERIFICATION_PENDING": lambda: verified(reverify_required_at=iso(2)),
    "REVERIFICATION_OVERDUE": lambda: verified(
        reverify_task={"state": "overdue", "task_id": "t1", "campaign_id": "c", "at": iso(1)}
    ),
    "SUSPICIOUS_ACTIVITY_REPORTED": lambda: verified(signals=[sig("suspicious_report", 1)]),
    "PENALTY_RECORDS": lambda: verified(signals=[sig("penalty_record", 1)]),
    "POLICY_VIOLATIONS": lambda: verified(signals=[sig("policy_violation", 1)]),
    "LOW_USER_CREDIBILITY": lambda: verified(signals=[sig("user_credibility", 1, 0.1)]),
    "POSITIVE_HISTORY_SHORT": lambda: verified(),
    "USER_CREDIBILITY_UNKNOWN": lambda: verified(),
    "IDENTITY_CLUSTER": lambda: verified(cluster={"id": "k", "subjects": 3, "faces": 1, "id_numbers": 3}),
}


@pytest.mark.parametrize("code", sorted(REASON_CASES))
def test_every_reason_code_of_the_subject_scorecard(code: str) -> None:
    s = score(P, REASON_CASES[code](), NOW)
    assert code in s.reasons + [x.code for x in s.signals if x.code] + s.decision_reasons()
    Reason(code)  # a real code of the contract


def test_every_code_the_policy_names_has_a_case() -> None:
    named = {c.code for c in P.characteristics} | {b.code for c in P.characteristics for b in c.bins if b.code}
    named.discard("REVIEW_APPROVED")  # an approval costs nothing, so it is never a reason
    assert named <= set(REASON_CASES), named - set(REASON_CASES)


def test_reasons_are_ranked_by_points_lost_and_capped_at_four() -> None:
    f = verified(
        signals=[sig("suspicious_report", 1, weight=4), sig("penalty_record", 1), sig("policy_violation", 5, value=3)],
        cluster={"id": "k", "subjects": 2, "faces": 1, "id_numbers": 2},
    )
    s = score(P, f, NOW)
    # suspicious 48 lost, policy_violations 19, identity_cluster 15, penalty 4 ... positive 3
    assert s.reasons == ["SUSPICIOUS_ACTIVITY_REPORTED", "POLICY_VIOLATIONS", "IDENTITY_CLUSTER", "PENALTY_RECORDS"]


def test_a_report_ages_with_its_half_life() -> None:
    fresh = score(P, verified(signals=[sig("suspicious_report", 0, weight=2)]), NOW)
    old = score(P, verified(signals=[sig("suspicious_report", 360, weight=2)]), NOW)  # 4 half-lives: 0.125
    clean = score(P, verified(), NOW)
    assert fresh.score < old.score < clean.score
    rep = next(x for x in old.signals if x.name == "suspicious_reports")
    assert rep.value == pytest.approx(0.125)


def test_window_signals_drop_out_after_their_window() -> None:
    inside = score(P, verified(signals=[sig("policy_violation", 300)]), NOW)
    outside = score(P, verified(signals=[sig("policy_violation", 400)]), NOW)
    assert inside.score < outside.score == score(P, verified(), NOW).score


def test_points_never_rise_with_more_reports() -> None:
    last = 101.0
    for n in range(8):
        s = score(P, verified(signals=[sig("suspicious_report", 1, sid=f"r{i}") for i in range(n)]), NOW)
        assert s.score <= last
        last = s.score


def test_an_approved_review_scores_higher_than_an_open_one_and_a_rejection_denies() -> None:
    open_ = score(P, verified(cases={"open": ["c1"], "approved": [], "rejected": []}), NOW)
    approved = score(P, verified(cases={"open": [], "approved": [["c1", "face_match"]], "rejected": []}), NOW)
    rejected = score(
        P, verified(status="rejected", cases={"open": [], "approved": [], "rejected": [["c1", "face_match"]]}), NOW
    )
    assert approved.score > open_.score
    assert rejected.decision == "DENY"


# ---- enterprises


def enterprise(
    licence: str = "pass", execs: list[tuple[str, dict[str, Any]]] | None = None, **over: Any
) -> dict[str, Any]:
    people = execs if execs is not None else [("legal_representative", verified(subject_id="rep"))]
    f = {
        "kind": "enterprise",
        "enterprise_id": "e1",
        "licence": {"verdict": licence, "reasons": [], "document_id": "doc"},
        "executives": [{"subject_id": p[1]["subject_id"], "role": p[0], "facts": p[1]} for p in people],
        "signals": [],
    }
    f.update(over)
    return f


def test_an_enterprise_with_a_valid_licence_and_verified_executives_is_allowed() -> None:
    s = score(P, enterprise(), NOW)
    assert s.decision == "ALLOW" and s.score == 95 and len(s.members) == 1


@pytest.mark.parametrize(
    ("facts", "code", "decision"),
    [
        (lambda: enterprise(licence="fail"), "LICENCE_INVALID", "DENY"),
        (lambda: enterprise(licence="review"), "LICENCE_INVALID", "REVIEW"),
        (lambda: enterprise(execs=[("director", verified(subject_id="d"))]), "LEGAL_REPRESENTATIVE_MISSING", "DENY"),
        (
            lambda: (
                enterprise(licence="pass", licence_reasons=None)
                | {"licence": {"verdict": "pass", "reasons": ["LEGAL_REPRESENTATIVE_MISMATCH"]}}
            ),
            "LEGAL_REPRESENTATIVE_MISMATCH",
            "DENY",
        ),
        (
            lambda: enterprise(
                execs=[
                    (
                        "legal_representative",
                        verified(subject_id="rep", passed={"document": iso(1), "face": None, "liveness": None}),
                    )
                ]
            ),
            "LEGAL_REPRESENTATIVE_NOT_VERIFIED",
            "REVIEW",
        ),
        (
            lambda: enterprise(
                execs=[
                    ("legal_representative", verified(subject_id="rep")),
                    (
                        "director",
                        verified(subject_id="d", passed={"document": iso(1), "face": iso(1), "liveness": None}),
                    ),
                ]
            ),
            "EXECUTIVE_NOT_VERIFIED",
            "REVIEW",
        ),
        (
            lambda: enterprise(
                execs=[
                    ("legal_representative", verified(subject_id="rep")),
                    (
                        "major_shareholder",
                        verified(
                            subject_id="m",
                            reverify_task={"state": "overdue", "task_id": "t", "campaign_id": "c", "at": iso(1)},
                        ),
                    ),
                ]
            ),
            "REVERIFICATION_OVERDUE",
            "REVIEW",
        ),
        (
            lambda: enterprise(execs=[("legal_representative", verified(subject_id="rep", status="rejected"))]),
            "REVIEW_REJECTED",
            "DENY",
        ),
    ],
)
def test_enterprise_rules(facts: Any, code: str, decision: str) -> None:
    s = score(P, facts(), NOW)
    assert code in s.decision_reasons()
    assert s.decision == decision


def test_a_manager_need_not_be_verified_and_an_overdue_rep_is_told_to_reverify() -> None:
    ok = score(
        P,
        enterprise(
            execs=[
                ("legal_representative", verified(subject_id="rep")),
                ("manager", verified(subject_id="m", passed={"document": None, "face": None, "liveness": None})),
            ]
        ),
        NOW,
    )
    assert ok.decision == "ALLOW"
    late = score(
        P, enterprise(execs=[("legal_representative", verified(subject_id="rep", reverify_required_at=iso(3)))]), NOW
    )
    assert late.decision == "REVIEW"
    assert any(
        a.action == "reverify:legal_representative" and a.subject_id == "rep" and "legal representative" in a.text
        for a in late.actions
    )


def test_signals_against_the_enterprise_itself_lower_its_score() -> None:
    assert score(P, enterprise(signals=[sig("suspicious_report", 1)]), NOW).score < score(P, enterprise(), NOW).score


# ---- policy files


def test_a_policy_override_with_a_new_version_becomes_active(tmp_path: Path) -> None:
    text = Path(shipped()[-1].source).read_text() if Path(shipped()[-1].source).exists() else ""
    assert text
    custom = tmp_path / "mine.toml"
    custom.write_text(text.replace('version = "2026-12-03.1"', 'version = "acme-1"').replace("low = 80", "low = 96"))
    ps = PolicySet.load(custom)
    assert ps.active.version == "acme-1"
    assert score(ps.active, verified(), NOW).decision == "REVIEW"
    assert ps.get("2026-12-03.1").bands["low"] == 80 and ps.get("2026-12-02.1").bands["low"] == 80


def test_an_override_reusing_a_shipped_version_with_other_rules_is_refused(tmp_path: Path) -> None:
    text = Path(shipped()[-1].source).read_text()
    custom = tmp_path / "mine.toml"
    custom.write_text(text.replace("low = 80", "low = 90"))
    with pytest.raises(PolicyError, match="own version"):
        PolicySet.load(custom)


def test_a_non_monotone_policy_is_refused(tmp_path: Path) -> None:
    text = Path(shipped()[-1].source).read_text()
    bad = tmp_path / "bad.toml"
    bad.write_text(
        text.replace("{ upto = 3.0, points = -25 }", "{ upto = 3.0, points = 5 }").replace('"2026-12-03.1"', '"bad-1"')
    )
    with pytest.raises(PolicyError, match="not decreasing"):
        load_file(bad)


def test_an_unknown_version_is_a_clear_error() -> None:
    with pytest.raises(DomainError) as err:
        POLICIES.get("nope")
    assert err.value.reason is Reason.POLICY_VERSION_UNKNOWN


# ---- reproducibility


def random_facts(rng: random.Random, i: int) -> dict[str, Any]:
    def maybe_iso(p: float) -> str | None:
        return iso(rng.uniform(0, 900)) if rng.random() < p else None

    latest: dict[str, Any] = {}
    for kind in ("document", "face_match", "liveness"):
        if rng.random() < 0.9:
            verdict = rng.choice(["pass", "pass", "pass", "fail", "review"])
            reasons = rng.sample(
                [
                    "ID_NUMBER_CHECKSUM_FAILED",
                    "DOCUMENT_EXPIRED",
                    "SCREEN_REPLAY_SUSPECTED",
                    "CODE_MISMATCH",
                    "ID_REUSED_BY_OTHER_FACE",
                    "FACE_NO_MATCH",
                ],
                rng.randint(0, 2),
            )
            latest[kind] = {
                "id": f"v{i}-{kind}",
                "verdict": verdict,
                "reasons": reasons,
                "at": iso(rng.uniform(0, 900)),
            }
    names = [
        "suspicious_report",
        "penalty_record",
        "policy_violation",
        "user_credibility",
        "positive_behaviour",
        "ban",
        "ban_lifted",
    ]
    signals = [
        {
            "id": f"s{i}-{k}",
            "name": rng.choice(names),
            "value": round(rng.uniform(0, 3), 3),
            "weight": rng.choice([0.5, 1.0, 2.0, 4.0]),
            "at": iso(rng.uniform(-1, 800)),
        }
        for k in range(rng.randint(0, 12))
    ]
    return {
        "kind": "subject",
        "subject_id": f"subj-{i}",
        "status": rng.choice(["verified", "pending", "in_review", "rejected", "reverification_required"]),
        "passed": {k: maybe_iso(0.7) for k in ("document", "face", "liveness")},
        "verified_at": maybe_iso(0.5),
        "reverify_required_at": maybe_iso(0.2),
        "latest": latest,
        "cases": {
            "open": [f"c{i}"] if rng.random() < 0.2 else [],
            "approved": [[f"a{i}", rng.choice(["face_match", "duplicate"])]] if rng.random() < 0.2 else [],
            "rejected": [[f"r{i}", rng.choice(["face_match", "duplicate"])]] if rng.random() < 0.1 else [],
        },
        "approved_verifications": [f"v{i}-face_match"] if rng.random() < 0.1 else [],
        "reverify_task": {
            "state": rng.choice(["pending", "notified", "passed", "failed", "overdue", "waived"]),
            "task_id": f"t{i}",
            "campaign_id": "c",
            "at": iso(rng.uniform(0, 100)),
        }
        if rng.random() < 0.3
        else None,
        "cluster": {"id": f"k{i}", "subjects": rng.randint(2, 9), "faces": 1, "id_numbers": 2}
        if rng.random() < 0.1
        else None,
        "signals": signals,
    }


def test_stored_inputs_rescored_with_the_stored_policy_give_the_same_score_10k_subjects() -> None:
    rng = random.Random(12)
    decisions = set()
    for i in range(10_000):
        f = random_facts(rng, i)
        first = score(P, f, NOW)
        stored = json.dumps(
            {"facts": f, "policy_version": first.policy_version, "at": NOW.isoformat(), "score": first.score}
        )
        back = json.loads(stored)
        again = score(POLICIES.get(back["policy_version"]), back["facts"], datetime.fromisoformat(back["at"]))
        assert (again.score, again.band, again.decision, again.reasons) == (
            back["score"],
            first.band,
            first.decision,
            first.reasons,
        ), i
        decisions.add(first.decision)
    assert decisions == {"ALLOW", "REVIEW", "DENY"}
