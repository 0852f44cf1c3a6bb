"""`halo tasks ...`, `halo schedules ...` and `halo bench reports`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from halo_platform.core.cli_options import GIVEN
from halo_platform.core.errors import HaloError
from halo_platform.reports.audit import STATUSES
from halo_platform.reports.schedules import CATCH_UP

if TYPE_CHECKING:
    from halo_platform.core.store import StoreResource


def _store() -> StoreResource:
    """The store bound by this domain's definitions."""
    from halo_platform.reports.definitions import defs

    return defs.resources["store"]


def _json_object(text: str | None, what: str) -> dict | None:
    """A payload given as JSON text, its numbers as written (`JsonNumber`)."""
    from halo_platform.core.text import read_json
    from halo_platform.reports.task import JsonNumber

    if text is None:
        return None
    value = read_json(text, what, parse_float=JsonNumber)
    if not isinstance(value, dict):
        raise HaloError(f"{what} must be a JSON object")
    return value


@click.group()
def tasks() -> None:
    """Report tasks: list them, request a run, read the audit trail."""


@tasks.command("list")
def list_tasks() -> None:
    """List the tasks with their owner, default sinks and payload fields."""
    from halo_platform.reports.task import load_tasks

    for task in load_tasks().values():
        fields = ", ".join(task.config.model_fields)
        click.echo(f"{task.name}\t{task.owner}\tsinks: {','.join(task.default_sinks)}\tpayload: {fields}")
        click.echo(f"    {task.description}")


@tasks.command("run")
@click.argument("task")
@click.option("--payload", default="{}", help="The payload as a JSON object.")
@click.option("--sink", "sinks", multiple=True, type=GIVEN, help="Deliver to this sink (repeatable; default: the task's).")
@click.option("--requested-by", default=None, help="Who asks (default: cli:<login>).")
@click.option("--wait", is_flag=True, help="Run in this process and print the final status (SUCCEEDED, SKIPPED_NO_DATA, "
              "BLOCKED, FAILED or CANCELED) and outputs.")
@click.option("--idempotency-key", default=None, help="Your own key (such as a UUID): the request sent again with it (a retry)"
              " answers with the first one and runs nothing; with another task or payload it is refused.")
def run_task(task: str, payload: str, sinks: tuple[str, ...], requested_by: str | None, wait: bool, idempotency_key: str | None) -> int:
    """Request a run of TASK; prints the request id (exit 0 with --wait only if SUCCEEDED)."""
    import signal

    from halo_platform.access.cli import cli_actor
    from halo_platform.reports.requests import create_request

    if wait:  # the run is this process's: SIGTERM stops it as Ctrl-C does, and its request ends CANCELED
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    request = create_request(_store(), task, _json_object(payload, "--payload"), list(sinks) or None,
                             cli_actor() if requested_by is None else requested_by, trigger="manual", wait=wait,
                             idempotency_key=idempotency_key)
    click.echo(request["request_id"])
    if not wait:
        return 0
    click.echo(f"status: {request['status']}")
    for uri in request["outputs"] or []:
        click.echo(f"output: {uri}")
    for d in request["deliveries"]:
        click.echo(f"delivery: {d['sink']} {d['status']} attempts={d['attempts']} {d['target'] or d['detail'] or ''}".rstrip())
    if request["error"]:
        click.echo(f"error: {request['error'].splitlines()[0]}")
    return 0 if request["status"] == "SUCCEEDED" else 1


@tasks.command("log")
@click.option("--task", default=None, type=GIVEN, help="Only this task.")
@click.option("--status", default=None, type=click.Choice(STATUSES, case_sensitive=False))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
def log(task: str | None, status: str | None, limit: int) -> None:
    """Print the audit trail of task requests, newest first."""
    from halo_platform.core.errors import NotFoundError
    from halo_platform.core.text import echo
    from halo_platform.reports.audit import list_requests, logged_tasks

    # a mistyped name is an error, as for `tasks run`, not an empty log; a retired task's requests are listed
    if task is not None and task not in (known := logged_tasks(_store())):
        raise NotFoundError(f"unknown task {echo(task)}; known: {', '.join(known)}")
    rows = list_requests(_store(), task, status, limit)
    if not rows:
        click.echo("no task requests")
    for r in rows:
        extra = f"rows={r['row_count']}" if r["row_count"] is not None else ""
        if r["error"]:
            extra += f" error={r['error'].splitlines()[0][:120]}"
        click.echo(f"{r['created_at']}  {r['request_id']}  {r['task']}  {r['status']}  {r['trigger']}"
                   f"  by={r['requested_by'] or '-'}  {extra}".rstrip())


@click.group()
def schedules() -> None:
    """Task schedules: list, set, enable, disable (effective at the next sensor tick)."""


@schedules.command("list")
def list_schedules_cmd() -> None:
    """List every schedule."""
    from halo_platform.reports.schedules import list_schedules

    rows = list_schedules(_store())
    if not rows:
        click.echo("no schedules")
    for s in rows:
        state = "enabled" if s["enabled"] else "disabled"
        click.echo(f"{s['schedule_id']}\t{s['task']}\t{s['cron']}\t{s['timezone']}\t{state}\t"
                   f"sinks={','.join(s['sinks'])}\tcatch_up={s['catch_up']}\tpayload={json.dumps(s['payload'], sort_keys=True)}")


@schedules.command("set")
@click.argument("schedule_id")
@click.option("--task", default=None, help="The task (required for a new schedule).")
@click.option("--cron", default=None, help='Cron expression, e.g. "0 6 * * 1".')
@click.option("--timezone", default=None, help="IANA timezone, e.g. Asia/Jakarta.")
@click.option("--payload", default=None, help="The fixed payload as a JSON object.")
@click.option("--sink", "sinks", multiple=True, type=GIVEN, help="Sink name (repeatable; replaces the list).")
@click.option("--catch-up", type=click.Choice(CATCH_UP), default=None,
              help="Ticks missed while the sensor was stopped: run none, the latest (the default) or all.")
@click.option("--by", "updated_by", default=None, help="Who edits (default: cli:<login>).")
def set_schedule_cmd(schedule_id: str, task: str | None, cron: str | None, timezone: str | None,
                     payload: str | None, sinks: tuple[str, ...], catch_up: str | None, updated_by: str | None) -> None:
    """Create or change a schedule; unset options keep their value."""
    from halo_platform.access.cli import cli_actor
    from halo_platform.reports.schedules import set_schedule

    s = set_schedule(_store(), schedule_id, task=task, cron=cron, timezone=timezone, payload=_json_object(payload, "--payload"),
                     sinks=list(sinks) or None, catch_up=catch_up,
                     updated_by=cli_actor() if updated_by is None else updated_by)
    click.echo(f"{s['schedule_id']}: {s['task']} {s['cron']} {s['timezone']} {'enabled' if s['enabled'] else 'disabled'} "
               f"sinks={','.join(s['sinks'])} catch_up={s['catch_up']} payload={json.dumps(s['payload'], sort_keys=True)}")


def _toggle(schedule_id: str, enabled: bool, updated_by: str | None) -> None:
    from halo_platform.access.cli import cli_actor
    from halo_platform.reports.schedules import set_schedule

    s = set_schedule(_store(), schedule_id, enabled=enabled, updated_by=cli_actor() if updated_by is None else updated_by)
    click.echo(f"{s['schedule_id']}: {'enabled' if s['enabled'] else 'disabled'}")


@schedules.command("enable")
@click.argument("schedule_id")
@click.option("--by", "updated_by", default=None)
def enable(schedule_id: str, updated_by: str | None) -> None:
    """Enable a schedule."""
    _toggle(schedule_id, True, updated_by)


@schedules.command("disable")
@click.argument("schedule_id")
@click.option("--by", "updated_by", default=None)
def disable(schedule_id: str, updated_by: str | None) -> None:
    """Disable a schedule."""
    _toggle(schedule_id, False, updated_by)


COMMANDS = (tasks, schedules)
