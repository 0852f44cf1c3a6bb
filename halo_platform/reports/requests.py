"""Creating a task request: the one function behind `halo tasks run` and the HTTP API.

The payload is validated against the task's Config (and its sinks against the sinks
file) before anything is queued. Then:

- `wait=False` creates the run on the Dagster instance and queues it from this process (the
  code location loaded here, named as in workspace.yaml): with `dagster dev` or the daemon the
  run is QUEUED and the daemon starts it; this returns at once;
- `wait=True` executes the same job in this process (`execute_in_process` with the
  request's run id) and returns the final state.

Either way the request id is the Dagster run id, chosen here, so the audit row exists
before the run starts; the asset and the run-status sensors move it forward.
"""

from __future__ import annotations

import functools
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from halo_platform.core.errors import HaloError
from halo_platform.core.instance import dagster_instance
from halo_platform.core.models import utcnow
from halo_platform.core.settings import PROJECT_ROOT, get_settings
from halo_platform.core.store import StoreResource
from halo_platform.reports import audit
from halo_platform.reports.assets import DEFAULT_TIMEZONE, job_name, run_config, run_tags
from halo_platform.reports.task import RunContext, get_task

CODE_LOCATION = "halo_platform.definitions"  # the location's name in workspace.yaml, which the daemon loads
REPOSITORY = "__repository__"  # the one repository of a Definitions object


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


@functools.cache
def _code_location(dagster_home: str) -> Any:  # noqa: ANN401 - dagster's InProcessCodeLocation
    """The code location loaded in this process, as the daemon's workspace names it: its jobs' snapshots
    and origins, so a run can be created and queued here. Made once per process and instance (about
    1 s); the code it holds cannot change while the process runs."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.remote_representation.code_location import InProcessCodeLocation
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=CODE_LOCATION, working_directory=str(PROJECT_ROOT)),
        location_name=CODE_LOCATION,
    )
    return InProcessCodeLocation(origin, instance=dagster_instance())


def _submit(task_name: str, request_id: str, config: dict, tags: dict[str, str]) -> None:
    """Create the run on the instance and queue it, in this process (what `dagster job launch` does in
    a new one, 6-30 s): the daemon's run queue starts it through the workspace's code location of the
    same name, like any run queued from the Dagster UI."""
    from dagster._core.definitions.selector import JobSubsetSelector
    from dagster._core.run_coordinator import QueuedRunCoordinator

    instance = dagster_instance()
    if not isinstance(instance.run_coordinator, QueuedRunCoordinator):
        raise HaloError("the Dagster instance must queue runs (run_coordinator: QueuedRunCoordinator, as dagster.yaml has)")
    location = _code_location(str(get_settings().dagster_home))
    repository = location.get_repository(REPOSITORY)
    job = location.get_job(JobSubsetSelector(location_name=location.name, repository_name=REPOSITORY,
                                             job_name=job_name(task_name), op_selection=None))
    plan = location.get_execution_plan(job, config, step_keys_to_execute=None, known_state=None, instance=instance).execution_plan_snapshot
    instance.create_run(
        job_name=job.name, run_id=request_id, run_config=config, resolved_op_selection=job.resolved_op_selection,
        step_keys_to_execute=plan.step_keys_to_execute, op_selection=None, status=None, root_run_id=None, parent_run_id=None,
        tags={**job.tags, **tags}, job_snapshot=job.job_snapshot, execution_plan_snapshot=plan, parent_job_snapshot=job.parent_job_snapshot,
        remote_job_origin=job.get_remote_origin(), job_code_origin=job.get_python_origin(), asset_selection=None,
        asset_check_selection=None, asset_graph=repository.asset_graph,
    )
    instance.submit_run(request_id, None)  # the queued coordinator only marks it QUEUED; the daemon launches it
