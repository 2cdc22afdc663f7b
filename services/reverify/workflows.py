"""Temporal workflows of the re-verification campaigns (deterministic code only).

- `CampaignWorkflow` (id `campaign-<campaign id>`) drives one campaign: it advances its
  task batches through activities (each one database transaction, each effect once),
  sleeps until the next reminder or deadline, wakes early on a `wake` signal (an
  executive verified, a CS rep waived or extended, the campaign was resumed), and ends
  when every task is closed. It continues as new before its history grows large.
- `AnnualPlanningWorkflow` is what the daily Schedule starts: plan today's annual
  campaign (an activity) and start its CampaignWorkflow.

Activities are called by name (see activities.py) so this module imports nothing that
touches the database, and runs inside Temporal's workflow sandbox.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

TASK_QUEUE = "sellerverify-reverify"
_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=10)
)


@dataclass
class CampaignInput:
    campaign_id: str
    # Longest sleep between looks (seconds), whatever the timers say.
    poll_seconds: float = 300.0
    # Batches advanced at the same time.
    parallel_batches: int = 4
    # An activity not finished in this time (its worker died) is retried elsewhere.
    activity_timeout: float = 30.0
    # Carried over continue-as-new: when each batch next needs a look (epoch s; None: closed).
    next_due: dict[str, float | None] = field(default_factory=dict)
    started: bool = False


@dataclass
class BatchInput:
    campaign_id: str
    batch: int


@dataclass
class BatchOutput:
    open: int
    next_due: float | None
    changed: dict[str, int]
    paused: bool


@dataclass
class PlanOutput:
    campaign_id: str
    tasks_created: int


@workflow.defn(name="CampaignWorkflow")
class CampaignWorkflow:
    """One campaign, from first notification to the last task closed."""

    def __init__(self) -> None:
        self._wake = False
        self._woken: set[int] = set()

    @workflow.signal
    def wake(self, batches: list[int] | None = None) -> None:
        """Look now: at the given batches, or at every batch when none is given."""
        self._wake = True
        if batches:
            self._woken.update(batches)
        else:
            self._woken.add(-1)

    @workflow.run
    async def run(self, arg: CampaignInput) -> str:
        next_due = {int(k): v for k, v in arg.next_due.items()}
        timeout = timedelta(seconds=arg.activity_timeout)
        first = not arg.started
        for _ in range(40):  # looks per run; then continue as new with the state
            count, state = await workflow.execute_activity(
                "reverify.campaign_batches",
                arg.campaign_id,
                start_to_close_timeout=timeout,
                retry_policy=_RETRY,
                result_type=tuple[int, str],
            )
            if state == "completed":
                return "completed"
            now = workflow.now().timestamp()
            woken, self._woken, self._wake = self._woken, set(), False
            due = [
                b
                for b in range(count)
                if first
                or -1 in woken
                or b in woken
                or b not in next_due
                or (next_due[b] is not None and next_due[b] <= now + 0.05)  # type: ignore[operator]
            ]
            paused = False
            for i in range(0, len(due), arg.parallel_batches):
                outs = await asyncio.gather(
                    *[
                        workflow.execute_activity(
                            "reverify.advance_batch",
                            BatchInput(arg.campaign_id, b),
                            start_to_close_timeout=timeout,
                            retry_policy=_RETRY,
                            result_type=BatchOutput,
                        )
                        for b in due[i : i + arg.parallel_batches]
                    ]
                )
                for b, out in zip(due[i : i + arg.parallel_batches], outs, strict=True):
                    paused = paused or out.paused
                    next_due[b] = None if out.paused else (out.next_due if out.open else None)
            first = False
            if not paused and all(v is None for v in next_due.values()):
                done = await workflow.execute_activity(
                    "reverify.complete_campaign",
                    arg.campaign_id,
                    start_to_close_timeout=timeout,
                    retry_policy=_RETRY,
                    result_type=bool,
                )
                if done:
                    return "completed"
            pending = [v for v in next_due.values() if v is not None]
            delay = arg.poll_seconds
            if pending and not paused:
                delay = min(delay, max(0.05, min(pending) - workflow.now().timestamp()))
            if not self._wake:
                try:
                    await workflow.wait_condition(lambda: self._wake, timeout=timedelta(seconds=delay))
                except TimeoutError:
                    pass
        workflow.continue_as_new(
            CampaignInput(
                arg.campaign_id,
                arg.poll_seconds,
                arg.parallel_batches,
                arg.activity_timeout,
                {str(k): v for k, v in next_due.items()},
                True,
            )
        )


@workflow.defn(name="AnnualPlanningWorkflow")
class AnnualPlanningWorkflow:
    """Plan today's annual campaign (local date in the policy's time zone) and start it."""

    @workflow.run
    async def run(self) -> str:
        out = await workflow.execute_activity(
            "reverify.plan_annual",
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=_RETRY,
            result_type=PlanOutput,
        )
        return out.campaign_id
