"""Opt-outs added and lifted are recorded (access.md: every change records who made it): who (the
API key, the `halo` login, `inbound:<provider>` for a keyword), when, and the reason, masked;
`halo delivery suppressions --history` shows them, on SQLite and PostgreSQL. The record keeps the
recipient's keyed hash, never the recipient."""

from __future__ import annotations

import getpass
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS, twilio_inbound
from halo_platform_tests.fixtures.access import bearer, make_key

NUMBER = "+33612345678"


@pytest.fixture
def client(any_store, fakes, providers_file, monkeypatch):  # noqa: ANN001, ANN201
    """The HTTP service over `any_store` (its key named billing-app); `halo` commands use that store too."""
    monkeypatch.setenv("HALO_DB_URL", any_store.db_url)
    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url,
                                       **SECRETS["twilio"], "sender": "+33700000000"}},
                               routing=[{"channel": "sms", "country": "FR", "weights": {"tw": 1}}])
    app = create_app({"store": any_store, "providers": providers})
    client = TestClient(app)
    client.headers.update(bearer(make_key(app, "messages:send", name="billing-app")))
    return client


def keyword(client: TestClient, text: str) -> dict:
    form, headers = twilio_inbound("http://testserver/v1/inbound/tw", NUMBER, text)
    return client.post("/v1/inbound/tw", content=urlencode(form), headers={**headers, "Authorization": ""}).json()


def test_who_added_and_lifted_an_opt_out_when_and_why_is_kept_and_listed(client, any_store):
    runner = CliRunner()
    added = client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER, "reason": f"asked by phone from {NUMBER}"})
    assert added.status_code == 201, added.text
    lifted = runner.invoke(cli, ["delivery", "unsuppress", "sms", "06 12 34 56 78", "--country", "FR", "--reason", "consent given again"])
    assert lifted.exit_code == 0, lifted.output
    assert keyword(client, "STOP") == {"action": "suppressed"}
    assert keyword(client, "start") == {"action": "lifted"}
    assert runner.invoke(cli, ["delivery", "suppressions"]).output.count("\n") == 1  # the heading: nobody suppressed now

    history = runner.invoke(cli, ["delivery", "suppressions", "--history"])
    assert history.exit_code == 0, history.output
    heading, *lines = history.output.splitlines()
    assert heading.split() == ["at", "channel", "hash", "change", "scope", "by", "reason"]
    assert [line.split()[4:7] for line in lines] == [  # newest first
        ["lifted", "normal", "inbound:tw"], ["added", "normal", "inbound:tw"],
        ["lifted", "normal", f"cli:{getpass.getuser()}"], ["added", "normal", "billing-app"]]
    assert lines[0].endswith("START via tw") and lines[1].endswith("STOP via tw")
    assert lines[2].endswith("consent given again") and lines[3].endswith("asked by phone from +336*****678")
    assert len({line.split()[3] for line in lines}) == 1  # one recipient's hash
    with any_store.read() as conn:
        kept = conn.execute(sa.text("SELECT * FROM suppression_changes")).all()
    assert len(kept) == 4
    assert not any("612345678" in str(value) for row in kept for value in row)


def test_a_lift_by_the_api_is_kept_in_the_history_by_the_admin_keys_name(client, any_store):
    """`POST /v1/suppressions/lift` records who lifted the opt-out (the admin key's name) and why,
    masked, as the CLI's `unsuppress` does: `halo delivery suppressions --history` shows it."""
    assert keyword(client, "STOP") == {"action": "suppressed"}
    desk = TestClient(client.app)
    desk.headers.update(bearer(make_key(client.app, "admin", name="consent-desk")))
    lifted = desk.post("/v1/suppressions/lift", json={"channel": "sms", "to": NUMBER, "reason": f"consent by letter from {NUMBER}"})
    assert lifted.status_code == 200, lifted.text
    history = CliRunner().invoke(cli, ["delivery", "suppressions", "--history"])
    assert history.exit_code == 0, history.output
    newest = history.output.splitlines()[1]
    assert newest.split()[4:7] == ["lifted", "normal", "consent-desk"]
    assert newest.endswith("consent by letter from +336*****678")
