"""Spec review of delivery (delivery.md): cases the other tests left open, each against the
real provider fakes and the real dispatcher."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

from halo_platform.core.models import utcnow
from halo_platform.delivery.suppressions import suppress
from halo_platform.http import create_app
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain
from halo_platform_tests.fixtures.access import authorized_client

NUMBER = "+33612345678"


@pytest.fixture
def twilio_only(fakes, providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"],
                                       "sender": "+33700000000", "timeout_seconds": 5.0}})
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    return client, providers, halo_store, fakes["twilio"]


def test_an_opt_out_that_arrives_while_a_low_sms_is_in_flight_stops_its_retry(twilio_only):
    """"a suppressed recipient is never sent a NORMAL/LOW message again": a STOP that comes while
    the message's request is in flight (it cannot be called back) must stop its retry."""
    client, providers, store, fake = twilio_only
    queued = client.post("/v1/messages/sms", json={"to": NUMBER, "body": "your parcel", "priority": "LOW"}).json()
    fake.set_switches(latency_seconds=1.0, failure_rate=1.0)  # the request takes a second, then 503
    dispatching = threading.Thread(target=drain, args=(providers, store))
    dispatching.start()
    deadline = time.monotonic() + 10
    while fake.in_progress == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.in_progress == 1
    assert suppress(store, "sms", NUMBER, reason="STOP")["ended"] == 0  # in flight: not stopped here
    dispatching.join()
    assert client.get(f"/v1/messages/{queued['id']}").json()["status"] == "retry_scheduled"
    fake.reset()
    drain(providers, store, clock=lambda: utcnow() + dt.timedelta(hours=2))  # past the backoff
    assert list(fake.accepted) == []
    view = client.get(f"/v1/messages/{queued['id']}").json()
    assert view["status"] == "suppressed"
