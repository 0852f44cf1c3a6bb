"""The SMS segment count is stored with the message and shown by `GET /v1/messages/{id}` and
`halo delivery status` (the same count that refuses a body over `max_segments` with 422)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client


@pytest.fixture
def client(providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({"sms": {"kind": "sandbox", "channel": "sms"}, "mail": {"kind": "sandbox", "channel": "email"}})
    return authorized_client(create_app({"store": halo_store, "providers": providers}))


@pytest.mark.parametrize(("body", "segments"), [("a" * 160, 1), ("a" * 161, 2), ("€" * 81, 2), ("ç" * 135, 3), ("😀" * 36, 2)])
def test_the_segment_count_is_stored_and_shown(client, body, segments):
    queued = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": body})
    assert queued.status_code == 202, queued.text
    assert client.get(f"/v1/messages/{queued.json()['id']}").json()["segments"] == segments
    shown = CliRunner().invoke(cli, ["delivery", "status", queued.json()["id"]])
    assert f"segments={segments}" in shown.output.splitlines()[0]


def test_an_email_has_no_segments(client):
    queued = client.post("/v1/messages/email", json={"to": "ada@example.com", "subject": "s", "body": "b"})
    view = client.get(f"/v1/messages/{queued.json()['id']}").json()
    assert view["segments"] is None
    assert "segments=" not in CliRunner().invoke(cli, ["delivery", "status", view["id"]]).output
