"""Review echo23: error messages that repeat the caller's values repeat them `echo`ed (quoted, control
characters written out, cut to 100 characters), so a 10 kB feed name, appointment type or FHIR
parameter comes back as one short line on the CLI, in a 4xx body and in the log, not whole."""

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
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
