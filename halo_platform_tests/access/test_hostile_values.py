"""Signed callbacks and API keys under values their code did not foresee: a 400-digit signed
timestamp, a provider message id another provider's callback names, a key rate of 1e-320."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
from fastapi.testclient import TestClient

from halo_platform_tests.delivery.conftest import fakes, halo_store, providers_file  # noqa: F401 - fixtures
from halo_platform_tests.delivery.test_callbacks import _mj_password, events, sent, setup, status_of, vonage_sig  # noqa: F401
from halo_platform_tests.delivery.test_callbacks_scoped import assert_error, sendgrid_signed


@pytest.fixture
def client(setup) -> TestClient:  # noqa: F811
    return TestClient(setup.app, raise_server_exceptions=False)


# -- signed callbacks ---------------------------------------------------------------------------


def test_a_signed_callback_with_a_huge_timestamp_is_401_not_500(client):
    """`check_signed_time` takes any run of digits: `time.time() - int("9" * 400)` raises
    OverflowError, which neither the callback nor the inbound handler catches (a 500)."""
    email = sent(client, "email", {"to": "ada@example.com", "subject": "s", "body": "e"})
    items = json.dumps([{"event": "delivered", "sg_event_id": "ev-huge", "sg_message_id": email["provider_message_id"],
                         "halo_message_id": email["id"]}]).encode()
    assert_error(sendgrid_signed(client, items, int("9" * 400)), 401)
    params = {"msisdn": "4915123456789", "to": "Halo", "text": "STOP", "timestamp": "9" * 400, "nonce": "n"}
    assert_error(client.get("/v1/inbound/vo", params={**params, "sig": vonage_sig(params, "md5hash")}), 401)
    assert events(email["id"]) == ["queued", "sent"]


def vonage256_sig(params: dict) -> str:
    query = "".join(f"&{k}={str(v).replace('&', '_').replace('=', '_')}" for k, v in sorted(params.items()))
    return hmac.new(b"sigsecret", query.encode(), hashlib.sha256).hexdigest().upper()


def test_one_providers_credentials_cannot_block_the_receipts_of_another_providers_message(client):
    """The dedupe key of a callback event is global (`vonage:<messageId>:<status>`), looked up
    before the event is tied to its message: provider `vo` signs a receipt for one of its own
    messages that names the provider id of a message `vo256` sent, and `vo256`'s genuine receipt
    is then counted a duplicate and never applied."""
    own = sent(client, "sms", {"to": "+4915123456789", "body": "d", "country": "DE"})  # sent by vo
    other = sent(client, "sms", {"to": "+393123456789", "body": "i", "country": "IT"})  # sent by vo256
    now = str(int(time.time()))
    forged = {"messageId": other["provider_message_id"], "status": "delivered", "client-ref": own["id"], "msisdn": "4915123456789",
              "timestamp": now, "nonce": "n-1"}
    assert client.get("/v1/callbacks/vo", params={**forged, "sig": vonage_sig(forged, "md5hash")}).status_code == 200
    genuine = {"messageId": other["provider_message_id"], "status": "delivered", "client-ref": other["id"], "msisdn": "393123456789",
               "timestamp": now, "nonce": "n-2"}
    answer = client.get("/v1/callbacks/vo256", params={**genuine, "sig": vonage256_sig(genuine)})
    assert answer.status_code == 200 and answer.json()["applied"] == 1, answer.text
    assert events(other["id"]) == ["queued", "sent", "received"]
    assert status_of(client, other["id"]) == "received"


# -- API keys -----------------------------------------------------------------------------------


def test_a_key_with_a_tiny_rate_past_its_limit_is_429_not_500(app):
    """`create_key` (CLI `--rate`, the Access page's form) takes any rate in (0, 100000]; a key
    whose rate is a subnormal float answers its second request with a 500: its Retry-After is
    `math.ceil((1 - tokens) / rate)`, the ceiling of infinity (OverflowError)."""
    from halo_platform_tests.fixtures.access import bearer, make_key

    client = TestClient(app, raise_server_exceptions=False)
    key = bearer(make_key(app, "tasks:read", rate=1e-320))
    assert client.get("/v1/tasks", headers=key).status_code == 200
    refused = client.get("/v1/tasks", headers=key)
    assert refused.status_code == 429, refused.text
    assert set(refused.json()) == {"error", "detail"} and int(refused.headers["retry-after"]) >= 1
