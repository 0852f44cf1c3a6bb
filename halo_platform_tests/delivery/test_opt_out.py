"""Opt-out against the real Twilio and Vonage fakes: a signed inbound STOP (or ARRET, STOPP,
BERHENTI, any case, trimmed) suppresses the sender, whose next NORMAL/LOW message ends
`suppressed` and never reaches the provider; queued messages end `suppressed` when the
suppression is added; HIGH is exempt unless the scope is `all`; START lifts it; a bad
signature changes nothing; the list keeps a keyed hash, never the number."""

from __future__ import annotations

import datetime as dt
import logging
import time
from urllib.parse import urlencode

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from fastapi.testclient import TestClient

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.delivery.tables import Suppression
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS, twilio_inbound, vonage_inbound
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.fixtures.access import authorized_client

NUMBER, OTHER, GERMAN = "+33612345678", "+33698765432", "+4915112345678"
BASE = "http://testserver"


@pytest.fixture
def setup(fakes, providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"],
               "signature_secret": "sigsecret", "signature_method": "md5hash"},
    }, routing=[{"channel": "sms", "country": "FR", "weights": {"tw": 1}}, {"channel": "sms", "country": "DE", "weights": {"vo": 1}}])
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    return client, providers, halo_store


def stop_by_twilio(client: TestClient, sender: str, text: str = "STOP"):  # noqa: ANN201
    form, headers = twilio_inbound(f"{BASE}/v1/inbound/tw", sender, text)
    return client.post("/v1/inbound/tw", content=urlencode(form), headers={**headers, "Authorization": ""})


def sms(client: TestClient, to: str, priority: str = "LOW") -> dict:
    response = client.post("/v1/messages/sms", json={"to": to, "body": f"reminder {time.time_ns()}", "priority": priority})
    assert response.status_code in (201, 202), response.text
    return response.json()



def sent_to_an_opted_out_recipient(client: TestClient, providers, store) -> dict:  # noqa: ANN001
    """A message sent to NUMBER, who then texted STOP, recorded as if the opt-out had come before
    the send and been missed (its `at` in 2020)."""
    sent = sms(client, NUMBER)
    drain(providers, store)
    stop_by_twilio(client, NUMBER)
    with store.write() as conn:
        conn.execute(Suppression.__table__.update().values(at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    return sent


def events(client: TestClient, message_id: str) -> list[str]:
    return [e["event"] for e in client.get(f"/v1/messages/{message_id}").json()["events"]]


def test_stop_by_signed_inbound_webhook_ends_the_next_low_suppressed_and_the_fake_receives_nothing(setup, fakes):
    client, providers, store = setup
    answer = stop_by_twilio(client, NUMBER, "  stop \n")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"action": "suppressed"}
    low = sms(client, NUMBER)
    assert low["status"] == "suppressed"
    drain(providers, store)
    assert list(fakes["twilio"].accepted) == []
    assert events(client, low["id"]) == ["queued", "suppressed"]


def test_a_bad_or_missing_inbound_signature_is_401_and_suppresses_nobody(setup, fakes):
    client, providers, store = setup
    form, headers = twilio_inbound(f"{BASE}/v1/inbound/tw", NUMBER, "STOP", auth_token="not-the-token")
    assert client.post("/v1/inbound/tw", content=urlencode(form), headers=headers).status_code == 401
    del headers["X-Twilio-Signature"]
    assert client.post("/v1/inbound/tw", content=urlencode(form), headers=headers).status_code == 401
    sms(client, NUMBER)
    drain(providers, store)
    assert [a["to"] for a in fakes["twilio"].accepted] == [NUMBER]


@pytest.mark.parametrize("word", ["ARRET", "stopp", " Berhenti "])
def test_vonage_inbound_locale_keywords_suppress_and_start_lifts(setup, fakes, word):
    client, providers, store = setup
    assert client.post("/v1/inbound/vo", data=vonage_inbound(GERMAN, word, "sigsecret")).json() == {"action": "suppressed"}
    assert sms(client, GERMAN)["status"] == "suppressed"
    assert client.get("/v1/inbound/vo", params=vonage_inbound(GERMAN, "start", "sigsecret")).json() == {"action": "lifted"}
    assert sms(client, GERMAN)["status"] == "queued"
    drain(providers, store)
    assert len(fakes["vonage"].accepted) == 1


def test_vonage_inbound_with_a_stale_timestamp_or_wrong_secret_is_refused(setup):
    client, _providers, _store = setup
    stale = vonage_inbound(GERMAN, "STOP", "sigsecret", timestamp=int(time.time()) - 3600)
    assert client.post("/v1/inbound/vo", data=stale).status_code == 401
    assert client.post("/v1/inbound/vo", data=vonage_inbound(GERMAN, "STOP", "other")).status_code == 401
    assert sms(client, GERMAN)["status"] == "queued"


def test_other_inbound_text_is_ignored_and_an_unknown_provider_is_404(setup):
    client, _providers, _store = setup
    assert stop_by_twilio(client, NUMBER, "please stop calling me at night").json() == {"action": "ignored"}
    assert sms(client, NUMBER)["status"] == "queued"
    assert client.post("/v1/inbound/nobody", data={"text": "STOP"}).status_code == 404


@pytest.mark.parametrize(("content", "content_type", "status"), [
    (b"[1, 2]", "application/json", 400),
    (b"{not json", "application/json", 400),
    (b"msisdn=\xff\xfe&text=STOP", "application/x-www-form-urlencoded", 401),
])
def test_unreadable_or_unsigned_inbound_bodies_are_4xx_never_500(setup, content, content_type, status):
    client, _providers, _store = setup
    response = client.post("/v1/inbound/vo", content=content, headers={"Content-Type": content_type})
    assert response.status_code == status, response.text
    assert response.json()["error"]


def test_a_suppression_added_by_the_api_ends_that_recipients_queued_messages_in_the_same_transaction(setup, fakes):
    client, providers, store = setup
    mine = [sms(client, NUMBER, "NORMAL"), sms(client, NUMBER, "LOW")]
    theirs = sms(client, OTHER, "LOW")
    added = client.post("/v1/suppressions", json={"channel": "sms", "to": "06 12 34 56 78", "country": "FR", "reason": "asked by phone"})
    assert added.status_code == 201, added.text
    assert added.json() == {"channel": "sms", "scope": "normal", "ended": 2}
    drain(providers, store)
    assert [a["to"] for a in fakes["twilio"].accepted] == [OTHER]
    assert [events(client, m["id"]) for m in mine] == [["queued", "suppressed"]] * 2
    assert client.get(f"/v1/messages/{theirs['id']}").json()["status"] == "sent"


def test_high_is_exempt_unless_the_scope_is_all(setup, fakes):
    client, _providers, _store = setup
    assert client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER}).status_code == 201
    assert sms(client, NUMBER, "HIGH")["status"] == "sent"
    assert client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER, "scope": "all"}).json()["scope"] == "all"
    assert sms(client, NUMBER, "HIGH")["status"] == "suppressed"
    assert len(fakes["twilio"].accepted) == 1


@pytest.mark.parametrize(("body", "reason"), [
    ({"channel": "sms", "to": "not a number"}, "to: not a phone number"),
    ({"channel": "fax", "to": NUMBER}, "channel"),
    ({"channel": "sms", "to": NUMBER, "scope": "everything"}, "scope"),
])
def test_a_bad_suppression_request_is_422(setup, body, reason):
    client, _providers, _store = setup
    response = client.post("/v1/suppressions", json=body)
    assert response.status_code == 422
    assert reason in response.text


def test_the_suppressions_table_keeps_a_keyed_hash_never_the_recipient(setup, monkeypatch):
    client, _providers, _store = setup
    stop_by_twilio(client, NUMBER)
    with STORE.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(Suppression.__table__))]
    assert len(rows) == 1
    assert not any(NUMBER.lstrip("+")[-9:] in str(v) for row in rows for v in row.values())
    monkeypatch.setenv("HALO_SUPPRESSION_KEY", "another key")  # another key: another hash, so not suppressed
    assert sms(client, NUMBER)["status"] == "queued"


def test_cli_suppress_list_and_unsuppress(setup):
    client, _providers, _store = setup
    runner = CliRunner()
    added = runner.invoke(cli, ["delivery", "suppress", "email", "Ada@Example.com", "--reason", "unsubscribed"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["delivery", "suppressions"])
    assert "email" in listed.output and "unsubscribed" in listed.output and "example.com" not in listed.output.lower()
    email = client.post("/v1/messages/email", json={"to": "ada@example.com", "subject": "s", "body": "b", "priority": "LOW"})
    assert email.json()["status"] == "suppressed"
    assert runner.invoke(cli, ["delivery", "unsuppress", "email", "ada@example.com"]).exit_code == 0
    again = runner.invoke(cli, ["delivery", "unsuppress", "email", "ada@example.com"])
    assert again.exit_code != 0 and again.output.startswith("error:")


def test_the_checks_job_finds_a_message_sent_after_its_recipient_opted_out(setup):
    from halo_platform.definitions import defs

    client, providers, store = setup
    sent = sms(client, NUMBER)
    drain(providers, store)
    stop_by_twilio(client, NUMBER)

    def checks() -> dict:
        result = defs.resolve_job_def("follow_up_checks_job").execute_in_process(instance=dg.DagsterInstance.ephemeral())
        assert result.success
        assert result.asset_materializations_for_node("message_suppressions")[0].metadata["suppressed"].value == 1
        return {e.check_name: e for e in result.get_asset_check_evaluations()}

    assert checks()["no_message_sent_to_a_suppressed_recipient"].passed  # the opt-out came after the send
    with STORE.write() as conn:  # as if it had come before and been missed
        conn.execute(Suppression.__table__.update().values(at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    found = checks()
    assert not found["no_message_sent_to_a_suppressed_recipient"].passed
    assert found["no_message_sent_to_a_suppressed_recipient"].metadata["first"].value == sent["id"]
    assert found["status_webhooks_younger_than_an_hour"].passed


def test_a_stop_sent_again_keeps_the_time_the_recipient_first_opted_out(setup):
    """Each STOP moved the suppression's `at` to its own time, and `sent_despite_suppression`
    counts only messages sent after `at`: a message sent to a recipient already opted out went
    unreported once they texted STOP again (people do, when messages keep coming). A STOP (or a
    suppression by the API) of the same scope now keeps `at`; widening to `all` is a new time."""
    from halo_platform.delivery.suppressions import sent_despite_suppression

    client, providers, store = setup
    sent = sent_to_an_opted_out_recipient(client, providers, store)
    assert sent_despite_suppression(store) == [sent["id"]]
    stop_by_twilio(client, NUMBER, "stop!")
    assert client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER, "reason": "asked again"}).status_code == 201
    assert sent_despite_suppression(store) == [sent["id"]]
    with store.read() as conn:
        assert conn.execute(sa.select(Suppression.__table__.c.reason)).scalar() == "asked again"
    client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER, "scope": "all"})
    with store.read() as conn:
        assert conn.execute(sa.select(Suppression.__table__.c.at)).scalar().year > 2020


def test_without_a_configured_key_one_private_key_file_is_made_and_shared(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from halo_platform.delivery import suppressions

    monkeypatch.delenv("HALO_SUPPRESSION_KEY", raising=False)
    monkeypatch.setenv("HALO_HOME", str(tmp_path / "home"))
    suppressions._key.cache_clear()
    with ThreadPoolExecutor(8) as pool:  # racing first uses agree on one key
        keys = set(pool.map(lambda _: suppressions._key.__wrapped__(None, str(tmp_path / "home")), range(8)))
    assert len(keys) == 1 and len(next(iter(keys))) == 64
    made = list((tmp_path / "home").iterdir())
    assert [f.name for f in made] == ["suppression.key"] and made[0].stat().st_mode & 0o777 == 0o600
    assert suppressions.suppression_key() in keys


def test_a_message_claimed_by_a_dispatcher_but_not_yet_in_flight_is_not_sent_once_suppressed(setup):
    """The contract the opt-out relies on: a dispatcher marks a claimed message in flight only
    while it is still due, so a suppression between the claim and the request stops it."""
    from halo_platform.core.models import utcnow
    from halo_platform.delivery.queue import claim, mark_in_flight

    client, _providers, store = setup
    queued = sms(client, NUMBER)
    now = utcnow()
    with store.write() as conn:
        (row,) = claim(conn, "sms", "run-x", 10, now, 60)
    assert client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER}).json()["ended"] == 1
    with store.write() as conn:
        assert mark_in_flight(conn, "run-x", [(row.id, "tw", row.lease_until)], utcnow()) == set()
    assert client.get(f"/v1/messages/{queued['id']}").json()["status"] == "suppressed"


def _post_twilio(client: TestClient, signed: tuple[dict[str, str], dict[str, str]]):  # noqa: ANN202
    form, headers = signed
    return client.post("/v1/inbound/tw", content=urlencode(form), headers={**headers, "Authorization": ""})


def test_a_replayed_signed_twilio_start_or_stop_changes_nothing_and_is_answered_200(setup):
    """Twilio signs no time, so a captured START is valid for ever: sent again after a newer STOP
    it lifted the opt-out (and a replayed STOP re-applied one lifted since). Each MessageSid is
    applied once; a repeat is answered 200 (Twilio does not retry it) and changes nothing."""
    client, _providers, _store = setup
    url = f"{BASE}/v1/inbound/tw"
    first_stop, start = twilio_inbound(url, NUMBER, "STOP"), twilio_inbound(url, NUMBER, "START")
    assert _post_twilio(client, first_stop).json() == {"action": "suppressed"}
    assert _post_twilio(client, start).json() == {"action": "lifted"}
    assert _post_twilio(client, twilio_inbound(url, NUMBER, "STOP")).json() == {"action": "suppressed"}
    replayed = _post_twilio(client, start)
    assert (replayed.status_code, replayed.json()) == (200, {"action": "duplicate"})
    assert sms(client, NUMBER)["status"] == "suppressed"
    assert _post_twilio(client, twilio_inbound(url, NUMBER, "START")).json() == {"action": "lifted"}
    assert _post_twilio(client, first_stop).json() == {"action": "duplicate"}
    assert sms(client, NUMBER)["status"] == "queued"


def test_a_replayed_vonage_inbound_message_is_applied_once_on_every_store(fakes, providers_file, every_store):
    """Vonage signs a timestamp, but a replay inside its 10 minutes passed: its `messageId` is
    applied once, on SQLite, PostgreSQL and MariaDB alike (ids that differ only in letter case
    are different messages)."""
    from halo_platform.delivery.inbound import handle_inbound
    from halo_platform.delivery.providers.base import CallbackRequest
    from halo_platform.delivery.suppressions import list_suppressions

    providers = providers_file({"vo": {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url,
                                       **SECRETS["vonage"], "signature_secret": "sigsecret", "signature_method": "md5hash"}})

    def request(params: dict[str, str]) -> CallbackRequest:
        return CallbackRequest(url=f"{BASE}/v1/inbound/vo", method="GET", headers={}, body=b"", query=list(params.items()))

    stop = vonage_inbound(GERMAN, "STOP", "sigsecret", message_id="0A0000001234ABCD")
    start = vonage_inbound(GERMAN, "START", "sigsecret", message_id="0a0000001234abcd")
    assert handle_inbound("vo", request(stop), every_store, providers) == {"action": "suppressed"}
    assert handle_inbound("vo", request(start), every_store, providers) == {"action": "lifted"}
    assert handle_inbound("vo", request(stop), every_store, providers) == {"action": "duplicate"}
    assert list_suppressions(every_store) == []
    assert handle_inbound("vo", request(vonage_inbound(GERMAN, "STOP", "sigsecret")), every_store, providers) == {"action": "suppressed"}
    assert handle_inbound("vo", request(start), every_store, providers) == {"action": "duplicate"}
    assert len(list_suppressions(every_store)) == 1


@pytest.mark.parametrize("scope", ["ALL", "All", "all"])
def test_a_suppression_scope_is_taken_in_any_letter_case_as_a_priority_is(setup, fakes, scope):
    """`scope: "ALL"` was a 422 from the API and `--scope ALL` an error from the CLI, while a
    message's `priority` is taken in any letter case: both now take it, stored as `all` (so HIGH
    is suppressed too); a scope that is neither still names the two allowed."""
    client, _providers, _store = setup
    added = client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER, "scope": scope})
    assert added.status_code == 201, added.text
    assert added.json()["scope"] == "all"
    assert sms(client, NUMBER, "HIGH")["status"] == "suppressed"
    by_cli = CliRunner().invoke(cli, ["delivery", "suppress", "sms", OTHER, "--scope", scope])
    assert by_cli.exit_code == 0, by_cli.output
    assert "(scope all)" in by_cli.output
    assert sms(client, OTHER, "HIGH")["status"] == "suppressed"
    assert list(fakes["twilio"].accepted) == []
    refused = client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER, "scope": "everything"})
    assert refused.status_code == 422
    assert "normal" in refused.json()["error"] and "all" in refused.json()["error"]


@pytest.mark.parametrize("text", ["STOP ALL", " stop  all. ", "Stopall", "ＳＴＯＰ　ＡＬＬ"])
def test_an_inbound_stop_all_suppresses_with_scope_all_and_start_lifts_it(setup, fakes, text):
    """`STOP ALL` (Twilio's STOPALL) was `ignored`: the sender who asked for no messages at all
    kept receiving every one. It now adds a suppression that says `all` (HIGH too), read as the
    other keywords are (any case, spaces and punctuation around, full-width); START lifts it."""
    client, _providers, _store = setup
    answer = stop_by_twilio(client, NUMBER, text)
    assert answer.json() == {"action": "suppressed"}
    assert sms(client, NUMBER, "LOW")["status"] == "suppressed"
    assert sms(client, NUMBER, "HIGH")["status"] == "suppressed"
    assert stop_by_twilio(client, NUMBER, "START").json() == {"action": "lifted"}
    assert sms(client, NUMBER, "HIGH")["status"] == "sent"
    assert len(fakes["twilio"].accepted) == 1


def test_cli_suppress_prints_the_scope_kept_not_the_one_asked(setup):
    """A recipient suppressed with `all` keeps `all` when suppressed again with `normal` (a
    suppression is never narrowed here), but `halo delivery suppress` printed `(scope normal)`:
    an operator read that OTPs would now reach them. It prints the scope the suppression has."""
    runner = CliRunner()
    assert runner.invoke(cli, ["delivery", "suppress", "sms", NUMBER, "--scope", "all"]).exit_code == 0
    again = runner.invoke(cli, ["delivery", "suppress", "sms", NUMBER])
    assert again.exit_code == 0, again.output
    assert "(scope all)" in again.output


def lift(client: TestClient, **body: str):  # noqa: ANN201
    return client.post("/v1/suppressions/lift", json={"channel": "sms", **body})


def test_an_admin_key_lifts_a_stop_by_the_api_and_the_next_normal_message_goes(setup, fakes):
    """The operations team's tools lift an opt-out by the API (the CLI's `unsuppress`, the same
    function): there was no route for it. After the lift the recipient's next NORMAL message is sent;
    the answer names no recipient."""
    client, providers, store = setup
    stop_by_twilio(client, NUMBER)
    assert sms(client, NUMBER, "NORMAL")["status"] == "suppressed"
    lifted = lift(client, to="06 12 34 56 78", country="FR", reason="consent given again by phone")
    assert lifted.status_code == 200, lifted.text
    assert lifted.json() == {"lifted": True, "channel": "sms"}
    normal = sms(client, NUMBER, "NORMAL")
    assert normal["status"] == "queued"
    drain(providers, store)
    assert [a["to"] for a in fakes["twilio"].accepted] == [NUMBER]


def test_a_messages_send_key_cannot_lift_a_suppression_and_nothing_changes(setup):
    """Sending to someone who said STOP again is a consent decision, not a feature team's: a key
    that may add a suppression (`messages:send`) is refused lifting one, and the recipient stays
    suppressed."""
    client, _providers, _store = setup
    stop_by_twilio(client, NUMBER)
    refused = lift(authorized_client(client.app, "messages:send"), to=NUMBER)
    assert refused.status_code == 403
    assert refused.json() == {"error": "this needs the 'admin' scope", "detail": {"required_scope": "admin"}}
    assert sms(client, NUMBER, "NORMAL")["status"] == "suppressed"


def test_lifting_a_suppression_there_is_not_is_404_naming_no_recipient(setup, caplog):
    """None to lift (never suppressed, or lifted already) is a 404 JSON error; neither the answer
    nor the log shows the number."""
    client, _providers, _store = setup
    with caplog.at_level(logging.DEBUG):
        missing = lift(client, to=NUMBER, reason=f"asked from {NUMBER}")
        assert client.post("/v1/suppressions", json={"channel": "sms", "to": NUMBER}).status_code == 201
        assert lift(client, to=NUMBER).status_code == 200
        again = lift(client, to=NUMBER)
    for answer in (missing, again):
        assert answer.status_code == 404
        assert answer.json() == {"error": "no suppression of that recipient on sms", "detail": None}
    assert "612345678" not in caplog.text


@pytest.mark.parametrize(("body", "error"), [
    ({"to": "not a number"}, "to: not a phone number"),
    ({"to": "+33612345678999"}, "to: not a valid phone number"),
    ({"to": "0612345678", "country": "FRA"}, "country: String should have at most 2 characters"),
    ({"channel": "fax", "to": NUMBER}, "channel: Input should be 'sms', 'email' or 'push'"),
    ({"to": NUMBER, "scope": "all"}, "scope: Extra inputs are not permitted"),
    ({"to": NUMBER, "reason": "two\nlines"}, "reason"),
])
def test_a_bad_lift_request_is_422_and_lifts_nothing(setup, body, error):
    """The lift takes what a suppression's POST takes, less its scope (a lift ends the whole
    suppression); a refusal names the field, never the number."""
    client, _providers, _store = setup
    stop_by_twilio(client, NUMBER)
    answer = lift(client, **body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"].startswith(error)
    assert "612345678" not in answer.text
    assert sms(client, NUMBER, "NORMAL")["status"] == "suppressed"
