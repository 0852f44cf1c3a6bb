"""Review of message submission: a JSON object that names a field twice is refused (Python kept
the last value, a gateway or log reading the same bytes may keep the first), over HTTP on every
store and through `halo delivery send push --data`, nothing stored; a message id that is not
found is repeated cut short in the 404, not whole."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.text import ECHO_LIMIT
from halo_platform.delivery.tables import Message, MessageEvent
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client


@pytest.fixture
def providers(providers_file):  # noqa: ANN001, ANN201
    return providers_file({
        "sms": {"kind": "sandbox", "channel": "sms"},
        "mail": {"kind": "sandbox", "channel": "email"},
        "push": {"kind": "sandbox", "channel": "push"},
    })


@pytest.fixture
def store(every_store):  # noqa: ANN001, ANN201
    return every_store


@pytest.fixture
def client(store, providers):  # noqa: ANN001, ANN201
    return authorized_client(create_app({"store": store, "providers": providers}), raise_server_exceptions=False)


def stored(store) -> tuple[int, int]:  # noqa: ANN001
    with store.read() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(Message)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(MessageEvent)).scalar_one())


@pytest.mark.parametrize(("channel", "raw", "field"), [
    ("sms", '{"to": "+33612345678", "body": "code 1", "priority": "HIGH", "priority": "LOW"}', "priority"),
    ("sms", '{"to": "+33612345678", "to": "+33687654321", "body": "code 1"}', "to"),
    ("sms", '{"to": "+33612345678", "body": "b", "fallback": {"channel": "email", "to": "a@example.com", "to": "b@example.com", "subject": "s"}}', "to"),
    ("email", '{"to": "ada@example.com", "subject": "s", "body": "b", "body": "c"}', "body"),
    ("push", '{"to": "device_token_1", "title": "t", "body": "b", "data": {"k": "1", "k": "2"}}', "k"),
], ids=["priority", "to", "fallback.to", "email body", "push data key"])
def test_a_field_given_twice_is_refused_with_422_and_nothing_is_stored(client, store, channel, raw, field):  # noqa: ANN001
    answer = client.post(f"/v1/messages/{channel}", content=raw, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == f"{field!r} is given twice in one JSON object"
    assert stored(store) == (0, 0)


def test_the_cli_refuses_push_data_with_a_key_given_twice_in_one_line(providers, halo_store):  # noqa: ANN001
    refused = CliRunner().invoke(cli, ["delivery", "send", "push", "--to", "device_token_1", "--title", "t", "--body", "b",
                                       "--data", '{"k": "1", "k": "2"}'])
    assert refused.exit_code == 2, refused.output
    assert refused.output.splitlines() == ["error: --data: 'k' is given twice in one JSON object"]
    assert stored(halo_store) == (0, 0)


def test_a_message_id_not_found_is_repeated_cut_short(client):  # noqa: ANN001
    answer = client.get("/v1/messages/" + "a" * 5000)
    assert answer.status_code == 404
    assert answer.json()["error"] == "no message " + "a" * ECHO_LIMIT + "…"


def test_the_cli_repeats_a_message_id_not_found_cut_short(providers):  # noqa: ANN001
    missing = CliRunner().invoke(cli, ["delivery", "status", "b" * 5000])
    assert missing.exit_code == 2 and missing.output.splitlines() == ["error: no message " + "b" * ECHO_LIMIT + "…"]
