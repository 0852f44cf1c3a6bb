"""A payload field name holding a control character (`as_of` and a NUL, a line feed, an ESC) is
named as it is in the refusal: the CLI's error line turns each control character into a blank, so
`unknown field(s) as_of ; known: sinks, as_of, ...` refused a field the same line said was known.
Each control character is written out as its escape (`core.text.visible`), on the CLI and in the
API's 422 (whose `detail` names the field as sent), and nothing is recorded."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client

KNOWN = "known: sinks, as_of, expiring_within_days, budget_threshold_pct, rearm_hours"


@pytest.mark.parametrize(("field", "shown"), [("as_of\x00", "as_of\\x00"), ("as_of\n", "as_of\\n"), ("\x1b[2Jas_of", "\\x1b[2Jas_of")])
def test_a_payload_field_with_a_control_character_is_refused_naming_it_as_it_is(store, field, shown):
    said = f"campaign_alerts: invalid payload: unknown field(s) {shown}; {KNOWN}"
    payload = {field: "2024-03-04"}

    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", json.dumps(payload)])
    assert (result.exit_code, result.output.strip().splitlines()) == (2, [f"error: {said}"])

    answer = authorized_client(create_app()).post("/v1/tasks/campaign_alerts/requests", json={"payload": payload})
    assert answer.status_code == 422
    assert answer.json() == {"error": said, "detail": [{"field": field, "reason": "unknown field"}]}
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one() == 0
