"""Annual due dates on the Shanghai calendar, across leap years (plain dates, no server)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.reverify import policy as pol

P = pol.Policy()


def test_a_year_after_29_february_is_28_february() -> None:
    assert pol.add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)
    assert pol.add_years(date(2024, 2, 29), 4) == date(2028, 2, 29)
    assert pol.add_years(date(2023, 3, 1), 1) == date(2024, 3, 1)


def test_due_dates_follow_the_shanghai_calendar_not_utc() -> None:
    # 2024-02-28 17:30 UTC is 2024-02-29 01:30 in Shanghai: verified on the leap day.
    at = datetime(2024, 2, 28, 17, 30, tzinfo=UTC)
    assert pol.local_date(at, P) == date(2024, 2, 29)
    assert pol.due_date(at, P) == date(2025, 2, 28)
    # The same instant in a policy on UTC is a 28 February verification.
    assert pol.due_date(at, pol.Policy(time_zone="UTC")) == date(2025, 2, 28)
    assert pol.due_date(datetime(2024, 2, 29, 16, 0, tzinfo=UTC), P) == date(2025, 3, 1)  # 00:00 on 1 March local


@pytest.mark.parametrize(
    ("today", "last_due"),
    [
        (date(2025, 2, 28), date(2024, 2, 29)),  # the leap day falls due on 28 February
        (date(2025, 3, 1), date(2024, 3, 1)),
        (date(2024, 2, 29), date(2023, 2, 28)),  # a leap day today: last year's 28 February
        (date(2024, 2, 28), date(2023, 2, 28)),
        (date(2026, 1, 1), date(2025, 1, 1)),
    ],
)
def test_the_last_verification_day_still_due(today: date, last_due: date) -> None:
    assert pol.last_day_still_due(today, P) == last_due
    assert pol.add_years(last_due, 1) <= today
    assert pol.add_years(last_due + timedelta(days=1), 1) > today


def test_the_cutoff_is_local_midnight_after_the_last_due_day() -> None:
    cutoff = pol.due_cutoff(date(2025, 2, 28), P)
    assert cutoff == datetime(2024, 2, 29, 16, 0, tzinfo=UTC)  # 2024-03-01 00:00 Shanghai
    # Verified 2024-02-29 23:59 Shanghai: due on 2025-02-28. One minute later (1 March): not yet.
    assert datetime(2024, 2, 29, 15, 59, tzinfo=UTC) < cutoff <= datetime(2024, 2, 29, 16, 0, tzinfo=UTC)


def test_every_day_of_four_years_agrees_with_the_due_date() -> None:
    """Brute force: an executive is due on `today` exactly when due_date(last) <= today."""
    start = datetime(2023, 1, 1, 3, 0, tzinfo=UTC)
    for d in range(0, 4 * 365, 7):
        last = start + timedelta(days=d, hours=(d * 5) % 24)
        due = pol.due_date(last, P)
        for today in (due - timedelta(days=1), due, due + timedelta(days=1)):
            assert (last < pol.due_cutoff(today, P)) == (due <= today), (last, today)


def test_reminders_after_the_deadline_are_dropped() -> None:
    assert pol.reminder_offsets([21, 7, 7, 40], 30) == [7, 21]
    assert pol.last_full_verification(None, datetime.now(UTC), datetime.now(UTC)) is None
