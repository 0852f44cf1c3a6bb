"""A sink name holding a control character (a NUL, an ESC a pasted colour code brings) is named as
it is in the refusal: the CLI's error line turns each control character into a blank, and the API's
JSON shows it escaped, so `unknown sink(s): outbox ; known: alerts, outbox` refused a name the same
line said was known. Each control character is written out as its escape (`core.text.visible`), on
every entry point, and nothing is recorded."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client


@pytest.mark.parametrize(("name", "shown"), [("outbox\x00", "outbox\\x00"), ("out\x1b[31mbox", "out\\x1b[31mbox"),
                                             ("outbox\u202e", "outbox\\u202e")])
def test_a_sink_name_with_a_control_character_is_refused_naming_it_as_it_is(store, name, shown):
    said = f"unknown sink(s): {shown}; known: alerts, outbox"
    payload = {"sinks": [name]}

    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", json.dumps(payload)])
    assert (result.exit_code, result.output.strip().splitlines()) == (2, [f"error: {said}"])

    answer = authorized_client(create_app()).post("/v1/tasks/campaign_alerts/requests", json={"payload": payload})
    assert answer.status_code == 422
    assert answer.json() == {"error": said, "detail": [{"field": "sinks", "reason": said}]}
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one() == 0


@pytest.mark.parametrize(("args", "said"), [
    (["--payload", json.dumps({"sinks": ["out\nbox", "out\nbox"]})],
     "campaign_alerts: invalid payload: sinks: named more than once: out\\nbox"),
    (["--sink", "out\nbox", "--sink", "out\nbox"], "sinks: named more than once: out\\nbox"),
])
def test_a_sink_name_given_twice_with_a_control_character_is_named_as_it_is(store, args, said):
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", *args])
    assert (result.exit_code, result.output.strip().splitlines()) == (2, [f"error: {said}"])
