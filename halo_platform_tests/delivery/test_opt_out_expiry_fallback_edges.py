"""Delivery at its edges: opt-outs of non-ASCII addresses, lower-case countries and STOP after
`all`; non-geographic numbers; quiet hours in a repeated hour or with an offset; a HIGH failover
past its expiry; a fallback whose failure committed late (each test failed before its fix)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from halo_platform.delivery.queue import messages_t
from halo_platform.delivery.service import submit
from halo_platform.delivery.suppressions import suppress
from halo_platform_tests.delivery.helpers import drain


@pytest.fixture
def sandbox(providers_file, halo_store):  # noqa: ANN001, ANN201
    providers = providers_file({
        "sb_sms": {"kind": "sandbox", "channel": "sms"},
        "sb_email": {"kind": "sandbox", "channel": "email"},
    })
    return providers, halo_store


def status_of(store, message_id: str) -> str:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.select(messages_t.c.status).where(messages_t.c.id == message_id)).scalar_one()


@pytest.mark.parametrize("address", ["Éva@example.com", "ÉVA@example.com"])
def test_suppressing_a_non_ascii_email_ends_its_queued_messages(sandbox, address):
    """The opt-out compares the stored recipient with SQL lower(), which SQLite applies to ASCII
    only: a queued message to 'Éva@...' was not ended by the suppression of that very address
    and the next drain sent it to the opted-out recipient."""
    providers, store = sandbox
    view, _ = submit("email", {"to": "Éva@example.com", "subject": "s", "body": "b", "priority": "LOW"}, store=store, providers=providers)
    assert view["status"] == "queued"
    done = suppress(store, "email", address)
    drain(providers, store, channel="email")
    assert status_of(store, view["id"]) == "suppressed"  # was: sent
    assert done["ended"] == 1


@pytest.fixture
def pg_sandbox(providers_file, any_store):  # noqa: ANN001, ANN201
    providers = providers_file({"sb_sms": {"kind": "sandbox", "channel": "sms"}})
    return providers, any_store


@pytest.mark.parametrize("number", ["+80012345678", "+870773111632"])
def test_an_sms_to_a_non_geographic_number_gets_no_made_up_country(pg_sandbox, number):
    """An international freephone / satellite number is valid E.164 but belongs to no country:
    phonenumbers names its region '001', which became the message's `country` (3 characters in a
    2-character column, refused by PostgreSQL as 'a value cannot be stored', and not ISO 3166-1)."""
    providers, store = pg_sandbox
    view, _ = submit("sms", {"to": number, "body": "hello"}, store=store, providers=providers)
    with store.read() as conn:
        country = conn.execute(sa.select(messages_t.c.country).where(messages_t.c.id == view["id"])).scalar_one()
    assert country is None


def test_quiet_hours_ending_in_the_repeated_hour_of_a_fall_back_end_after_now():
    """New York falls back on 2024-11-03 (01:00-02:00 happens twice). At 01:10 EST, the second
    01:10, quiet hours 21:00-01:30 end at 01:30 EST (06:30 UTC); `quiet_until` answered the first
    01:30 (EDT, 05:30 UTC), 40 minutes before `now`: the message was due at once, inside its quiet
    hours, and every dispatch run held it again with a due time in the past (a hot loop of runs)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    from halo_platform.delivery.quiet_hours import QuietHours, quiet_until

    zone, window = ZoneInfo("America/New_York"), QuietHours(dt.time(21, 0), dt.time(1, 30))
    now = dt.datetime(2024, 11, 3, 6, 10, tzinfo=dt.UTC)  # 01:10 EST, the second 01:10
    assert window.contains(now.astimezone(zone).time())
    assert quiet_until(now, window, (zone,)) == dt.datetime(2024, 11, 3, 6, 30, tzinfo=dt.UTC)
    # the first 01:10 (EDT) still ends at the first 01:30
    assert quiet_until(dt.datetime(2024, 11, 3, 5, 10, tzinfo=dt.UTC), window, (zone,)) == dt.datetime(2024, 11, 3, 5, 30, tzinfo=dt.UTC)


def test_a_low_sms_submitted_in_the_repeated_hour_is_deferred_not_due_at_once(providers_file, halo_store):
    import datetime as dt

    providers = providers_file({"sb_sms": {"kind": "sandbox", "channel": "sms"}}, quiet_hours={"sms": {"start": "21:00", "end": "01:30"}})
    now = dt.datetime(2024, 11, 3, 6, 10, tzinfo=dt.UTC)
    view, _ = submit("sms", {"to": "+12125550123", "body": "see you", "priority": "LOW", "timezone": "America/New_York"},
                     store=halo_store, providers=providers, clock=lambda: now)
    with halo_store.read() as conn:
        due = conn.execute(sa.select(messages_t.c.next_attempt_at).where(messages_t.c.id == view["id"])).scalar_one()
    assert due == dt.datetime(2024, 11, 3, 6, 30, tzinfo=dt.UTC)  # was 05:30, before it was submitted


def test_an_inbound_stop_does_not_narrow_an_all_suppression_and_let_otps_through(fakes, providers_file, halo_store):
    """A recipient opted out of everything (scope `all`, OTPs included) who later texts STOP asks
    for fewer messages; the STOP re-scoped the suppression to `normal`, and the next HIGH SMS
    went out to them."""
    from urllib.parse import urlencode

    from halo_platform.http import create_app
    from halo_platform.lab.provider_fakes import SECRETS, twilio_inbound
    from halo_platform_tests.fixtures.access import authorized_client

    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"],
                                       "sender": "+33700000000"}})
    client = authorized_client(create_app({"store": halo_store, "providers": providers}))
    number = "+33612345678"
    assert client.post("/v1/suppressions", json={"channel": "sms", "to": number, "scope": "all"}).status_code == 201
    form, headers = twilio_inbound("http://testserver/v1/inbound/tw", number, "STOP")
    answer = client.post("/v1/inbound/tw", content=urlencode(form), headers={**headers, "Authorization": ""})
    assert answer.json() == {"action": "suppressed"}
    otp = client.post("/v1/messages/sms", json={"to": number, "body": "code 123456", "priority": "HIGH"})
    assert otp.json()["status"] == "suppressed"  # was: sent
    assert list(fakes["twilio"].accepted) == []


class _FirstAlways:
    """A random source whose draws always pick the first provider by name."""

    def random(self) -> float:
        return 0.0


def test_a_high_sms_is_not_failed_over_after_its_expires_at(fakes, providers_file, halo_store):
    """HIGH fails over to the next provider within its deadline, but never looked at
    `expires_at` again: the first provider answered 503 after 1.5 s, and the second one was sent
    the OTP after it had expired ("never sent after it")."""
    import datetime as dt

    from halo_platform.lab.provider_fakes import SECRETS

    providers = providers_file({
        "a_tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+33700000000"},
        "b_vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"]},
    }, routing=[{"channel": "sms", "country": "*", "capability": "*", "weights": {"a_tw": 1, "b_vo": 1}}])
    fakes["twilio"].set_switches(failure_rate=1.0, latency_seconds=1.5)
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)).isoformat()
    view, _ = submit("sms", {"to": "+33612345678", "body": "code 123456", "priority": "HIGH", "expires_at": expires},
                     store=halo_store, providers=providers, rng=_FirstAlways())
    assert fakes["twilio"].request_count == 1
    assert list(fakes["vonage"].accepted) == []  # was: sent by b_vo, 0.5 s after it expired
    assert view["status"] == "expired"


def test_a_failure_committed_after_a_newer_one_still_gets_its_fallback_on_postgresql(providers_file, migrated_pg_url):
    """The fallback sensor keeps the newest failure event id as its cursor. On PostgreSQL ids come
    from a sequence in the order transactions insert, not the order they commit: two dispatchers
    record two SMS `lost`; the one holding the lower id commits second, after the sensor read the
    higher id, and its fallback email was never sent (the cursor had passed it)."""
    import dagster as dg

    from halo_platform.core.models import utcnow
    from halo_platform.core.store import StoreResource
    from halo_platform.delivery.fallback import send_fallbacks
    from halo_platform.delivery.follow_up import channel_fallback_sensor
    from halo_platform.delivery.queue import events_t

    store = StoreResource(db_url=migrated_pg_url)
    providers = providers_file({"sb_sms": {"kind": "sandbox", "channel": "sms"}, "sb_email": {"kind": "sandbox", "channel": "email"}})
    try:
        sms = [submit("sms", {"to": f"+3361234567{i}", "body": "b", "priority": "LOW",
                              "fallback": {"channel": "email", "to": f"p{i}@example.com", "subject": "s"}},
                      store=store, providers=providers)[0]["id"] for i in range(2)]

        def lose(conn, message_id: str) -> None:  # noqa: ANN001 - what a dispatcher's persist writes
            conn.execute(messages_t.update().where(messages_t.c.id == message_id).values(status="lost"))
            conn.execute(events_t.insert().values(message_id=message_id, event="lost", provider="sb_sms", at=utcnow(), detail="gave up"))

        slow = store.engine.connect()
        slow_tx = slow.begin()
        lose(slow, sms[0])  # the lower event id, not committed yet
        with store.write() as conn:
            lose(conn, sms[1])
        cursor, instance = "0", dg.DagsterInstance.ephemeral()  # the sensor looks for failed runs of what it asks for
        for _ in range(2):  # a sensor tick before the slow commit, one after
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"store": store}) as context:
                asked = channel_fallback_sensor(context)
                cursor = context.cursor
            if isinstance(asked, dg.RunRequest):
                config = asked.run_config["ops"]["send_channel_fallbacks"]["config"]
                send_fallbacks(store, providers, config["after_event_id"])
            if slow_tx.is_active:
                slow_tx.commit()
        slow.close()
        with store.read() as conn:
            fell_back = set(conn.execute(sa.select(messages_t.c.fallback_of).where(messages_t.c.fallback_of.is_not(None))).scalars())
        assert fell_back == set(sms)  # was: only sms[1]
    finally:
        store.dispose()


@pytest.mark.parametrize("start", ["21:00Z", "21:00+01:00"])
def test_quiet_hours_with_a_utc_offset_are_refused_in_the_providers_file_not_a_500_per_message(providers_file, halo_store, start):
    """`time.fromisoformat` takes an offset ("21:00Z"): the providers file was accepted, then every
    NORMAL/LOW SMS raised TypeError (offset-aware vs naive local time) inside `submit`: a 500 for each."""
    from halo_platform.core.errors import HaloError

    try:
        providers = providers_file({"sb_sms": {"kind": "sandbox", "channel": "sms"}}, quiet_hours={"sms": {"start": start, "end": "08:00"}})
    except HaloError as exc:
        assert "expected a local time as HH:MM" in str(exc)
        return
    submit("sms", {"to": "+33612345678", "body": "hello", "priority": "LOW"}, store=halo_store, providers=providers)  # was: TypeError


def test_an_opt_out_takes_the_country_in_any_letter_case_as_sending_does(sandbox):
    """Sending takes `country: "fr"` (upper-cased by validation); the opt-out (POST
    /v1/suppressions, `halo delivery suppress --country fr`) handed it to phonenumbers as is and
    refused the national number ("not a phone number") or an E.164 one ("belongs to FR, not fr")."""
    providers, store = sandbox
    assert suppress(store, "sms", "06 12 34 56 78", country="fr")["channel"] == "sms"  # was: HaloError
    view, _ = submit("sms", {"to": "06 12 34 56 78", "country": "fr", "body": "b", "priority": "LOW"}, store=store, providers=providers)
    assert view["status"] == "suppressed"


def test_the_fallback_sensor_looks_back_late_commit_seconds_and_reads_its_first_cursor(halo_store, monkeypatch):
    import dagster as dg

    from halo_platform.delivery import follow_up

    now = 10_000.0
    monkeypatch.setattr(follow_up.time, "time", lambda: now)

    def evaluate(cursor: str) -> dict:
        with dg.build_sensor_context(cursor=cursor, resources={"store": halo_store}) as context:
            assert isinstance(follow_up.channel_fallback_sensor(context), dg.SkipReason)  # nothing failed
            return json.loads(context.cursor)

    assert evaluate("42") == {"floor": 42, "ticks": [[now, 0]]}  # a first version's cursor: the event id read
    ticks = [[now - 400, 7], [now - 301, 9], [now - 10, 12]]
    assert evaluate(json.dumps({"floor": 5, "ticks": ticks})) == {"floor": 9, "ticks": [[now - 10, 12], [now, 0]]}
