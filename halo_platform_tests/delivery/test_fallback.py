"""Channel fallback against the real Twilio and SendGrid fakes: an SMS with
`fallback: {channel: email, to, subject}` that ends provider_error (lost and delivery_failed
are the same event query) is followed by that email exactly once, even when two runs race; both messages show
the link; the sensor's cursor makes one run per new failure; a bad fallback is 422."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading

import dagster as dg
import pytest

from halo_platform.access.keys import create_key, webhook_secret_of
from halo_platform.delivery.fallback import send_fallbacks
from halo_platform.delivery.follow_up import channel_fallback_job, channel_fallback_sensor
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.webhooks import deliver
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain, webhook_receiver

INVALID = "+33612340000"  # the Twilio fake refuses numbers ending in 0000 (21211, permanent)
FALLBACK = {"channel": "email", "to": "Ada@Example.com", "subject": "Your appointment"}


@pytest.fixture
def setup(fakes, providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "sg": {"kind": "sendgrid", "channel": "email", "base_url": fakes["sendgrid"].url, **SECRETS["sendgrid"], "sender": "noreply@example.com"},
    })
    return providers, halo_store


def failed_sms(providers, store, priority: str = "LOW") -> str:  # noqa: ANN001
    view, _ = submit("sms", {"to": INVALID, "body": "Tomorrow 10:00, room 4", "priority": priority, "fallback": FALLBACK},
                     store=store, providers=providers, created_by="clinic-app")
    drain(providers, store)
    assert message_view(view["id"], store)["status"] == "provider_error"
    return view["id"]


def test_the_fallback_fires_exactly_once_even_when_two_runs_race(setup, fakes):
    providers, store = setup
    sms_id = failed_sms(providers, store)
    results, start = [], threading.Barrier(2)

    def run() -> None:
        start.wait()
        results.append(send_fallbacks(store, providers))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r["made"]) for r in results) == [0, 1]
    assert send_fallbacks(store, providers)["made"] == []
    drain(providers, store, "email")
    assert [a["to"] for a in fakes["sendgrid"].accepted] == ["Ada@example.com"]
    email = message_view(message_view(sms_id, store)["fallback"], store)
    assert (email["fallback_of"], email["channel"], email["status"], email["created_by"]) == (sms_id, "email", "sent", "clinic-app")


def test_a_high_sms_falls_back_to_a_high_email_sent_at_once(setup, fakes):
    providers, store = setup
    view, _ = submit("sms", {"to": INVALID, "body": "code 123456", "priority": "HIGH", "fallback": FALLBACK}, store=store, providers=providers)
    assert view["status"] == "provider_error"
    made = send_fallbacks(store, providers)["made"]
    assert message_view(made[0], store)["status"] == "sent"
    assert len(fakes["sendgrid"].accepted) == 1


def test_the_sensor_launches_one_run_per_new_failure_and_the_job_makes_the_fallback_once(setup):
    providers, store = setup
    cursor: list[str | None] = [None]
    instance = dg.DagsterInstance.ephemeral()

    def evaluate():  # noqa: ANN202
        with dg.build_sensor_context(instance=instance, resources={"store": store}, cursor=cursor[0]) as context:
            result = channel_fallback_sensor(context)
            cursor[0] = context.cursor
            return result

    assert isinstance(evaluate(), dg.SkipReason)
    sms_id = failed_sms(providers, store)
    request = evaluate()
    assert isinstance(request, dg.RunRequest)
    assert evaluate().run_key == request.run_key  # its run not made yet: the same key, which Dagster launches once
    for expected in ("made", "existing"):  # a re-executed run makes nothing new
        result = channel_fallback_job.execute_in_process(run_config=request.run_config, resources={"store": store, "providers": providers},
                                                         instance=instance)
        assert len(result.output_for_node("send_channel_fallbacks")[expected]) == 1
    assert message_view(sms_id, store)["fallback"] is not None
    assert isinstance(evaluate(), dg.SkipReason)  # made: nothing waits


def test_an_sms_without_fallback_or_that_was_sent_makes_none(setup):
    providers, store = setup
    submit("sms", {"to": INVALID, "body": "b", "priority": "LOW"}, store=store, providers=providers)
    submit("sms", {"to": "+33612345678", "body": "b", "priority": "LOW", "fallback": FALLBACK}, store=store, providers=providers)
    drain(providers, store)
    assert send_fallbacks(store, providers) == {"made": [], "existing": []}


@pytest.mark.parametrize(("fallback", "reason"), [
    ({"channel": "push", "to": "device_token_1", "subject": "s"}, "fallback: must be an object {channel: email"),
    ({"channel": "email", "to": "not-an-address", "subject": "s"}, "fallback.to: not a valid email address"),
    ({"channel": "email", "to": "a@example.com", "subject": "a\r\nBcc: x@example.com"}, "fallback.subject: must be one line"),
    ({"channel": "email", "to": "a@example.com", "subject": "s", "html": "<b>"}, "fallback: unknown field(s) html"),
    ("email", "fallback: must be an object"),
])
def test_a_bad_fallback_is_refused_at_submission(setup, fallback, reason):
    from halo_platform.core.errors import HaloError

    providers, store = setup
    with pytest.raises(HaloError) as refused:
        submit("sms", {"to": "+33612345678", "body": "b", "fallback": fallback}, store=store, providers=providers)
    assert reason in str(refused.value)


def test_the_cli_sends_an_sms_with_a_fallback_and_shows_the_link(setup):
    import json

    from click.testing import CliRunner

    from halo_platform.cli import cli

    providers, store = setup
    runner = CliRunner()
    half = runner.invoke(cli, ["delivery", "send", "sms", "--to", INVALID, "--body", "b", "--fallback-email", "ada@example.com"])
    assert half.exit_code != 0 and half.output.startswith("error: fallback.subject: must not be empty")
    sent = runner.invoke(cli, ["delivery", "send", "sms", "--to", INVALID, "--body", "b", "--priority", "high",
                               "--fallback-email", "ada@example.com", "--fallback-subject", "Your code"])
    sms_id = json.loads(sent.output)["id"]
    email_id = send_fallbacks(store, providers)["made"][0]
    assert f"fallback={email_id}" in runner.invoke(cli, ["delivery", "status", sms_id]).output
    assert f"fallback_of={sms_id}" in runner.invoke(cli, ["delivery", "status", email_id]).output


def test_the_fallback_reports_to_the_sms_callback_url_signed_by_the_same_key(setup, monkeypatch):
    providers, store = setup
    monkeypatch.setenv("HALO_WEBHOOKS_ALLOW_PRIVATE", "1")  # the receiver listens on 127.0.0.1
    key = create_key(store, "clinic-app", ["messages:send"])
    with webhook_receiver() as receiver:
        hook = f"{receiver.url}/hooks"
        view, _ = submit("sms", {"to": INVALID, "body": "Tomorrow 10:00", "fallback": FALLBACK, "callback_url": hook},
                         store=store, providers=providers, created_by="clinic-app", sender_key="clinic-app")
        drain(providers, store)
        email_id = send_fallbacks(store, providers)["made"][0]
        drain(providers, store, "email")
        deliver(store, backoff=(30,), max_seconds=10)
        secret = webhook_secret_of(key)
        events = {}
        for signature, body in receiver.got:
            assert signature == "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            event = json.loads(body)
            events.setdefault(event["message_id"], []).append(event["event"])
    assert message_view(email_id, store)["callback_url"] == hook
    assert events[view["id"]][-1] == "provider_error" and events[email_id] == ["queued", "sent"]


def test_a_caller_cannot_take_the_idempotency_keys_of_channel_fallbacks(setup):
    from halo_platform.core.errors import HaloError

    providers, store = setup
    with pytest.raises(HaloError) as refused:
        submit("email", {"to": "a@example.com", "subject": "s", "body": "b", "idempotency_key": "fallback:m1"}, store=store, providers=providers)
    assert refused.value.http_status == 422 and "idempotency_key: keys starting with 'fallback:'" in str(refused.value)


def test_one_fallback_whose_key_is_taken_does_not_cancel_the_others(setup, caplog):
    """A message stored under a fallback's key before such keys were refused (here made as the
    platform would, by the SMS's own caller: keys are each caller's) took SMS A's key: its
    conflict stopped the run, and B got no fallback."""
    providers, store = setup
    first, second = failed_sms(providers, store), failed_sms(providers, store)
    submit("email", {"to": "someone@example.com", "subject": "other", "body": "other", "idempotency_key": f"fallback:{first}"},
           store=store, providers=providers, created_by="clinic-app", fallback_of="an-older-message")
    result = send_fallbacks(store, providers)
    assert len(result["made"]) == 1 and message_view(second, store)["fallback"] == result["made"][0]
    assert message_view(first, store)["fallback"] is None and f"fallback of {first} not made" in caplog.text


@pytest.mark.parametrize(("stored", "reported_to"), [
    ("http://93.184.216.34:99999/hooks", None),
    ("https://hooks:S3cretPassw0rd@hooks.example.com/h?t=1", "https://hooks.example.com/h?t=1"),
])
def test_an_sms_whose_stored_callback_url_is_now_refused_still_falls_back(setup, stored, reported_to):
    """A callback URL stored before URLs were checked in full failed the fallback's own
    submission (422), which stopped the run: this SMS and every later one got no fallback. The
    email goes without status webhooks when its URL cannot be called, and without the password
    (never sent) when it only held one."""
    import sqlalchemy as sa

    from halo_platform.delivery.tables import Message

    providers, store = setup
    create_key(store, "clinic-app", ["messages:send"])
    view, _ = submit("sms", {"to": INVALID, "body": "Tomorrow 10:00", "fallback": FALLBACK, "callback_url": "https://hooks.example.com/h"},
                     store=store, providers=providers, created_by="clinic-app", sender_key="clinic-app")
    with store.write() as conn:
        conn.execute(sa.update(Message).where(Message.id == view["id"]).values(callback_url=stored))
    later = failed_sms(providers, store)
    drain(providers, store)
    made = send_fallbacks(store, providers)["made"]
    assert len(made) == 2 and message_view(later, store)["fallback"] in made
    email = message_view(message_view(view["id"], store)["fallback"], store)
    assert email["callback_url"] == (reported_to.split("?")[0] if reported_to else None)
    with store.read() as conn:
        assert conn.execute(sa.select(Message.callback_url, Message.webhook_key.is_not(None)).where(Message.id == email["id"])).one() == (
            reported_to, reported_to is not None)
