# ruff: noqa: F811 - the fixtures imported from test_page_edges are the tests' arguments
"""Input the platform took too leniently (each test failed before its fix): bad input is one
`error:` line on the CLI, a 4xx JSON body over HTTP, an error beside its field in the Control
Center, and nothing stored; an empty or padded value the REST API reads one way is read the
same way by its other parameters and by GraphQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.store import StoreResource
from halo_platform.delivery.tables import Suppression
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.ui.test_page_edges import PASSWORD, _client, admin, app, store  # noqa: F401 - a seeded store, app and admin


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
