"""REST's group availability reads `mode` in any case: GraphQL's enum spells it ANY and ALL, and a
client passing that spelling to `GET /v1/availability/group` got a 422. An unknown mode is still a
422 repeating what was sent."""

import json

import pytest

from halo_platform.http import create_app
from halo_platform_tests.availability.helpers import land, process
from halo_platform_tests.fixtures.access import authorized_client

MONDAY = "2027-03-01"


@pytest.fixture
def two(any_store, halo_env):
    """P (Paris) works Monday 09:00-17:00, Q (UTC) Monday 12:00-18:00."""
    land("acme", "hours.jsonl", "".join(json.dumps({"type": "hours", "provider": p, "tz": tz, "week": {"mon": [hours]},
                                                    "updated_at": "2026-11-01T00:00:00Z"}) + "\n"
                                        for p, tz, hours in (("P", "Europe/Paris", ["09:00", "17:00"]), ("Q", "UTC", ["12:00", "18:00"]))))
    process(any_store, "2027-02-27", 6)
    return authorized_client(create_app({"store": any_store}), "availability:read")


def group(client, mode: str):  # noqa: ANN001, ANN201
    return client.get("/v1/availability/group", params={"feed": "acme", "provider_ids": "P,Q", "mode": mode, "from": MONDAY, "to": MONDAY})


@pytest.mark.parametrize(("given", "read", "spans"), [
    ("ALL", "all", [("2027-03-01T12:00:00Z", "2027-03-01T16:00:00Z", ["P", "Q"])]),
    ("all", "all", [("2027-03-01T12:00:00Z", "2027-03-01T16:00:00Z", ["P", "Q"])]),
    ("Any", "any", [("2027-03-01T08:00:00Z", "2027-03-01T12:00:00Z", ["P"]), ("2027-03-01T12:00:00Z", "2027-03-01T16:00:00Z", ["P", "Q"]),
                    ("2027-03-01T16:00:00Z", "2027-03-01T18:00:00Z", ["Q"])]),
    ("aNy", "any", None),
])
def test_rest_reads_the_mode_in_any_case_as_graphqls_enum_spells_it(two, given, read, spans):
    answer = group(two, given)
    assert answer.status_code == 200, answer.text
    assert answer.json()["mode"] == read
    found = [(s["start_at"], s["end_at"], s["provider_ids"]) for s in answer.json()["spans"]]
    assert found == (spans if spans is not None else [(s["start_at"], s["end_at"], s["provider_ids"]) for s in group(two, read).json()["spans"]])


@pytest.mark.parametrize("given", ["some", "ALLE", "al l", "ａｌｌ"])
def test_an_unknown_mode_in_any_case_is_still_a_422_repeating_it(two, given):
    answer = group(two, given)
    assert answer.status_code == 422 and answer.json()["error"] == f"mode must be one of any, all, got {given!r}", answer.text
