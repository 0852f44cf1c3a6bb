"""Delivery review 20: an opt-out that ended a message a provider had already taken, and the
provider's later receipt proving it was delivered; a HIGH message's timeline naming the providers
it passed over for their rate limit; a providers file that cannot serve refused when `halo serve`
and the code location start, not at its first send."""

from __future__ import annotations

import datetime as dt
import random

import pytest
import sqlalchemy as sa
import uvicorn

from halo_platform.core.models import utcnow
from halo_platform.core.write_lock import writing
from halo_platform.delivery.providers.base import Outgoing
from halo_platform.delivery.queue import claim, mark_in_flight
from halo_platform.delivery.service import enqueue_many, message_view, submit
from halo_platform.delivery.tables import Message, MessageEvent
from halo_platform.delivery.throttle import Tokens
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.core.test_cli_environment import halo
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.fixtures.access import authorized_client

DEVICE, NUMBER = "device_token_123456", "+33612345678"
OS_SECRET = "os-shared"


def onesignal_setup(fakes, providers_file, store):  # noqa: ANN001, ANN201
    """One OneSignal app `os` taking signed callbacks; the API client and the providers resource."""
    providers = providers_file({"os": {"kind": "onesignal", "channel": "push", "base_url": fakes["onesignal"].url, **SECRETS["onesignal"],
                                       "webhook_secret": OS_SECRET, "timeout_seconds": 2}},
                               [{"channel": "push", "country": "*", "capability": "*", "weights": {"os": 1}}], lease_seconds=15)
    return authorized_client(create_app({"store": store, "providers": providers})), providers


def receipt(client, message_id: str, kind: str = "message.push.sent"):  # noqa: ANN001, ANN201
    """OneSignal's signed event about our message `message_id` (its external id)."""
    item = {"event": {"kind": kind, "id": f"evt-{message_id}-{kind}"}, "message": {"id": ""}, "external_id": message_id}
    return client.post("/v1/callbacks/os", json=item, headers={"Authorization": f"Bearer {OS_SECRET}"})


def status_and_events(store, message_id: str) -> tuple[str, list[tuple[str, bool]]]:  # noqa: ANN001
    with store.read() as conn:
        status = conn.execute(sa.select(Message.status).where(Message.id == message_id)).scalar_one()
        events = conn.execute(sa.select(MessageEvent.event, MessageEvent.overtaken).where(MessageEvent.message_id == message_id)
                              .order_by(MessageEvent.id)).all()
    return status, [(e, bool(o)) for e, o in events]


def test_a_receipt_proving_delivery_of_a_message_a_provider_took_before_the_opt_out_is_recorded(fakes, providers_file, halo_store):
    """delivery.md's lifecycle: `delivered` follows our request to the provider. A push accepted by
    OneSignal, whose dispatcher died before recording the answer, and whose recipient opted out
    meanwhile, ends `suppressed` at its next claim (it is not sent again). OneSignal's signed receipt
    that it delivered it was stored `overtaken` and the message stayed `suppressed`: `suppressed` had
    no place in the lifecycle's order. The receipt is the message's status now."""
    client, providers = onesignal_setup(fakes, providers_file, halo_store)
    enqueue_many("push", [{"to": DEVICE, "title": "t", "body": "hello", "priority": "LOW"}], store=halo_store, providers=providers)
    now = utcnow()
    with writing(halo_store) as conn:
        (row,) = claim(conn, "push", "run:dead", 10, now, 15)
        assert mark_in_flight(conn, "run:dead", [(row.id, "os", row.lease_until)], now)
    mid = row.id
    assert providers.build(providers.config().providers["os"]).send_batch([Outgoing.from_row(row)], 2)[0].outcome == "acknowledged"
    assert client.post("/v1/suppressions", json={"channel": "push", "to": DEVICE}).status_code == 201
    drain(providers, halo_store, "push", clock=lambda: utcnow() + dt.timedelta(seconds=20))  # the dead run's lease has ended
    assert status_and_events(halo_store, mid)[0] == "suppressed"
    assert len(fakes["onesignal"].accepted) == 1

    answer = receipt(client, mid)
    assert answer.status_code == 200 and answer.json()["applied"] == 1, answer.text
    status, events = status_and_events(halo_store, mid)
    assert status == "delivered" and events[-1] == ("delivered", False), events
    assert client.get(f"/v1/messages/{mid}").json()["status"] == "delivered"


def test_a_message_no_provider_was_handed_stays_suppressed_whatever_a_receipt_says(fakes, providers_file, halo_store):
    """A message suppressed before any provider had it: a signed receipt naming it is not about a
    message of that provider (counted unmatched) and it stays `suppressed`."""
    client, providers = onesignal_setup(fakes, providers_file, halo_store)
    assert client.post("/v1/suppressions", json={"channel": "push", "to": DEVICE}).status_code == 201
    mid = client.post("/v1/messages/push", json={"to": DEVICE, "title": "t", "body": "hello", "priority": "LOW"}).json()["id"]
    answer = receipt(client, mid)
    assert answer.status_code == 200 and answer.json() == {"applied": 0, "duplicates": 0, "unmatched": 1}, answer.text
    assert status_and_events(halo_store, mid) == ("suppressed", [("queued", False), ("suppressed", False)])


PASSED_OVER = "rate limit reached, passed over"


def sms_providers(fakes, providers_file, **vonage):  # noqa: ANN001, ANN003, ANN201
    """Twilio first for a HIGH SMS to France (its weight), then Vonage."""
    return providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000",
               "rate_per_second": 0.2},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["FR"], "base_url": fakes["vonage"].url, **SECRETS["vonage"], **vonage},
    }, [{"channel": "sms", "country": "FR", "capability": "*", "weights": {"tw": 1_000_000, "vo": 1}}])


def high_sms(providers, store):  # noqa: ANN001, ANN201
    view, _ = submit("sms", {"to": NUMBER, "body": "Your code is 123456", "priority": "HIGH"}, store=store, providers=providers, rng=random.Random(7))
    return view, message_view(view["id"], store)["events"]


def test_a_provider_a_high_message_passed_over_for_its_rate_limit_leaves_an_event_with_the_reason(fakes, providers_file, halo_store):
    """delivery.md: HIGH fails over to the next eligible provider, and each provider passed over
    leaves a `retry_scheduled` event with its reason. One whose rate limit had no token left was
    skipped without a trace: the timeline showed Vonage sending with no word of Twilio."""
    providers = sms_providers(fakes, providers_file)
    assert Tokens(halo_store).take("tw", 0.2, 1, batch=False) == 1  # Twilio's bucket is spent
    view, events = high_sms(providers, halo_store)
    assert (view["status"], view["provider"]) == ("sent", "vo"), view
    assert [(e["event"], e["provider"], e["detail"]) for e in events] == [
        ("queued", None, "HIGH"), ("retry_scheduled", "tw", PASSED_OVER), ("sent", "vo", None)], events
    assert fakes["twilio"].request_count == 0


def test_a_provider_passed_over_for_its_rate_limit_after_one_that_failed_leaves_the_failed_ones_event_final(fakes, providers_file, halo_store):
    """Twilio refused (503), then Vonage had no token: the message ends with Twilio's reason, after
    the deadline's, and Vonage's pass-over is its own event (one per provider passed over)."""
    providers = sms_providers(fakes, providers_file, rate_per_second=0.2)
    fakes["twilio"].set_switches(failure_rate=1.0, failure_response=(
        503, {"Content-Type": "application/json"}, b'{"code": 20503, "message": "carrier unavailable"}'))
    assert Tokens(halo_store).take("vo", 0.2, 1, batch=False) == 1
    view, events = high_sms(providers, halo_store)
    assert (view["status"], view["provider"]) == ("retry_scheduled", "tw"), view
    assert [(e["event"], e["provider"]) for e in events] == [("queued", None), ("retry_scheduled", "vo"), ("retry_scheduled", "tw")], events
    assert events[1]["detail"] == PASSED_OVER
    assert events[2]["detail"].startswith("every provider failed within the deadline; ") and "503" in events[2]["detail"], events[2]
    assert NUMBER not in str(events) and fakes["vonage"].request_count == 0


SECRET = "s3cr3t-auth-token"
TWILIO = '{kind: twilio, channel: sms, account_sid: AC1, sender: "+33700000000", '
VONAGE = f'{{kind: vonage, channel: sms, api_key: k, api_secret: {SECRET}, signature_secret: {SECRET}, '
BAD_FILES = {  # the file's text, what the one line says after the file's name
    "invalid YAML": ("providers: [tw: {kind: twilio\n", "invalid YAML: "),
    "unknown kind": ("providers:\n  tw: {kind: twillio, channel: sms}\n", "provider 'tw': unknown kind 'twillio'; known: "),
    "invalid value": (f"providers:\n  vo: {VONAGE}signature_method: sha265}}\n", "provider vo.signature_method: Input should be "),
    "invalid value from the environment": (f"providers:\n  vo: {VONAGE}signature_method: '${{DELIV20_METHOD}}'}}\n",
                                           "provider 'vo' (vonage): invalid settings: signature_method"),
}
UNSET = f"providers:\n  tw: {TWILIO}auth_token: '${{DELIV20_UNSET_TOKEN}}'}}\n"


@pytest.fixture
def bad_providers(halo_env, tmp_path, monkeypatch, request):  # noqa: ANN001, ANN201
    """HALO_PROVIDERS_FILE names a file with the problem `request.param`; (its path, what the error says)."""
    text, says = BAD_FILES[request.param]
    path = tmp_path / "providers.yaml"
    path.write_text(text)
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    monkeypatch.setenv("DELIV20_METHOD", "sha265")
    return path, says


@pytest.mark.parametrize("bad_providers", list(BAD_FILES), indirect=True)
def test_halo_serve_refuses_to_start_with_a_providers_file_that_cannot_serve(bad_providers, capsys, monkeypatch):
    """A bad providers file showed only at the first send or callback (an error each time) while
    `halo serve` ran on: it refuses to start with one line naming the file and the problem, never a
    secret, and the exit code of the other configuration errors."""
    path, says = bad_providers
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))  # a start would serve until killed
    exit_code, lines = halo(capsys, "serve", "--port", "8080")
    assert started == [] and exit_code == 2, (started, exit_code, lines)
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: {says}"), lines
    assert SECRET not in lines[0]


def test_halo_serve_starts_with_a_provider_whose_variable_is_not_set(halo_env, tmp_path, capsys, monkeypatch):
    """A provider whose `${ENV}` secret is not set is down, not a broken file: routing gives it no
    traffic and the others serve, so `halo serve` starts (a variable may come and go while it runs)."""
    path = tmp_path / "providers.yaml"
    path.write_text(UNSET)
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    monkeypatch.delenv("DELIV20_UNSET_TOKEN", raising=False)
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    exit_code, lines = halo(capsys, "serve", "--port", "8080")
    assert len(started) == 1 and exit_code == 0, (started, exit_code, lines)
