"""Campaigns and their tasks, as database records: the durable truth the workflows drive.

A campaign owns one task per executive (unique per campaign and subject). Tasks are
grouped in batches; a workflow activity advances one batch in one transaction:

    pending  --notify-->  notified  --remind-->  reminded (x n)
       \\____________________|___________________/
                 passed (document + face + challenge after the task started)
                 failed (a CS rep rejected the executive)
                 overdue (deadline passed: escalated)
                 waived (a CS rep, with a reason)

Every outside effect (notify, each reminder, the escalation, the close) is a row in
`campaign_effects` keyed by (campaign, subject, step) and a `reverification.task_changed`
domain event, written in the transaction that changes the task. A retried activity
re-reads the task and finds nothing left to do; a duplicate effect cannot commit (the key).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, exists, func, insert, literal, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.core.errors import DomainError, ErrorKind, invalid, not_found, precondition
from services.core.reasons import Reason
from services.platform import events
from services.platform.models import (
    CampaignEffectRow,
    CampaignRow,
    CampaignTaskRow,
    DomainEventRow,
    EnterpriseRow,
    ExecutiveRow,
    ReverifyCursorRow,
    SubjectRow,
)
from services.platform.records import new_id, utcnow
from services.reverify import policy as pol
from services.reverify.triggers import require_reverification

OPEN = ("pending", "notified", "reminded")
CLOSED = ("passed", "failed", "overdue", "waived")
STATES = (*OPEN, *CLOSED)
TASK_CHANGED = "reverification.task_changed"
_NAMESPACE = uuid.UUID("6f1c1f0e-4a57-4d0b-9c43-6b1d2b3e0a13")


def derived_id(*parts: str) -> str:
    """A stable id from its parts (a campaign per event source, per planning day)."""
    return str(uuid.uuid5(_NAMESPACE, "\x1f".join(parts)))


def workflow_id(campaign_id: str) -> str:
    """The Temporal workflow id that runs a campaign (one run at a time)."""
    return f"campaign-{campaign_id}"


@dataclass
class Scope:
    """Whom a campaign concerns."""

    enterprise_ids: list[str] = field(default_factory=list)
    subject_ids: list[str] = field(default_factory=list)
    region: str = ""
    all_enterprises: bool = False

    def is_empty(self) -> bool:
        return not (self.enterprise_ids or self.subject_ids or self.region or self.all_enterprises)


@dataclass
class BatchResult:
    """What advancing one batch did and when it next needs attention."""

    open: int
    next_due: float | None  # epoch seconds
    changed: dict[str, int]
    paused: bool = False


# ------------------------------------------------------------------ creating tasks


def _id_expr(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.cast(func.gen_random_uuid(), CampaignTaskRow.id.type)
    return func.lower(func.hex(func.randomblob(16)))


def _insert_tasks(
    session: Session,
    campaign_id: str,
    selection: Any,
    deadline: datetime,
    batch_size: int,
    first_batch: int = 0,
    fresh: bool = False,
) -> int:
    """INSERT ... SELECT one task per selected subject (columns subject_id, enterprise_id,
    cause); subjects that already have a task in this campaign are skipped."""
    now = utcnow()
    sub = selection.subquery()
    rank = func.row_number().over(order_by=sub.c.subject_id)
    if fresh:
        # Ids in subject order, after a campaign prefix: the primary-key index then grows at
        # its end like the others (random ids made bulk planning three times slower).
        prefix = campaign_id.replace("-", "")[:24] + "-"
        if session.get_bind().dialect.name == "postgresql":
            ident: Any = literal(prefix) + func.lpad(func.cast(rank, String), 11, "0")
        else:
            ident = literal(prefix) + func.printf("%011d", rank)
    else:
        ident = _id_expr(session)
    numbered = select(
        ident,
        literal(campaign_id),
        sub.c.enterprise_id,
        sub.c.subject_id,
        literal("pending"),
        literal(deadline, CampaignTaskRow.deadline.type),
        literal(now, CampaignTaskRow.created_at.type),
        literal(now, CampaignTaskRow.updated_at.type),
        literal(first_batch) + (rank - 1) // batch_size,
        sub.c.cause,
        literal(0),
    )
    if not fresh:  # a campaign created in this transaction has no task yet
        numbered = numbered.where(
            ~exists().where(
                and_(CampaignTaskRow.campaign_id == campaign_id, CampaignTaskRow.subject_id == sub.c.subject_id)
            )
        )
    stmt = insert(CampaignTaskRow).from_select(
        [
            "id",
            "campaign_id",
            "enterprise_id",
            "subject_id",
            "state",
            "deadline",
            "created_at",
            "updated_at",
            "batch",
            "cause",
            "reminders_sent",
        ],
        numbered,
    )

    # SQLAlchemy reports no rowcount for INSERT ... SELECT (-1): count, or ask the driver.
    def count() -> int:
        return int(
            session.scalar(
                select(func.count()).select_from(CampaignTaskRow).where(CampaignTaskRow.campaign_id == campaign_id)
            )
            or 0
        )

    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        # One statement sorts and groups up to millions of rows: give it memory for that.
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        # psycopg reports the row count of INSERT ... SELECT when run as plain SQL.
        compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        return int(session.connection().exec_driver_sql(str(compiled), compiled.params).rowcount)
    before = 0 if fresh else count()
    session.execute(stmt)
    return count() - before


def _scope_selection(scope: Scope) -> Any:
    """subject_id, enterprise_id, cause of every executive (or named subject) in scope."""
    ent = select(ExecutiveRow.subject_id, func.min(ExecutiveRow.enterprise_id).label("enterprise_id"))
    conds = []
    if not scope.all_enterprises:
        if scope.enterprise_ids:
            conds.append(ExecutiveRow.enterprise_id.in_(scope.enterprise_ids))
        if scope.region:
            conds.append(
                ExecutiveRow.enterprise_id.in_(
                    select(EnterpriseRow.id).where(EnterpriseRow.region_code.startswith(scope.region))
                )
            )
        if scope.subject_ids:
            conds.append(ExecutiveRow.subject_id.in_(scope.subject_ids))
        ent = ent.where(or_(*conds)) if conds else ent.where(literal(False))
    ent = ent.group_by(ExecutiveRow.subject_id)
    return ent.add_columns(literal("requested").label("cause"))


def create_campaign(
    session: Session,
    *,
    campaign_id: str,
    name: str,
    kind: str,
    scope: Scope,
    deadline: datetime,
    remind_after_seconds: Sequence[int],
    actor: str,
    policy: pol.Policy,
    reason: str = "REVERIFICATION_PENDING",
) -> tuple[CampaignRow, int]:
    """Create a campaign and its tasks for a chosen set, once per campaign id.

    The subjects are marked for re-verification (`require_reverification`, so face and
    liveness must pass again); subjects named but not executives get a task too.
    """
    existing = session.get(CampaignRow, campaign_id)
    if existing is not None:
        return existing, 0
    now = utcnow()
    if deadline <= now:
        raise invalid(Reason.INVALID_FIELD, "deadline must be in the future", "deadline")
    row = CampaignRow(
        id=campaign_id,
        name=name or f"{kind} {pol.local_date(now, policy).isoformat()}",
        kind=kind,
        state="running",
        enterprise_ids=list(scope.enterprise_ids),
        starts_at=now,
        deadline=deadline,
        created_at=now,
        scope={"subject_ids": list(scope.subject_ids), "region": scope.region, "all": scope.all_enterprises},
        remind_after_seconds=pol.reminder_offsets(remind_after_seconds, (deadline - now).total_seconds()),
        created_by=actor,
    )
    session.add(row)
    session.flush()
    created = _insert_tasks(session, campaign_id, _scope_selection(scope), deadline, policy.batch_size, fresh=True)
    # Subjects named directly that are no executive of any enterprise (an individual seller).
    created += _add_loose(session, row, scope.subject_ids, policy)
    if created == 0:
        raise precondition(Reason.CAMPAIGN_SCOPE_EMPTY, "the campaign's scope selects no executive or subject")
    subject_ids = session.scalars(select(CampaignTaskRow.subject_id).where(CampaignTaskRow.campaign_id == campaign_id))
    if kind != "annual":
        require_reverification(session, subject_ids=list(subject_ids), reason=reason, source=campaign_id, actor=actor)
    return row, created


def _add_loose(session: Session, campaign: CampaignRow, subject_ids: Iterable[str], policy: pol.Policy) -> int:
    """Tasks for subjects given by id (event triggers); returns how many were new."""
    count = (
        session.scalar(
            select(func.count()).select_from(CampaignTaskRow).where(CampaignTaskRow.campaign_id == campaign.id)
        )
        or 0
    )
    now = utcnow()
    added = 0
    for subject_id in subject_ids:
        if session.get(SubjectRow, subject_id) is None:
            continue
        if session.scalar(
            select(CampaignTaskRow.id).where(
                CampaignTaskRow.campaign_id == campaign.id, CampaignTaskRow.subject_id == subject_id
            )
        ):
            continue
        enterprise = (
            session.scalar(select(func.min(ExecutiveRow.enterprise_id)).where(ExecutiveRow.subject_id == subject_id))
            or ""
        )
        session.add(
            CampaignTaskRow(
                id=new_id(),
                campaign_id=campaign.id,
                enterprise_id=enterprise,
                subject_id=subject_id,
                state="pending",
                deadline=campaign.deadline,
                created_at=now,
                updated_at=now,
                batch=(count + added) // policy.batch_size,
                cause="requested",
                reminders_sent=0,
            )
        )
        added += 1
    session.flush()
    return added


def plan_annual(
    session: Session, *, today: Any, policy: pol.Policy, actor: str = "scheduler"
) -> tuple[str | None, int]:
    """Today's annual campaign: every executive whose last full verification is due on
    `today` (a local date) or whose ID document expires within the notice period, and who
    has no open task already. Once per day (the campaign id derives from the date)."""
    campaign_id = derived_id("annual", today.isoformat())
    if session.get(CampaignRow, campaign_id) is not None:
        return campaign_id, 0
    cutoff = pol.due_cutoff(today, policy)
    horizon = pol.expiry_horizon(today, policy)
    s = SubjectRow
    # The oldest of the three passes (SQLite's scalar min() is PostgreSQL's least()).
    least = func.least if session.get_bind().dialect.name == "postgresql" else func.min
    oldest = least(s.document_verified_at, s.face_verified_at, s.liveness_verified_at)
    before_cutoff = oldest.op("<")(literal(cutoff, s.document_verified_at.type))
    stale = and_(
        s.document_verified_at.is_not(None),
        s.face_verified_at.is_not(None),
        s.liveness_verified_at.is_not(None),
        before_cutoff,
    )
    expiring = and_(ExecutiveRow.id_valid_until.is_not(None), ExecutiveRow.id_valid_until <= horizon)
    open_task = exists().where(
        and_(CampaignTaskRow.subject_id == ExecutiveRow.subject_id, CampaignTaskRow.state.in_((*OPEN, "overdue")))
    )
    # Cause: stale wins over expiring (the executive re-verifies fully either way).
    selection = (
        select(
            ExecutiveRow.subject_id,
            func.min(ExecutiveRow.enterprise_id).label("enterprise_id"),
            func.max(case((stale, 1), else_=0)).label("stale"),
        )
        .join(s, s.id == ExecutiveRow.subject_id)
        .where(or_(stale, expiring), ~open_task)
        .group_by(ExecutiveRow.subject_id)
    ).subquery()
    final = select(
        selection.c.subject_id,
        selection.c.enterprise_id,
        case((selection.c.stale == 1, literal("annual_due")), else_=literal("id_expiring")).label("cause"),
    )
    now = utcnow()
    deadline = now + timedelta(seconds=policy.deadline_seconds)
    row = CampaignRow(
        id=campaign_id,
        name=f"annual {today.isoformat()}",
        kind="annual",
        state="running",
        enterprise_ids=[],
        starts_at=now,
        deadline=deadline,
        created_at=now,
        scope={"annual": today.isoformat()},
        remind_after_seconds=pol.reminder_offsets(policy.remind_after_seconds, policy.deadline_seconds),
        created_by=actor,
    )
    # Two planners at once (a RunScheduler beside the daily schedule, or two workers) both
    # find no campaign for today; on PostgreSQL the second insert waits for the first and
    # then collides: today is planned already, by the other one.
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return campaign_id, 0
    created = _insert_tasks(session, campaign_id, final, deadline, policy.batch_size, fresh=True)
    if created == 0:
        row.state = "completed"
        row.completed_at = now
    return campaign_id, created


# ------------------------------------------------------------------ advancing tasks


def _bulk_effects(session: Session, rows: list[dict[str, Any]], evts: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(CampaignEffectRow), rows)
    if evts:
        session.execute(insert(DomainEventRow), evts)


def _event(
    task: CampaignTaskRow, state: str, now: datetime, actor: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    payload = {"campaign_id": task.campaign_id, "task_id": task.id, "state": state, **(extra or {})}
    if TASK_CHANGED not in events.KINDS:  # pragma: no cover - the kind list is part of the platform
        raise ValueError(TASK_CHANGED)
    return {
        "event_id": new_id(),
        "kind": TASK_CHANGED,
        "subject_id": task.subject_id,
        "enterprise_id": task.enterprise_id or None,
        "payload": payload,
        "actor": actor,
        "at": now,
    }


def advance_batch(
    session: Session, campaign_id: str, batch: int, now: datetime | None = None, actor: str = "campaign-worker"
) -> BatchResult:
    """Advance every open task of one batch to `now`, each effect once. One transaction (the caller's)."""
    now = now or datetime.now(UTC)
    campaign = session.get(CampaignRow, campaign_id)
    if campaign is None:
        raise not_found(Reason.CAMPAIGN_NOT_FOUND, f"no campaign with id {campaign_id!r}")
    q = (
        select(CampaignTaskRow, SubjectRow)
        .join(SubjectRow, SubjectRow.id == CampaignTaskRow.subject_id, isouter=True)
        .where(
            CampaignTaskRow.campaign_id == campaign_id, CampaignTaskRow.batch == batch, CampaignTaskRow.state.in_(OPEN)
        )
    )
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(of=CampaignTaskRow)
    pairs = [(r[0], r[1]) for r in session.execute(q.order_by(CampaignTaskRow.id))]
    paused = campaign.state == "paused"
    if paused:
        return BatchResult(open=len(pairs), next_due=None, changed={}, paused=True)
    offsets = list(campaign.remind_after_seconds or [])
    effects: list[dict[str, Any]] = []
    evts: list[dict[str, Any]] = []
    changed: dict[str, int] = {}
    open_count = 0
    next_due: float | None = None

    def effect(task: CampaignTaskRow, step: str, state: str) -> None:
        ev = _event(task, state, now, actor, {"step": step})
        effects.append(
            {
                "campaign_id": task.campaign_id,
                "subject_id": task.subject_id,
                "step": step,
                "task_id": task.id,
                "event_id": ev["event_id"],
                "at": now,
            }
        )
        evts.append(ev)
        changed[state] = changed.get(state, 0) + 1

    rejected = _rejected_since(session, pairs)
    for task, subject in pairs:
        if task.id in rejected:
            task.state, task.closed_at, task.updated_at = "failed", now, now
            effect(task, "failed", "failed")
            continue
        if subject is not None and not _missing(subject, task.created_at):
            task.state, task.closed_at, task.updated_at = "passed", now, now
            effect(task, "passed", "passed")
            continue
        if task.state == "pending":
            # Nobody is escalated without having been told: a task still pending at its
            # deadline (no worker ran meanwhile) is notified, then escalated, in one go.
            task.state, task.notified_at, task.updated_at = "notified", now, now
            effect(task, "notify", "notified")
            if now >= task.deadline:
                task.state, task.closed_at = "overdue", now
                effect(task, "overdue", "overdue")
                continue
        elif now >= task.deadline:
            task.state, task.closed_at, task.updated_at = "overdue", now, now
            effect(task, "overdue", "overdue")
            continue
        elif (
            task.reminders_sent < len(offsets)
            and task.notified_at is not None
            and (now >= task.notified_at + timedelta(seconds=offsets[task.reminders_sent]))
        ):
            task.reminders_sent += 1
            task.state, task.updated_at = "reminded", now
            effect(task, f"remind-{task.reminders_sent}", "reminded")
        open_count += 1
        due = task.deadline
        if task.reminders_sent < len(offsets) and task.notified_at is not None:
            due = min(due, task.notified_at + timedelta(seconds=offsets[task.reminders_sent]))
        next_due = due.timestamp() if next_due is None else min(next_due, due.timestamp())
    session.flush()
    _bulk_effects(session, effects, evts)
    return BatchResult(open=open_count, next_due=next_due, changed=changed)


def _rejected_since(session: Session, pairs: Sequence[tuple[CampaignTaskRow, SubjectRow | None]]) -> set[str]:
    """Tasks whose subject a CS rep rejected (`case.decided`, decision reject) after the task started."""
    if not pairs:
        return set()
    started = {t.subject_id: t for t, _ in pairs}
    oldest = min(t.created_at for t, _ in pairs)
    out: set[str] = set()
    for subject_id, payload, at in session.execute(
        select(DomainEventRow.subject_id, DomainEventRow.payload, DomainEventRow.at).where(
            DomainEventRow.kind == "case.decided",
            DomainEventRow.subject_id.in_(list(started)),
            DomainEventRow.at > oldest,
        )
    ):
        task = started.get(subject_id)
        if task is not None and (payload or {}).get("decision") == "reject" and at > task.created_at:
            out.add(task.id)
    return out


def _missing(subject: SubjectRow, since: datetime) -> bool:
    return any(
        s is None or s <= since
        for s in (subject.document_verified_at, subject.face_verified_at, subject.liveness_verified_at)
    )


def batches(session: Session, campaign_id: str) -> tuple[int, str]:
    """(number of batches, campaign state)."""
    campaign = session.get(CampaignRow, campaign_id)
    if campaign is None:
        raise not_found(Reason.CAMPAIGN_NOT_FOUND, f"no campaign with id {campaign_id!r}")
    top = session.scalar(select(func.max(CampaignTaskRow.batch)).where(CampaignTaskRow.campaign_id == campaign_id))
    return (int(top) + 1 if top is not None else 0), campaign.state


def complete_if_done(session: Session, campaign_id: str) -> bool:
    """Mark the campaign completed when no task is open; True if it is (now or before)."""
    campaign = session.get(CampaignRow, campaign_id, with_for_update=True)
    if campaign is None:
        return True
    if campaign.state == "completed":
        return True
    left = session.scalar(
        select(func.count())
        .select_from(CampaignTaskRow)
        .where(CampaignTaskRow.campaign_id == campaign_id, CampaignTaskRow.state.in_(OPEN))
    )
    if left or campaign.state == "paused":
        return False
    campaign.state, campaign.completed_at = "completed", utcnow()
    return True


# ------------------------------------------------------------------ operators


def counts(session: Session, campaign_id: str) -> dict[str, int]:
    """Tasks per state (every state present, zero when none)."""
    out = dict.fromkeys(STATES, 0)
    for state, n in session.execute(
        select(CampaignTaskRow.state, func.count())
        .where(CampaignTaskRow.campaign_id == campaign_id)
        .group_by(CampaignTaskRow.state)
    ):
        out[state] = int(n)
    return out


def get_campaign(session: Session, campaign_id: str) -> CampaignRow:
    row = session.get(CampaignRow, campaign_id)
    if row is None:
        raise not_found(Reason.CAMPAIGN_NOT_FOUND, f"no campaign with id {campaign_id!r}")
    return row


def get_task(session: Session, task_id: str, for_update: bool = False) -> CampaignTaskRow:
    row = session.get(CampaignTaskRow, task_id, with_for_update=for_update)
    if row is None:
        raise not_found(Reason.TASK_NOT_FOUND, f"no campaign task with id {task_id!r}")
    return row


def waive(session: Session, task_id: str, reason: str, actor: str) -> CampaignTaskRow:
    """Close an open or overdue task without re-verification (a CS rep's decision, with a reason)."""
    if not reason.strip():
        raise invalid(Reason.MISSING_FIELD, "reason is required: say why the executive need not re-verify", "reason")
    task = get_task(session, task_id, for_update=True)
    if task.state not in (*OPEN, "overdue"):
        raise precondition(Reason.TASK_CLOSED, f"task {task_id} is {task.state}; only open or overdue tasks are waived")
    now = utcnow()
    task.state, task.closed_at, task.updated_at, task.note = "waived", now, now, reason[:2000]
    ev = _event(task, "waived", now, actor, {"step": "waived"})
    _bulk_effects(
        session,
        [
            {
                "campaign_id": task.campaign_id,
                "subject_id": task.subject_id,
                "step": "waived",
                "task_id": task.id,
                "event_id": ev["event_id"],
                "at": now,
            }
        ],
        [ev],
    )
    return task


def extend(session: Session, task_id: str, new_deadline: datetime, reason: str, actor: str) -> CampaignTaskRow:
    """Move a task's deadline later; an overdue task opens again (its campaign runs again)."""
    if not reason.strip():
        raise invalid(Reason.MISSING_FIELD, "reason is required: say why the deadline moves", "reason")
    task = get_task(session, task_id, for_update=True)
    now = utcnow()
    if task.state not in (*OPEN, "overdue"):
        raise precondition(
            Reason.TASK_CLOSED, f"task {task_id} is {task.state}; only open or overdue tasks are extended"
        )
    if new_deadline <= max(now, task.deadline):
        raise invalid(
            Reason.INVALID_FIELD,
            f"new_deadline must be later than now and than the current deadline ({task.deadline.isoformat()})",
            "new_deadline",
        )
    if task.state == "overdue":
        task.state = "reminded" if task.reminders_sent else ("notified" if task.notified_at else "pending")
        task.closed_at = None
        campaign = session.get(CampaignRow, task.campaign_id, with_for_update=True)
        if campaign is not None and campaign.state == "completed":
            campaign.state, campaign.completed_at = "running", None
    task.deadline, task.updated_at, task.note = new_deadline, now, reason[:2000]
    # An extension is not a once-only effect (a task may be extended again): the event suffices.
    session.execute(
        insert(DomainEventRow), [_event(task, "extended", now, actor, {"deadline": new_deadline.isoformat()})]
    )
    return task


def set_paused(session: Session, campaign_id: str, paused: bool) -> CampaignRow:
    """Pause or resume a campaign (reminders and escalations stop; deadlines stay)."""
    row = session.get(CampaignRow, campaign_id, with_for_update=True)
    if row is None:
        raise not_found(Reason.CAMPAIGN_NOT_FOUND, f"no campaign with id {campaign_id!r}")
    if row.state == "completed":
        raise precondition(Reason.CAMPAIGN_CLOSED, f"campaign {campaign_id} completed; nothing to pause or resume")
    row.state = "paused" if paused else "running"
    return row


@dataclass
class TaskPage:
    tasks: list[CampaignTaskRow]
    next_page_token: str


def list_tasks(
    session: Session,
    campaign_id: str,
    *,
    state: str | None,
    enterprise_id: str,
    subject_id: str,
    page_size: int,
    page_token: str,
) -> TaskPage:
    """One page of a campaign's tasks ordered by id (stable while tasks change state)."""
    get_campaign(session, campaign_id)
    filters = {"c": campaign_id, "s": state or "", "e": enterprise_id, "j": subject_id}
    q = select(CampaignTaskRow).where(CampaignTaskRow.campaign_id == campaign_id)
    if state:
        q = q.where(CampaignTaskRow.state == state)
    if enterprise_id:
        q = q.where(CampaignTaskRow.enterprise_id == enterprise_id)
    if subject_id:
        q = q.where(CampaignTaskRow.subject_id == subject_id)
    if page_token:
        try:
            token = json.loads(base64.urlsafe_b64decode(page_token.encode()))
            assert token["f"] == filters
            after = str(token["after"])
        except Exception as exc:
            raise invalid(
                Reason.INVALID_FIELD,
                "page.page_token is not a token from this listing; pass the "
                "next_page_token of the previous page with the same filters",
                "page.page_token",
            ) from exc
        q = q.where(CampaignTaskRow.id > after)
    size = min(max(page_size or 50, 1), 500)
    rows = list(session.scalars(q.order_by(CampaignTaskRow.id).limit(size + 1)))
    token = ""
    if len(rows) > size:
        rows = rows[:size]
        token = base64.urlsafe_b64encode(json.dumps({"f": filters, "after": rows[-1].id}).encode()).decode()
    return TaskPage(rows, token)


# ------------------------------------------------------------------ event followers


def cursor(session: Session, name: str) -> int:
    row = session.get(ReverifyCursorRow, name, with_for_update=True)
    if row is None:
        row = ReverifyCursorRow(name=name, seq=0, updated_at=utcnow())
        session.add(row)
        session.flush()
    return row.seq


def move_cursor(session: Session, name: str, seq: int) -> None:
    session.execute(
        update(ReverifyCursorRow).where(ReverifyCursorRow.name == name).values(seq=seq, updated_at=utcnow())
    )


def follow_required(session: Session, policy: pol.Policy, limit: int = 2000) -> list[str]:
    """Turn new `reverification.required` events into campaign tasks; returns the campaigns
    touched. One campaign per event source (a report id): its id derives from the source,
    so a replayed event finds its campaign and task. Campaigns that emitted the events
    themselves (CreateCampaign) already own their tasks."""
    name = "reverification.required"
    seq = cursor(session, name)
    batch = events.read_after(session, seq, kinds=[name], limit=limit)
    if not batch:
        return []
    touched: list[str] = []
    by_source: dict[str, list[events.DomainEvent]] = {}
    for ev in batch:
        by_source.setdefault(str(ev.payload.get("source") or "unknown"), []).append(ev)
    now = utcnow()
    for source, evs in by_source.items():
        if session.get(CampaignRow, source) is not None:
            continue  # a campaign's own demand
        campaign_id = derived_id("event", source)
        campaign = session.get(CampaignRow, campaign_id)
        reason = str(evs[0].payload.get("reason") or "")
        if campaign is None:
            deadline = now + timedelta(seconds=policy.deadline_seconds)
            campaign = CampaignRow(
                id=campaign_id,
                name=f"{reason or 'reverification'} {source}",
                kind="suspicious_activity" if reason == Reason.SUSPICIOUS_ACTIVITY_REPORTED.value else "ad_hoc",
                state="running",
                enterprise_ids=sorted({e.enterprise_id for e in evs if e.enterprise_id}),
                starts_at=now,
                deadline=deadline,
                created_at=now,
                scope={"source": source},
                remind_after_seconds=pol.reminder_offsets(policy.remind_after_seconds, policy.deadline_seconds),
                created_by=evs[0].actor or "system",
            )
            session.add(campaign)
            session.flush()
        elif campaign.state == "completed":
            campaign.state, campaign.completed_at = "running", None
        _add_loose(session, campaign, [e.subject_id for e in evs if e.subject_id], policy)
        touched.append(campaign_id)
    move_cursor(session, name, batch[-1].seq)
    return touched


def follow_verifications(session: Session, limit: int = 5000) -> dict[str, set[int]]:
    """Campaign batches with an open task whose subject just recorded a verification
    (so the workflow looks now rather than at its next timer)."""
    name = "verification.recorded"
    seq = cursor(session, name)
    batch = events.read_after(session, seq, kinds=[name, "case.decided"], limit=limit)
    if not batch:
        return {}
    subjects = {e.subject_id for e in batch if e.subject_id}
    out: dict[str, set[int]] = {}
    if subjects:
        for cid, b in session.execute(
            select(CampaignTaskRow.campaign_id, CampaignTaskRow.batch)
            .where(CampaignTaskRow.subject_id.in_(subjects), CampaignTaskRow.state.in_(OPEN))
            .distinct()
        ):
            out.setdefault(cid, set()).add(int(b))
    move_cursor(session, name, batch[-1].seq)
    return out


def running_campaigns(session: Session) -> list[str]:
    return list(session.scalars(select(CampaignRow.id).where(CampaignRow.state.in_(("running", "paused")))))


def conflict(message: str) -> DomainError:
    return DomainError(Reason.ALREADY_EXISTS, message, ErrorKind.CONFLICT)
