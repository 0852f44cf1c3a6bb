"""Every provider client against its fake (a real HTTP server speaking the provider's wire
format): acknowledged with the provider's id, retryable and permanent failures classified as
the provider documents them, batch APIs with per-message acknowledgement, health calls."""

from __future__ import annotations

import json
import logging

import pytest

from halo_platform.core.errors import HaloError
from halo_platform.core.redact import mask_recipient
from halo_platform.delivery.config import ProviderEntry
from halo_platform.delivery.providers.base import ACKNOWLEDGED, PERMANENT, RETRYABLE, THROTTLED, UNKNOWN
from halo_platform.delivery.resources import ProvidersResource
from halo_platform_tests.delivery.conftest import CHANNEL_OF, outgoing

HTTP_KINDS = ["twilio", "vonage", "sendgrid", "mailjet", "fcm", "onesignal"]
BAD_RECIPIENT = {
    "twilio": "+33612340000",
    "vonage": "+33612340000",
    "sendgrid": "bounce@example.com",
    "mailjet": "bounce@example.com",
    "fcm": "unregistered_token_1",
    "onesignal": "unregistered_user_1",
}


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_a_provider_is_acknowledged_by_its_fake_and_returns_the_provider_message_id(kind, fakes, make_provider):
    fake = fakes[kind]
    provider = make_provider(kind, fake)
    message = outgoing(CHANNEL_OF[kind])
    result = provider.send(message)
    assert result.outcome == ACKNOWLEDGED, result.detail
    assert result.provider_message_id
    accepted = fake.accepted.snapshot()
    assert len(accepted) == 1
    assert accepted[0]["ref"] in (message.id, message.body)
    assert accepted[0]["provider_id"] in result.provider_message_id or result.provider_message_id in accepted[0]["provider_id"]


def test_twilio_request_is_form_encoded_with_basic_auth_and_sender(fakes, make_provider):
    make_provider("twilio", fakes["twilio"]).send(outgoing("sms", body="Your code is 123456"))
    request = fakes["twilio"].requests[0]
    assert request.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert request.form() == {"To": "+33612345678", "From": "+33700000000", "Body": "Your code is 123456"}


def test_vonage_sends_digits_without_plus_and_our_id_as_client_ref(fakes, make_provider):
    message = outgoing("sms", body="ça va")  # ç is not in GSM-7 (é would be)
    make_provider("vonage", fakes["vonage"]).send(message)
    form = fakes["vonage"].requests[0].form()
    assert form["to"] == "33612345678"
    assert form["client-ref"] == message.id
    assert form["type"] == "unicode"


def test_onesignal_reuses_the_idempotency_key_so_a_retry_is_not_accepted_twice(fakes, make_provider):
    provider = make_provider("onesignal", fakes["onesignal"])
    message = outgoing("push")
    first, again = provider.send(message), provider.send(message)
    assert first.outcome == again.outcome == ACKNOWLEDGED
    assert first.provider_message_id == again.provider_message_id
    keys = [r.json()["idempotency_key"] for r in fakes["onesignal"].requests]
    assert keys == [message.id, message.id]
    assert len(fakes["onesignal"].accepted) == 1


def test_fcm_sends_token_notification_data_and_ttl(fakes, make_provider):
    make_provider("fcm", fakes["fcm"]).send(outgoing("push", data={"kind": "reminder"}))
    body = fakes["fcm"].requests[0].json()["message"]
    assert body["token"] == "device_token_123456"
    assert body["notification"]["title"] == "Ping"
    assert body["data"] == {"kind": "reminder"}
    assert body["android"] == {"ttl": "3600s"}


@pytest.mark.parametrize("kind", HTTP_KINDS)
@pytest.mark.parametrize("switch", ["503", "429", "html_502"])
def test_server_errors_rate_limits_and_html_502_pages_are_retryable(kind, switch, fakes, make_provider):
    fake = fakes[kind]
    if switch == "html_502":
        fake.set_switches(html_502=True)
    else:
        body = {"code": 20429, "message": "Too Many Requests"} if switch == "429" else {"error": "unavailable"}
        fake.set_switches(failure_rate=1.0, failure_response=(int(switch), {"Retry-After": "1"}, body))
    result = make_provider(kind, fake).send(outgoing(CHANNEL_OF[kind]))
    assert result.outcome == RETRYABLE, result.detail
    assert result.http_status == (502 if switch == "html_502" else int(switch))
    assert len(fake.accepted) == 0


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_a_provider_that_closes_the_connection_without_answering_is_an_unknown_outcome(kind, fakes, make_provider):
    fakes[kind].set_switches(hard_down=True)
    result = make_provider(kind, fakes[kind]).send(outgoing(CHANNEL_OF[kind]))
    assert result.outcome == UNKNOWN


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_a_refused_connection_is_retryable_because_nothing_was_sent(kind, fakes, make_provider):
    provider = make_provider(kind, fakes[kind])
    fakes[kind].stop()
    result = provider.send(outgoing(CHANNEL_OF[kind]))
    assert result.outcome == RETRYABLE
    assert "not sent" in result.detail


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_an_invalid_recipient_is_a_permanent_failure(kind, fakes, make_provider):
    result = make_provider(kind, fakes[kind]).send(outgoing(CHANNEL_OF[kind], recipient=BAD_RECIPIENT[kind]))
    assert result.outcome == PERMANENT, result.detail
    assert len(fakes[kind].accepted) == 0


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_wrong_credentials_are_a_permanent_failure_and_fail_the_health_call(kind, fakes, make_provider):
    secret_field = {"twilio": "auth_token", "vonage": "api_secret", "sendgrid": "api_key", "mailjet": "secret_key",
                    "fcm": "access_token", "onesignal": "api_key"}[kind]
    provider = make_provider(kind, fakes[kind], name=f"{kind}_bad", **{secret_field: "wrong"})
    assert provider.send(outgoing(CHANNEL_OF[kind])).outcome == PERMANENT
    assert provider.health() is False


@pytest.mark.parametrize("kind", HTTP_KINDS)
def test_the_health_call_answers_when_up_and_fails_when_hard_down(kind, fakes, make_provider):
    provider = make_provider(kind, fakes[kind])
    assert provider.health() is True
    fakes[kind].set_switches(hard_down=True)
    assert provider.health() is False
    assert len(fakes[kind].accepted) == 0


def test_vonage_throttled_status_is_a_throttle_and_invalid_params_permanent(fakes, make_provider):
    fake = fakes["vonage"]
    fake.set_switches(failure_rate=1.0, failure_response=(200, {}, {"message-count": "1", "messages": [{"status": "1", "error-text": "Throttled"}]}))
    provider = make_provider("vonage", fake)
    assert provider.send(outgoing("sms")).outcome == THROTTLED
    fake.set_switches(failure_response=(200, {}, {"message-count": "1", "messages": [{"status": "6", "error-text": "Invalid message"}]}))
    assert provider.send(outgoing("sms")).outcome == PERMANENT


def test_onesignal_200_with_an_empty_id_is_not_an_acknowledgement(fakes, make_provider):
    result = make_provider("onesignal", fakes["onesignal"]).send(outgoing("push", recipient="unregistered_user_9"))
    assert result.outcome == PERMANENT
    assert "not subscribed" in result.detail


def test_sendgrid_batches_up_to_1000_personalizations_with_one_acknowledgement_per_message(fakes, make_provider):
    provider = make_provider("sendgrid", fakes["sendgrid"])
    messages = [outgoing("email", recipient=f"user{i}@example.com", body="same body", subject="Same") for i in range(1200)]
    results = []
    for i in range(0, len(messages), provider.max_batch):
        results += provider.send_batch(messages[i : i + provider.max_batch])
    assert [r.message_id for r in results] == [m.id for m in messages]
    assert all(r.outcome == ACKNOWLEDGED for r in results)
    sizes = [len(r.json()["personalizations"]) for r in fakes["sendgrid"].requests]
    assert sizes == [1000, 200]
    assert sorted(a["ref"] for a in fakes["sendgrid"].accepted) == sorted(m.id for m in messages)


def test_sendgrid_groups_by_content_and_isolates_one_bad_address_of_a_batch(fakes, make_provider):
    provider = make_provider("sendgrid", fakes["sendgrid"])
    messages = [outgoing("email", recipient=f"u{i}@example.com", body=f"body {i % 2}", subject="S") for i in range(6)]
    messages.append(outgoing("email", recipient="bounce@example.com", body="body 0", subject="S"))
    results = {r.message_id: r for r in provider.send_batch(messages)}
    assert results[messages[-1].id].outcome == PERMANENT
    assert all(results[m.id].outcome == ACKNOWLEDGED for m in messages[:-1])
    assert fakes["sendgrid"].duplicates() == []
    assert len(fakes["sendgrid"].accepted) == 6


def test_mailjet_acknowledges_each_message_of_a_batch_on_its_own(fakes, make_provider):
    provider = make_provider("mailjet", fakes["mailjet"])
    messages = [outgoing("email", recipient=f"u{i}@example.com") for i in range(4)] + [outgoing("email", recipient="bounce@example.com")]
    results = provider.send_batch(messages)
    assert [r.outcome for r in results] == [ACKNOWLEDGED] * 4 + [PERMANENT]
    assert len({r.provider_message_id for r in results[:4]}) == 4
    payload = fakes["mailjet"].requests[0].json()
    assert [m["CustomID"] for m in payload["Messages"]] == [m.id for m in messages]


def test_secrets_are_resolved_only_when_the_provider_is_built(fakes, monkeypatch):
    providers = ProvidersResource()
    entry = ProviderEntry("tw", "twilio", "sms", ("*",), ("*",), {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url,
                          "account_sid": "AC1", "auth_token": "${HALO_TEST_MISSING_TOKEN}"})
    monkeypatch.delenv("HALO_TEST_MISSING_TOKEN", raising=False)
    with pytest.raises(HaloError, match="HALO_TEST_MISSING_TOKEN"):
        providers.build(entry)
    monkeypatch.setenv("HALO_TEST_MISSING_TOKEN", "s3cret-value")
    provider = providers.build(entry)
    assert provider.auth_token == "s3cret-value"
    assert "s3cret-value" not in json.dumps(entry.raw)
    providers.close()


@pytest.mark.parametrize(
    ("recipient", "masked"),
    [("+33612345678", "+336*****678"), ("ada.lovelace@example.com", "a***@example.com"), ("device_token_123456", "devi…"), ("", "")],
)
def test_recipients_are_masked_for_logs(recipient, masked):
    assert mask_recipient(recipient) == masked


def test_smtp_relay_accepts_with_250_over_starttls_and_login(smtp_server, make_provider):
    provider = make_provider("smtp", smtp_server, host="127.0.0.1", port=smtp_server.port, starttls=True,
                             username=smtp_server.username, password=smtp_server.password, ca_file=str(smtp_server.tls.ca_path))
    first, second = provider.send(outgoing("email", html="<p>hi</p>")), provider.send(outgoing("email"))
    assert first.outcome == second.outcome == ACKNOWLEDGED
    assert len(smtp_server.messages) == 2
    mail = smtp_server.messages[0]
    assert mail.tls and mail.auth_user == "halo"
    assert mail.message["Message-ID"].strip("<>") == first.provider_message_id
    assert provider.health() is True


@pytest.mark.parametrize(
    ("switch", "outcome"),
    [
        ({"rcpt_reply": "451 4.3.0 Try again later"}, RETRYABLE),
        ({"rcpt_reply": "550 5.1.1 No such user"}, PERMANENT),
        ({"data_reply": "452 4.3.1 Insufficient system storage"}, RETRYABLE),
        ({"data_reply": "554 5.7.1 Rejected"}, PERMANENT),
        ({"reject_auth": True}, RETRYABLE),  # 535: the relay's configuration error, another provider takes the message
        ({"drop_on_connect": True}, RETRYABLE),
    ],
)
def test_smtp_replies_are_classified_4yz_retry_5yz_permanent(switch, outcome, smtp_server, make_provider):
    provider = make_provider("smtp", smtp_server, name="smtp_" + next(iter(switch)), host="127.0.0.1", port=smtp_server.port,
                             username=smtp_server.username, password=smtp_server.password)
    for key, value in switch.items():
        setattr(smtp_server.switches, key, value)
    result = provider.send(outgoing("email"))
    assert result.outcome == outcome, result.detail
    assert len(smtp_server.messages) == 0


def test_phone_numbers_never_reach_the_log_in_full(fakes, providers_file, halo_store, caplog):
    from halo_platform.delivery.service import submit

    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **{k: v for k, v in
                   __import__("halo_platform.lab.provider_fakes", fromlist=["SECRETS"]).SECRETS["twilio"].items()}, "sender": "+33700000000"}})
    with caplog.at_level(logging.DEBUG, logger="halo.delivery"):
        view, _ = submit("sms", {"to": "+33612345678", "body": "otp 1", "priority": "HIGH"}, store=halo_store, providers=providers)
    assert view["status"] == "sent"
    assert "+33612345678" not in caplog.text
    assert "+336*****678" in caplog.text


@pytest.mark.parametrize(("kind", "status", "body"), [
    ("twilio", 201, {"status": "queued"}),  # no sid
    ("vonage", 200, {"message-count": "1"}),  # no messages
    ("onesignal", 200, ["not", "an", "object"]),
    ("fcm", 200, {"no": "name"}),
    ("mailjet", 200, {"Messages": []}),  # not one answer per message
])
def test_a_2xx_whose_body_names_no_message_is_an_unknown_outcome_never_sent_elsewhere(kind, status, body, fakes, make_provider):
    """The provider took the request and may send it: sending it through another provider too
    would send it twice (an OTP went out through twilio and vonage)."""
    fakes[kind].set_switches(failure_rate=1.0, failure_response=(status, {}, body))
    result = make_provider(kind, fakes[kind]).send(outgoing(CHANNEL_OF[kind]))
    assert result.outcome == UNKNOWN, result.detail



def test_smtp_a_connection_dropped_after_data_is_an_unknown_outcome_never_sent_again(smtp_server, make_provider) -> None:
    """The pooled connection's drop was taken for an idle close, and the message sent again on a new one."""
    provider = make_provider("smtp", smtp_server, host="127.0.0.1", port=smtp_server.port, timeout_seconds=3.0)
    assert provider.send(outgoing("email")).outcome == ACKNOWLEDGED  # its connection stays in the pool
    smtp_server.switches.drop_after_data = True
    second = outgoing("email")
    result = provider.send(second)
    third = provider.send(outgoing("email"))  # on a new connection
    assert result.outcome == UNKNOWN
    assert [m.message["X-Halo-Message-Id"] for m in smtp_server.messages.snapshot()].count(second.id) == 1
    assert third.outcome == ACKNOWLEDGED and len(smtp_server.messages) == 3


def _reply_cutting_through(address: str, at: int, keep: int) -> str:
    """An SMTP reply text whose first `at` characters end `keep` characters into `address` (a
    cut there leaves `local@dom`, no longer an address for the masks)."""
    words = "5.7.1 Message refused by the content policy of the receiving domain for recipient <"
    filler = "x" * (at - keep - len(words))
    return f"{words}{filler}{address}>: too many links in the body"


def test_an_smtp_reply_that_quotes_the_recipient_is_masked_before_it_is_cut(smtp_server, providers_file, halo_store, caplog):
    """The relay's text was cut at 100 bytes, then masked: cut inside the address, it was none
    for the masks, and the HIGH send's log line (and the stored event) showed its first part."""
    from halo_platform.delivery.service import find_message, submit

    address = "ada.lovelace@hospital-group.example.org"
    smtp_server.switches.data_reply = "554 " + _reply_cutting_through(address, 100, len("ada.lovelace@hospit"))
    providers = providers_file({"relay": {"kind": "smtp", "channel": "email", "host": "127.0.0.1", "port": smtp_server.port,
                                          "sender": "noreply@example.com", "timeout_seconds": 3.0}})
    with caplog.at_level(logging.DEBUG, logger="halo.delivery"):
        view, _ = submit("email", {"to": address, "subject": "Your appointment", "body": "Tomorrow 9:00", "priority": "HIGH"},
                         store=halo_store, providers=providers)
    assert view["status"] == "provider_error"
    assert "554" in caplog.text
    assert "ada.lovelace" not in caplog.text and "lovelace@" not in caplog.text
    details = " ".join(e["detail"] or "" for e in find_message(view["id"], halo_store)["events"])
    assert "554" in details and "ada.lovelace" not in details


@pytest.mark.parametrize("kind", ["sendgrid", "vonage"])
def test_a_providers_error_body_that_quotes_the_recipient_is_masked_before_it_is_cut(kind, fakes, make_provider):
    """`short_body` cut a provider's answer at 200 characters, then `SendResult` masked it: cut
    inside an address, it was none for the masks, and the event's detail (the API's message view,
    the HIGH send's log line) kept its first part."""
    address = "ada.lovelace@hospital-group.example.org"
    words = '{"errors":[{"message":"The recipient <'
    body = words + "x" * (200 - len(words) - len("ada.lovelace@hospit")) + address + '> is on a suppression list"}]}'
    fakes[kind].set_switches(failure_rate=1.0, failure_response=(400, {"Content-Type": "application/json"}, body))
    result = make_provider(kind, fakes[kind]).send(outgoing(CHANNEL_OF[kind]))
    assert result.outcome == PERMANENT and result.detail.startswith("400")
    assert "ada.lovelace" not in result.detail and "lovelace@" not in result.detail
