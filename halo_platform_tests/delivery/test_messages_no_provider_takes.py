"""A queued message that no provider can take (no provider serves its country or capability, or
every provider that does is switched off, with or without a routing rule) stays queued: nothing
is lost, and a provider added to the file or switched back on sends it. As the spec has it for a
rule whose providers are all down, an ERROR alert goes out, naming the route and how many
messages wait on it (before the fix the messages were held again and again with no alert: the
autopilot only looked at the routing rules, which such a message may have none of)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from halo_platform.core.models import utcnow
from halo_platform.delivery.autopilot import run_cycle, set_manual
from halo_platform.delivery.dispatch import Dispatcher
from halo_platform.delivery.queue import events_t, messages_t
from halo_platform.delivery.service import submit
from halo_platform.lab.provider_fakes import SECRETS

GERMAN, FRENCH = "+4915112345678", "+33612345678"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> dt.datetime:
        return self.now


def drain_twice(providers, store) -> None:  # noqa: ANN001
    """Two dispatch passes, the second after the no-provider backoff (the message is held again)."""
    clock = Clock()
    dispatcher = Dispatcher(providers, store, clock=clock)
    try:
        assert dispatcher.drain(["sms"], timeout=10).by_status == {"held": 1}
        clock.now += dt.timedelta(minutes=5)
        assert dispatcher.drain(["sms"], timeout=10).by_status == {"held": 1}
    finally:
        dispatcher.close()


def lifecycle(store, message_id: str) -> tuple[str, list[str]]:  # noqa: ANN001
    with store.read() as conn:
        status = conn.execute(sa.select(messages_t.c.status).where(messages_t.c.id == message_id)).scalar_one()
        return status, list(conn.execute(sa.select(events_t.c.event).where(events_t.c.message_id == message_id).order_by(events_t.c.id)).scalars())


def test_an_sms_to_a_country_no_provider_serves_stays_queued_and_an_error_alert_names_it(fakes, providers_file, halo_store):
    twilio = {"kind": "twilio", "channel": "sms", "countries": ["FR"], "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"}
    providers = providers_file({"tw": twilio}, [{"channel": "sms", "country": "FR", "weights": {"tw": 1}}])
    german = submit("sms", {"to": GERMAN, "body": "hallo", "priority": "LOW"}, store=halo_store, providers=providers)[0]["id"]
    drain_twice(providers, halo_store)
    assert lifecycle(halo_store, german) == ("queued", ["queued"])
    assert fakes["twilio"].request_count == 0
    alerts = []
    report = run_cycle(halo_store, providers, alert=alerts.append)
    assert [a.title for a in alerts if a.severity == "ERROR"] == ["queued messages no provider can take: sms to DE (TEXT)"]
    assert report.rules_down == []  # the FR rule is healthy
    assert report.routes_unserved == {"sms to DE (TEXT)": {"messages": 1, "reason": "no provider serves it"}}
    (alert,) = [a for a in alerts if a.severity == "ERROR"]
    assert alert.details == {"sms to DE (TEXT)": "1 message(s): no provider serves it"}
    # a provider for Germany added to the file sends it
    vonage = {"kind": "vonage", "channel": "sms", "countries": ["DE"], "base_url": fakes["vonage"].url, **SECRETS["vonage"]}
    providers = providers_file({"tw": twilio, "vo": vonage}, [{"channel": "sms", "country": "FR", "weights": {"tw": 1}}])
    dispatcher = Dispatcher(providers, halo_store, clock=lambda: utcnow() + dt.timedelta(minutes=10))
    try:
        assert dispatcher.drain(["sms"], timeout=10).by_status == {"sent": 1}
    finally:
        dispatcher.close()
    assert lifecycle(halo_store, german) == ("sent", ["queued", "sent"])
    alerts.clear()
    assert run_cycle(halo_store, providers, alert=alerts.append).routes_unserved == {}
    assert not [a for a in alerts if a.severity == "ERROR"]


def test_messages_no_rule_routes_whose_providers_are_all_switched_off_raise_an_error_alert(providers_file, halo_store):
    """With no routing rule, every eligible provider shares a message equally: switched off by
    hand, none takes it, and there is no rule for the autopilot's down check to find."""
    providers = providers_file({"sb": {"kind": "sandbox", "channel": "sms"}})
    set_manual(providers.config(), "sb", True, "ops", "maintenance", halo_store)
    message_id = submit("sms", {"to": FRENCH, "body": "bonjour", "priority": "NORMAL"}, store=halo_store, providers=providers)[0]["id"]
    drain_twice(providers, halo_store)
    assert lifecycle(halo_store, message_id) == ("queued", ["queued"])
    alerts = []
    report = run_cycle(halo_store, providers, alert=alerts.append)
    assert [a.title for a in alerts if a.severity == "ERROR"] == ["queued messages no provider can take: sms to FR (TEXT)"]
    assert report.routes_unserved == {"sms to FR (TEXT)": {"messages": 1, "reason": "every provider that serves it is down or weighs 0 (sb)"}}


def test_a_route_of_a_rule_that_is_down_is_alerted_once_as_the_rule(fakes, providers_file, halo_store):
    """The rule's own ERROR alert covers its messages: no second alert for their route."""
    twilio = {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"}
    providers = providers_file({"tw": twilio}, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}])
    set_manual(providers.config(), "tw", True, "ops", "maintenance", halo_store)
    submit("sms", {"to": FRENCH, "body": "bonjour", "priority": "LOW"}, store=halo_store, providers=providers)
    alerts = []
    report = run_cycle(halo_store, providers, alert=alerts.append)
    assert [a.title for a in alerts if a.severity == "ERROR"] == ["every provider is down for sms/*/*"]
    assert report.rules_down == ["sms/*/*"] and report.routes_unserved == {}


@pytest.mark.parametrize(
    ("country", "capability", "factors", "expected"),
    [
        ("FR", "TEXT", {}, None),
        ("DE", "TEXT", {}, ("sms/*/*#default", "no provider serves it")),
        ("FR", "SECURE", {}, ("sms/FR/*", "every provider that serves it is down or weighs 0 (vo)")),  # vo weighs 0 in the FR rule
        ("FR", "TEXT", {"tw": 0.0}, ("sms/FR/*", "every provider that serves it is down or weighs 0 (tw, vo)")),
        (None, "TEXT", {}, ("sms/*/*#default", "no provider serves it")),
    ],
)
def test_unserved_route_says_why_no_provider_takes_a_route(providers_file, country, capability, factors, expected):
    from halo_platform.delivery.routing import Router, unserved_route

    providers = providers_file({
        "tw": {"kind": "sandbox", "channel": "sms", "countries": ["FR"], "capabilities": ["TEXT"]},
        "vo": {"kind": "sandbox", "channel": "sms", "countries": ["FR"], "capabilities": ["TEXT", "SECURE"]},
    }, [{"channel": "sms", "country": "FR", "weights": {"tw": 1}}])
    assert unserved_route(Router(providers.config(), {}, factors), "sms", country, capability) == expected
