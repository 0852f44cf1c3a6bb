"""Typed payloads: dates are dates, money is an exact decimal, choices are enums, cross-field
rules are checked as dates; the one schema (each task's Config) drives the launchpad config,
the API (422 naming the field) and the CLI (one `error:` line, exit 2), and an invalid payload
leaves nothing recorded or queued. A failing run prints one `error:` line, not Dagster's log."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.definitions import defs
from halo_platform.http import create_app
from halo_platform.reports.audit import get_request
from halo_platform.reports.demo import (
    campaign,
    order,
    payment,
    settlement,
    write_marketing,
    write_payments,
    write_settlements,
)
from halo_platform.reports.requests import dagster_instance
from halo_platform.reports.task import get_task
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.reports.conftest import read_csv

START = dt.datetime(2024, 3, 4)


def _request_count(store) -> int:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one()


def _seed_one_cent_off(urls: dict) -> None:
    """O1 paid 0.01 more than ordered: an AMOUNT_MISMATCH unless the tolerance is >= 0.01."""
    write_payments(urls["payments"], [order("O1", "100.00", "PAID", START)], [payment("P1", "O1", "100.01", START)])
    write_settlements(urls["gateway"], [settlement("S1", "P1", "100.01", START + dt.timedelta(days=1))])


def test_a_decimal_string_tolerance_is_exact_money_and_the_run_uses_it(warehouses, halo_env, store):
    """`"0.01"` is how money travels in JSON: it is accepted, carried as "0.01" and compared exactly."""
    _seed_one_cent_off(warehouses)
    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--wait", "--payload",
                                      '{"period_start": "2024-03-04", "period_end": "2024-03-11", "tolerance": "0.01"}'])
    assert result.exit_code == 0, result.output
    request = get_request(store, result.stdout.splitlines()[0])
    assert request["status"] == "SUCCEEDED" and request["row_count"] == 0
    assert request["payload"]["tolerance"] == "0.01"
    run = dagster_instance().get_run_by_id(request["request_id"])
    assert run.run_config["ops"]["payment_reconciliation"]["config"]["tolerance"] == "0.01"

    strict = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--wait", "--payload",
                                      '{"period_start": "2024-03-04", "period_end": "2024-03-11", "tolerance": 0}'])
    assert strict.exit_code == 0, strict.output
    out = Path(halo_env["HALO_HOME"]) / "outbox" / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    assert [r["issue"] for r in read_csv(out)] == ["AMOUNT_MISMATCH"]


def test_the_api_takes_money_as_a_json_number_or_a_decimal_string_alike(warehouses, halo_env, store, submitting):
    client = authorized_client(create_app())
    for tolerance in (0.01, "0.01", "0.010", 1e-2):
        ok = client.post("/v1/tasks/payment_reconciliation/requests", json={"payload": {"tolerance": tolerance}})
        assert ok.status_code == 202, ok.text
        run = dagster_instance().get_run_by_id(ok.json()["request_id"])
        assert run.run_config["ops"]["payment_reconciliation"]["config"] == {"tolerance": "0.01"}
        assert get_request(store, ok.json()["request_id"])["status"] == "QUEUED"


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        ({"tolerance": "NaN"}, "tolerance", "finite"),
        ({"tolerance": float("nan")}, "tolerance", "finite"),
        ({"tolerance": "Infinity"}, "tolerance", "finite"),
        ({"tolerance": float("inf")}, "tolerance", "finite"),
        ({"tolerance": 1e15}, "tolerance", "digits"),
        ({"tolerance": True}, "tolerance", "boolean"),
        ({"tolerance": "0.001"}, "tolerance", "decimal places"),
        ({"tolerance": -1}, "tolerance", "greater than or equal to 0"),
        ({"tolerance": "a cent"}, "tolerance", "decimal"),
        ({"format": "pdf"}, "format", "'csv', 'xlsx' or 'parquet'"),
        ({"period_start": "2024-02-30"}, "period_start", "date"),
        ({"period_start": 20240304}, "period_start", "date"),
        ({"period_start": "2024-03-04T10:00"}, "period_start", "date"),
        ({"period_start": "2026-11-30", "period_end": "20261123"}, "period_end", "after period_start"),
        ({"period_start": "2026-11-30", "period_end": "2026-11-30"}, "period_end", "after period_start"),
        ({"sinks": ["outbox", "ops", "outbox"]}, "sinks", "named more than once: outbox"),  # was delivered twice
        # a list or an object for a choice was a TypeError from Dagster's Config: 500 on the API, a traceback on the CLI
        ({"format": ["csv"]}, "format", "'csv', 'xlsx' or 'parquet'"),
        ({"format": {"a": 1}}, "format", "'csv', 'xlsx' or 'parquet'"),
        # queued, then the run failed: the settlement window starts the day before (OverflowError)
        ({"period_start": "0001-01-01", "period_end": "0001-01-08"}, "period_start", "between 1900-01-01 and 2199-12-31"),
        ({"period_start": "2026-01-01", "period_end": "9999-12-31"}, "period_end", "between 1900-01-01 and 2199-12-31"),
    ],
)
def test_payment_reconciliation_refuses_what_is_not_typed_money_dates_or_a_choice(payload, field, reason):
    with pytest.raises(HaloError) as caught:
        get_task("payment_reconciliation").validate_payload(payload)
    assert caught.value.http_status == 422
    assert caught.value.detail[0]["field"] == field and reason in caught.value.detail[0]["reason"]
    assert str(caught.value).startswith(f"payment_reconciliation: invalid payload: {field}: ")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"budget_threshold_pct": "NaN"}, "budget_threshold_pct"),
        ({"budget_threshold_pct": float("inf")}, "budget_threshold_pct"),
        ({"budget_threshold_pct": True}, "budget_threshold_pct"),
        ({"budget_threshold_pct": 0}, "budget_threshold_pct"),
        ({"budget_threshold_pct": 100.5}, "budget_threshold_pct"),
        ({"expiring_within_days": True}, "expiring_within_days"),
        ({"expiring_within_days": 1e15}, "expiring_within_days"),
        ({"expiring_within_days": 2.5}, "expiring_within_days"),
        ({"as_of": "10/05/2024"}, "as_of"),
        ({"as_of": "0001-01-01"}, "as_of"),
    ],
)
def test_campaign_alerts_refuses_nan_infinity_booleans_and_out_of_range_numbers(payload, field):
    with pytest.raises(HaloError) as caught:
        get_task("campaign_alerts").validate_payload(payload)
    assert caught.value.detail[0]["field"] == field


def test_valid_payloads_become_dates_decimals_and_enums():
    config = get_task("payment_reconciliation").validate_payload(
        {"period_start": "2026-11-23", "period_end": "20261130", "tolerance": "1e2", "format": "xlsx"})
    assert (config.period_start, config.period_end) == (dt.date(2026, 11, 23), dt.date(2026, 11, 30))
    assert config.tolerance == Decimal("100.00") and str(config.tolerance) == "100.00"
    assert config.format.value == "xlsx"
    alerts = get_task("campaign_alerts").validate_payload({"budget_threshold_pct": "87.5", "expiring_within_days": "7"})
    assert alerts.budget_threshold_pct == 87.5 and alerts.expiring_within_days == 7


def test_an_invalid_payload_is_one_error_line_on_the_cli_a_422_naming_the_field_and_nothing_is_recorded(warehouses,
                                                                                                        halo_env, store):
    payload = '{"period_start": "2026-11-30", "period_end": "20261123"}'
    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--payload", payload, "--wait"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: payment_reconciliation: invalid payload: period_end: must be after period_start (2026-11-30)"]

    client = authorized_client(create_app())
    bad = client.post("/v1/tasks/payment_reconciliation/requests", json={"payload": {"tolerance": "NaN"}})
    assert bad.status_code == 422
    assert bad.json() == {"error": "payment_reconciliation: invalid payload: tolerance: Input should be a finite number",
                          "detail": [{"field": "tolerance", "reason": "Input should be a finite number"}]}
    assert _request_count(store) == 0
    assert dagster_instance().get_runs() == []


def test_the_launchpad_config_is_generated_from_the_same_schema():
    """Dates and money are strings in the launchpad (exact), choices a select, defaults shown."""
    job = defs.resolve_job_def("payment_reconciliation_job")
    fields = job.run_config_schema.config_type.fields["ops"] \
        .config_type.fields["payment_reconciliation"].config_type.fields["config"].config_type.fields
    assert fields["tolerance"].default_value == "0.00"
    dg.validate_run_config(job, {"ops": {"payment_reconciliation": {"config": {"tolerance": "0.01", "format": "xlsx"}}}})
    with pytest.raises(dg.DagsterInvalidConfigError):  # money is text in the launchpad: never a binary float
        dg.validate_run_config(job, {"ops": {"payment_reconciliation": {"config": {"tolerance": 0.01}}}})
    assert {v.config_value for v in fields["format"].config_type.inner_type.enum_values} == {"csv", "xlsx", "parquet"}
    assert fields["period_start"].description and "YYYY-MM-DD" in fields["period_start"].description


def test_the_payload_form_schema_lists_types_choices_defaults_and_descriptions(halo_env):
    """What a Control Center needs to generate a form; also served by GET /v1/tasks."""
    form = {f["name"]: f for f in get_task("payment_reconciliation").form_schema()}
    assert form["period_start"]["type"] == "date" and form["period_start"]["required"] is False
    assert form["tolerance"]["type"] == "money" and form["tolerance"]["default"] == "0.00"
    assert form["tolerance"]["minimum"] == 0
    assert form["format"] == {**form["format"], "type": "choice", "choices": ["csv", "xlsx", "parquet"], "default": "csv"}
    assert form["sinks"]["type"] == "list[string]"
    assert all(f["description"] for f in form.values())
    listed = authorized_client(create_app()).get("/v1/tasks").json()
    served = next(t for t in listed if t["task"] == "campaign_alerts")["payload_form"]
    assert {f["name"]: f["type"] for f in served} == {
        "sinks": "list[string]", "as_of": "date", "expiring_within_days": "integer", "budget_threshold_pct": "number",
        "rearm_hours": "number"}


def _halo(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).with_name("halo")), *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


@pytest.mark.parametrize("failure", ["sink", "warehouse"])
def test_a_failing_run_prints_one_error_line_not_the_dagster_log(failure, warehouses, halo_env, sinks_file, tmp_path):
    write_marketing(Path(warehouses["marketing"].split("duckdb:///", 1)[1]),
                    [campaign("C1", dt.date(2024, 5, 11), "100.00")], [])
    env = {k: os.environ[k] for k in ("HALO_HOME", "HALO_DB_URL", "DAGSTER_HOME", "HALO_WAREHOUSES_FILE")}
    if failure == "sink":
        (tmp_path / "a_file").write_text("")
        env["HALO_SINKS_FILE"] = str(sinks_file({"outbox": {"kind": "folder", "path": str(tmp_path / "a_file" / "o")}}))
        env["HALO_SINK_BACKOFF"] = "0.05"
    else:
        (tmp_path / "warehouses.yaml").write_text("warehouses:\n  marketing: {url: 'postgresql+psycopg://x@127.0.0.1:1/x'}\n")
    proc = _halo(["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--wait"], env)
    assert proc.returncode == 1, proc.stderr
    out, err = proc.stdout.splitlines(), proc.stderr.splitlines()
    assert out[1] == "status: FAILED"
    errors = [line for line in out + err if line.startswith("error: ")]
    assert len(errors) == 1, proc.stdout + proc.stderr
    assert len(out) + len(err) <= 5, proc.stdout + proc.stderr


@pytest.mark.parametrize("value", ["NaN", float("nan"), "Infinity", "-inf", float("inf"), float("-inf")])
@pytest.mark.parametrize("field", ["budget_threshold_pct", "rearm_hours"])
def test_a_nan_or_infinite_number_is_refused_as_not_finite_not_as_out_of_range(field, value):
    """NaN and Infinity are not numbers a payload takes (reports.md): the reason says so, as it does
    for money. Before, the bounds were checked first: NaN was refused as "less than or equal to
    100" and -Infinity as "greater than 0", reasons that send the user after the wrong fix."""
    with pytest.raises(HaloError) as caught:
        get_task("campaign_alerts").validate_payload({field: value})
    assert caught.value.detail == [{"field": field, "reason": "Input should be a finite number"}]
