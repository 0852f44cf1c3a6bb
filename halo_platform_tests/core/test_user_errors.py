"""User errors in Dagster runs fail once: on an instance with run retries (dagster.yaml:
`run_retries: {enabled: true, max_retries: 2}`), a typo in a launchpad (a schedule edit, a
routing weights edit, a task payload) ends in ONE failed run whose error is the message itself,
while an infrastructure failure keeps its retries. The instance stores its retry decision in
the `dagster/will_retry` run tag when the failure is recorded; the retry daemon acts on it."""

from __future__ import annotations

import dagster as dg
import pytest
import yaml

from halo_platform.core.instance import dagster_instance
from halo_platform.core.store import StoreResource
from halo_platform.definitions import defs
from halo_platform.delivery.resources import ProvidersResource


@pytest.fixture
def instance(halo_env) -> dg.DagsterInstance:  # noqa: ANN001
    """The project's instance (its dagster.yaml, run retries on) in an isolated DAGSTER_HOME."""
    got = dagster_instance()
    assert got.run_retries_enabled and got.run_retries_max_retries == 2
    return got


def _failed_once(instance: dg.DagsterInstance, result: dg.ExecuteInProcessResult) -> str:
    """The failure message after checking the run will not be retried."""
    assert not result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.tags.get("dagster/will_retry") == "false", run.tags
    failure = next(e for e in result.all_events if e.is_step_failure)
    return failure.step_failure_data.user_failure_data.description


def test_a_schedule_edit_with_a_typo_fails_once_with_its_message(instance):
    job = defs.resolve_job_def("manage_task_schedule")
    config = {"schedule_id": "weekly", "task": "payment_reconciliation", "cron": "0 6 * * mon-fry"}
    result = job.execute_in_process(run_config={"ops": {"edit_task_schedule": {"config": config}}}, instance=instance,
                                    raise_on_error=False)
    assert _failed_once(instance, result).startswith("invalid cron expression '0 6 * * mon-fry'")


def test_a_routing_weights_edit_with_a_typo_fails_once_with_its_message(instance, halo_env, tmp_path):
    path = tmp_path / "providers.yaml"
    path.write_text(yaml.safe_dump({
        "providers": {"sms_a": {"kind": "sandbox", "channel": "sms"}, "sms_b": {"kind": "sandbox", "channel": "sms"}},
        "routing": [{"channel": "sms", "country": "*", "capability": "*", "weights": {"sms_a": 50, "sms_b": 50}}]}))
    job = defs.resolve_job_def("routing_weights_job")
    config = {"rule": "sms/*/*", "weights": {"sms_a": 90, "smsb": 10}, "reason": "a typo"}
    result = job.execute_in_process(run_config={"ops": {"set_routing_weights": {"config": config}}}, instance=instance,
                                    resources={"store": StoreResource(), "providers": ProvidersResource(providers_file=str(path))},
                                    raise_on_error=False)
    message = _failed_once(instance, result)
    assert message.startswith("weights for sms/*/*:") and "smsb" in message and "Traceback" not in message


def test_a_launchpad_payload_the_schema_refuses_at_run_time_fails_once(instance, halo_env):
    """Defaults resolve at run time: an explicit start after the default end is a user error then."""
    job = defs.resolve_job_def("payment_reconciliation_job")
    config = {"period_start": "2199-01-01"}
    result = job.execute_in_process(run_config={"ops": {"payment_reconciliation": {"config": config}}},
                                    instance=instance, raise_on_error=False)
    assert "must be after period_start (2199-01-01)" in _failed_once(instance, result)


@pytest.mark.parametrize(("config", "says"), [({"channels": ["fax"]}, "unknown channel(s): fax"),
                                              ({"batch_size": 0}, "batch_size must be between 1 and")])
def test_a_dispatch_launchpad_typo_fails_once(instance, halo_env, config, says):
    """It failed with allow_retries=False, which stops op retries only: the instance ran it twice more."""
    job = defs.resolve_job_def("message_dispatch_job")
    result = job.execute_in_process(run_config={"ops": {"dispatch_messages": {"config": config}}}, instance=instance, raise_on_error=False)
    assert _failed_once(instance, result).startswith(says)


def test_an_emr_processing_launchpad_typo_fails_once(instance, halo_env):
    instance.add_dynamic_partitions("emr_feed", ["hl7"])
    config = {"as_of": "2024-13-45", "horizon_days": 5}
    result = defs.resolve_job_def("emr_processing_job").execute_in_process(
        run_config={"ops": {"scheduling_items": {"config": config}, "available_spans": {"config": config}}}, instance=instance,
        raise_on_error=False, partition_key=dg.MultiPartitionKey({"date": "2026-12-01", "feed": "hl7"}))
    assert _failed_once(instance, result) == "invalid as_of '2024-13-45'"


def test_an_infrastructure_failure_is_still_retried(instance, halo_env):
    """The operational store is unreachable: not the user's doing, so the run retries apply."""
    unreachable = StoreResource(db_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    job = defs.resolve_job_def("manage_task_schedule")
    config = {"schedule_id": "weekly", "task": "payment_reconciliation", "cron": "0 6 * * 1"}
    result = job.execute_in_process(run_config={"ops": {"edit_task_schedule": {"config": config}}}, instance=instance,
                                    resources={"store": unreachable}, raise_on_error=False)
    assert not result.success
    assert instance.get_run_by_id(result.run_id).tags.get("dagster/will_retry") == "true"
