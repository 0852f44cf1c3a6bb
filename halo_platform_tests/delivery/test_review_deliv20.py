"""Delivery review 20: an opt-out that ended a message a provider had already taken, and the
provider's later receipt proving it was delivered."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.core.write_lock import writing
from halo_platform.delivery.providers.base import Outgoing
from halo_platform.delivery.queue import claim, mark_in_flight
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import Message, MessageEvent
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.fixtures.access import authorized_client

DEVICE = "device_token_123456"
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

