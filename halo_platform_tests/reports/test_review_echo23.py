"""Review echo23: a payload whose own `sinks` is not a list of names, sent with sinks beside it (the
request's `sinks`, `--sink`), is refused as the payload alone is refused (`sinks: Input should be a
valid list`), not as sinks "given twice", nor taken with the payload's value dropped."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.reports.test_requests import _request_count

URL = "/v1/tasks/campaign_alerts/requests"


@pytest.mark.parametrize("inner", ["a", "outbox", 5, {"outbox": 1}, [1], ["outbox", "outbox"], "", 0, False, None])
def test_a_payloads_sinks_of_the_wrong_type_beside_sinks_is_refused_as_the_payload_alone_is(halo_env, store, inner):
    """`{"sinks": "a"}` with `--sink outbox` answered `sinks: given twice: ['outbox'] beside the
    payload and a in it; give one list`, where the payload alone answers `sinks: Input should be a
    valid list`; `"sinks": ""`, `0`, `false` or `null` beside `--sink` were taken, the payload's
    value dropped without a word. The payload's own error wins, on HTTP and on the CLI alike."""
    payload = {"as_of": "2024-05-10", "sinks": inner}
    client = authorized_client(create_app())
    alone = client.post(URL, json={"payload": payload})
    assert alone.status_code == 422 and alone.json()["detail"][0]["field"].startswith("sinks"), alone.text
    beside = client.post(URL, json={"payload": payload, "sinks": ["outbox"]})
    assert (beside.status_code, beside.json()) == (422, alone.json())

    cli_alone = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", json.dumps(payload)])
    cli_beside = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--sink", "outbox", "--payload", json.dumps(payload)])
    assert (cli_alone.exit_code, cli_beside.exit_code) == (2, 2), cli_beside.output
    assert cli_beside.stderr == cli_alone.stderr and cli_alone.stderr.startswith("error: campaign_alerts: invalid payload: sinks")
    assert _request_count(store) == 0
