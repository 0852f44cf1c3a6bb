"""A failing report run keeps personal data out of Dagster's event log: the failure Dagster stores
(message, stack, chained causes: what the UI and `instance.all_logs` show) has the warehouse's
email address and phone number masked, yet still says what failed and where."""

from __future__ import annotations

import dagster as dg
import duckdb

from halo_platform.definitions import defs
from halo_platform.reports.assets import run_config, run_tags
from halo_platform.reports.requests import dagster_instance
from halo_platform.reports.task import get_task

EMAIL, PHONE = "owner.c1@example.com", "+14155550123"


def error_texts(error: dg.SerializableErrorInfo | None) -> list[str]:
    """Every text of a serialized error: its message, stack and class, then its cause and context."""
    if error is None:
        return []
    return [error.message, error.cls_name or "", *error.stack, *error_texts(error.cause), *error_texts(error.context)]


def test_a_failing_report_step_stores_its_error_with_the_warehouse_values_masked(warehouses, halo_env, store):
    """The budget column holds text with an address and a number in it; DuckDB's cast error
    quotes the value, which reached STEP_FAILURE and RUN_FAILURE unmasked."""
    with duckdb.connect(warehouses["marketing"].split("duckdb:///", 1)[1]) as con:
        con.execute("CREATE TABLE campaigns(campaign_id TEXT, name TEXT, owner_email TEXT, end_date DATE,"
                    " budget TEXT, status TEXT)")
        con.execute("CREATE TABLE campaign_spend(campaign_id TEXT, spend_date DATE, amount NUMERIC(12,2))")
        con.execute("INSERT INTO campaigns VALUES ('C1', 'Spring', ?, DATE '2024-05-10', ?, 'ACTIVE')",
                    [EMAIL, f"TBD, ask {EMAIL} or {PHONE}"])
    task = get_task("campaign_alerts")
    payload = {"as_of": "2024-05-10"}
    result = defs.resolve_job_def("campaign_alerts_job").execute_in_process(
        run_config=run_config(task, payload), tags=run_tags(task, "manual", "ana", payload),
        instance=dagster_instance(), raise_on_error=False)
    assert not result.success

    entries = dagster_instance().all_logs(result.run_id)
    (step_failure,) = [e.dagster_event for e in entries if e.dagster_event and e.dagster_event.is_step_failure]
    (run_failure,) = [e.dagster_event for e in entries if e.dagster_event and e.dagster_event.is_run_failure]
    data = step_failure.step_failure_data
    texts = error_texts(data.error) + error_texts(run_failure.event_specific_data.error)
    if data.user_failure_data:
        texts += [data.user_failure_data.description or "", *map(str, data.user_failure_data.metadata.values())]
    assert texts and not [t for t in texts if EMAIL in t or PHONE in t]
    # nothing else the run stored holds them either (log lines, engine events, materializations)
    assert not [e for e in entries if EMAIL in dg.serialize_value(e) or PHONE in dg.serialize_value(e)]
    # still useful: what failed, on which value (masked), and where in our code
    shown = "\n".join(texts)
    assert "ConversionException" in shown and "o***@example.com" in shown and "+141*****123" in shown
    assert "run_task" in shown
