"""Review rev24d: a caller's value that delivery refuses is repeated as every other refusal repeats
it (`core.text.echo`: quoted, control characters written out, at most 100 characters then …), not
whole. An unknown provider in a callback or inbound-message URL, a field a provider's request names
twice, and the provider or weight of `halo delivery switch` / `weights set` were repeated whole:
a 10,000-character name made a 404 of 500 characters (the HTTP cap cut it, and with it the kinds
that take inbound messages) and a CLI line of 10,000; so did a routing rule's country, channel or
capability added at run time. Then wire contracts of providers.md that no test pinned: the health
calls, expiry as each provider's own validity field, Twilio's messaging service, the sender's name."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.text import ECHO_LIMIT
from halo_platform.delivery.state import add_rule
from halo_platform.delivery.validation import validate
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.conftest import outgoing

LONG = "x" * 10_000
#: the most a refusal repeating one echoed value may be: the value's echo and a sentence around it
MOST = ECHO_LIMIT + 200


@pytest.fixture
def providers(fakes, providers_file):  # noqa: ANN001, ANN201
    return providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"], "signature_secret": "sigsecret"},
    }, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 50, "vo": 50}}])


@pytest.fixture
def client(providers, halo_store):  # noqa: ANN001, ANN201
    return TestClient(create_app({"store": halo_store, "providers": providers}), raise_server_exceptions=False)


@pytest.mark.parametrize(("path", "said"), [("/v1/callbacks/", "unknown provider 'xxx"), ("/v1/inbound/", "(twilio, vonage)")])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_an_unknown_provider_in_a_provider_url_is_repeated_cut(client, path, said, method):  # noqa: ANN001
    answer = client.request(method, path + LONG, data={"a": "b"} if method == "POST" else None)
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert len(error) <= MOST, len(error)
    assert said in error and "x" * ECHO_LIMIT + "…'" in error


def test_an_unknown_provider_with_a_control_character_is_written_out(client):  # noqa: ANN001
    answer = client.post("/v1/callbacks/a%1b%5b2Jb", data={"a": "b"})
    assert answer.status_code == 404
    assert answer.json()["error"] == "unknown provider 'a\\x1b[2Jb'"


@pytest.mark.parametrize("body", [f"{LONG}=1&{LONG}=2", f'{{"{LONG}": "1", "{LONG}": "2"}}'], ids=["form", "json"])
def test_a_field_a_provider_names_twice_is_repeated_cut(client, body):  # noqa: ANN001
    kind = "application/json" if body.startswith("{") else "application/x-www-form-urlencoded"
    answer = client.post("/v1/callbacks/vo", content=body, headers={"Content-Type": kind})
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert len(error) <= MOST, len(error)
    assert error.endswith("…' given twice")


@pytest.mark.parametrize(("args", "said"), [
    (["switch", LONG, "off", "--reason", "r"], "unknown provider 'xxx"),
    (["weights", "set", "sms/*/*", LONG, "--reason", "r"], "expected provider=weight, got 'xxx"),
    (["weights", "set", "sms/*/*", f"{LONG}=1", f"{LONG}=2", "--reason", "r"], "given more than once"),
    (["weights", "set", "sms/*/*", f"tw={LONG}", "--reason", "r"], "weight of tw must be"),
], ids=["switch", "no =", "twice", "weight"])
def test_the_cli_repeats_a_long_provider_or_weight_cut_on_one_line(providers, halo_store, args, said):  # noqa: ANN001
    refused = CliRunner().invoke(cli, ["delivery", *args])
    assert refused.exit_code != 0
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1, refused.output[:300]
    assert len(lines[0]) <= MOST, len(lines[0])
    assert said in lines[0] and "…'" in lines[0]


@pytest.mark.parametrize(("channel", "country", "capability", "said"), [
    ("sms", LONG, "*", "country 'xxx"),
    (LONG, "FR", "*", "unknown channel 'xxx"),
    ("sms", "FR", "X" * 10_000, "capability 'XXX"),
], ids=["country", "channel", "capability"])
def test_a_routing_rule_added_with_a_long_value_is_refused_repeating_it_cut(providers, halo_store, channel, country, capability, said):  # noqa: ANN001
    """`add_rule` (the Control Center's new-rule form) said the value whole: 10,000 characters beside a field."""
    with pytest.raises(HaloError) as refused:
        add_rule(providers.config(), channel, country, capability, {"tw": 1}, "ana", halo_store, "r")
    error = str(refused.value)
    assert len(error) <= MOST, len(error)
    assert said in error and "…'" in error


def test_a_long_timezone_is_repeated_cut_with_an_ellipsis(providers):  # noqa: ANN001
    """It was cut to 64 characters without saying so, and a list was said as a quoted string ("['a']")."""
    for zone, said in ((LONG, "timezone: '" + "x" * ECHO_LIMIT + "…' is not"), (["Europe/Paris"], "timezone: ['Europe/Paris'] is not")):
        with pytest.raises(HaloError) as refused:
            validate("sms", {"to": "+33612345678", "body": "b", "timezone": zone}, providers.config())
        assert str(refused.value).startswith(said), str(refused.value)


# -- wire contracts of providers.md that no test pinned (they pass; they keep passing) --------------

HEALTH_CALLS = {
    "twilio": ("GET", f"/2010-04-01/Accounts/{SECRETS['twilio']['account_sid']}.json"),
    "vonage": ("GET", "/account/get-balance"),
    "sendgrid": ("GET", "/v3/scopes"),
    "mailjet": ("GET", "/v3/REST/user"),
    "fcm": ("POST", f"/v1/projects/{SECRETS['fcm']['project_id']}/messages:send"),
    "onesignal": ("GET", f"/apps/{SECRETS['onesignal']['app_id']}"),
}


@pytest.mark.parametrize("kind", sorted(HEALTH_CALLS))
def test_each_health_call_is_the_cheap_call_providers_md_names_and_sends_nothing(kind, fakes, make_provider):  # noqa: ANN001
    """The autopilot pings a deactivated provider with this call every cycle: a read (FCM: a
    `validate_only` send), never a message to anyone."""
    fake = fakes[kind]
    assert make_provider(kind, fake).health() is True
    (request,) = fake.requests
    assert (request.method, request.path) == HEALTH_CALLS[kind]
    if kind == "vonage":
        assert request.query == {"api_key": [SECRETS["vonage"]["api_key"]], "api_secret": [SECRETS["vonage"]["api_secret"]]}
    if kind == "fcm":
        assert request.json()["validate_only"] is True
    assert len(fake.accepted) == 0


def test_expires_at_travels_as_each_providers_own_validity_in_its_unit(fakes, make_provider):  # noqa: ANN001
    """Twilio `ValidityPeriod` (seconds), Vonage `ttl` (milliseconds), FCM `android.ttl` ("<s>s"),
    OneSignal `ttl` (seconds): a message that expires in 10 minutes is not delivered after them;
    one without expires_at carries none (FCM its configured 3600 s)."""
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    read = {
        "twilio": lambda r: r.form().get("ValidityPeriod"),
        "vonage": lambda r: r.form().get("ttl"),
        "fcm": lambda r: r.json()["message"]["android"]["ttl"],
        "onesignal": lambda r: r.json().get("ttl"),
    }
    channel = {"twilio": "sms", "vonage": "sms", "fcm": "push", "onesignal": "push"}
    for kind, field in read.items():
        provider = make_provider(kind, fakes[kind])
        assert provider.send(outgoing(channel[kind], expires_at=expires)).outcome == "acknowledged"
        assert provider.send(outgoing(channel[kind])).outcome == "acknowledged"
        timed, untimed = (field(r) for r in fakes[kind].requests)
        seconds = {"twilio": lambda v: int(v), "vonage": lambda v: int(v) / 1000, "fcm": lambda v: int(v.removesuffix("s")),
                   "onesignal": lambda v: v}[kind](timed)
        assert 590 <= seconds <= 600, (kind, timed)
        assert untimed == ("3600s" if kind == "fcm" else None), (kind, untimed)


def test_twilio_sends_from_a_messaging_service_instead_of_a_number_when_given_one(fakes, make_provider):  # noqa: ANN001
    provider = make_provider("twilio", fakes["twilio"], messaging_service_sid="MG" + "2" * 32)
    assert provider.send(outgoing("sms")).outcome == "acknowledged"
    form = fakes["twilio"].requests[0].form()
    assert form["MessagingServiceSid"] == "MG" + "2" * 32 and "From" not in form


@pytest.mark.parametrize("kind", ["sendgrid", "mailjet"])
def test_an_email_providers_sender_name_goes_beside_its_address(kind, fakes, make_provider):  # noqa: ANN001
    provider = make_provider(kind, fakes[kind], sender_name="Halo Clinic")
    assert provider.send(outgoing("email", html="<p>hi</p>")).outcome == "acknowledged"
    body = fakes[kind].requests[0].json()
    if kind == "sendgrid":
        assert body["from"] == {"email": "noreply@example.com", "name": "Halo Clinic"}
        assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    else:
        assert body["Messages"][0]["From"] == {"Email": "noreply@example.com", "Name": "Halo Clinic"}
        assert body["Messages"][0]["HTMLPart"] == "<p>hi</p>"
