"""Schemathesis, every check, against `/openapi.json` of the real service: `halo serve` (uvicorn) on
127.0.0.1 over a store seeded by `halo demo` and `halo emr process`. Each operation becomes a test:
no generated request may get a 5xx, and every 4xx body must be `{"error": "...", "detail": ...}`.

Bounded in time (seeded, few examples per operation) so it runs in CI with the rest of the suite."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from halo_platform.http import create_app
from halo_platform_tests.fixtures.halo_serve import halo_serve

HALO = str(Path(sys.executable).with_name("halo"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, dagster_webserver) -> Iterator[tuple[str, dict[str, str]]]:  # noqa: ANN001
    """The service as `halo serve` runs it, on a store seeded with the demo data (the variables of
    `halo_env`), and the header of a key with every scope made by `halo keys create` in the same
    store (a rate generated requests never reach). Task
    requests go to the session's Dagster webserver, as under `halo up` (queued runs deleted after)."""
    root = tmp_path_factory.mktemp("schemathesis")
    (root / "halo").mkdir()
    env = dagster_webserver.env({**os.environ, "HALO_HOME": str(root / "halo"), "HALO_DB_URL": f"sqlite:///{root / 'halo' / 'halo.db'}",
                                 "HALO_ALERTS": "alerts"})
    try:
        with halo_serve(root, "--host", "127.0.0.1", env=env) as url:
            # three days hold a weekday whatever today is: the demo's DR001 works Monday to Friday
            for args in (["demo"], ["emr", "process", "--horizon-days", "3"]):
                seeded = subprocess.run([HALO, *args], env=env, capture_output=True, text=True, timeout=180)
                assert seeded.returncode == 0, seeded.stderr[-2000:]
            created = subprocess.run([HALO, "keys", "create", "schemathesis", "--scope", "admin", "--rate", "100000"],
                                     env=env, capture_output=True, text=True, timeout=60)
            assert created.returncode == 0, created.stderr[-2000:]
            headers = {"Authorization": f"Bearer {created.stdout.strip()}"}
            assert httpx.get(f"{url}/openapi.json", headers=headers, timeout=5).json() == SPEC
            seeded_spans = httpx.get(f"{url}/v1/availability", params={"feed": "hl7", "provider_id": "DR001"}, headers=headers, timeout=5).json()
            assert seeded_spans["spans"], "the demo store has no spans for the OpenAPI examples (hl7, DR001)"
            yield url, headers
    finally:
        dagster_webserver.clear_queue()


# The document is generated here at collection time: schemathesis' lazy `from_fixture` loader does not
# run under pytest 9 (it sets `node._nodeid`, gone from pytest). `served` checks that the server
# serves this very document at /openapi.json, and every case is sent to that server.
SPEC = create_app().openapi()
CONFIG = {
    "seed": 20261130,
    "generation": {"max-examples": 25},
    # 422 is this service's answer to input that is well-formed but refused on its meaning (an unknown
    # feed, a phone number of no country, a payload outside the task's schema), which OpenAPI cannot
    # express; every other refusal of schema-valid data still fails the check
    "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]},
               # a body over 1 MiB (long strings that also break `maxLength`) is refused 413 before it is parsed
               "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428",
                                                                  "429", "5xx"]}},
}
schema = schemathesis.openapi.from_dict(SPEC, config=schemathesis.Config.from_dict(CONFIG))


def error_body_has_the_contract_shape(ctx, response, case) -> bool | None:  # noqa: ANN001, ARG001
    """Every 4xx is JSON `{"error": "<non-empty reason>", "detail": ...}` (spec: The HTTP service)."""
    if not 400 <= response.status_code < 500:
        return None
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"error", "detail"}, f"4xx body is not {{error, detail}}: {body!r}"
    assert isinstance(body["error"], str) and body["error"], f"4xx `error` is not a reason: {body!r}"
    return True


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_every_generated_request_gets_no_5xx_and_json_4xx_bodies(case, served):
    url, headers = served
    case.call_and_validate(base_url=url, headers=headers, additional_checks=[error_body_has_the_contract_shape])
