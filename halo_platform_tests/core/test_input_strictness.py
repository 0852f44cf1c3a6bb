# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Input the platform took too leniently (each test failed before its fix): bad input is one
`error:` line on the CLI, a 4xx JSON body over HTTP, an error beside its field in the Control
Center, and nothing stored; an empty or padded value the REST API reads one way is read the
same way by its other parameters and by GraphQL."""

from __future__ import annotations

import html
import json
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.delivery.tables import Suppression
from halo_platform.http import create_app
from halo_platform.reports.task import get_task
from halo_platform_tests.availability.helpers import hours_a_week_ahead
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.ui.test_page_edges import PASSWORD, admin, app, store  # noqa: F401 - a seeded store, app and admin


def _count(store: StoreResource, table: str) -> int:
    with store.read() as conn:
        return conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()  # noqa: S608 - the tests' own names


# --- a suppression reason is one line -------------------------------------------------------------

@pytest.mark.parametrize(("reason", "code"), [("asked\nby phone", "U+000A"), ("asked\r\nby phone", "U+000D"), ("asked\tby phone", "U+0009"),
                                             ("asked\x1b[2Jby phone", "U+001B"), ("asked\x85by phone", "U+0085")])
def test_a_suppression_reason_with_a_line_break_or_control_character_is_refused_by_the_cli_and_the_api(store, reason, code):
    """`halo delivery suppressions` prints one table line per suppression with its reason last: a
    line break in a reason (taken by the CLI and the API alike) split the line, and an escape
    sequence redrew the operator's terminal. Refused as every one-line field is; nothing stored."""
    result = CliRunner().invoke(cli, ["delivery", "suppress", "sms", "+33612345678", "--reason", reason])
    assert result.exit_code == 2, result.output
    assert result.output == f"error: reason: control character {code} (1 to 255 characters on one line)\n"
    client = authorized_client(create_app({"store": store}), "messages:send")
    answer = client.post("/v1/suppressions", json={"channel": "sms", "to": "+33612345678", "reason": reason})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == f"reason: control character {code} (1 to 255 characters on one line)"
    assert _count(store, Suppression.__tablename__) == 0


def test_a_one_line_suppression_reason_is_kept_and_listed_on_its_line(store):
    done = CliRunner().invoke(cli, ["delivery", "suppress", "sms", "+33612345678", "--reason", "asked by phone, twice"])
    assert done.exit_code == 0, done.output
    listed = CliRunner().invoke(cli, ["delivery", "suppressions"])
    assert listed.exit_code == 0, listed.output
    assert len(listed.output.splitlines()) == 2 and listed.output.splitlines()[1].endswith("asked by phone, twice")


# --- numbers in task payloads are ASCII notation --------------------------------------------------

NOT_ASCII_NOTATION = ["1_000", "1_0.5", "٣", "٣.٥", "１２", "12\u00a0", "\u2007" + "12"]


@pytest.mark.parametrize("text", NOT_ASCII_NOTATION)
@pytest.mark.parametrize(("task", "field"), [("payment_reconciliation", "tolerance"),
                                             ("campaign_alerts", "expiring_within_days"),
                                             ("campaign_alerts", "budget_threshold_pct")])
def test_a_number_with_underscores_or_another_scripts_digits_is_refused_naming_its_field(task, field, text):
    """Python's Decimal(), int() and float() read `1_000` (a literal in code), Arabic-Indic `٣`,
    full-width `１２` and a no-break space around digits: a payload field took them as 1000, 3,
    12, where the form's own pattern and every warehouse know only 0-9."""
    if field == "expiring_within_days" and "." in text:
        text = text.split(".")[0]
    with pytest.raises(HaloError) as caught:
        get_task(task).validate_payload({field: text})
    assert caught.value.http_status == 422
    assert caught.value.detail == [{"field": field, "reason": f"Input should be a number written with the ASCII digits 0-9, "
                                                              f"got {text!r}"}]


@pytest.mark.parametrize(("task", "field", "text", "value"), [
    ("payment_reconciliation", "tolerance", "1000.50", "1000.50"),
    ("payment_reconciliation", "tolerance", "+0.5", "0.50"),
    ("payment_reconciliation", "tolerance", " 12 ", "12.00"),
    ("payment_reconciliation", "tolerance", "1e2", "100.00"),
    ("campaign_alerts", "expiring_within_days", "+7", 7),
    ("campaign_alerts", "budget_threshold_pct", "87.5", 87.5),
    ("campaign_alerts", "budget_threshold_pct", "8.75e1", 87.5),
])
def test_ascii_numbers_are_still_taken(task, field, text, value):
    assert get_task(task).wire_payload({field: text})[field] == value


def test_an_amount_in_arabic_indic_digits_is_one_cli_line_a_422_and_a_form_error_and_nothing_is_recorded(store, admin):
    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--payload", json.dumps({"tolerance": "١٠"})])
    assert result.exit_code == 2, result.output
    assert result.output == ("error: payment_reconciliation: invalid payload: tolerance: Input should be a number written "
                             "with the ASCII digits 0-9, got '١٠'\n")
    client = authorized_client(create_app({"store": store}))
    bad = client.post("/v1/tasks/payment_reconciliation/requests", json={"payload": {"tolerance": "1_000"}})
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"] == [{"field": "tolerance", "reason": "Input should be a number written with the ASCII digits 0-9, "
                                                                    "got '1_000'"}]
    page = admin.post("/ui/tasks/payment_reconciliation", data={"csrf_token": admin.csrf, "tolerance": "１２", "sinks": "outbox"})
    assert page.status_code == 422, page.text[:300]
    beside = re.search(r'id="tolerance-error"[^>]*>(.*?)</', page.text, re.S)
    assert beside and html.unescape(beside.group(1)) == "Input should be a number written with the ASCII digits 0-9, got '１２'"
    assert _count(store, "task_requests") == 0


# --- group availability: an empty mode and padded provider ids ------------------------------------

def test_an_empty_group_mode_is_the_default_any_as_an_empty_from_to_or_type_is_the_default(store):
    """`mode` defaults to `any` (emr.md, "Group availability"); `mode=` (a form's empty select)
    was a 422 where `from=`, `to=` and `type=` left empty are their defaults."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    params = {"feed": "acme", "provider_ids": "D1,D2", "from": "", "to": ""}
    empty = client.get("/v1/availability/group", params={**params, "mode": ""})
    assert empty.status_code == 200, empty.text
    assert empty.json() == client.get("/v1/availability/group", params=params).json()
    assert empty.json()["mode"] == "any"


@pytest.fixture
def two_providers(halo_env, store) -> str:  # noqa: ARG001
    """D1 09:00-12:00 and D2 10:00-14:00 UTC on one day a week ahead, processed; that day."""
    return hours_a_week_ahead(store, [("D1", "09:00", "12:00"), ("D2", "10:00", "14:00")]).isoformat()


def test_graphql_group_availability_trims_provider_ids_as_rest_does(store, two_providers):
    """REST reads `provider_ids= D1 , D2` as D1 and D2; GraphQL looked up " D1" and "D2 ", found
    nobody and answered an empty list: one request, two answers."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    day = two_providers
    rest = client.get("/v1/availability/group", params={"feed": "acme", "provider_ids": " D1 , D2 ", "mode": "all",
                                                        "from": day, "to": day}).json()
    assert rest["provider_ids"] == ["D1", "D2"]
    query = ('query Q($ids: [String!]!, $day: Date) { groupAvailability(feed: "acme", providerIds: $ids, mode: ALL, '
             "from: $day, to: $day) { startAt endAt providerIds } }")
    data = client.post("/graphql", json={"query": query, "variables": {"ids": [" D1", "D2 "], "day": day}}).json()
    spans = [(g["startAt"][11:16], g["endAt"][11:16], g["providerIds"]) for g in data["data"]["groupAvailability"]]
    assert spans == [(s["start_at"][11:16], s["end_at"][11:16], s["provider_ids"]) for s in rest["spans"]] == [
        ("10:00", "12:00", ["D1", "D2"])]
    blank = client.post("/graphql", json={"query": query, "variables": {"ids": ["D1", " "], "day": day}}).json()
    assert blank["data"] is None and blank["errors"][0]["message"].startswith("providerIds: "), blank
