"""The Control Center's Schedules page: every task schedule in words with its next runs, an edit
form (operator) with a live preview of the next runs, and the history of edits.

Saving goes through `reports.schedules.set_schedule`, the function the CLI and the launchpad
job call, so validation and the edit history are the same whatever the entry point. The page
checks each field first only to put each error beside its field."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from halo_platform.access.guard import Caller
from halo_platform.core.errors import ConflictError, HaloError, NotFoundError
from halo_platform.core.http import repeated_fields, resource
from halo_platform.core.store import StoreResource
from halo_platform.core.text import echo
from halo_platform.reports.schedules import (
    CATCH_UP,
    check_catch_up,
    check_cron,
    check_timezone,
    cron_in_words,
    list_schedules,
    next_runs,
    schedule_edits,
    set_schedule,
    validate_schedule,
)
from halo_platform.reports.task import PayloadError, get_task
from halo_platform.sinks import SinksResource, UnknownSink
from halo_platform.ui.app import done_redirect, render, row_id, seen_change, signed_in, text_errors, when

router = APIRouter(include_in_schema=False)
RUN_FORMAT = "%a %Y-%m-%d %H:%M"  # then its zone, with its UTC offset (`when`)
EDITS_SHOWN = 20  # the newest edits on a schedule's page; older ones on its history's pages
HISTORY_ROWS = 50  # edits on one page of a schedule's history


def describe(cron: str, timezone: str) -> dict[str, Any]:
    """The words and next 5 runs of a cron in a timezone, or the error to show beside the field."""
    try:
        check_cron(cron)
    except HaloError as exc:
        return {"field": "cron", "error": str(exc)}
    try:
        check_timezone(timezone)
    except HaloError as exc:
        return {"field": "timezone", "error": str(exc)}
    try:
        words = cron_in_words(cron, timezone)
    except HaloError as exc:
        return {"field": "cron", "error": str(exc)}
    return {"words": words, "runs": [when(t, RUN_FORMAT) for t in next_runs(cron, timezone)]}


def _shown(value: Any) -> str:  # noqa: ANN401 - any field of a schedule
    if isinstance(value, bool):
        return "enabled" if value else "disabled"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _history(edits: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each edit as rows of field: before -> after (a new schedule: its fields, before '–')."""
    for edit in edits:
        before = edit["before"] or {}
        edit["rows"] = [(k, _shown(before[k]) if k in before else "–", _shown(edit["after"].get(k))) for k in edit["changed"]]
    return edits


def _edits(store: StoreResource, schedule_id: str, rows: int, before: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """The newest `rows` edits of a schedule older than edit `before` (default: all), and the id the
    link to the older ones pages from (None when there are none)."""
    edits = _history(schedule_edits(store, schedule_id, limit=rows + 1, before=before))
    return edits[:rows], edits[rows - 1]["id"] if len(edits) > rows else None


def _schedule(store: StoreResource, schedule_id: str) -> dict[str, Any]:
    found = next((s for s in list_schedules(store) if s["schedule_id"] == schedule_id), None)
    if found is None:
        raise NotFoundError(f"no schedule {echo(schedule_id)}")
    return found


def _fields(task: str) -> list[dict[str, Any]]:
    """The task's payload fields a schedule sets (its sinks have their own checkboxes); none for a
    task retired since the schedule was set (its page says so, rather than failing)."""
    try:
        return [f for f in get_task(task).form_schema() if f["name"] != "sinks"]
    except NotFoundError:
        return []


def _retired(task: str) -> str | None:
    """Why a schedule of `task` cannot run nor be saved, when its task no longer exists."""
    try:
        get_task(task)
    except NotFoundError as exc:
        return f"this schedule's task {task!r} no longer exists ({exc}); it cannot run or be saved"
    return None


@router.get("/ui/schedules", response_class=HTMLResponse)
def schedules_page(request: Request, caller: Caller = Depends(signed_in("viewer")),
                   store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    # a disabled schedule runs nothing (the sensor passes it by): no next runs, its words still said
    rows = [{**s, **describe(s["cron"], s["timezone"]), **({} if s["enabled"] else {"runs": []})} for s in list_schedules(store)]
    return render(request, "schedules.html", caller, schedules=rows, edits=_history(schedule_edits(store, limit=10)))


@router.get("/ui/schedules/{schedule_id}/preview", response_class=HTMLResponse)
def preview(request: Request, cron: str = "", timezone: str = "", caller: Caller = Depends(signed_in("viewer"))) -> HTMLResponse:
    """The fragment the edit form fetches as its cron or timezone changes. It is under the
    schedule's own address: at `/ui/schedules/preview` it took the page of a schedule named
    `preview` (a valid id), whose link and save led to this bare fragment."""
    return render(request, "schedules_preview.html", caller, preview=describe(cron.strip(), timezone.strip()))


def _edit_page(request: Request, caller: Caller, store: StoreResource, schedule: dict[str, Any],
               form: dict[str, Any], errors: dict[str, str], status: int = 200, seen: int | None = None) -> HTMLResponse:
    """The form; `seen` the newest edit the values in it were based on (default: the newest there is)."""
    if retired := _retired(schedule["task"]):
        errors = {**errors, "form": retired}
    edits, older = _edits(store, schedule["schedule_id"], EDITS_SHOWN)
    names = SinksResource().names()  # and, ticked, those of the form the sinks file no longer has (refused beside Sinks)
    return render(request, "schedules_edit.html", caller, status=status, schedule=schedule, form=form, errors=errors,
                  catch_up_choices=CATCH_UP,
                  fields=_fields(schedule["task"]), sink_names=names + [s for s in form["sinks"] if s not in names],
                  preview=describe(form["cron"], form["timezone"]), edits=edits, older=older,
                  seen=(edits[0]["id"] if edits else 0) if seen is None else seen)


@router.get("/ui/schedules/{schedule_id}", response_class=HTMLResponse)
def edit_page(request: Request, schedule_id: str, caller: Caller = Depends(signed_in("viewer")),
              store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    try:
        schedule = _schedule(store, schedule_id)
    except NotFoundError as exc:
        return render(request, "schedules_missing.html", caller, status=404, message=str(exc))
    form = {"cron": schedule["cron"], "timezone": schedule["timezone"], "sinks": schedule["sinks"], "enabled": schedule["enabled"],
            "catch_up": schedule["catch_up"], "payload": _payload_shown(schedule)}
    return _edit_page(request, caller, store, schedule, form, _stored_errors(schedule))


@router.get("/ui/schedules/{schedule_id}/history", response_class=HTMLResponse)
def history_page(request: Request, schedule_id: str, before: str = "", caller: Caller = Depends(signed_in("viewer")),
                 store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    """A schedule's edits, HISTORY_ROWS a page, newest first: those older than edit `before`, else the newest."""
    try:
        schedule = _schedule(store, schedule_id)
    except NotFoundError as exc:
        return render(request, "schedules_missing.html", caller, status=404, message=str(exc))
    edits, older = _edits(store, schedule_id, HISTORY_ROWS, row_id(before))
    return render(request, "schedules_history_page.html", caller, schedule=schedule, edits=edits, older=older)


def _stored_errors(schedule: dict[str, Any]) -> dict[str, str]:
    """Why the schedule's next run would refuse its stored payload (the task's schema changed in a
    deploy, a fixed date its default has passed) or sinks (one gone from the sinks file), beside
    the form's fields, as saving it would say: the sensor skips the schedule until it is fixed.
    Nothing for a task retired (`_retired` says it) or a cron or timezone that no longer computes
    (the preview says it)."""
    try:
        validate_schedule(schedule["task"], schedule["cron"], schedule["timezone"], schedule["payload"], schedule["sinks"])
    except PayloadError as exc:
        shown = {f["name"] for f in _fields(schedule["task"])}
        return payload_errors(exc, {k: v for k, v in schedule["payload"].items() if k in shown})
    except UnknownSink as exc:
        return {"sinks": str(exc)}
    except HaloError:
        pass
    return {}


def _payload_shown(schedule: dict[str, Any]) -> dict[str, str]:
    """The stored payload as the form's inputs take it: its wire form (a date as YYYY-MM-DD, which
    is all a date input holds: one stored as the CLI took it, "20240105", was emptied by the browser
    and dropped when the page was saved); as stored when its task no longer takes it."""
    payload = schedule["payload"] if isinstance(schedule["payload"], Mapping) else {}  # not an object: said by _stored_errors
    try:
        payload = get_task(schedule["task"]).wire_payload(payload)
    except HaloError:  # its task retired, or a payload it no longer fits: the page says so
        pass
    return {k: "" if v is None else str(v) for k, v in payload.items()}


def payload_errors(exc: PayloadError, given: dict[str, Any]) -> dict[str, str]:
    """A refused payload's reasons by form field: beside the field when the form gave it."""
    return {f"payload.{d['field'].split('.')[0]}" if d["field"] in given else "payload": d["reason"] for d in exc.detail}


def _given(payload: dict[str, str]) -> dict[str, str]:
    """The payload fields a form filled in (a field left empty takes its default)."""
    return {k: v for k, v in payload.items() if v != ""}


def _check(schedule: dict[str, Any], form: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the payload in its stored form, errors by field) of a submitted edit."""
    errors: dict[str, str] = {}
    if retired := _retired(schedule["task"]):
        return {}, {"form": retired}
    for name, check in (("cron", check_cron), ("timezone", check_timezone), ("catch_up", check_catch_up)):
        try:
            check(form[name])
        except HaloError as exc:
            errors[name] = str(exc)
    given, task = _given(form["payload"]), get_task(schedule["task"])
    payload: dict[str, Any] = {}
    try:
        payload = task.wire_payload(given)
    except PayloadError as exc:
        errors |= payload_errors(exc, given)
    else:
        try:  # the stored payload as written (e.g. by the CLI, "2.5" for 2.50, null for a default) when the form left it
            # as its page showed it: no edit (a null, shown empty, is sent as no value)
            if task.wire_payload(_given(_payload_shown(schedule))) == payload:
                payload = schedule["payload"]
        except PayloadError:
            pass
    if not form["sinks"]:
        errors["sinks"] = "pick at least one sink"
    else:
        try:
            SinksResource().validate_names(form["sinks"])
        except HaloError as exc:
            errors["sinks"] = str(exc)
    return payload, errors


@router.post("/ui/schedules/{schedule_id}", response_class=HTMLResponse)
async def save(request: Request, schedule_id: str, caller: Caller = Depends(signed_in("operator")),
               store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    try:
        schedule = await run_in_threadpool(_schedule, store, schedule_id)
    except NotFoundError as exc:
        return render(request, "schedules_missing.html", caller, status=404, message=str(exc))
    data = await request.form()
    shown = [f"payload.{f['name']}" for f in _fields(schedule["task"])]
    form = {"cron": str(data.get("cron", "")).strip(), "timezone": str(data.get("timezone", "")).strip(),
            "sinks": [str(s) for s in data.getlist("sinks")], "enabled": data.get("enabled") == "on",
            "catch_up": str(data.get("catch_up", "")).strip(),
            "payload": {name.removeprefix("payload."): str(data.get(name, "")).strip() for name in shown}}
    seen = seen_change(data)
    payload, errors = await run_in_threadpool(_check, schedule, form)
    errors |= repeated_fields(data, ("cron", "timezone", "catch_up", "enabled", *shown))  # `enabled=on&enabled=` disabled it
    # text no store can hold: said as such beside its field, rather than what a check made of it
    errors |= text_errors({**{k: v for k, v in form.items() if k != "payload"}, **{f"payload.{k}": v for k, v in form["payload"].items()}},
                          what={"sinks": "sink"})
    # the page lists the sinks in its own order: the same ones as stored keep the stored order (no edit)
    sinks = schedule["sinks"] if sorted(form["sinks"]) == sorted(schedule["sinks"] or []) else form["sinks"]
    if not errors:
        try:
            await run_in_threadpool(lambda: set_schedule(
                store, schedule_id, cron=form["cron"], timezone=form["timezone"], payload=payload, sinks=sinks,
                enabled=form["enabled"], catch_up=form["catch_up"], updated_by=caller.name, seen_edit=seen))
        except PayloadError as exc:  # what the schedule's run would refuse (`validate_schedule`)
            errors |= payload_errors(exc, _given(form["payload"]))
        except ConflictError as exc:  # edited since this form's page was opened: sent again, it replaces that edit
            errors["form"], seen = str(exc), None
        except HaloError as exc:
            errors["form"] = str(exc)
    if errors:
        return await run_in_threadpool(_edit_page, request, caller, store, schedule, form, errors, 422, seen)
    return done_redirect(request, f"/ui/schedules/{schedule_id}", "saved")
