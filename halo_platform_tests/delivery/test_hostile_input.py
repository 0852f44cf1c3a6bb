"""Hostile message submissions are refused with 422 at submission, nothing stored, never a
500 inside the send or the insert: header injection, lone surrogates and control
characters, values over their column sizes (PostgreSQL enforces them), non-string
priorities, SMS bodies over `max_segments` counted the way carriers count them, and
timestamps that cannot be converted to UTC. Provider error texts are masked before they
are logged or stored."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from halo_platform.core.definitions import STORE
from halo_platform.core.errors import HaloError
from halo_platform.core.store import StoreResource
from halo_platform.delivery.config import parse_config
from halo_platform.delivery.service import submit
from halo_platform.delivery.tables import Message, MessageEvent
from halo_platform.delivery.validation import FIELDS, column_limit, sms_segments, validate
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.fixtures.access import authorized_client


@pytest.fixture
def client(providers_file, halo_store, fakes, smtp_server):  # noqa: ANN001, ANN201
    providers = providers_file({
        "tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "relay": {"kind": "smtp", "channel": "email", "host": "127.0.0.1", "port": smtp_server.port,
                  "username": smtp_server.username, "password": smtp_server.password},
        "push": {"kind": "sandbox", "channel": "push"},
    })
    return authorized_client(create_app({"store": halo_store, "providers": providers}), raise_server_exceptions=False)


def post(client: TestClient, channel: str, payload: dict):  # noqa: ANN201
    """POST `payload` as JSON with lone surrogates escaped (`\\ud800`), as any JSON encoder may send them."""
    return client.post(f"/v1/messages/{channel}", content=json.dumps(payload), headers={"Content-Type": "application/json"})


def stored() -> int:
    with STORE.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(Message)).scalar_one()


SMS = {"to": "+33612345678", "body": "code 123456", "priority": "HIGH"}
EMAIL = {"to": "ada@example.com", "subject": "Your code", "body": "123456", "priority": "HIGH"}


@pytest.mark.parametrize(
    ("channel", "payload", "reason"),
    [
        ("email", {**EMAIL, "subject": "Hi\r\nBcc: all@example.com"}, "subject: must be one line"),
        ("email", {**EMAIL, "subject": "Hi\nthere"}, "subject: must be one line"),
        ("sms", {**SMS, "body": "code \ud800"}, "body: not valid Unicode"),
        ("email", {**EMAIL, "body": "a\udfffb"}, "body: not valid Unicode"),
        ("sms", {**SMS, "body": "nul\x00byte"}, "body: control character"),
        ("sms", {**SMS, "idempotency_key": "k\ud83d"}, "idempotency_key: not valid Unicode"),
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": {"k\udc00": "v"}}, "data: not valid Unicode"),
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": {"a": {"b": 1}}}, "data: must be an object whose keys and values are strings"),
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": {"n": None, "t": True}}, "values are strings"),
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": ["a"]}, "values are strings"),
        # FCM refuses a data key that is a reserved word or starts with google / gcm: was accepted, then a provider_error
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": {"from": "clinic"}}, "data: key 'from' is reserved"),
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": {"message_type": "x"}}, "data: key 'message_type' is reserved"),
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": {"google.c.a": "1"}}, "data: key 'google.c.a' is reserved"),
        ("push", {"to": "device_token_1", "title": "t", "body": "b", "data": {"gcm.n.e": "1"}}, "data: key 'gcm.n.e' is reserved"),
        ("sms", {**SMS, "timezone": "a" * 300}, "timezone: 'aaaa"),  # was an OSError (file name too long): a 500
        ("sms", {**SMS, "timezone": "localtime"}, "timezone: 'localtime' is not an IANA time zone"),  # the host's zone
        ("sms", {**SMS, "priority": 0}, "priority: must be"),
        ("sms", {**SMS, "priority": []}, "priority: must be"),
        ("sms", {**SMS, "priority": {}}, "priority: must be"),
        ("sms", {**SMS, "priority": ""}, "priority: must not be empty"),
        ("sms", {**SMS, "capability": 0}, "capability: must be"),
        ("sms", {**SMS, "capability": "T" * 33}, "capability: too long"),
        ("sms", {**SMS, "body": "😀" * 1600}, "body: too long (49 segments"),
        ("sms", {**SMS, "body": "x" * 919}, "body: too long (7 segments"),
        ("sms", {**SMS, "body": "ç" * 403}, "body: too long (7 segments"),
        ("sms", {**SMS, "expires_at": "0001-01-01T00:00:00+14:00"}, "expires_at: out of range"),
        ("sms", {**SMS, "expires_at": "9999-12-31T23:59:59-14:00"}, "expires_at: out of range"),
        # each field within its own limit, together over what FCM and APNs take (4,096 bytes): was accepted, then refused by the provider
        ("push", {"to": "device_token_1", "title": "t" * 200, "body": "b" * 2000, "data": {"k": "v" * 2000}}, "4,201 bytes together"),
        ("push", {"to": "device_token_1", "title": "t", "body": "😀" * 1100}, "4,401 bytes together"),
    ],
)
def test_hostile_input_is_refused_at_submission_with_422_and_nothing_is_stored(client, channel, payload, reason):
    response = post(client, channel, payload)
    assert response.status_code == 422, response.text
    assert reason in response.json()["error"]
    assert stored() == 0


def test_a_push_of_exactly_4096_bytes_is_sent(client):
    push = {"to": "device_token_1", "title": "é" * 48, "body": "b" * 2000, "data": {"k": "v" * 1999}, "priority": "HIGH"}
    response = client.post("/v1/messages/push", json=push)
    assert response.status_code == 201, response.text
    assert client.post("/v1/messages/push", json={**push, "title": "é" * 48 + "x"}).status_code == 422


def test_the_longest_bodies_max_segments_allows_are_sent(client):
    for body in ("x" * 918, "€" * 456, "ç" * 402, "😀" * 198):
        response = client.post("/v1/messages/sms", json={**SMS, "body": body})
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "sent"


def test_max_segments_is_set_per_channel_in_the_providers_file(providers_file):
    config = providers_file({"sms": {"kind": "sandbox", "channel": "sms"}}, max_segments={"sms": 2})
    assert validate("sms", {"to": "+33612345678", "body": "x" * 306}, config.config()).content["body"]
    with pytest.raises(HaloError, match=r"body: too long \(3 segments, at most 2\)"):
        validate("sms", {"to": "+33612345678", "body": "x" * 307}, config.config())


@pytest.mark.parametrize("bad", [0, -1, "six", [6]])
def test_a_bad_max_segments_is_a_configuration_error(providers_file, bad):
    with pytest.raises(HaloError, match="max_segments"):
        providers_file({"sms": {"kind": "sandbox", "channel": "sms"}}, max_segments={"sms": bad})


@pytest.mark.parametrize(
    ("body", "encoding", "segments"),
    [
        ("a", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¡ÄÖÑÜ§¿äöñüà", "GSM-7", 1),
        ("€" * 80, "GSM-7", 1),  # the extension table counts 2
        ("€" * 81, "GSM-7", 2),
        ("a" * 152 + "€" * 77, "GSM-7", 3),  # an escape pair never straddles two segments
        ("{}" * 38 + "a" * 77, "GSM-7", 2),
        ("ç", "UCS-2", 1),
        ("ç" * 70, "UCS-2", 1),
        ("ç" * 71, "UCS-2", 2),
        ("ç" * 134, "UCS-2", 2),
        ("ç" * 135, "UCS-2", 3),
        ("😀" * 35, "UCS-2", 1),  # two UTF-16 code units each
        ("😀" * 36, "UCS-2", 2),
        ("😀" * 33 + "😀" * 33, "UCS-2", 2),
        ("😀" * 67, "UCS-2", 3),  # 33 pairs fit in 67 units; a pair is never split
        ("a" * 159 + "ç", "UCS-2", 3),
    ],
)
def test_sms_segments_count_gsm7_septets_or_ucs2_code_units_like_carriers(body, encoding, segments):
    assert sms_segments(body) == (encoding, segments)


@given(st.text(min_size=1, max_size=800))
def test_sms_segments_never_shrink_when_the_body_grows(body):
    encoding, count = sms_segments(body)
    assert count >= 1
    assert sms_segments(body + "a")[1] >= count
    limit = 160 if encoding == "GSM-7" else 70
    if count == 1:
        assert len(body) <= limit


def test_a_push_token_over_the_recipient_column_is_422_on_postgresql(providers_file, pg_url):
    providers = providers_file({"push": {"kind": "sandbox", "channel": "push"}})
    store = StoreResource(db_url=pg_url)
    token = "t" * (column_limit("recipient") + 1)
    with pytest.raises(HaloError, match="to: too long"):
        submit("push", {"to": token, "title": "t", "body": "b"}, store=store, providers=providers)
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.recipient == token)).scalar_one() == 0
    store.dispose()


def test_a_provider_error_quoting_the_number_is_masked_in_logs_and_stored_events(client, caplog):
    caplog.set_level(logging.INFO, logger="halo.delivery")
    response = client.post("/v1/messages/sms", json={**SMS, "to": "+33612340000"})  # the fake refuses *0000 quoting it
    assert response.status_code == 201 and response.json()["status"] == "provider_error"
    view = client.get(f"/v1/messages/{response.json()['id']}").json()
    details = " ".join(e["detail"] or "" for e in view["events"])
    assert "21211" in details and "+336*****000" in details
    with STORE.read() as conn:
        stored_details = " ".join(d or "" for (d,) in conn.execute(sa.select(MessageEvent.detail)))
    assert "33612340000" not in stored_details
    assert "21211" in caplog.text and "33612340000" not in caplog.text


# -- fuzz: whatever the payload, validation answers with a message or a 422, never a crash --

SURROGATES = st.sampled_from(["\ud800", "\udfff", "\ud83d", "\x00", "\r\n", "😀", "€", "ç"])
TEXT = st.one_of(st.text(max_size=40), st.builds(lambda a, b, c: a + b + c, st.text(max_size=10), SURROGATES, st.text(max_size=10)))
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), TEXT)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=6)
GOOD = {
    "sms": {"to": "+33612345678", "body": "hi"},
    "email": {"to": "ada@example.com", "subject": "s", "body": "hi"},
    "push": {"to": "device_token_1", "title": "t", "body": "hi"},
}
EXTRA = {"to": st.one_of(VALUE, st.just("x" * 600), st.just("+3361234567" + "8" * 40)), "expires_at": st.one_of(VALUE, st.datetimes().map(str),
         st.just("0001-01-01T00:00:00+14:00")), "priority": st.one_of(VALUE, st.sampled_from(["HIGH", "low", "Normal"]))}


CONFIG = parse_config({"providers": {c: {"kind": "sandbox", "channel": c} for c in ("sms", "email", "push")}})


@st.composite
def payloads(draw):  # noqa: ANN001, ANN201
    channel = draw(st.sampled_from(sorted(FIELDS)))
    payload = dict(GOOD[channel])
    for name in draw(st.lists(st.sampled_from(sorted(FIELDS[channel]) + ["colour"]), max_size=4)):
        payload[name] = draw(EXTRA.get(name, VALUE))
    return channel, payload


def fits_the_columns(new) -> bool:  # noqa: ANN001
    texts = [new.recipient, new.country or "", new.capability, new.priority, new.idempotency_key or ""]
    texts += [v for v in new.content.values() if isinstance(v, str)] + [x for kv in (new.content.get("data") or {}).items() for x in kv]
    for t in texts:
        t.encode("utf-8")  # raises on a lone surrogate
    return (not any("\x00" in t for t in texts)
            and len(new.recipient) <= column_limit("recipient") and len(new.capability) <= column_limit("capability")
            and len(new.idempotency_key or "") <= column_limit("idempotency_key"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payloads())
def test_fuzzed_submissions_are_valid_messages_that_fit_the_store_or_a_422(case):
    channel, payload = case
    try:
        new = validate(channel, payload, CONFIG)
    except HaloError as exc:
        assert exc.http_status == 422
        return
    assert fits_the_columns(new)


@pytest.fixture
def pg_store(pg_url):  # noqa: ANN001, ANN201
    store = StoreResource(db_url=pg_url)
    yield store
    store.dispose()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(payloads())
def test_fuzzed_submissions_over_http_on_postgresql_never_answer_500(providers_file, pg_store, case):
    channel, payload = case
    providers = providers_file({c: {"kind": "sandbox", "channel": c, "db_url": pg_store.url} for c in ("sms", "email", "push")})
    app = create_app({"store": pg_store, "providers": providers})
    response = post(authorized_client(app, raise_server_exceptions=False), channel, payload)
    assert response.status_code in (201, 202, 409, 422), response.text


@pytest.mark.parametrize(("body", "kind"), [("Café à 5€ {ok}", "text"), ("plain", "text"), ("ça va 😀", "unicode"), ("Привет", "unicode")])
def test_vonage_sends_gsm7_bodies_as_text_and_only_the_others_as_unicode(fakes, make_provider, body, kind):
    from halo_platform_tests.delivery.conftest import outgoing

    make_provider("vonage", fakes["vonage"]).send(outgoing("sms", body=body))
    assert fakes["vonage"].requests[0].form()["type"] == kind


@pytest.mark.parametrize("outcome", ["permanent", "retryable"])
def test_a_provider_error_quoting_a_push_recipient_is_stored_with_it_masked(outcome):
    """A push token or external id is neither a phone nor an email: `mask_text` does not see it,
    but the provider's text may quote it (OneSignal: `external_id user-secret-77 is invalid`)."""
    from types import SimpleNamespace

    from halo_platform.core.models import utcnow
    from halo_platform.delivery.config import RetryConfig
    from halo_platform.delivery.lifecycle import transition
    from halo_platform.delivery.providers.base import SendResult

    row = SimpleNamespace(id="m1", recipient="user-secret-77", provider="os", number_of_retries=0, next_attempt_at=None, expires_at=None,
                          in_flight_at=None)
    result = SendResult("m1", outcome, detail="400 ['external_id user-secret-77 is invalid']", http_status=400)
    moved = transition(row, result, "os", RetryConfig(), utcnow())
    assert "user-secret-77" not in moved.detail and "is invalid" in moved.detail


@pytest.mark.parametrize(("method", "path", "body", "status", "said"), [
    ("post", "/v1/suppressions", {"channel": "sms", "to": "+33611111111", "reason": "a\x00b"}, 422, "control character U+0000"),
    ("get", "/v1/messages/a%00b", None, 404, "NUL"),  # no message has such an id, on any store
])
def test_a_nul_character_postgresql_cannot_store_is_a_4xx_not_a_500(providers_file, pg_store, method, path, body, status, said):
    """SQLite stores it, PostgreSQL's driver refuses text with NUL: that refusal was a 500."""
    providers = providers_file({"sms": {"kind": "sandbox", "channel": "sms", "db_url": pg_store.url}})
    client = authorized_client(create_app({"store": pg_store, "providers": providers}), raise_server_exceptions=False)
    response = getattr(client, method)(path, **({"json": body} if body else {}))
    assert response.status_code == status and said in response.json()["error"], response.text
    assert "SQL" not in response.text and "a\\u0000b" not in response.text


@pytest.mark.parametrize("written", ["2031-05-01T10:00:00z", "2031-05-01t10:00:00Z", "2031-05-01T12:00:00+02:00"])
def test_expires_at_takes_every_rfc_3339_spelling_of_an_instant(written):
    # RFC 3339 allows a lower-case `t` and `z`; `...z` was refused as "not an ISO 8601 timestamp"
    new = validate("sms", {**SMS, "expires_at": written}, CONFIG)
    assert new.expires_at.isoformat() == "2031-05-01T10:00:00+00:00"
    assert new.payload_hash == validate("sms", {**SMS, "expires_at": "2031-05-01T10:00:00Z"}, CONFIG).payload_hash


def test_a_push_whose_data_keys_only_look_like_reserved_ones_is_sent(client):
    push = {"to": "device_token_1", "title": "t", "body": "b", "data": {"fromage": "brie", "sender": "x", "googly": "eyes"}}
    answer = client.post("/v1/messages/push", json=push)
    assert answer.status_code == 202, answer.text
