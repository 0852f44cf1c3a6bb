"""The Dagster shells: definitions, the queue sensor (dispatch runs per channel with due
messages: up to the run queue's channel limit, 2 at most on SQLite), the dispatch job, provider_health with its checks
(the autopilot job), the weights job, and the CLI commands that run them in-process."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.delivery.dispatch import SERVER_BATCH, SQLITE_BATCH, Dispatcher, default_batch
from halo_platform.delivery.jobs import (
    DISPATCH_MAX_RUNTIME_SECONDS,
    autopilot_job,
    autopilot_schedule,
    channels_to_launch,
    message_dispatch_job,
    message_queue_sensor,
    provider_health,
    routing_weights_job,
)
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.delivery.service import enqueue_many
from halo_platform.delivery.tables import DeliveryAttempt, Message, ProviderState, RoutingWeightAudit

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(providers_file):  # noqa: ANN001, ANN201
    return providers_file(
        {"sms_a": {"kind": "sandbox", "channel": "sms"}, "sms_b": {"kind": "sandbox", "channel": "sms", "failure_rate": 1.0},
         "mail": {"kind": "sandbox", "channel": "email"}},
        [{"channel": "sms", "country": "*", "capability": "*", "weights": {"sms_a": 50, "sms_b": 50}}],
        autopilot={"min_attempts": 10},
    )


def test_the_delivery_definitions_are_complete_and_described():
    from halo_platform.definitions import defs

    for job in ("message_dispatch_job", "autopilot_job", "routing_weights_job"):
        tags = defs.resolve_job_def(job).tags
        assert tags["owner"] and tags["domain"] == "delivery"
    assert defs.resolve_sensor_def("message_queue_sensor").minimum_interval_seconds <= 10
    assert defs.resolve_schedule_def("autopilot").cron_schedule == "* * * * *"  # delivery.md: the autopilot schedule
    spec = defs.resolve_assets_def("provider_health").specs_by_key[dg.AssetKey("provider_health")]
    assert spec.group_name == "delivery" and spec.owners and spec.description and spec.kinds
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"provider_error_rates_under_threshold", "provider_shares_near_configured"} <= checks


@pytest.mark.parametrize(
    ("due", "active", "per_channel", "launch"),
    [({"sms": 3, "email": 0}, {}, 1, ["sms"]), ({"sms": 3, "push": 1}, {"sms": 1}, 1, ["push"]), ({}, {}, 4, []),
     ({"sms": 2500, "email": 10}, {}, 4, ["sms", "sms", "sms", "email"]), ({"sms": 9000}, {"sms": 1}, 4, ["sms"] * 3),
     ({"sms": 9000}, {"sms": 4}, 4, [])],
)
def test_channels_to_launch(due, active, per_channel, launch):
    assert channels_to_launch(due, Counter(active), per_channel, batch=1000) == launch


def test_the_queue_sensor_launches_up_to_the_run_queues_channel_limit_on_postgresql_and_two_on_sqlite(sandbox, any_store):
    """The consumer pool: on PostgreSQL the sensor fills the run queue's halo/channel limit
    (deploy/dagster.yaml's 4) with runs that claim with FOR UPDATE SKIP LOCKED; on SQLite, whose
    writers take turns on one lock, two."""
    store = any_store
    limits = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())["run_queue"]
    enqueue_many("sms", [{"to": "+33612345678", "body": f"x{i}", "priority": "LOW"} for i in range(3500)], store=store, providers=sandbox)
    with dg.instance_for_test(overrides={"run_queue": limits}) as instance:
        with dg.build_sensor_context(instance=instance, resources={"store": store}) as context:
            requests = message_queue_sensor(context)
    assert [r.tags["halo/channel"] for r in requests] == ["sms"] * (2 if store.sqlite else 4)
    assert len({r.run_key for r in requests}) == len(requests)


def test_the_queue_sensor_launches_one_run_per_channel_with_due_messages(sandbox, halo_store):
    instance = dg.DagsterInstance.ephemeral()

    def evaluate():  # noqa: ANN202
        with dg.build_sensor_context(instance=instance, resources={"store": halo_store}) as context:
            return message_queue_sensor(context)

    skip = evaluate()
    assert isinstance(skip, dg.SkipReason) and "no message is due" in skip.skip_message
    enqueue_many("sms", [{"to": "+33612345678", "body": "x", "priority": "LOW"}], store=halo_store, providers=sandbox)
    enqueue_many("email", [{"to": "a@example.com", "subject": "s", "body": "b", "priority": "NORMAL"}], store=halo_store, providers=sandbox)
    requests = evaluate()
    assert sorted(r.tags["halo/channel"] for r in requests) == ["email", "sms"]
    assert all(r.run_config["ops"]["dispatch_messages"]["config"]["channels"] == [r.tags["halo/channel"]] for r in requests)
    assert all(r.run_key.startswith(r.tags["halo/channel"] + ":") for r in requests)
    # ended by the instance's run monitoring past it, should its worker die (test_dead_dispatch_runs)
    assert all(r.tags["dagster/max_runtime"] == str(DISPATCH_MAX_RUNTIME_SECONDS) for r in requests)
    instance.create_run_for_job(message_dispatch_job, run_config=requests[0].run_config, tags=requests[0].tags,
                                status=dg.DagsterRunStatus.STARTED)
    again = evaluate()
    assert [r.tags["halo/channel"] for r in again] == [c for c in ["sms", "email"] if c != requests[0].tags["halo/channel"]]


def test_the_autopilot_schedule_runs_a_cycle_only_for_traffic_to_judge_or_a_provider_to_ping(sandbox, halo_store):
    instance = dg.DagsterInstance.ephemeral()
    minute = utcnow().replace(second=0, microsecond=0)

    def evaluate(tick: dt.datetime):  # noqa: ANN202
        with dg.build_schedule_context(instance=instance, resources={"store": halo_store, "providers": sandbox},
                                       scheduled_execution_time=tick) as context:
            return autopilot_schedule(context)

    assert isinstance(evaluate(minute), dg.SkipReason)
    with halo_store.write() as conn:
        conn.execute(sa.insert(DeliveryAttempt), [{"message_id": "m1", "provider": "sms_a", "outcome": "acknowledged", "http_status": 200,
                                                   "latency_ms": 1.0, "at": minute + dt.timedelta(seconds=30)}])
    ran = evaluate(minute + dt.timedelta(minutes=1))
    assert isinstance(ran, dg.RunRequest) and "1 attempts" in ran.tags["halo/autopilot"]
    assert isinstance(evaluate(minute + dt.timedelta(minutes=2)), dg.SkipReason)  # judged: nothing new since the previous tick
    with halo_store.write() as conn:
        conn.execute(sa.insert(ProviderState), [{"provider": "sms_b", "active": False, "factor": 0.0, "reason": "test", "updated_at": utcnow()}])
    ping = evaluate(minute + dt.timedelta(minutes=3))
    assert isinstance(ping, dg.RunRequest) and "sms_b" in ping.tags["halo/autopilot"]


def test_the_dispatch_job_sends_the_due_messages_of_its_channel(sandbox, halo_store):
    enqueue_many("email", [{"to": f"u{i}@example.com", "subject": "s", "body": "b", "priority": "LOW"} for i in range(5)], store=halo_store, providers=sandbox)
    enqueue_many("sms", [{"to": "+33612345678", "body": "x", "priority": "LOW"}], store=halo_store, providers=sandbox)
    result = message_dispatch_job.execute_in_process(
        run_config={"ops": {"dispatch_messages": {"config": {"channels": ["email"]}}}}, resources={"store": halo_store, "providers": sandbox},
        instance=dg.DagsterInstance.ephemeral(), tags={"halo/channel": "email"})
    assert result.success
    assert result.output_for_node("dispatch_messages")["by_status"] == {"sent": 5}
    with STORE.read() as conn:
        assert dict(conn.execute(sa.select(Message.channel, Message.status)).all()) == {"email": "sent", "sms": "queued"}


def test_the_autopilot_job_materializes_provider_health_and_runs_its_checks(sandbox, halo_store):
    now = utcnow()
    enqueue_many("sms", [{"to": "+33612345678", "body": "x", "priority": "LOW"}] * 40, store=halo_store, providers=sandbox)
    with STORE.write() as conn:  # the attempts of messages its rule routes: a rule's shares count those
        ids = conn.execute(sa.select(Message.id).order_by(Message.id)).scalars().all()
        rows = [{"message_id": mid, "provider": "sms_a" if n < 20 else "sms_b", "outcome": "acknowledged" if n < 20 else "retryable",
                 "http_status": 200, "latency_ms": 1.0, "at": now - dt.timedelta(seconds=30)} for n, mid in enumerate(ids)]
        conn.execute(sa.insert(DeliveryAttempt), rows)
    from halo_platform.definitions import defs

    result = defs.resolve_job_def(autopilot_job.name).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    materialization = result.asset_materializations_for_node("provider_health")[0]
    assert materialization.metadata["changes"].value == 1
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert checks["provider_error_rates_under_threshold"].passed is False
    assert checks["provider_error_rates_under_threshold"].severity == dg.AssetCheckSeverity.ERROR
    assert "sms_b" in checks["provider_error_rates_under_threshold"].metadata["failing"].value
    assert checks["provider_shares_near_configured"].passed is True  # 20/20 is the configured 50/50
    with STORE.read() as conn:
        assert conn.execute(sa.select(ProviderState.factor).where(ProviderState.provider == "sms_b")).scalar_one() == 0.0
    assert provider_health.key.path == ["provider_health"]


def test_the_weights_job_validates_and_audits_ui_edits(sandbox, halo_store):
    ok = routing_weights_job.execute_in_process(
        run_config={"ops": {"set_routing_weights": {"config": {"rule": "sms/*/*", "weights": {"sms_a": 90, "sms_b": 10}, "reason": "ui"}}}},
        resources={"store": halo_store, "providers": sandbox}, instance=dg.DagsterInstance.ephemeral())
    assert ok.success
    for bad_edit in ({"weights": {"mail": 1}, "reason": "ui"}, {"weights": {"sms_a": 1}, "reason": " "}):
        bad = routing_weights_job.execute_in_process(
            run_config={"ops": {"set_routing_weights": {"config": {"rule": "sms/*/*", **bad_edit}}}},
            resources={"store": halo_store, "providers": sandbox}, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
        assert not bad.success
    with STORE.read() as conn:
        audit = conn.execute(sa.select(RoutingWeightAudit.provider, RoutingWeightAudit.new_weight, RoutingWeightAudit.changed_by)).all()
    assert sorted(tuple(a) for a in audit) == [("sms_a", 90.0, "dagster-ui"), ("sms_b", 10.0, "dagster-ui")]


def test_cli_drain_providers_weights_and_autopilot(sandbox, halo_store):
    runner = CliRunner()
    # 80 drawn 50/50: sms_b takes fewer than the 10 attempts the autopilot judges once in 10^12 runs
    # (with 40 it took 9 in one run of a thousand: 'healthy (100% errors over 9 attempts)')
    enqueue_many("sms", [{"to": "+33612345678", "body": f"x{i}", "priority": "LOW"} for i in range(80)], store=halo_store, providers=sandbox)
    drained = runner.invoke(cli, ["delivery", "drain", "--timeout", "30"])
    assert drained.exit_code == 0, drained.output
    assert json.loads(drained.output)["claimed"] >= 80
    with STORE.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Message).where(Message.status.in_(["queued"]))).scalar_one() == 0
    cycle = runner.invoke(cli, ["delivery", "autopilot"])
    assert cycle.exit_code == 0 and "changed: sms_b" in cycle.output
    listing = runner.invoke(cli, ["delivery", "providers"])
    assert listing.exit_code == 0 and "deactivated" in listing.output
    assert runner.invoke(cli, ["delivery", "weights", "set", "sms/*/*", "sms_a=3", "sms_b=1", "--reason", "test"]).exit_code == 0
    shown = runner.invoke(cli, ["delivery", "weights", "show"])
    assert "sms/*/*" in shown.output and " 3 " in shown.output
    unexplained = runner.invoke(cli, ["delivery", "weights", "set", "sms/*/*", "sms_a=1", "sms_b=1"])
    assert unexplained.exit_code == 2 and "Missing option '--reason'" in unexplained.output
    blank = runner.invoke(cli, ["delivery", "weights", "set", "sms/*/*", "sms_a=1", "sms_b=1", "--reason", " "])
    assert (blank.exit_code, blank.output) == (2, "error: say why: the reason is kept in the history\n")
    bad = runner.invoke(cli, ["delivery", "weights", "set", "sms/*/*", "sms_a", "--reason", "x"])
    assert bad.exit_code == 2 and "provider=weight" in bad.output
    for weight in ("nan", "inf", "1e308", "-1"):  # nan was a traceback, inf took every message, 1e308 twice summed to inf
        refused = runner.invoke(cli, ["delivery", "weights", "set", "sms/*/*", f"sms_a={weight}", "sms_b=1", "--reason", "x"])
        assert refused.exit_code == 2 and refused.output.startswith("error: weights for sms/*/*: weight of sms_a must be a number from 0 to 1,000,000"), weight
    assert " 3 " in runner.invoke(cli, ["delivery", "weights", "show"]).output  # unchanged
    switched = runner.invoke(cli, ["delivery", "switch", "sms_a", "off", "--reason", "maintenance", "--by", "alice"])
    assert switched.exit_code == 0 and switched.output == "sms_a: switched off by alice: maintenance\n"
    assert "switched off by alice: maintenance" in runner.invoke(cli, ["delivery", "providers"]).output
    again = runner.invoke(cli, ["delivery", "switch", "sms_a", "off", "--reason", "again"])
    assert again.exit_code == 2 and again.output == "error: sms_a is already switched off by alice\n"
    assert runner.invoke(cli, ["delivery", "switch", "sms_a", "auto", "--reason", "done"]).exit_code == 0


def test_weights_set_refuses_a_provider_given_twice_and_changes_nothing(sandbox, halo_store):  # noqa: ARG001
    """`sms_a=60 sms_a=40` kept the last value silently: the operator meant one of them, and the
    history recorded a change nobody typed as such."""
    runner = CliRunner()
    assert runner.invoke(cli, ["delivery", "weights", "set", "sms/*/*", "sms_a=3", "sms_b=1", "--reason", "test"]).exit_code == 0
    twice = runner.invoke(cli, ["delivery", "weights", "set", "sms/*/*", "sms_a=60", "sms_b=1", "sms_a=40", "--reason", "x"])
    assert (twice.exit_code, twice.output) == (2, "error: provider 'sms_a' given more than once\n")
    assert " 3 " in runner.invoke(cli, ["delivery", "weights", "show"]).output  # unchanged


def test_the_demo_seeds_weights_states_and_messages_once(sandbox, halo_store):
    from halo_platform.core.settings import get_settings
    from halo_platform.delivery.demo import seed

    first, again = list(seed(get_settings())), list(seed(get_settings()))
    assert "3 new autopilot states" in first[0] and "1 newly stored" in first[0] and "3 demo messages queued" in first[1]
    assert "0 new autopilot states" in again[0] and "0 newly stored" in again[0] and "0 demo messages queued" in again[1]
    with STORE.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(Message)).scalar_one() == 3


def test_a_claim_takes_200_messages_on_sqlite_and_1000_on_a_server_unless_told(sandbox, halo_store):
    assert Dispatcher(sandbox, halo_store).batch_size == SQLITE_BATCH == 200
    assert default_batch(StoreResource(db_url="postgresql+psycopg://halo@db/halo")) == SERVER_BATCH == 1000
    assert default_batch(StoreResource(db_url="mysql+pymysql://halo@db/halo")) == SERVER_BATCH
    assert Dispatcher(sandbox, halo_store, batch_size=7).batch_size == 7


@pytest.mark.parametrize("size", [0, -1, 10_001])
def test_the_dispatch_job_refuses_a_batch_size_out_of_range_before_claiming_anything(sandbox, halo_store, size):
    enqueue_many("email", [{"to": "u@example.com", "subject": "s", "body": "b", "priority": "LOW"}], store=halo_store, providers=sandbox)
    result = message_dispatch_job.execute_in_process(
        run_config={"ops": {"dispatch_messages": {"config": {"channels": ["email"], "batch_size": size}}}},
        resources={"store": halo_store, "providers": sandbox}, instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert f"batch_size must be between 1 and 10000, not {size}" in failure.event_specific_data.error.message
    with STORE.read() as conn:
        assert conn.execute(sa.select(Message.status)).scalars().all() == ["queued"]


def test_provider_healths_metadata_masks_who_switched_a_provider_off(sandbox, halo_store):
    """The provider table in provider_health's metadata (the Dagster UI) showed `switched off by
    <who>` as given to `halo delivery switch --by`, an email address in full, where the log line of
    the same switch is masked."""
    from halo_platform.definitions import defs
    from halo_platform.delivery.autopilot import set_manual

    set_manual(sandbox.config(), "sms_b", True, "jane.doe@hospital.example.org", "contract ends", STORE)
    instance = dg.DagsterInstance.ephemeral()
    result = defs.resolve_job_def(autopilot_job.name).execute_in_process(instance=instance)
    assert result.success
    table = result.asset_materializations_for_node("provider_health")[0].metadata["providers"].value
    assert "| sms_b |" in table and "switched off by j***@hospital.example.org" in table
    stored = [r.event_log_entry for r in instance.get_records_for_run(result.run_id).records]
    assert "jane.doe" not in str(stored)


def test_a_provider_url_that_cannot_be_called_fails_the_dispatch_run_without_its_value(providers_file, halo_store, monkeypatch):
    """A `base_url` that is no http(s) URL (a `${VAR}` holding the gateway's URL without its scheme)
    failed the dispatch run with the URL quoted whole in the step's error (the Dagster UI): with the
    token the gateway takes in its query."""
    monkeypatch.setenv("TEST_GATEWAY_URL", "sms-gateway.internal/api?token=hunter2secret")
    providers_file({"gw": {"kind": "twilio", "channel": "sms", "base_url": "${TEST_GATEWAY_URL}", "account_sid": "AC" + "1" * 32,
                           "auth_token": "twilio-token", "sender": "+33700000000"}})
    enqueue_many("sms", [{"to": "+33612345678", "body": "hi"}], store=halo_store, providers=ProvidersResource())
    instance = dg.DagsterInstance.ephemeral()
    result = message_dispatch_job.execute_in_process(run_config={"ops": {"dispatch_messages": {"config": {"channels": ["sms"]}}}},
                                                     instance=instance, resources={"store": halo_store, "providers": ProvidersResource()},
                                                     raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "base_url" in failure.step_failure_data.error.to_string()
    stored = [r.event_log_entry for r in instance.get_records_for_run(result.run_id).records]
    assert "hunter2secret" not in str(stored)


def test_weights_show_and_set_write_weights_in_full_digits(sandbox, halo_store):  # noqa: ARG001
    """`halo delivery weights show` wrote weights with "%g": 1,000,000 (the largest weight) as 1e+06
    and 1234.5678 as 1234.57, and `weights set` echoed them so; the Routing page writes them in
    full (`exact`), and so does the CLI now."""
    runner = CliRunner()
    set_ = runner.invoke(cli, ["delivery", "weights", "set", "sms/*/*", "sms_a=1000000", "sms_b=1234.5678", "--reason", "test"])
    assert (set_.exit_code, set_.output) == (0, "sms/*/*: sms_a=1000000, sms_b=1234.5678\n")
    shown = runner.invoke(cli, ["delivery", "weights", "show"]).output.splitlines()
    rows = {line.split()[1]: line.split()[2:] for line in shown[1:] if line.startswith("sms/*/*")}
    assert rows["sms_a"][0] == rows["sms_a"][2] == "1000000" and rows["sms_b"][0] == rows["sms_b"][2] == "1234.5678", shown
