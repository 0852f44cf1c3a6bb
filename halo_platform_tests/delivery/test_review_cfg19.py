"""Provider settings and provider requests (review cfg19).

Pinned here: a provider setting the kind refuses (a Vonage `signature_method: sha265`, an SMTP
`port: abc`) is refused when the providers file is read, in one line naming the entry, the setting
and what it takes; the sha265 loaded, sending worked, and every signed receipt and inbound STOP was
then a 400 `unreadable callback body (ValueError)`: the STOPs were lost without a word.

A provider console configured with a trailing slash (`/v1/callbacks/tw/`) got a 307 to the path
without it, where the re-posted request's signature (over the slashed URL) failed with 401: the
callback and inbound routes answer at the slashed path too, verified over the URL as received.

A START from a sender with no opt-out was answered `lifted` (and logged "opted in"): it changed
nothing, so it is `ignored`. A HIGH message every provider failed had two `retry_scheduled`
events for the last provider tried: one event per provider tried."""

from __future__ import annotations

import random
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.delivery.providers.twilio import twilio_signature
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.service import message_view, submit
from halo_platform.delivery.tables import Suppression, SuppressionChange
from halo_platform.lab.provider_fakes import SECRETS, twilio_inbound, vonage_inbound
from halo_platform_tests.delivery.conftest import twilio_then_vonage
from halo_platform_tests.delivery.test_opt_out import BASE, GERMAN, NUMBER, setup, sms  # noqa: F401

VONAGE = ('  vo: {kind: vonage, channel: sms, countries: ["*"], base_url: "http://127.0.0.1:9", api_key: k, api_secret: s,'
          ' signature_secret: sigsecret, %s}\n')
METHODS = "Input should be 'md5hash', 'md5', 'sha1', 'sha256' or 'sha512'"


@pytest.mark.parametrize(("entry", "error"), [
    (VONAGE % "signature_method: sha265", f"provider vo.signature_method: {METHODS}"),
    (VONAGE % "signature_method: SHA256", f"provider vo.signature_method: {METHODS}"),
    ("  em: {kind: smtp, channel: email, port: abc}\n", "provider em.port: Input should be a valid integer, unable to parse string as an integer"),
    ("  em: {kind: smtp, channel: email, starttls: maybe}\n", "provider em.starttls: Input should be a valid boolean, unable to interpret input"),
    ("  sb: {kind: sandbox, channel: sms, rate_per_second: 0}\n", "provider sb.rate_per_second: Input should be greater than 0"),
])
def test_a_provider_setting_its_kind_refuses_is_refused_when_the_providers_file_is_read(halo_env, tmp_path, monkeypatch, entry, error):
    """`halo delivery providers` listed the entry as active, sends went out, and the setting failed
    only later: Vonage's receipts and STOPs all 400 (unreadable body), an SMTP relay at each send.
    The CLI (and every reader of the file: the API, the Control Center, the Dagster ops) refuses it
    in one line naming the entry, the setting and the values it takes (never the value given)."""
    path = tmp_path / "providers.yaml"
    path.write_text(f"providers:\n{entry}routing: []\n")
    monkeypatch.setenv("HALO_PROVIDERS_FILE", str(path))
    result = CliRunner().invoke(cli, ["delivery", "providers"])
    assert result.exit_code == 2 and result.output == f"error: {path}: {error}\n", result.output
    with pytest.raises(HaloError, match=f"^{path}: provider"):
        ProvidersResource(providers_file=str(path)).config()


def test_a_setting_given_as_an_environment_variable_is_checked_when_the_client_is_built(halo_env, tmp_path, monkeypatch):
    """A `${ENV}` setting is resolved only when the client is built (it may be unset where the file
    is read, as a secret is): the file loads, and the built client refuses the value it resolves to."""
    path = tmp_path / "providers.yaml"
    entry = VONAGE % 'signature_method: "${VONAGE_SIG_METHOD}"'
    path.write_text(f"providers:\n{entry}routing: []\n")
    providers = ProvidersResource(providers_file=str(path))
    assert list(providers.config().providers) == ["vo"]
    monkeypatch.setenv("VONAGE_SIG_METHOD", "sha265")
    with pytest.raises(HaloError, match="signature_method: Input should be 'md5hash'"):
        providers.get("vo")
    monkeypatch.setenv("VONAGE_SIG_METHOD", "sha256")
    assert providers.get("vo").signature_method == "sha256"


def test_callbacks_and_inbound_messages_posted_to_the_slashed_path_are_verified_there_without_a_redirect(setup):  # noqa: F811
    """A console configured with `/v1/callbacks/tw/` got a 307 to `/v1/callbacks/tw`, and the request
    posted again there failed its signature (computed over the slashed URL): 401. Both provider
    routes answer at the slashed path, the signature checked over the URL as received; a signature
    over the other form of the URL is still refused, and other routes keep their redirect."""
    client, _providers, store = setup
    status = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "AccountSid": SECRETS["twilio"]["account_sid"]}
    slashed = f"{BASE}/v1/callbacks/tw/"
    for url, expected in ((slashed, 200), (slashed.rstrip("/"), 401)):
        answer = client.post("/v1/callbacks/tw/", content=urlencode(status), follow_redirects=False, headers={
            "X-Twilio-Signature": twilio_signature(SECRETS["twilio"]["auth_token"], url, status),
            "Content-Type": "application/x-www-form-urlencoded", "Authorization": ""})
        assert answer.status_code == expected, (url, answer.status_code, answer.text)
    form, headers = twilio_inbound(f"{BASE}/v1/inbound/tw/", NUMBER, "STOP")
    answer = client.post("/v1/inbound/tw/", content=urlencode(form), headers={**headers, "Authorization": ""}, follow_redirects=False)
    assert (answer.status_code, answer.json()) == (200, {"action": "suppressed"}), answer.text
    answer = client.get("/v1/inbound/vo/", params=vonage_inbound(GERMAN, "STOP", "sigsecret"), follow_redirects=False)
    assert (answer.status_code, answer.json()) == (200, {"action": "suppressed"}), answer.text
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Suppression.__table__)).scalar_one() == 2
    refused = client.put("/v1/callbacks/tw/", headers={"Authorization": ""})
    assert (refused.status_code, refused.headers["allow"]) == (405, "GET, POST")
    assert client.get("/v1/suppressions/", follow_redirects=False).status_code == 307


def test_a_start_from_a_sender_with_no_opt_out_is_ignored_not_lifted(setup, caplog):  # noqa: F811
    """A START from a number that never opted out (or whose opt-out was lifted) changed nothing, but
    was answered `lifted` and logged "opted in". It is `ignored` and recorded as applied, so the
    same START replayed after a later STOP is a `duplicate` that lifts nothing."""
    client, _providers, store = setup
    start = twilio_inbound(f"{BASE}/v1/inbound/tw", NUMBER, "START")
    with caplog.at_level("INFO", logger="halo.delivery"):
        answer = client.post("/v1/inbound/tw", content=urlencode(start[0]), headers={**start[1], "Authorization": ""})
    assert (answer.status_code, answer.json()) == (200, {"action": "ignored"}), answer.text
    assert "opted in" not in caplog.text and "nothing to lift" in caplog.text, caplog.text
    vonage_start = vonage_inbound(GERMAN, "START", "sigsecret")
    assert client.post("/v1/inbound/vo", data=vonage_start).json() == {"action": "ignored"}
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SuppressionChange.__table__)).scalar_one() == 0
    stop = twilio_inbound(f"{BASE}/v1/inbound/tw", NUMBER, "STOP")
    assert client.post("/v1/inbound/tw", content=urlencode(stop[0]), headers={**stop[1], "Authorization": ""}).json() == {"action": "suppressed"}
    replayed = client.post("/v1/inbound/tw", content=urlencode(start[0]), headers={**start[1], "Authorization": ""})
    assert replayed.json() == {"action": "duplicate"}
    assert sms(client, NUMBER)["status"] == "suppressed"


def test_a_high_message_every_provider_failed_has_one_event_per_provider_tried(fakes, providers_file, halo_store):
    """Twilio and Vonage both refused a HIGH SMS (both 503): its timeline had a
    `retry_scheduled` of Twilio's, then two of Vonage's (its own reason, then "every provider failed
    within the deadline"). One per provider tried: the last one's says both."""
    providers = twilio_then_vonage(fakes, providers_file)
    fakes["twilio"].set_switches(failure_rate=1.0, failure_response=(
        503, {"Content-Type": "application/json"}, b'{"code": 20503, "message": "carrier unavailable"}'))
    fakes["vonage"].set_switches(failure_rate=1.0)
    view, _ = submit("sms", {"to": NUMBER, "body": "Your code is 123456", "priority": "HIGH"}, store=halo_store, providers=providers,
                     rng=random.Random(7))
    assert (view["status"], view["provider"], view["number_of_retries"]) == ("retry_scheduled", "vo", 1), view
    events = message_view(view["id"], halo_store)["events"]
    assert [(e["event"], e["provider"]) for e in events] == [("queued", None), ("retry_scheduled", "tw"), ("retry_scheduled", "vo")], events
    assert "503" in events[1]["detail"], events[1]
    assert events[2]["detail"].startswith("every provider failed within the deadline; "), events[2]
    assert "503" in events[2]["detail"] and NUMBER not in events[2]["detail"], events[2]
