"""Review of the report task contract (reports.md), driven as a user would: the HTTP API and
the `halo` CLI against the real warehouses and stores."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform.reports.requests import dagster_instance
from halo_platform_tests.fixtures.access import authorized_client

def _request_count(store) -> int:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one()


@pytest.mark.parametrize("threshold", ["90.00000000000000001", "89.999999999999999999", "12.34567890123"])
def test_a_budget_threshold_written_with_more_decimals_than_are_compared_is_refused_not_rounded(
        warehouses, halo_env, store, threshold):
    """The threshold is compared exactly as written, and one with more than 10 decimals is refused
    (reports.md's typed payloads): as a decimal string, it was parsed as a float first, so
    "90.00000000000000001" ran as 90 and alerted a campaign at exactly 90% of its budget."""
    client = authorized_client(create_app())
    answer = client.post("/v1/tasks/campaign_alerts/requests",
                         json={"payload": {"as_of": "2024-05-10", "budget_threshold_pct": threshold}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [{"field": "budget_threshold_pct", "reason": "at most 10 decimal places"}]

    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--wait", "--payload",
                                      f'{{"as_of": "2024-05-10", "budget_threshold_pct": "{threshold}"}}'])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: campaign_alerts: invalid payload: budget_threshold_pct: at most 10 decimal places"]
    assert _request_count(store) == 0
    assert dagster_instance().get_runs() == []
