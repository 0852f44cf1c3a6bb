"""The public API, one code path for HTTP, Python and CLI: validation with 422 reasons and
nothing stored, HIGH sent inside the call (201), NORMAL/LOW queued (202), idempotency keys."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.core.errors import ConflictError, HaloError
from halo_platform.core.text import ECHO_LIMIT
from halo_platform.delivery import send_email, send_push, send_sms
from halo_platform.delivery.tables import Message, MessageEvent
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client


@pytest.fixture
def client(providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({
        "sms": {"kind": "sandbox", "channel": "sms"},
        "mail": {"kind": "sandbox", "channel": "email"},
        "push": {"kind": "sandbox", "channel": "push"},
    })
    return authorized_client(create_app({"store": halo_store, "providers": providers}))


def stored() -> tuple[int, int]:
    with STORE.read() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(Message)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(MessageEvent)).scalar_one())


PAST = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()


@pytest.mark.parametrize(
    ("channel", "payload", "reason"),
    [
        ("sms", {"to": "+33612", "body": "x"}, "to: not a valid phone number"),
        ("sms", {"to": "hello", "body": "x"}, "to: not a phone number"),
        ("sms", {"to": "0612345678", "body": "x", "country": "ZZ"}, "country: 'ZZ' is not an ISO"),
        ("sms", {"to": "+33612345678", "body": "x", "country": "DE"}, "belongs to FR"),
        ("sms", {"to": "+33612345678", "body": "   "}, "body: must not be empty"),
        ("sms", {"to": "+33612345678"}, "body: must not be empty"),
        ("sms", {"to": "+33612345678", "body": "x" * 1601}, "body: too long"),
        ("sms", {"to": "+33612345678", "body": "x", "capability": "TRANSACTIONAL"}, "not known for sms"),
        ("sms", {"to": "+33612345678", "body": "x", "capability": "lower"}, "upper-case word"),
        ("sms", {"to": "+33612345678", "body": "x", "priority": "URGENT"}, "priority"),
        ("sms", {"to": "+33612345678", "body": "x", "expires_at": "tomorrow"}, "expires_at"),
        ("sms", {"to": "+33612345678", "body": "x", "expires_at": "2030-01-01T00:00:00"}, "time zone"),
        ("sms", {"to": "+33612345678", "body": "x", "colour": "red"}, "unknown field"),
        ("email", {"to": "not-an-email", "subject": "s", "body": "b"}, "to: not a valid email"),
        ("email", {"to": "a@example.com", "subject": "", "body": "b"}, "subject: must not be empty"),
        ("email", {"to": "a@example.com", "subject": "s", "body": "b", "capability": "TEXT"}, "not known for email"),
        ("push", {"to": "x y", "title": "t", "body": "b"}, "device token"),
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": ["a"]}, "data: must be an object"),
        ("push", {"to": "device_token_1", "title": "t", "body": ""}, "body: must not be empty"),
    ],
)
def test_invalid_input_is_422_with_the_reason_and_nothing_is_stored(client, channel, payload, reason):
    response = client.post(f"/v1/messages/{channel}", json=payload)
    assert response.status_code == 422
    assert reason in response.json()["error"]
    assert stored() == (0, 0)


def test_a_body_that_is_not_a_json_object_is_422(client):
    assert client.post("/v1/messages/sms", content=b"[1]", headers={"Content-Type": "application/json"}).status_code == 422
    assert client.post("/v1/messages/sms", content=b"{", headers={"Content-Type": "application/json"}).status_code == 422
    assert stored() == (0, 0)


def test_high_priority_is_sent_inside_the_call_and_answers_201(client):
    response = client.post("/v1/messages/sms", json={"to": "0612345678", "country": "fr", "body": "code 1", "priority": "HIGH"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "sent" and body["provider"] == "sms"
    view = client.get(f"/v1/messages/{body['id']}").json()
    assert [e["event"] for e in view["events"]] == ["queued", "sent"]
    assert view["number_of_retries"] == 0 and view["recipient"] == "+336*****678"


@pytest.mark.parametrize("priority", ["NORMAL", "LOW", None])
def test_normal_and_low_are_queued_and_answer_202(client, priority):
    payload = {"to": "ada@example.com", "subject": "s", "body": "b", **({"priority": priority} if priority else {})}
    response = client.post("/v1/messages/email", json=payload)
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert set(response.json()) == {"id", "status"}


def test_an_expired_message_is_never_sent(client):
    response = client.post("/v1/messages/push", json={"to": "device_token_1", "title": "t", "body": "b", "priority": "HIGH", "expires_at": PAST})
    view = client.get(f"/v1/messages/{response.json()['id']}").json()
    assert view["status"] == "expired"
    assert [e["event"] for e in view["events"]] == ["queued", "expired"]


def test_an_unknown_message_is_404(client):
    response = client.get("/v1/messages/does-not-exist")
    assert response.status_code == 404 and response.json()["error"]


def test_the_same_idempotency_key_and_payload_returns_the_first_message(client):
    payload = {"to": "+33612345678", "body": "hi", "idempotency_key": "order-42"}
    first, again = client.post("/v1/messages/sms", json=payload), client.post("/v1/messages/sms", json=payload)
    assert first.json()["id"] == again.json()["id"]
    assert stored() == (1, 1)
    conflict = client.post("/v1/messages/sms", json={**payload, "body": "different"})
    assert conflict.status_code == 409 and "order-42" in conflict.json()["error"]
    assert stored() == (1, 1)


def test_a_reused_idempotency_key_is_echoed_cut_in_the_409(client):
    """The 409 for a key used with another message repeated the key whole (up to 255 characters,
    a 255-character error line): it is echoed cut to `ECHO_LIMIT` with an ellipsis, as every other
    refusal echoes a caller's value, and still names the first message."""
    key = "k" * 255
    first = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "hi", "idempotency_key": key})
    conflict = client.post("/v1/messages/sms", json={"to": "+33612345678", "body": "different", "idempotency_key": key})
    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert key not in error and "k" * ECHO_LIMIT + "…" in error and first.json()["id"] in error


def test_python_functions_share_validation_idempotency_and_sending(client):
    view = send_sms("+33612345678", "hi", priority="HIGH", idempotency_key="k1")
    assert view["status"] == "sent"
    assert send_sms("+33612345678", "hi", priority="HIGH", idempotency_key="k1")["id"] == view["id"]
    with pytest.raises(ConflictError):
        send_sms("+33612345678", "changed", priority="HIGH", idempotency_key="k1")
    with pytest.raises(HaloError, match="to: not a valid email"):
        send_email("nope", "s", "b")
    assert send_push("device_token_9", "t", "b", data={"a": "1"})["status"] == "queued"
    assert stored()[0] == 2


def test_cli_send_uses_the_same_path_and_prints_one_line_errors(client):
    runner = CliRunner()
    ok = runner.invoke(cli, ["delivery", "send", "sms", "--to", "0612345678", "--country", "FR", "--body", "x", "--priority", "high"])
    assert ok.exit_code == 0, ok.output
    view = json.loads(ok.output)
    assert view["status"] == "sent" and view["created"] is True
    bad = runner.invoke(cli, ["delivery", "send", "email", "--to", "x", "--subject", "s", "--body", "b"])
    assert bad.exit_code == 2
    assert bad.output.strip().startswith("error: to: not a valid email")
    status = runner.invoke(cli, ["delivery", "status", view["id"]])
    assert status.exit_code == 0 and "sent" in status.output and "queued" in status.output
    missing = runner.invoke(cli, ["delivery", "status", "nope"])
    assert missing.exit_code == 2 and "error: no message nope" in missing.output


def test_python_send_sms_takes_a_timezone_and_a_fallback_like_the_api(client):
    view = send_sms("+33612345678", "results ready", priority="LOW", timezone="Asia/Jakarta",
                    fallback={"channel": "email", "to": "patient@example.com", "subject": "Your results"})
    with STORE.read() as conn:
        row = conn.execute(sa.select(Message.__table__).where(Message.__table__.c.id == view["id"])).one()
    assert row.fallback == {"channel": "email", "to": "patient@example.com", "subject": "Your results"}
    with pytest.raises(HaloError, match="timezone: 'Mars/Base' is not an IANA time zone"):
        send_sms("+33612345678", "x", timezone="Mars/Base")
    with pytest.raises(HaloError, match="fallback"):
        send_sms("+33612345678", "x", fallback={"channel": "fax"})


@pytest.mark.parametrize("timeout", ["-5", "nan", "0"])
def test_drain_refuses_a_timeout_that_is_not_a_positive_number_of_seconds(halo_env, timeout):
    """-5 and nan drained nothing and exited 0."""
    from click.testing import CliRunner

    from halo_platform.cli import cli

    result = CliRunner().invoke(cli, ["delivery", "drain", "--timeout", timeout])
    assert result.exit_code == 2 and result.output == f"error: --timeout must be a number of seconds above 0, got {float(timeout)}\n"


def test_drain_with_a_broken_providers_file_is_one_error_line_without_a_stack_trace(halo_env, tmp_path):
    """A providers file the dispatch op cannot read made `halo delivery drain` print Dagster's step
    failure with its stack trace, then `error: dispatch failed: dagster._core.errors...` naming
    Dagster's wrapper rather than the file's problem."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    broken = tmp_path / "providers.yaml"
    broken.write_text("providers:\n  s: {kind: sandbox, channel: sms}\nretry: {max_retries: 1e999}\n")
    done = subprocess.run([str(Path(sys.executable).with_name("halo")), "delivery", "drain", "--timeout", "5"],
                          env={**os.environ, "HALO_PROVIDERS_FILE": str(broken)}, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and done.stdout == "", done.stdout
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr, done.stderr
    assert done.stderr == f"error: {broken}: retry.max_retries: expected a whole number, got '1e999'\n", done.stderr


def test_a_provider_of_an_unknown_kind_is_refused_before_anything_is_queued(halo_env, tmp_path, monkeypatch):
    """A typo in a provider's kind was listed as an active provider and its NORMAL messages were
    queued (202); the first dispatch run then failed on it, holding back every channel's queue."""
    path = tmp_path / "providers.yaml"
    path.write_text("providers:\n  sms_x: {kind: twillio, channel: sms, countries: ['*'], capabilities: ['*']}\n"
                    "routing:\n  - {channel: sms, country: '*', capability: '*', weights: {sms_x: 1}}\n")
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    for args in (["delivery", "providers"], ["delivery", "send", "sms", "--to", "+33612345678", "--body", "hi"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error: ") and result.output.count("\n") == 1 and "unknown kind 'twillio'" in result.output, result.output
    with STORE.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Message.__table__)).scalar_one() == 0
