"""Who made a change (a schedule's editor, a routing change's author, a message's sender) is a name
as the pages' filters find it: `--by " ana"` was recorded with its blank, as `--requested-by` was
until it was refused (reports' test_review_reports20); the same rule now holds for each."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.delivery.service import submit

NAMES = [" ana", "ana ", "\u00a0ana"]


def _refused(args: list[str], who: str, field: str) -> None:
    result = CliRunner().invoke(cli, args)
    assert (result.exit_code, result.output) == (2, f"error: {field}: {who!r} has blanks at its start or end (a name as the filters find it)\n")


@pytest.mark.parametrize("who", NAMES)
def test_a_schedule_edited_by_a_name_with_blanks_at_its_ends_is_refused_and_unchanged(halo_env, who):  # noqa: ARG001
    _refused(["schedules", "set", "daily", "--task", "campaign_alerts", "--cron", "0 7 * * *", "--timezone", "UTC", "--by", who],
             who, "updated_by")
    assert "daily" not in CliRunner().invoke(cli, ["schedules", "list"]).output
    assert CliRunner().invoke(cli, ["schedules", "set", "daily", "--task", "campaign_alerts", "--cron", "0 7 * * *", "--timezone", "UTC",
                                    "--by", "ana"]).exit_code == 0
    _refused(["schedules", "disable", "daily", "--by", who], who, "updated_by")
    assert "daily" in (listed := CliRunner().invoke(cli, ["schedules", "list"]).output) and "disabled" not in listed, listed


@pytest.mark.parametrize("who", NAMES)
def test_a_routing_change_by_a_name_with_blanks_at_its_ends_is_refused(halo_env, providers_file, who):  # noqa: ARG001
    providers_file({"sms_a": {"kind": "sandbox", "channel": "sms"}, "sms_b": {"kind": "sandbox", "channel": "sms"}},
                   [{"channel": "sms", "country": "*", "capability": "*", "weights": {"sms_a": 50, "sms_b": 50}}])
    _refused(["delivery", "switch", "sms_a", "off", "--reason", "maintenance", "--by", who], who, "changed_by")
    _refused(["delivery", "weights", "set", "sms/*/*", "sms_a=1", "sms_b=3", "--reason", "x", "--by", who], who, "changed_by")
    assert " 3 " not in CliRunner().invoke(cli, ["delivery", "weights", "show"]).output


def test_a_message_sent_by_a_name_with_blanks_at_its_ends_is_refused(providers_file, halo_store):
    providers = providers_file({"sms_a": {"kind": "sandbox", "channel": "sms"}},
                               [{"channel": "sms", "country": "*", "capability": "*", "weights": {"sms_a": 1}}])
    with pytest.raises(HaloError, match="created_by: ' ana' has blanks at its start or end"):
        submit("sms", {"to": "+33612345678", "body": "hi"}, store=halo_store, providers=providers, created_by=" ana")
