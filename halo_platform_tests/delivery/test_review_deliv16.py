"""Review deliv16 of message delivery: provider settings resolved from `${ENV}` at run time."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.core.models import utcnow
from halo_platform.delivery.autopilot import provider_table, run_cycle
from halo_platform.delivery.jobs import autopilot_schedule
from halo_platform.delivery.queue import messages_t
from halo_platform.delivery.service import enqueue_many, submit
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.delivery.helpers import drain


def test_a_base_url_from_an_env_variable_holding_a_user_name_and_password_is_refused_and_carries_no_traffic(
        fakes, providers_file, halo_store, monkeypatch) -> None:  # noqa: ANN001
    """`base_url: "https://user:pw@host"` written in the file is refused when it is loaded, but the
    same URL given as `${TW_BASE_URL}` was taken: Twilio was called without them, without a word.
    Now its client is refused (naming the provider and the setting, never the password) and, as
    for a provider whose secret is not set, routing gives it no traffic and the listing says why:
    the rule's other provider sends."""
    monkeypatch.setenv("TW_BASE_URL", fakes["twilio"].url.replace("http://", "http://user:s3cret-pw@"))
    twilio = {"kind": "twilio", "channel": "sms", "base_url": "${TW_BASE_URL}", **SECRETS["twilio"], "sender": "+33700000000"}
    vonage = {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"]}
    providers = providers_file({"tw": twilio, "vo": vonage}, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 99, "vo": 1}}])
    with pytest.raises(HaloError, match=r"provider tw\.base_url: a user name or password in the URL is never sent") as refused:
        providers.get("tw")
    assert "s3cret-pw" not in str(refused.value)
    for n in range(5):
        submit("sms", {"to": "+33612345678", "body": f"reminder {n}"}, store=halo_store, providers=providers)
    drain(providers, halo_store)
    with halo_store.read() as conn:
        assert conn.execute(sa.select(messages_t.c.status, messages_t.c.provider)).all() == [("sent", "vo")] * 5
    rows = {row["provider"]: row for row in provider_table(providers.config(), halo_store)}
    assert (rows["tw"]["state"], rows["tw"]["factor"]) == ("unusable", 0.0)
    assert rows["tw"]["reason"].startswith("base_url from the environment: a user name or password in the URL is never sent")
    assert "s3cret-pw" not in rows["tw"]["reason"]
    monkeypatch.setenv("TW_BASE_URL", fakes["twilio"].url)  # fixed: usable again
    assert providers.get("tw").base_url == fakes["twilio"].url
    assert providers.config().unusable() == {}

TWILIO = {"kind": "twilio", "channel": "sms", "base_url": "http://127.0.0.1:9", **SECRETS["twilio"]}
EVERY_SMS = [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}]


@pytest.mark.parametrize("segments", [11, 20])
def test_max_segments_letting_an_sms_body_past_twilios_1600_characters_is_refused_with_a_twilio_provider(providers_file, segments) -> None:
    """providers.md: Twilio takes a `Body` of at most 1,600 characters (error 21617 past it, a
    permanent 400). `max_segments: {sms: 11}` lets a GSM-7 body of 1,683 characters in: with a
    Twilio provider it was accepted at submission (202) and ended `provider_error` when sent. The
    file is refused now, naming the setting, the provider and the most segments Twilio takes (10)."""
    with pytest.raises(HaloError, match=rf"max_segments\.sms: {segments} lets an SMS body reach {153 * segments} characters; provider tw"
                                        r" \(twilio\) takes at most 1600: at most 10 segments") as refused:
        providers_file({"tw": TWILIO}, EVERY_SMS, max_segments={"sms": segments})
    assert "twilio-token" not in str(refused.value)


def test_max_segments_within_twilios_limit_or_without_twilio_is_taken(providers_file) -> None:
    """10 segments (1,530 GSM-7 characters) fit in Twilio's 1,600; a file without Twilio keeps any count."""
    assert providers_file({"tw": TWILIO}, EVERY_SMS, max_segments={"sms": 10}).config().max_segments == {"sms": 10}
    assert providers_file({"sms": {"kind": "sandbox", "channel": "sms"}}, max_segments={"sms": 20}).config().max_segments == {"sms": 20}


def test_the_autopilot_schedule_runs_a_cycle_for_queued_messages_no_provider_can_take_so_their_alert_goes_out(providers_file, halo_store,
                                                                                                            monkeypatch) -> None:
    """delivery.md: messages no provider can take stay queued and an ERROR alert goes out; only
    the autopilot cycle sends it. The schedule ran a cycle only for attempts in the last minute or
    a provider to ping: SMS to DE, which no provider serves (or whose only provider's secret is not
    set), make no attempt, so the cycle was skipped every minute and the alert never went out."""
    monkeypatch.delenv("DELIV16_UNSET_TOKEN", raising=False)
    providers = providers_file({
        "sms_fr": {"kind": "sandbox", "channel": "sms", "countries": ["FR"]},
        "tw_it": {"kind": "twilio", "channel": "sms", "countries": ["IT"], "base_url": "http://127.0.0.1:9",
                  "account_sid": "AC" + "1" * 32, "auth_token": "${DELIV16_UNSET_TOKEN}", "sender": "+33700000000"},
    })
    minute = utcnow().replace(second=0, microsecond=0) + dt.timedelta(minutes=1)

    def evaluate() -> dg.RunRequest | dg.SkipReason:
        with dg.build_schedule_context(instance=dg.DagsterInstance.ephemeral(), resources={"store": halo_store, "providers": providers},
                                       scheduled_execution_time=minute) as context:
            return autopilot_schedule(context)

    assert isinstance(evaluate(), dg.SkipReason)  # nothing queued, no traffic, nothing to ping
    submit("sms", {"to": "+33612345678", "body": "servable, not yet sent"}, store=halo_store, providers=providers)
    assert isinstance(evaluate(), dg.SkipReason)  # a message a provider can take is no reason
    for to in ("+4915123456789", "+393123456789"):
        submit("sms", {"to": to, "body": "no provider can take me"}, store=halo_store, providers=providers)
    ran = evaluate()
    assert isinstance(ran, dg.RunRequest), ran
    assert ran.tags["halo/autopilot"] == "queued messages no provider can take: sms to DE (TEXT), sms to IT (TEXT)"
    alerts = []
    report = run_cycle(halo_store, providers, alert=alerts.append)  # the cycle it launches alerts
    assert set(report.routes_unserved) == {"sms to DE (TEXT)", "sms to IT (TEXT)"}
    assert [a.severity for a in alerts] == ["ERROR"]


def test_a_providers_share_of_a_rule_counts_the_traffic_of_that_rule_only(providers_file, halo_store) -> None:
    """delivery.md: the share check compares a provider's actual share of traffic with its configured
    share. A provider in two rules (the shipped sandbox file: `sms/*/*` all to A, `sms/*/TEXT` 70/30 to
    A and B) had every attempt of its own counted against each rule: TEXT traffic sent exactly 70/30
    beside SECURE traffic (only A serves it) read 'sms/*/TEXT: a 90% instead of 70%', a WARN for a
    provider sending just what it should. A rule's shares count the messages that rule routes."""
    from halo_platform.delivery.health import share_problems
    from halo_platform.delivery.tables import DeliveryAttempt

    providers = providers_file({"a": {"kind": "sandbox", "channel": "sms"}, "b": {"kind": "sandbox", "channel": "sms", "capabilities": ["TEXT"]}},
                               [{"channel": "sms", "country": "*", "capability": "*", "weights": {"a": 1}},
                                {"channel": "sms", "country": "*", "capability": "TEXT", "weights": {"a": 70, "b": 30}}])
    enqueue_many("sms", [{"to": "+33612345678", "body": "t"}] * 100 + [{"to": "+33612345678", "body": "s", "capability": "SECURE"}] * 200,
                 store=halo_store, providers=providers)
    now = utcnow()
    with halo_store.write() as conn:
        ids = {capability: conn.execute(sa.select(messages_t.c.id).where(messages_t.c.capability == capability).order_by(messages_t.c.id)).scalars().all()
               for capability in ("TEXT", "SECURE")}
        sent = [(mid, "a" if n < 70 else "b") for n, mid in enumerate(ids["TEXT"])] + [(mid, "a") for mid in ids["SECURE"]]
        conn.execute(sa.insert(DeliveryAttempt), [{"message_id": mid, "provider": p, "outcome": "acknowledged", "http_status": 200, "latency_ms": 1.0,
                                                   "at": now - dt.timedelta(minutes=1)} for mid, p in sent])
    assert share_problems(providers.config(), halo_store, now=now) == []
    with halo_store.write() as conn:  # B stops taking its 30%: the TEXT rule's shares show it
        conn.execute(sa.update(DeliveryAttempt).where(DeliveryAttempt.provider == "b").values(provider="a"))
    assert share_problems(providers.config(), halo_store, now=now) == ["sms/*/TEXT: a 100% instead of 70%", "sms/*/TEXT: b 0% instead of 30%"]
