"""The Control Center's Requests page: the audit log of task requests (`reports.audit`), filtered
by task, status, requester and creation date; a request's page with its live status, outputs
(downloadable), deliveries and the link to its Dagster run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse

from halo_platform.access.guard import Caller
from halo_platform.core.errors import NotFoundError
from halo_platform.core.files import media_type
from halo_platform.core.http import resource
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.core.text import echo, unstorable, yyyy_mm_dd
from halo_platform.reports.audit import (
    MEANING,
    STATUSES,
    TERMINAL,
    get_request,
    log_page,
    logged_tasks,
)
from halo_platform.ui.app import render, signed_in, text_errors

router = APIRouter(include_in_schema=False)
LIMIT = 200  # rows of the audit log on one page; filters narrow it, older ones a link away


def _day(raw: str, name: str, errors: dict[str, str]) -> dt.datetime | None:
    """Midnight UTC of an ISO date from the filter form (its labels say UTC: the table's times are UTC);
    a bad one is an error beside its field."""
    if not raw or name in errors:
        return None
    try:
        return dt.datetime.combine(yyyy_mm_dd(raw), dt.time(), dt.UTC)
    except ValueError:
        errors[name] = f"not a date (YYYY-MM-DD): {raw}"
        return None


def _cursor(raw: str, errors: dict[str, str]) -> tuple[dt.datetime, str] | None:
    """The request a page of the log starts past, from the link to it (`created_at request_id`, the
    last request of the page before); text no link wrote (no zone, no id, a time out of range) is an error."""
    if not raw or "older_than" in errors:
        return None
    at, _, request_id = raw.partition(" ")
    try:
        created_at = dt.datetime.fromisoformat(at)
        if request_id and created_at.tzinfo is not None:
            return created_at.astimezone(dt.UTC), request_id
    except (ValueError, OverflowError):  # year 1 at UTC+05:00 is before year 1 in UTC
        pass
    errors["older_than"] = f"not a page of the log: {echo(raw)}"
    return None


@router.get("/ui/requests", response_class=HTMLResponse)
def requests_page(request: Request, caller: Caller = Depends(signed_in()),
                  store: StoreResource = Depends(resource("store")),
                  task: str = "", status: str = "", who: str = "", since: str = "", before: str = "",
                  older_than: str = "") -> HTMLResponse:
    filters = {"task": task.strip(), "status": status.strip().upper(), "who": who.strip(), "since": since.strip(),
               "before": before.strip()}
    tasks = logged_tasks(store)  # a retired task's too: its requests stay findable
    errors = text_errors({**filters, "older_than": older_than},
                         what={"who": "name", "since": "date", "before": "date", "older_than": "page of the log"})
    if filters["task"] and filters["task"] not in tasks:
        errors.setdefault("task", f"unknown task; known: {', '.join(tasks)}")
    if filters["status"] and filters["status"] not in STATUSES:
        errors.setdefault("status", f"unknown status; one of {', '.join(STATUSES)}")
    created_from = _day(filters["since"], "since", errors)
    created_before = _day(filters["before"], "before", errors)
    if created_from and created_before and created_before <= created_from:
        errors["before"] = "must be after the 'created from' date"
    cursor = _cursor(older_than, errors)
    rows: list[dict[str, Any]] = []
    shown_rows = None  # (first, last, of all): the page's place in the log, counted with the filters
    if not errors:  # one more than shown: whether older ones exist (exactly LIMIT rows said so)
        chosen = {"task": filters["task"] or None, "status": filters["status"] or None, "requested_by": filters["who"] or None,
                  "created_from": created_from, "created_before": created_before, "older_than": cursor}
        rows, counted = log_page(store, LIMIT + 1, **chosen)
        if counted:
            total, before = counted
            shown_rows = (before + 1, before + min(len(rows), LIMIT), total)
    shown = {name: value for name, value in filters.items() if value}  # the links page the same filters
    older = (urlencode({**shown, "older_than": f"{rows[LIMIT - 1]['created_at']} {rows[LIMIT - 1]['request_id']}"})
             if len(rows) > LIMIT else None)
    return render(request, "requests.html", caller, status=422 if errors else 200, rows=rows[:LIMIT], filters=filters,
                  errors=errors, tasks=tasks, statuses=STATUSES, older=older, shown_rows=shown_rows,
                  newest=urlencode(shown) if older_than else None)


def _request_or_404(request: Request, caller: Caller, store: StoreResource,
                    request_id: str) -> dict[str, Any] | HTMLResponse:
    if not unstorable(request_id):  # else no request has it: nothing to look up
        try:
            return get_request(store, request_id)
        except NotFoundError:
            pass
    return render(request, "requests_missing.html", caller, status=404, request_id=request_id)


def _context(found: dict[str, Any]) -> dict[str, Any]:
    """What a request's page shows; each output as (position, label, downloadable): a link only
    where the request's own file is there to download (not for an email or a chat message)."""
    root = get_settings().home / "outputs"
    outputs = [(i, output_name(o) or o, output_file(found, str(i), root) is not None)
               for i, o in enumerate(found["outputs"] or [])]
    return {"req": found, "terminal": found["status"] in TERMINAL, "meaning": MEANING.get(found["status"], ""),
            "outputs": outputs, "dagster_url": f"{get_settings().dagster_ui_url}/runs/{found['request_id']}"}


@router.get("/ui/requests/{request_id}", response_class=HTMLResponse)
def request_page(request_id: str, request: Request, caller: Caller = Depends(signed_in()),
                 store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    found = _request_or_404(request, caller, store, request_id)
    if isinstance(found, HTMLResponse):
        return found
    return render(request, "requests_detail.html", caller, **_context(found))


@router.get("/ui/requests/{request_id}/live", response_class=HTMLResponse)
def request_live(request_id: str, request: Request, caller: Caller = Depends(signed_in()),
                 store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    """The part of a request's page that changes while it runs; htmx polls it until a terminal
    status (the fragment served then has no polling trigger, so polling stops)."""
    found = _request_or_404(request, caller, store, request_id)
    if isinstance(found, HTMLResponse):
        return found
    return render(request, "requests_live.html", caller, **_context(found))


def output_name(output: str) -> str:
    """The file name an output (a URL or a path) ends with ('' for none)."""
    return PurePosixPath(unquote(urlsplit(output).path)).name


def output_file(found: dict[str, Any], index: str, outputs_root: Path) -> Path | None:
    """The file of output number `index` of the request: the one its run built and keeps under
    `outputs_root/<request_id>/`, named as the output names it; None when the index names no output
    or that file is gone. Never a sink's copy: a later request of the same period writes a file of
    the same name there. The URL names an output by its position, never by a path the browser could
    choose, and the file is looked up by its bare name in the request's own folder only."""
    outputs = found["outputs"] or []
    # its digits counted first: int() refuses more than 4,300 of them (a ValueError, a 500), and no output is that far
    if (not (index.isascii() and index.isdigit()) or len(index.lstrip("0")) > len(str(len(outputs)))
            or int(index) >= len(outputs)):
        return None
    name = output_name(outputs[int(index)])
    own = (outputs_root / found["request_id"]).resolve()
    path = own / name
    if name in ("", ".", "..") or own.parent != outputs_root.resolve() or not path.is_file() or path.is_symlink():
        return None
    return path


@router.get("/ui/requests/{request_id}/outputs/{index}", response_model=None)
async def download_output(request_id: str, index: str, request: Request, caller: Caller = Depends(signed_in()),
                          store: StoreResource = Depends(resource("store"))) -> FileResponse | HTMLResponse:
    found = await run_in_threadpool(_request_or_404, request, caller, store, request_id)
    if isinstance(found, HTMLResponse):
        return found
    path = await run_in_threadpool(output_file, found, index, get_settings().home / "outputs")
    if path is None:
        return render(request, "requests_missing.html", caller, status=404, request_id=request_id,
                      output=index)
    return FileResponse(path, filename=path.name, media_type=media_type(path))
