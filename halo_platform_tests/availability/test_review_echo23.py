"""Review echo23: error messages that repeat the caller's values repeat them `echo`ed (quoted, control
characters written out, cut to 100 characters), so a 10 kB feed name, appointment type or FHIR
parameter comes back as one short line on the CLI, in a 4xx body and in the log, not whole; and
the FHIR Slot search reads an Accept header's q-values (RFC 9110: `q=0` is "not acceptable")."""

import datetime as dt

import pytest
from click.testing import CliRunner

from halo_platform.availability.fhir_api import search_slots
from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.text import echo
from halo_platform.http import create_app
from halo_platform_tests.availability.test_slots import rules_file  # noqa: F401 (fixture)
from halo_platform_tests.fixtures.access import authorized_client

BIG = "x" * 10_000
SHORT = 300  # an error line repeating a value cut to 100 characters; the HTTP cap alone is 500


@pytest.mark.parametrize(("args", "said"), [
    (["spans", "--feed", BIG, "--provider", "P1"], f"unknown feed {echo(BIG)}; known: acme"),
    (["slots", "--feed", BIG, "--provider", "P1"], f"unknown feed {echo(BIG)}; known: acme"),
    (["slots", "--feed", "acme", "--provider", "P1", "--type", BIG], f"unknown appointment type {echo(BIG)} for acme/P1"),
    (["slots", "--feed", "acme", "--provider", BIG, "--type", "surgery"], f"unknown appointment type 'surgery' for acme/{'x' * 100}…"),
    (["slots", "--feed", "acme", "--provider", "P\x1b[2J1", "--type", "a\nb"], "unknown appointment type 'a\\nb' for acme/P\\x1b[2J1;"),
])
def test_a_long_feed_name_or_appointment_type_is_repeated_cut_on_one_cli_line(rules_file, args, said):  # noqa: F811
    """`halo emr spans --feed <10 kB>` answered `error: unknown feed 'xxx...'` of 10,036 characters
    (the whole name), `halo emr slots --type <10 kB>` 10,076; the provider id of an unknown type's
    message was also whole, and its control characters read as blanks (`P\\x1b[2J1` as `P [2J1`)."""
    result = CliRunner().invoke(cli, ["emr", *args])
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and len(result.stderr) < SHORT, len(result.stderr)
    assert result.stderr.startswith("error: ") and said in result.stderr, result.stderr


@pytest.mark.parametrize(("params", "said"), [
    ({"feed": BIG}, f"unknown feed {echo(BIG)}; known: acme"),
    ({"type": BIG}, f"unknown appointment type {echo(BIG)} for acme/P1; known: default, new_patient"),
])
def test_a_long_feed_name_or_appointment_type_is_repeated_cut_in_a_422(store, rules_file, params, said):  # noqa: F811
    """The HTTP cap cut such a line at 500 characters, most of them the caller's own value."""
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/v1/slots", params={"feed": "acme", "provider_id": "P1", **params})
    assert answer.status_code == 422 and answer.json()["error"] == said, answer.text[:600]


@pytest.mark.parametrize(("name", "value", "said"), [
    ("_at", BIG, f"_at: expected an instant YYYY-MM-DDThh:mm:ssZ, got {echo(BIG)}"),
    ("_count", BIG, f"_count: expected a whole number >= 0, got {echo(BIG)}"),
    ("_offset", BIG, f"_offset: expected a whole number >= 0, got {echo(BIG)}"),
    ("_count", "1\x1b[2J", "_count: expected a whole number >= 0, got '1\\x1b[2J'"),
    ("start", BIG, f"start: expected [eq|ge|gt|le|lt|sa|eb]YYYY[-MM[-DD[Thh:mm[:ss][Z|+hh:mm]]]], got {echo(BIG)}"),
    ("schedule", f"Schedule/{BIG}", f"schedule: expected Schedule/<id>, got {echo('Schedule/' + BIG)}"),
])
def test_a_fhir_search_repeats_a_long_parameter_cut(store, name, value, said):
    """`_at`, `_count`, `_offset`, `start` and `schedule` of 10 kB were repeated whole (a 10,0xx
    character message, cut only by the HTTP cap at 500 characters)."""
    params = [("schedule", "Schedule/acme.P1"), ("start", "ge2027-01-04")]
    params = [(k, v) for k, v in params if k != name] + [(name, value)]
    with pytest.raises(HaloError) as refused:
        search_slots(store, params, "http://testserver/fhir/Slot", now=dt.datetime(2027, 1, 1, tzinfo=dt.UTC))
    assert str(refused.value) == said and len(str(refused.value)) < SHORT


def fhir_search(store, headers: dict) -> tuple[int, dict]:  # noqa: ANN001
    client = authorized_client(create_app({"store": store}), "availability:read")
    answer = client.get("/fhir/Slot", params={"schedule": "Schedule/S1"}, headers=headers)
    return answer.status_code, answer.json()


def test_a_406_repeats_a_long_accept_cut(store):
    code, body = fhir_search(store, {"Accept": f"text/{BIG}"})
    assert code == 406 and body["error"] == f"only JSON (application/fhir+json) is served, not {echo('text/' + BIG)}", body


@pytest.mark.parametrize(("accept", "served"), [
    ("application/json;q=0", False),
    ("application/fhir+json; q=0.0", False),
    ("application/fhir+json;q=0, application/json;Q=0.000", False),
    ("application/xml, application/fhir+json;q=0", False),
    ("application/*;q=0", False),
    ("application/*;q=0, */*", False),  # JSON refused by its more specific range: */* takes every other type
    ("application/fhir+json;q=0, application/json;q=0, */*;q=0.8", False),
    ("application/json;q=0, */*;q=0.5", True),
    ("*/*;q=0.5", True),
    ("application/json;q=0.001", True),
    ("application/json;q=0, application/fhir+json", True),
    ("application/*;q=0, application/fhir+json;q=0.1", True),
    ("application/xml;q=0, application/json", True),
    ("application/json;q=zero", True),  # no q-value: the range as written, at 1
])
def test_an_accept_giving_every_json_type_q_0_is_406(store, accept, served):
    """RFC 9110 12.4.2: a q-value of 0 means "not acceptable", and a more specific range overrides
    a less specific one (12.5.1). `Accept: application/json;q=0` was answered JSON with a 200."""
    code, body = fhir_search(store, {"Accept": accept})
    if served:
        assert code == 200 and body["resourceType"] == "Bundle", body
    else:
        assert code == 406 and body["error"] == f"only JSON (application/fhir+json) is served, not {echo(accept)}", body
