"""Delivery input edges (delivery.md): a device token with a trailing line
break was taken for a token (and for another recipient than the one opted out), and the CLI cut
a long suppression reason down to its column without a word while the API refuses it."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.delivery.tables import Message, Suppression
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client


@pytest.fixture
def client(providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({c: {"kind": "sandbox", "channel": c} for c in ("sms", "email", "push")})
    return authorized_client(create_app({"store": halo_store, "providers": providers}), raise_server_exceptions=False)


def count(table) -> int:  # noqa: ANN001
    with STORE.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_device_token_with_a_trailing_line_break_is_422_and_nothing_is_stored(client):
    """`$` also matches before a final newline: `device_token_1\\n` was queued as a recipient of its
    own, which a suppression of `device_token_1` does not stop."""
    token = "device_token_1\n"
    assert client.post("/v1/suppressions", json={"channel": "push", "to": "device_token_1"}).status_code == 201
    response = client.post("/v1/messages/push", json={"to": token, "title": "t", "body": "b", "priority": "LOW"})
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("to: must be a device token")
    assert count(Message) == 0
    refused = client.post("/v1/suppressions", json={"channel": "push", "to": token})
    assert refused.status_code == 422, refused.text


def test_the_cli_refuses_a_suppression_reason_longer_than_the_api_takes(client):
    """The API refuses a reason over 255 characters (422); the CLI stored its first 255 and said nothing."""
    assert client.post("/v1/suppressions", json={"channel": "sms", "to": "+33612345678", "reason": "r" * 256}).status_code == 422
    result = CliRunner().invoke(cli, ["delivery", "suppress", "sms", "+33612345678", "--reason", "r" * 256])
    assert result.exit_code == 2, result.output
    assert result.output == "error: reason: at most 255 characters (1 to 255 characters on one line)\n"
    assert count(Suppression) == 0
    fits = CliRunner().invoke(cli, ["delivery", "suppress", "sms", "+33612345678", "--reason", "r" * 255])
    assert fits.exit_code == 0, fits.output
    with STORE.read() as conn:
        assert conn.execute(sa.select(Suppression.__table__.c.reason)).scalar_one() == "r" * 255


@pytest.mark.parametrize("reason", ["a\x00b", "a\ud800b"])
def test_a_suppression_reason_no_store_can_hold_is_422_on_every_store(client, reason):
    """SQLite stored a NUL that PostgreSQL refuses (there the API's last-resort handler answered)."""
    body = json.dumps({"channel": "sms", "to": "+33612345678", "reason": reason})  # \\ud800 escaped, as a caller may send it
    response = client.post("/v1/suppressions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"].startswith("reason: ")
    assert count(Suppression) == 0
