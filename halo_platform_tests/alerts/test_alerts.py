"""Alerts: one per failed run and per failed ERROR check, to the HALO_ALERTS sinks, with a link."""

import json
import os
import re

import dagster as dg

from halo_platform.alerts import Alert, format_alert, send_alert
from halo_platform.alerts.sensors import asset_check_alert_sensor, run_failure_alert_sensor
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource


def test_alert_text_names_the_job_run_first_error_line_and_links_to_the_run():
    alert = Alert(title="run failed: nightly_job", severity="ERROR", error="\n  ValueError: bad row 7\n  Traceback...",
                  run_id="abc-123", job="nightly_job", details={"task": "payment_reconciliation"})
    subject, text = format_alert(alert, "http://dagster.internal:3000")
    assert subject == "[halo ERROR] run failed: nightly_job"
    assert text.splitlines() == [
        subject, "job: nightly_job", "run: abc-123", "task: payment_reconciliation",
        "error: ValueError: bad row 7 (+1 more line not shown)", "link: http://dagster.internal:3000/runs/abc-123",
    ]


def test_alerts_with_the_same_title_or_a_slash_in_it_each_keep_their_own_file(halo_env):
    """Every provider down for sms/*/* and then for push/*/* had both been `_.json`: the second overwrote the first."""
    from pathlib import Path

    for title in ("every provider is down for sms/*/*", "every provider is down for push/*/*", "every provider is down for push/*/*"):
        send_alert(Alert(title=title, severity="ERROR", error="queued"), SinksResource())
    texts = sorted(json.loads(f.read_text())["title"] for f in (Path(halo_env["HALO_HOME"]) / "alerts").iterdir())
    assert texts == ["every provider is down for push/*/*"] * 2 + ["every provider is down for sms/*/*"]


def test_an_unusable_alert_sink_is_logged_and_never_raises(halo_env, caplog):
    outcomes = send_alert(Alert(title="t", severity="ERROR", error="e", run_id="r1"), SinksResource(),
                          to=["no_such_sink", "alerts"])
    assert [o.sink for o in outcomes] == ["alerts"] and outcomes[0].status == "DELIVERED"
    assert "no_such_sink" in caplog.text


@dg.op
def explode():
    raise ValueError("warehouse refused the query\nmore detail")


@dg.job(tags={"halo/task": "demo_task"})
def exploding_job():
    explode()


def test_a_failed_run_produces_one_alert_file_with_a_link_to_the_run(halo_env):
    with dg.instance_for_test() as instance:
        _failed_run_alerts(instance)


def run_and_alert(job: dg.JobDefinition, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """Run `job`, which fails, and evaluate the run-failure sensor on its failure."""
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    alert_tick(instance)
    return result


def alert_tick(instance: dg.DagsterInstance, store: StoreResource | None = None,
               sensor: dg.SensorDefinition = run_failure_alert_sensor) -> dg.SkipReason:
    """A tick of an alert sensor (default: the run-failure one) that alerts on every run of `instance`
    (its cursor before the first: as though it had been running all along); what the tick said."""
    with dg.build_sensor_context(instance=instance, cursor="0",
                                 resources={"sinks": SinksResource(), "store": store or StoreResource()}) as context:
        return dg.SkipReason(sensor.evaluate_tick(context).skip_message)


def _failed_run_alerts(instance):
    import pathlib

    halo_home = pathlib.Path(os.environ["HALO_HOME"])
    result = run_and_alert(exploding_job, instance)
    files = list((halo_home / "alerts").iterdir())
    assert len(files) == 1 and re.fullmatch(rf"alert_\d{{8}}T\d{{12}}Z_{result.run_id}_run_failed_exploding_job\.json", files[0].name)
    body = json.loads(files[0].read_text())
    assert body["job"] == "exploding_job" and body["details"]["task"] == "demo_task"
    assert "ValueError: warehouse refused the query" in body["text"]
    assert f"link: http://127.0.0.1:3000/runs/{result.run_id}" in body["text"]


@dg.asset
def ledger():
    return 1


@dg.asset_check(asset=ledger)
def ledger_balances():
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.ERROR, description="ledger off by 12.00")


@dg.asset_check(asset=ledger)
def ledger_is_fresh_quietly():
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="stale")


@dg.asset_check(asset=ledger)
def ledger_is_fresh_loudly():
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="stale, loud",
                               metadata={"halo/alert": True})


def test_failed_error_checks_and_marked_warn_checks_alert_once_each(halo_env):
    from pathlib import Path

    with dg.instance_for_test() as instance:  # run-sharded SQLite event log, as under `dagster dev`
        dg.materialize([ledger, ledger_balances, ledger_is_fresh_quietly, ledger_is_fresh_loudly], instance=instance)
        said = alert_tick(instance, sensor=asset_check_alert_sensor)
    assert said.skip_message == "1 run succeeded; alerts: 2 delivered"
    texts = sorted(json.loads(f.read_text())["text"] for f in (Path(halo_env["HALO_HOME"]) / "alerts").iterdir())
    assert len(texts) == 2
    assert any("ledger_balances" in t and "error: ledger off by 12.00" in t for t in texts)
    assert any("ledger_is_fresh_loudly" in t for t in texts)


def test_a_run_failed_with_a_blank_message_alerts_with_run_failed_not_an_empty_error():
    """A failure whose message is only white space (a worker killed mid-line, an exception raised
    with "\\n") alerted with an empty `error:` line: the alert said nothing of what happened."""
    from halo_platform.alerts.sensors import failed_run_alerts

    def alert_of_run_failed_with(message: str) -> Alert:
        run = instance.add_run(dg.DagsterRun(job_name="payment_reconciliation_job", run_id=f"r-{len(seen)}"))
        instance.report_run_failed(run, message)
        seen.append(run.run_id)
        (failure,) = [r for r in instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=10).records
                      if r.run_id == run.run_id]
        (alert,) = failed_run_alerts(instance, run, failure)
        return alert

    seen: list[str] = []
    with dg.instance_for_test() as instance:
        for message in ("   ", "\n\t\n", ""):
            alert = alert_of_run_failed_with(message)
            assert alert.error == "run failed" and "error: run failed" in format_alert(alert, "http://dagster:3000")[1], repr(message)
        assert alert_of_run_failed_with(" disk full \n").error == " disk full \n"
