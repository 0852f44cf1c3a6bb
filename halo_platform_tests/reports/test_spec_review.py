"""Schedule edits against reports.md ("Edits are validated ... and refused with a clear message";
the store "must be safe under concurrent writers"), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.reports.schedules import list_schedules, schedule_edits, set_schedule
from halo_platform_tests.reports.conftest import at_once


def test_two_edits_of_one_schedule_at_once_both_take_effect(on_store):
    """On PostgreSQL each edit read the row unlocked and wrote every field back: the cron set by
    one and the threshold set by the other at the same moment, and one of the two was lost
    (both answered success, the history recorded both from the same `before`)."""
    set_schedule(on_store, "daily", task="campaign_alerts", cron="0 7 * * *", updated_by="seed")
    for minute in range(5):
        cron, threshold = f"{minute} 8 * * *", 50 + minute
        assert at_once([lambda: set_schedule(on_store, "daily", cron=cron, updated_by="ana"),  # noqa: B023
                        lambda: set_schedule(on_store, "daily", payload={"budget_threshold_pct": threshold},  # noqa: B023
                                             updated_by="bob")]) == []
        (row,) = list_schedules(on_store)
        assert (row["cron"], row["payload"]) == (cron, {"budget_threshold_pct": threshold})
        newer, older = schedule_edits(on_store, "daily", limit=2)
        assert newer["before"] == older["after"]


def test_a_valid_cron_longer_than_its_column_is_refused_in_one_line_on_every_store(on_store):
    """Every minute listed is a standard cron of 177 characters: SQLite stored it whole, and
    PostgreSQL printed the driver's "value too long for type character varying(128)" with exit 1."""
    cron = ",".join(map(str, range(60))) + " 6 * * 1"
    result = CliRunner().invoke(cli, ["schedules", "set", "long", "--task", "campaign_alerts", "--cron", cron])
    assert result.exit_code == 2, result.output
    shown = repr(cron[:100] + "…")  # a value repeated in an error: its first 100 characters
    assert result.output == f"error: cron expression {shown}: at most 128 characters (write a long list as ranges or steps)\n"
    assert list_schedules(on_store) == []


def test_two_creations_of_one_new_schedule_at_once_both_take_effect(on_store):
    """Both found no row and inserted it: on PostgreSQL the second failed on the primary key (the
    CLI printed the driver's error with exit 1, the Control Center answered 500). The later one is
    an edit of the schedule the earlier one created, as if one came after the other."""
    for n in range(5):
        schedule_id = f"new-{n}"
        assert at_once([lambda: set_schedule(on_store, schedule_id, task="campaign_alerts", cron="0 7 * * *", updated_by="ana"),  # noqa: B023
                        lambda: set_schedule(on_store, schedule_id, task="campaign_alerts", cron="0 8 * * *", updated_by="bob")  # noqa: B023
                        ]) == []
        (row,) = [s for s in list_schedules(on_store) if s["schedule_id"] == schedule_id]
        newer, older = schedule_edits(on_store, schedule_id, limit=3)
        assert (older["before"], newer["before"]) == (None, older["after"])
        assert row["cron"] == newer["after"]["cron"]
