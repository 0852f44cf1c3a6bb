"""The Control Center's Tasks page: every task, and a request form generated from the task's
payload schema (`Task.form_schema()`), submitted through `reports.requests.create_request`,
the same function as the API and the CLI."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from halo_platform.access.guard import Caller
from halo_platform.core.errors import HaloError, NotFoundError
from halo_platform.core.http import repeated_error, repeated_fields, resource
from halo_platform.core.store import StoreResource
from halo_platform.reports.requests import (
    DefaultSinkMissing,
    IdempotencyConflict,
    SubmissionUnanswered,
    create_request,
    prepare_request,
)
from halo_platform.reports.task import PayloadError, Task, get_task, load_tasks
from halo_platform.sinks import SinksResource, UnknownSink
from halo_platform.ui.app import render, role_at_least, signed_in, text_errors

router = APIRouter(include_in_schema=False)
NO_SINK = "pick at least one sink to deliver to"

# What an <input> looks like for each form type; money is exact text with two decimals. Numbers
# are text too: what a number input cannot read ("2-3" days) it sends empty while showing it, and
# an empty field takes the task's default without a word; as text, it is refused beside its field.
INPUTS = {
    "date": {"type": "date"},
    "money": {"type": "text", "inputmode": "decimal", "step": "0.01", "pattern": r"-?\d+(\.\d{1,2})?"},
    "decimal": {"type": "text", "inputmode": "decimal"},
    "integer": {"type": "text", "inputmode": "numeric"},
    "number": {"type": "text", "inputmode": "decimal"},
}


@router.get("/ui/tasks", response_class=HTMLResponse)
def tasks_page(request: Request, caller: Caller = Depends(signed_in())) -> HTMLResponse:
    return render(request, "tasks.html", caller, tasks=sorted(load_tasks().values(), key=lambda t: t.name))


def _task_or_404(request: Request, caller: Caller, name: str) -> Task | HTMLResponse:
    try:
        return get_task(name)
    except NotFoundError as exc:
        return render(request, "tasks_missing.html", caller, status=404, message=str(exc))


def _fields(task: Task) -> list[dict[str, Any]]:
    """The payload fields a form shows (sinks are checkboxes of their own), with their input attributes."""
    fields = []
    for field in task.form_schema():
        if field["name"] == "sinks":
            continue
        attrs = dict(INPUTS.get(field["type"], {"type": "text"}))
        if field["type"] in ("integer", "number", "money", "decimal"):
            for bound, attr in (("minimum", "min"), ("maximum", "max")):
                if bound in field:
                    attrs[attr] = field[bound]
        fields.append({**field, "attrs": attrs})
    return fields


def _form(request: Request, caller: Caller, task: Task, sinks: SinksResource, values: dict[str, Any],
          chosen: list[str], errors: dict[str, str] | None = None, status: int = 200, key: str | None = None) -> HTMLResponse:
    """The form with a new one-time idempotency key (`key`: the one it was sent with, kept): each
    form rendered is one request at most."""
    return render(request, "tasks_form.html", caller, status=status, task=task, fields=_fields(task),
                  sink_names=sinks.names(), values=values, chosen=chosen, errors=errors or {},
                  may_request=role_at_least(caller, "operator"), idempotency_key=key or secrets.token_urlsafe(24))


@router.get("/ui/tasks/{name}", response_class=HTMLResponse)
def task_form(name: str, request: Request, caller: Caller = Depends(signed_in()),
              sinks: SinksResource = Depends(resource("sinks"))) -> HTMLResponse:
    task = _task_or_404(request, caller, name)
    if isinstance(task, HTMLResponse):
        return task
    defaults = {f["name"]: f["default"] for f in task.form_schema() if f["default"] is not None}
    return _form(request, caller, task, sinks, defaults, list(task.default_sinks))


def payload_from_form(task: Task, form: dict[str, Any]) -> dict[str, Any]:
    """The form's values as a payload: an empty optional field is left out (the task's default
    applies, as on the API); a checkbox is a boolean; everything else stays text for the task's
    own validation to parse (dates, money) and to refuse with its reason."""
    payload: dict[str, Any] = {}
    for field in task.form_schema():
        name = field["name"]
        if name == "sinks":
            continue
        if field["type"] == "boolean":
            payload[name] = name in form
            continue
        raw = str(form.get(name, "")).strip()
        if raw == "" and not field["required"]:
            continue
        if field["type"].startswith("list["):
            payload[name] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            payload[name] = raw
    return payload


@router.post("/ui/tasks/{name}", response_model=None)
async def request_task(name: str, request: Request, caller: Caller = Depends(signed_in("operator")),
                       store: StoreResource = Depends(resource("store")),
                       sinks: SinksResource = Depends(resource("sinks"))) -> HTMLResponse | RedirectResponse:
    task = _task_or_404(request, caller, name)
    if isinstance(task, HTMLResponse):
        return task
    form = await request.form()
    values = {k: v for k, v in form.items() if k not in ("csrf_token", "sinks", "idempotency_key")}
    chosen = [str(s) for s in form.getlist("sinks")]
    # the form's one-time key: the same form sent again (back and resubmit, a retry) is the same request
    key = str(form.get("idempotency_key", "")) or None
    payload = payload_from_form(task, dict(form))
    errors = text_errors({**payload, "sinks": chosen}, what={"sinks": "sink"}) | repeated_fields(form, [f["name"] for f in _fields(task)])
    if twice := repeated_error(form, ("idempotency_key",)):  # the hidden one-time key: the last was taken
        errors["form"] = twice
    if not chosen:  # every box unticked: no silent delivery to the task's defaults (a request lists one or more sinks)
        errors.setdefault("sinks", NO_SINK)
    elif "sinks" not in errors:  # one gone from the file since the page was drawn: said with the payload's errors, not after
        try:
            await run_in_threadpool(sinks.validate_names, chosen)
        except UnknownSink as exc:
            errors["sinks"] = str(exc)
    if errors.keys() == {"sinks"}:  # the payload's own errors too, in the same answer
        try:
            await run_in_threadpool(prepare_request, task.name, payload, None)
        except PayloadError as exc:
            errors |= {d["field"]: d["reason"] for d in exc.detail}
        except (UnknownSink, DefaultSinkMissing):  # the task's default sinks, which this request does not use
            pass
        except HaloError as exc:
            errors.setdefault("form", str(exc))
    if errors:
        return _form(request, caller, task, sinks, values, chosen, errors, status=422)
    try:
        created = await run_in_threadpool(create_request, store, task.name, payload, chosen or None,
                                          requested_by=caller.name, trigger="manual", idempotency_key=key)
    except PayloadError as exc:
        errors = {d["field"]: d["reason"] for d in exc.detail}
        return _form(request, caller, task, sinks, values, chosen, errors, status=422)
    except IdempotencyConflict as exc:  # this form was sent before with other values: a new form makes a new request
        first = exc.request["request_id"]
        why = f"This form was already sent, with other values, as request {first}; send it again to make a new request."
        return _form(request, caller, task, sinks, values, chosen, {"form": why}, status=409)
    except UnknownSink as exc:
        return _form(request, caller, task, sinks, values, chosen, {"sinks": str(exc)}, status=422)
    except SubmissionUnanswered as exc:  # the run may be queued: the form sent again, with its key, is the same request
        return _form(request, caller, task, sinks, values, chosen, {"form": str(exc)}, status=exc.http_status, key=key)
    except HaloError as exc:  # a run that could not start
        return _form(request, caller, task, sinks, values, chosen, {"form": str(exc)}, status=422)
    return RedirectResponse(f"/ui/requests/{created['request_id']}", status_code=303)
