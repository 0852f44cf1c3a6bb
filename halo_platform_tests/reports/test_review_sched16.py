"""A review of task schedules (reports.md "Task Schedule"; access.md: the Schedules page says each
cron in words beside its next runs): inputs the other schedule tests do not cover."""

from __future__ import annotations

import datetime as dt

import pytest

from halo_platform.reports.schedules import cron_in_words, next_runs

UTC = dt.UTC


@pytest.mark.parametrize(("cron", "words", "days"), [
    ("0 6 1 * *", "At 06:00, on day 1 of the month, UTC", [1, 1, 1]),  # monthly
    ("0 6 1,15 * *", "At 06:00, on day 1 and 15 of the month, UTC", [1, 15, 1]),
    ("0 6 */10 * *", "At 06:00, every 10 days, UTC", [1, 11, 21]),
    ("59 23 31 12 *", "At 23:59, on day 31 of the month, only in December, UTC", [31, 31, 31]),
])
def test_a_cron_on_days_of_the_month_is_said_without_every_weekday(cron, words, days):
    """`0 6 1 * *` runs on the 1st of each month; the Schedules page said 'At 06:00, on day 1 of the
    month, Sunday through Saturday', as it says `0 6 1 * 0-6`, which runs every day (cron's OR)."""
    assert cron_in_words(cron, "UTC") == words
    assert [t.day for t in next_runs(cron, "UTC", 3, after=dt.datetime(2025, 12, 31, 23, 59, 30, tzinfo=UTC))] == days


@pytest.mark.parametrize(("cron", "words", "days"), [
    ("0 6 1 * 1-5", "At 06:00, on day 1 of the month, or on Monday, Tuesday, Wednesday, Thursday, and Friday, UTC",
     [1, 2, 5, 6, 7]),  # 2026-01-01 is a Thursday
    ("0 6 1-7 * mon-fri", "At 06:00, between day 1 and 7 of the month, or on Monday, Tuesday, Wednesday, Thursday, and Friday, UTC",
     [1, 2, 3, 4, 5]),
    ("0 6 15 * */2", "At 06:00, on day 15 of the month, or on Sunday, Tuesday, Thursday, and Saturday, UTC", [1, 3, 4, 6, 8]),
    ("0 6 1 * 1", "At 06:00, on day 1 of the month, or on Monday, UTC", [1, 5, 12, 19, 26]),  # unchanged
    ("0 6 * * 1-5", "At 06:00, Monday through Friday, UTC", [1, 2, 5, 6, 7]),  # no day of the month: unchanged
])
def test_a_cron_on_days_of_the_month_and_of_the_week_says_it_runs_on_either(cron, words, days):
    """Both fields restricted, cron runs on a day matching either (the next runs show it): `0 6 1 * 1-5`
    runs every weekday and on the 1st, but was said 'on day 1 of the month, Monday through Friday'
    (the 1st when it is a weekday)."""
    assert cron_in_words(cron, "UTC") == words
    assert [t.day for t in next_runs(cron, "UTC", 5, after=dt.datetime(2025, 12, 31, 23, 59, 30, tzinfo=UTC))] == days
