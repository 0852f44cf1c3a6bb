"""Creating a task request: the one function behind `halo tasks run` and the HTTP API.

The payload is validated against the task's Config (and its sinks against the sinks
file) before anything is queued. Then:

- `wait=False` submits the run through the Dagster instance (`dagster job launch`,
  i.e. `DagsterInstance.get()` and its run coordinator: with `dagster dev` the run is
  QUEUED and the daemon starts it) and returns at once;
- `wait=True` executes the same job in this process (`execute_in_process` with the
  request's run id) and returns the final state.

Either way the request id is the Dagster run id, chosen here, so the audit row exists
before the run starts; the asset and the run-status sensors move it forward.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from halo_platform.core.errors import HaloError
from halo_platform.core.instance import dagster_instance
from halo_platform.core.models import utcnow
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.reports import audit
from halo_platform.reports.assets import DEFAULT_TIMEZONE, job_name, run_config, run_tags
from halo_platform.reports.task import RunContext, get_task


def prepare_request(task_name: str, payload: Mapping[str, Any] | None, sinks: Sequence[str] | None) -> tuple[Any, dict]:
    """(task, payload in its wire form) after validation; raises HaloError (HTTP 422) with the reason."""
    from halo_platform.sinks import SinksResource

    task = get_task(task_name)
    payload = dict(payload or {})
    if sinks:
        payload["sinks"] = list(sinks)
    config = task.validate_payload(payload)
    SinksResource().validate_names(list(config.sinks or task.default_sinks))
    task.resolve(config.model_dump(), RunContext(utcnow(), DEFAULT_TIMEZONE))  # e.g. an empty period
    return task, task.wire_payload(payload)


def create_request(
    store: StoreResource,
    task_name: str,
    payload: Mapping[str, Any] | None = None,
    sinks: Sequence[str] | None = None,
    requested_by: str | None = None,
    trigger: str = "manual",
    wait: bool = False,
) -> dict[str, Any]:
    """Validate, record QUEUED, start the run; returns the request (final state when `wait`)."""
    task, payload = prepare_request(task_name, payload, sinks)
    request_id = str(uuid.uuid4())
    tags = run_tags(task, trigger, requested_by, payload)
    audit.record_status(store, request_id, "QUEUED", task=task.name, payload=payload, trigger=trigger, requested_by=requested_by)
    try:
        if wait:
            _execute(store, task.name, request_id, run_config(task, payload), tags)
        else:
            _submit(task.name, request_id, run_config(task, payload), tags)
    except Exception as exc:
        audit.record_status(store, request_id, "FAILED", task=task.name, error=f"could not start the run: {exc}"[:2000])
        raise
    return audit.get_request(store, request_id)


def _execute(store: StoreResource, task_name: str, request_id: str, config: dict, tags: dict[str, str]) -> None:
    import warnings

    import dagster as dg

    with warnings.catch_warnings():  # beta/preview notes about definitions: not the requester's concern
        for category in (dg.BetaWarning, dg.PreviewWarning, dg.SupersessionWarning):
            warnings.simplefilter("ignore", category)
        _execute_quietly(store, task_name, request_id, config, tags)


def _execute_quietly(store: StoreResource, task_name: str, request_id: str, config: dict, tags: dict[str, str]) -> None:
    from halo_platform.reports.definitions import defs
    from halo_platform.reports.sensors import record_run_outcome

    instance = dagster_instance()
    job = defs.resolve_job_def(job_name(task_name))
    # The terminal gets one `error:` line; the run's event log (UI, `halo tasks log`) keeps everything,
    # stack traces included. CRITICAL: a step failure is logged at ERROR with its whole traceback.
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    result = job.execute_in_process(run_config={**config, **quiet}, instance=instance, run_id=request_id, tags=tags,
                                    raise_on_error=False)
    if not result.success:
        errors = [e.event_specific_data.error for e in result.all_events
                  if e.is_step_failure and e.event_specific_data and e.event_specific_data.error]
        message = errors[0].message.strip().splitlines()[0] if errors else "run failed"
        record_run_outcome(store, instance.get_run_by_id(request_id), "FAILED", message)


def _submit(task_name: str, request_id: str, config: dict, tags: dict[str, str]) -> None:
    home = get_settings().dagster_home
    dagster_instance()
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "dagster"), "job", "launch",
        "-m", "halo_platform.definitions", "-j", job_name(task_name),  # location name as in workspace.yaml
        "--config-json", json.dumps(config), "--tags", json.dumps(tags), "--run-id", request_id,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "DAGSTER_HOME": str(home)})
    if proc.returncode != 0:
        lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
        raise HaloError(f"could not submit the run to Dagster: {lines[-1] if lines else proc.returncode}")
