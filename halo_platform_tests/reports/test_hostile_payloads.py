"""A task request naming many sinks is answered at once: the check that no sink is named twice
counted each name over the whole list (quadratic), so a 1 MiB list of distinct names held a
worker for minutes before its 422."""

from __future__ import annotations

import time

import pytest

from halo_platform.core.errors import HaloError
from halo_platform.http import create_app
from halo_platform.reports.requests import prepare_request
from halo_platform_tests.fixtures.access import authorized_client

MANY = [f"s{i}" for i in range(60_000)]


def test_a_request_naming_many_distinct_sinks_is_refused_at_once(halo_env):  # noqa: ANN001, ARG001
    client = authorized_client(create_app(), raise_server_exceptions=False)
    started = time.monotonic()
    answer = client.post("/v1/tasks/payment_reconciliation/requests", json={"sinks": MANY})
    assert time.monotonic() - started < 5
    assert answer.status_code == 422 and answer.json()["error"].startswith("unknown sink(s): s0, s1")


def test_a_sink_named_twice_among_many_is_still_named(halo_env):  # noqa: ANN001, ARG001
    with pytest.raises(HaloError, match=r"sinks: named more than once: s1, s7$"):
        prepare_request("payment_reconciliation", {}, [*MANY, "s7", "s1"])


@pytest.mark.parametrize("path, body, key", [
    ("/v1/tasks/campaign_alerts/requests", b'{"payload": {"budget_threshold_pct": 80, "budget_threshold_pct": 95}}', "budget_threshold_pct"),
    ("/v1/tasks/campaign_alerts/requests", b'{"sinks": ["outbox"], "sinks": []}', "sinks"),
    ("/v1/suppressions", b'{"channel": "sms", "to": "+33612345678", "to": "+33699999999"}', "to"),
])
def test_a_json_body_naming_a_key_twice_is_refused_on_every_route_with_a_body(halo_env, path, body, key):  # noqa: ANN001, ARG001
    """Was: FastAPI kept the last value (a threshold of 95 where a gateway or a log reading the same
    bytes saw 80), as the message routes did before they refused it; nothing is queued."""
    client = authorized_client(create_app(), raise_server_exceptions=False)
    answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and answer.json()["error"] == f"{key!r} is given twice in one JSON object", answer.text


@pytest.mark.parametrize("content_type", ["application/vnd.api+json", "application/merge-patch+json", "Application/JSON; charset=utf-8"])
def test_a_body_fastapi_reads_as_json_is_checked_for_keys_given_twice_whatever_its_media_type(halo_env, content_type):  # noqa: ANN001, ARG001
    """FastAPI reads a body as JSON when its media type is application/json or application/*+json;
    the check for repeated keys looked only at application/json, so a +json body ran with the last value."""
    client = authorized_client(create_app(), raise_server_exceptions=False)
    answer = client.post("/v1/suppressions", content=b'{"channel": "sms", "to": "+33612345678", "to": "+33699999999"}',
                         headers={"Content-Type": content_type})
    assert answer.status_code == 422 and answer.json()["error"] == "'to' is given twice in one JSON object", answer.text
