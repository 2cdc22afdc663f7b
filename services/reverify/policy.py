"""Re-verification policy and its calendar arithmetic, plain data and plain dates.

Dates are calendar dates in the policy's time zone (Asia/Shanghai by default): an
executive verified at 2024-02-29 23:30 Shanghai time is due a year later on the
Shanghai calendar, whatever UTC said. A year after 29 February is 28 February.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAY = 86_400


@dataclass(frozen=True)
class Policy:
    """How often executives re-verify and how a task runs."""

    # A full verification (document + face + challenge) holds this many years.
    period_years: int = 1
    # An ID document expiring within this many days brings the executive in early.
    id_expiry_notice_days: int = 30
    # A task's deadline, counted from its creation.
    deadline_seconds: int = 30 * DAY
    # Reminders, counted from the notification; only those before the deadline are sent.
    remind_after_seconds: tuple[int, ...] = (7 * DAY, 21 * DAY)
    time_zone: str = "Asia/Shanghai"
    # Tasks per batch workflow activity (one transaction each).
    batch_size: int = 1000
    # Extra fields for forward compatibility of stored policies.
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def from_settings(settings: Any) -> Policy:
    """The re-verification policy the settings describe."""
    return Policy(
        period_years=settings.reverify_period_years,
        id_expiry_notice_days=settings.reverify_id_expiry_notice_days,
        deadline_seconds=settings.reverify_deadline_seconds,
        remind_after_seconds=tuple(settings.reverify_remind_after_seconds),
        time_zone=settings.default_time_zone,
        batch_size=settings.reverify_batch_size,
    )


def add_years(day: date, years: int) -> date:
    """The same calendar day `years` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a common year
        return day.replace(year=day.year + years, day=28)


def local_date(instant: datetime, policy: Policy) -> date:
    """The calendar date of an instant in the policy's time zone."""
    return instant.astimezone(policy.zone).date()


def start_of_day(day: date, policy: Policy) -> datetime:
    """Midnight of a local calendar date, as a UTC instant."""
    return datetime.combine(day, time(0), policy.zone).astimezone(UTC)


def due_date(last_full_at: datetime, policy: Policy) -> date:
    """The local date on which an executive fully verified at `last_full_at` is due again."""
    return add_years(local_date(last_full_at, policy), policy.period_years)


def last_day_still_due(today: date, policy: Policy) -> date:
    """The latest local verification date that is due on `today` (due_date <= today).

    Usually `today` minus the period; on 28 February after a leap year it is 29
    February, since a verification on 29 February falls due on 28 February.
    """
    candidate = add_years(today, -policy.period_years)
    while add_years(candidate + timedelta(days=1), policy.period_years) <= today:
        candidate += timedelta(days=1)
    return candidate


def due_cutoff(today: date, policy: Policy) -> datetime:
    """Executives whose last full verification is before this UTC instant are due on `today`."""
    return start_of_day(last_day_still_due(today, policy) + timedelta(days=1), policy)


def expiry_horizon(today: date, policy: Policy) -> str:
    """ID documents valid until this date (ISO, inclusive) or earlier are expiring soon."""
    return (today + timedelta(days=policy.id_expiry_notice_days)).isoformat()


def last_full_verification(
    document: datetime | None, face: datetime | None, liveness: datetime | None
) -> datetime | None:
    """The last *full* verification: the oldest of the three checks' last passes (None if one never passed)."""
    stamps = [document, face, liveness]
    if any(s is None for s in stamps):
        return None
    return min(s for s in stamps if s is not None)


def reminder_offsets(remind_after_seconds: Iterable[int], deadline_seconds: float) -> list[int]:
    """The reminder offsets that fall before the deadline, ascending, without repeats."""
    return sorted({int(s) for s in remind_after_seconds if 0 < s < deadline_seconds})
