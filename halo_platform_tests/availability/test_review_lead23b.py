"""The rest of the availability messages that repeat a caller's value repeat it `echo`ed (quoted, cut
to 100 characters), as echo23 made the feed, type and FHIR ones: a 10 kB date, mode, GraphQL Date
or body key came back whole (a 10,050-character CLI line; a 500-character 4xx, the HTTP cap)."""

import json

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.text import echo
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client

BIG = "2" * 10_000


def test_a_long_date_is_repeated_cut_on_one_cli_line(halo_env):  # noqa: ANN001
    result = CliRunner().invoke(cli, ["emr", "spans", "--feed", "acme", "--provider", "P1", "--from", BIG])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: --from: expected a date YYYY-MM-DD, got {echo(BIG)}\n", result.stderr[:300]


@pytest.mark.parametrize(("method", "path", "kwargs", "said"), [
    ("GET", "/v1/availability", {"params": {"feed": "acme", "provider_id": "P1", "from": BIG}},
     f"from: expected a date YYYY-MM-DD, got {echo(BIG)}"),
    ("GET", "/v1/availability/group", {"params": {"feed": "acme", "provider_ids": "P1,P2", "mode": BIG}},
     f"mode must be one of any, all, got {echo(BIG)}"),
    ("POST", "/graphql", {"json": {"query": f'{{ availableSpans(feed: "acme", providerId: "P1", from: "{BIG}") {{ spanDate }} }}'}},
     f"Date: expected a date YYYY-MM-DD, got {echo(BIG)}"),
    ("POST", "/graphql", {"json": {"query": "{ __typename }", BIG: 1}},
     f"the body's key {echo(BIG)} is not a GraphQL request's"),
    ("POST", "/graphql", {"json": {"query": f'{{ nextAvailable(feed: "acme", providerId: "P1", durationMinutes: 30, after: "{BIG}") {{ startAt }} }}'}},
     f"expected a date and time YYYY-MM-DDThh:mm[:ss][Z|+hh:mm], got {echo(BIG)}"),
])
def test_a_long_value_is_repeated_cut_in_the_answer(store, method, path, kwargs, said):  # noqa: ANN001
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.request(method, path, **kwargs)
    body = json.dumps(answer.json(), ensure_ascii=False)
    assert said in body and len(body) < 1000, body[:700]
