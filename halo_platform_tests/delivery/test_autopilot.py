"""Autopilot: the pure decision table, and cycles against the store, the fakes' health
calls and the alert sinks (every change stored with its reason and alerted)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from halo_platform.core.definitions import STORE
from halo_platform.core.models import utcnow
from halo_platform.delivery.autopilot import Decision, State, Stats, decide, provider_table, run_cycle
from halo_platform.delivery.config import AutopilotConfig
from halo_platform.delivery.health import share_gaps
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import DeliveryAttempt, Message, ProviderStateChange
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform.sinks import SinksResource

CFG = AutopilotConfig(window_minutes=10, min_attempts=20, error_rate_threshold=0.25, ramp_percent=(10, 25, 50, 100))
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("state", "stats", "ping", "factor", "active", "step", "changed", "severity"),
    [
        (State(), Stats(100, 25), None, 0.0, False, None, True, "ERROR"),  # at the threshold
        (State(), Stats(100, 24), None, 1.0, True, None, False, None),
        (State(), Stats(19, 19), None, 1.0, True, None, False, None),  # under min_attempts
        (State(False, 0.0), Stats(), False, 0.0, False, None, False, None),  # still dead
        (State(False, 0.0), Stats(), True, 0.10, True, 0, True, "WARN"),  # answers: first step
        (State(True, 0.10, 0), Stats(40, 2), None, 0.25, True, 1, True, None),
        (State(True, 0.25, 1), Stats(40, 2), None, 0.50, True, 2, True, None),
        (State(True, 0.50, 2), Stats(40, 2), None, 1.00, True, None, True, "WARN"),
        (State(True, 0.25, 1), Stats(8, 4), None, 0.0, False, None, True, "ERROR"),  # relapse
        (State(True, 0.10, 0), Stats(0, 0), True, 0.25, True, 1, True, None),  # no traffic, health call answers
        (State(True, 0.10, 0), Stats(0, 0), False, 0.10, True, 0, False, None),  # no traffic, no answer: hold
        # errors over too few attempts to decide (under min_attempts // 4): held, not a step up (3 of 3 failed
        # climbed back to 50%, then 100%, where 20 attempts were needed to switch it off again)
        (State(True, 0.25, 1), Stats(3, 3), None, 0.25, True, 1, False, None),
        (State(True, 0.50, 2), Stats(4, 1), True, 0.50, True, 2, False, None),
        (State(True, 0.25, 1), Stats(3, 0), None, 0.50, True, 2, True, None),  # few attempts, no error: a healthy cycle
    ],
)
def test_autopilot_decisions(state, stats, ping, factor, active, step, changed, severity):
    decision = decide(state, stats, ping, CFG, NOW)
    assert isinstance(decision, Decision)
    assert (decision.state.factor, decision.state.active, decision.state.ramp_step) == (pytest.approx(factor), active, step)
    assert (decision.changed, decision.severity if decision.changed else None) == (changed, severity)
    assert decision.reason


@pytest.mark.parametrize(
    ("configured", "attempts", "gaps"),
    [
        ({"a": 70, "b": 30}, {"a": 700, "b": 300}, []),
        ({"a": 70, "b": 30}, {"a": 1000, "b": 0}, ["a 100% instead of 70%", "b 0% instead of 30%"]),
        ({"a": 70, "b": 30}, {"a": 10, "b": 0}, []),  # too few attempts to judge
    ],
)
def test_share_gaps_flag_providers_not_sending_what_they_should(configured, attempts, gaps):
    assert share_gaps(configured, attempts, 0.15, 20) == gaps


def attempts(provider: str, ok: int, failed: int, at: dt.datetime) -> None:
    rows = [{"message_id": f"m{i}", "provider": provider, "outcome": "acknowledged" if i < ok else "retryable", "http_status": 200, "latency_ms": 1.0, "at": at}
            for i in range(ok + failed)]
    with STORE.write() as conn:
        conn.execute(sa.insert(DeliveryAttempt), rows)


@pytest.fixture
def two_sms(fakes, providers_file):  # noqa: ANN001, ANN201
    return providers_file(
        {"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+3370000000"},
         "vo": {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"]}},
        [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 70, "vo": 30}}],
        autopilot={"window_minutes": 10, "min_attempts": 20, "error_rate_threshold": 0.25, "ramp_percent": [10, 25, 50, 100]},
    )


def test_a_failing_provider_is_deactivated_pinged_and_ramped_back_with_every_change_stored_and_alerted(fakes, two_sms, halo_env, halo_store):
    from pathlib import Path

    sinks = SinksResource()
    t0 = utcnow()
    attempts("tw", 60, 40, t0 - dt.timedelta(minutes=1))
    attempts("vo", 100, 0, t0 - dt.timedelta(minutes=1))
    fakes["twilio"].set_switches(hard_down=True)
    report = run_cycle(halo_store, two_sms, now=t0, sinks=sinks)
    assert report.providers["tw"]["factor"] == 0.0 and report.providers["vo"]["factor"] == 1.0
    run_cycle(halo_store, two_sms, now=t0 + dt.timedelta(minutes=1), sinks=sinks)  # ping fails: stays at 0
    health_path = f"/2010-04-01/Accounts/{SECRETS['twilio']['account_sid']}.json"
    assert [r.status for r in fakes["twilio"].requests if r.path == health_path] == [0]
    fakes["twilio"].set_switches(hard_down=False)
    factors = [run_cycle(halo_store, two_sms, now=t0 + dt.timedelta(minutes=k), sinks=sinks).providers["tw"]["factor"] for k in range(2, 6)]
    assert factors == [0.10, 0.25, 0.50, 1.0]
    with STORE.read() as conn:
        changes = conn.execute(sa.select(ProviderStateChange).order_by(ProviderStateChange.id)).all()
    assert [(c.provider, c.factor) for c in changes] == [("tw", 0.0), ("tw", 0.10), ("tw", 0.25), ("tw", 0.50), ("tw", 1.0)]
    assert "error rate 40% over 100 attempts" in changes[0].reason
    alerts = [json.loads(p.read_text()) for p in Path(halo_env["HALO_HOME"], "alerts").glob("*.json")]
    assert len(alerts) == 5
    assert {a["severity"] for a in alerts if "deactivated" in a["title"]} == {"ERROR"}


def test_a_rule_added_at_run_time_is_reported_down_like_the_files_rules(fakes, two_sms, halo_store):
    from halo_platform.delivery.health import share_problems
    from halo_platform.delivery.state import add_rule

    add_rule(two_sms.config(), "sms", "FR", "*", {"tw": 90, "vo": 10}, "admin", halo_store, reason="France")
    t0 = utcnow()
    attempts("tw", 0, 30, t0 - dt.timedelta(minutes=1))
    attempts("vo", 0, 30, t0 - dt.timedelta(minutes=1))
    fakes["twilio"].set_switches(hard_down=True)
    fakes["vonage"].set_switches(hard_down=True)
    report = run_cycle(halo_store, two_sms, now=t0, alert=lambda _alert: None)
    assert report.rules_down == ["sms/*/*", "sms/FR/*"]
    # 30 attempts each of messages to FR against the rule's 90/10: the share check names the added
    # rule too (a rule's shares count the messages it routes)
    enqueue_many("sms", [{"to": "+33612345678", "body": "x"}] * 60, store=halo_store, providers=two_sms)
    with STORE.write() as conn:
        ids = conn.execute(sa.select(Message.id).order_by(Message.id)).scalars().all()
        conn.execute(sa.insert(DeliveryAttempt), [{"message_id": mid, "provider": "tw" if n < 30 else "vo", "outcome": "acknowledged",
                                                   "http_status": 200, "latency_ms": 1.0, "at": t0 - dt.timedelta(minutes=1)}
                                                  for n, mid in enumerate(ids)])
    assert any(p.startswith("sms/FR/*: tw 50% instead of 90%") for p in share_problems(two_sms.config(), halo_store, now=t0))


def test_when_every_provider_of_a_rule_is_down_an_error_alert_goes_out_and_messages_stay_queued(fakes, two_sms, halo_store):
    from halo_platform.delivery.dispatch import Dispatcher

    t0 = utcnow()
    attempts("tw", 0, 30, t0 - dt.timedelta(minutes=1))
    attempts("vo", 0, 30, t0 - dt.timedelta(minutes=1))
    fakes["twilio"].set_switches(hard_down=True)
    fakes["vonage"].set_switches(hard_down=True)
    sent_alerts = []
    report = run_cycle(halo_store, two_sms, now=t0, alert=sent_alerts.append)
    assert report.rules_down == ["sms/*/*"]
    assert any(a.severity == "ERROR" and "every provider is down" in a.title for a in sent_alerts)
    enqueue_many("sms", [{"to": "+33612345678", "body": "x", "priority": "LOW"}], store=halo_store, providers=two_sms)
    stats = Dispatcher(two_sms, halo_store).drain(["sms"])
    assert stats.by_status == {"held": 1}
    assert fakes["twilio"].request_count == 0


def test_stored_weights_naming_only_a_removed_provider_neither_hold_the_rule_nor_hide_that_it_is_down(fakes, providers_file, halo_store):
    """Runtime weights stored for a provider later removed from the providers file kept the rule's
    messages queued forever (the file's remaining provider weighed 0) and the autopilot summed
    the removed provider's weight, so no ERROR alert went out. The stored weights of providers
    gone from the file are ignored (the file's weights apply) and the down check reads the
    weights routing uses."""
    from halo_platform.delivery.dispatch import Dispatcher
    from halo_platform.delivery.state import set_weights

    twilio = {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"], "sender": "+3370000000"}
    vonage = {"kind": "vonage", "channel": "sms", "base_url": fakes["vonage"].url, **SECRETS["vonage"]}
    first = providers_file({"tw": twilio}, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}])
    set_weights(first.config(), "sms/*/*", {"tw": 5}, "ops", halo_store, "runtime edit")
    config = providers_file({"vo": vonage}, [{"channel": "sms", "country": "*", "capability": "*", "weights": {"vo": 1}}])
    enqueue_many("sms", [{"to": "+33612345678", "body": f"m{i}", "priority": "NORMAL"} for i in range(3)], store=halo_store, providers=config)
    dispatcher = Dispatcher(config, halo_store)
    try:
        stats = dispatcher.drain(["sms"], timeout=10)
    finally:
        dispatcher.close()
    assert stats.by_status == {"sent": 3} and len(fakes["vonage"].accepted) == 3
    # vo fails: its rule is down although the stored weights still name tw
    attempts("vo", 0, 30, utcnow() - dt.timedelta(minutes=1))
    fakes["vonage"].set_switches(hard_down=True)
    sent_alerts = []
    report = run_cycle(halo_store, config, alert=sent_alerts.append)
    assert report.rules_down == ["sms/*/*"]
    assert any(a.severity == "ERROR" and "every provider is down" in a.title for a in sent_alerts)


def test_a_provider_whose_state_row_a_pause_made_during_the_cycle_is_updated_not_inserted_twice(fakes, two_sms, halo_store, monkeypatch):
    """A dispatcher's pause (or rate bucket) may make a provider's state row after the cycle read
    the states and before it writes them: the cycle's first write of that provider must not fail
    on the duplicate key."""
    from halo_platform.delivery import autopilot, throttle

    read_states = autopilot.stored_states

    def read_then_a_dispatcher_pauses(conn):  # noqa: ANN001, ANN202 - the interleaving, made certain
        states = read_states(conn)
        throttle.pause(halo_store, "tw", 5)
        return states

    monkeypatch.setattr(autopilot, "stored_states", read_then_a_dispatcher_pauses)
    report = run_cycle(halo_store, two_sms, now=utcnow(), alert=lambda _alert: None)
    assert report.providers["tw"]["active"] is True
    with STORE.read() as conn:
        rows = conn.execute(sa.text("SELECT provider, active, paused_until FROM provider_state WHERE provider = 'tw'")).all()
    assert len(rows) == 1 and rows[0].active and rows[0].paused_until is not None  # the pause is kept
    shown = {r["provider"]: r["paused_until"] for r in provider_table(two_sms.config(), halo_store)}
    assert shown["tw"] is not None and shown["vo"] is None  # what `halo delivery providers` and the Providers page show


def test_a_provider_switched_off_by_hand_stays_off_unpinged_until_handed_back_then_ramps(fakes, two_sms, halo_store):
    from halo_platform.delivery.autopilot import set_manual
    from halo_platform.delivery.dispatch import Dispatcher

    t0 = utcnow()
    assert set_manual(two_sms.config(), "tw", True, "alice", " contract ends ", halo_store, now=t0) == "switched off by alice: contract ends"
    for k in range(1, 4):  # healthy traffic and a health call that would answer change nothing
        attempts("tw", 50, 0, t0 + dt.timedelta(minutes=k, seconds=-1))
        report = run_cycle(halo_store, two_sms, now=t0 + dt.timedelta(minutes=k), alert=lambda _alert: None)
        assert report.providers["tw"]["factor"] == 0.0 and report.providers["tw"]["reason"] == "switched off by alice"
    assert fakes["twilio"].request_count == 0  # not even pinged
    assert {r["provider"]: r["state"] for r in provider_table(two_sms.config(), halo_store)} == {"tw": "off", "vo": "active"}
    enqueue_many("sms", [{"to": f"+3361234567{i}", "body": "x", "priority": "LOW"} for i in range(10)], store=halo_store, providers=two_sms)
    Dispatcher(two_sms, halo_store).drain(["sms"])
    assert fakes["twilio"].request_count == 0 and fakes["vonage"].request_count == 10  # everything went to vo

    set_manual(two_sms.config(), "tw", False, "bob", "renewed", halo_store, now=t0 + dt.timedelta(minutes=5))
    factors = [run_cycle(halo_store, two_sms, now=t0 + dt.timedelta(minutes=k), alert=lambda _alert: None).providers["tw"]["factor"]
               for k in range(6, 10)]
    assert factors == [0.10, 0.25, 0.50, 1.0]  # pinged, then ramped like a provider that recovered
    with STORE.read() as conn:
        changes = conn.execute(sa.select(ProviderStateChange.reason, ProviderStateChange.changed_by).order_by(ProviderStateChange.id)).all()
    assert changes[:2] == [("switched off by alice: contract ends", "alice"), ("handed back to the autopilot by bob: renewed", "bob")]
    assert [c.changed_by for c in changes[2:]] == [None] * 4


@pytest.mark.parametrize(("provider", "off", "reason", "message"), [
    ("nope", True, "x", "unknown provider 'nope'; known: tw, vo"),
    ("tw", True, "  ", "say why"),
    ("tw", True, "x" * 501, "at most 500"),
    ("tw", False, "x", "tw is not switched off by hand"),
])
def test_bad_manual_changes_are_refused_and_write_nothing(two_sms, halo_store, provider, off, reason, message):
    from halo_platform.core.errors import HaloError
    from halo_platform.delivery.autopilot import set_manual

    with pytest.raises(HaloError, match=message):
        set_manual(two_sms.config(), provider, off, "alice", reason, halo_store)
    with STORE.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ProviderStateChange)).scalar() == 0


def test_a_switch_off_made_during_the_cycle_stands(fakes, two_sms, halo_store, monkeypatch):
    """An admin switches tw off after the cycle read the states and before it writes them: the
    cycle must not write tw back to active."""
    from halo_platform.delivery import autopilot

    read_states = autopilot.stored_states

    def read_then_switched_off(conn):  # noqa: ANN001, ANN202 - the interleaving, made certain
        states = read_states(conn)
        autopilot.set_manual(two_sms.config(), "tw", True, "alice", "incident", halo_store)
        return states

    monkeypatch.setattr(autopilot, "stored_states", read_then_switched_off)
    report = run_cycle(halo_store, two_sms, now=utcnow(), alert=lambda _alert: None)
    monkeypatch.undo()
    assert report.providers["tw"]["reason"] == "switched off by alice"
    assert {r["provider"]: (r["state"], r["factor"]) for r in provider_table(two_sms.config(), halo_store)}["tw"] == ("off", 0.0)


def failed_by_callback(provider: str, count: int, at: dt.datetime) -> None:
    """`count` provider_error events that callbacks applied (the dedupe key marks a callback's)."""
    from halo_platform.delivery.tables import MessageEvent

    with STORE.write() as conn:
        conn.execute(sa.insert(MessageEvent), [{"message_id": f"m{i}", "event": "provider_error", "provider": provider, "at": at,
                                                "detail": "failed", "dedupe_key": f"{provider}:SM{i}:failed"} for i in range(count)])


def test_sends_a_provider_acknowledged_then_reported_failed_by_callback_are_errors(fakes, two_sms, halo_store):
    """A provider that accepts every request and fails the messages afterwards (Twilio's
    `failed`) is transmitting nothing: those provider_error events are its errors. The cycle
    counted only the answers to our requests (8 attempts, 0 errors: healthy)."""
    t0 = utcnow()
    attempts("tw", 40, 0, t0 - dt.timedelta(minutes=2))
    failed_by_callback("tw", 12, t0 - dt.timedelta(minutes=1))
    attempts("vo", 40, 0, t0 - dt.timedelta(minutes=2))
    report = run_cycle(halo_store, two_sms, now=t0, alert=lambda *a, **k: None)
    assert (report.providers["tw"]["errors"], report.providers["tw"]["attempts"]) == (12, 40)
    assert report.providers["tw"]["factor"] == 0.0 and report.providers["vo"]["factor"] == 1.0
