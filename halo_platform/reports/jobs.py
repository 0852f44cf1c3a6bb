"""`manage_task_schedule`: edit a task schedule from the Dagster UI launchpad."""


import enum
import json

import dagster as dg

from halo_platform.core.errors import HaloError, fail_once
from halo_platform.core.failures import masked
from halo_platform.core.store import StoreResource
from halo_platform.core.text import read_json
from halo_platform.reports.schedules import CATCH_UP, set_schedule
from halo_platform.reports.task import JsonNumber

CatchUp = enum.StrEnum("CatchUp", {value: value for value in CATCH_UP})
"""Ticks missed while the sensor was stopped: none, latest or all (a select in the launchpad)."""


class ManageTaskScheduleConfig(dg.Config):
    """The edit; unset fields keep their current value. `payload_json` is a JSON object."""

    schedule_id: str
    task: str | None = None
    cron: str | None = None
    timezone: str | None = None
    payload_json: str | None = None
    sinks: list[str] | None = None
    enabled: bool | None = None
    catch_up: CatchUp | None = None
    updated_by: str = "dagster-ui"


def apply_schedule_edit(store: StoreResource, config: ManageTaskScheduleConfig) -> dict:
    """Validate and store the edit; a bad edit is a HaloError naming the problem."""
    payload = None if config.payload_json is None else read_json(config.payload_json, "payload_json", parse_float=JsonNumber)
    if payload is None and config.payload_json is not None:  # JSON null: refused as `[]` is, not read as "unchanged"
        raise HaloError("payload: must be a JSON object, got null")
    return set_schedule(store, config.schedule_id, task=config.task, cron=config.cron, timezone=config.timezone,
                        payload=payload, sinks=config.sinks, enabled=config.enabled,
                        catch_up=config.catch_up.value if config.catch_up else None, updated_by=config.updated_by)


@dg.op(description="Validates and applies one task schedule edit; it takes effect at the next sensor tick.")
@masked
def edit_task_schedule(context: dg.OpExecutionContext, config: ManageTaskScheduleConfig, store: StoreResource) -> dict:
    try:
        schedule = apply_schedule_edit(store, config)
    except HaloError as exc:
        fail_once(context, exc)
    context.log.info(f"schedule {schedule['schedule_id']} is now: {json.dumps(schedule, default=str)}")
    return schedule


@dg.job(
    name="manage_task_schedule",
    description="Edit a task schedule (cron, timezone, payload, sinks, enabled, catch_up) without a deploy.",
    tags={"owner": "team:data-platform", "domain": "reports"},
)
def manage_task_schedule() -> None:
    edit_task_schedule()
