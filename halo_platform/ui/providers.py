"""The Control Center's Providers page: each provider's autopilot state, its error rate and
traffic share per hour over the last day (a uPlot chart), and the state changes with their
reasons. Every role reads it; an admin also switches a provider off by hand or hands it back to
the autopilot (with a required reason), through `autopilot.set_manual`, the function of
`halo delivery switch`."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from halo_platform.access.guard import Caller
from halo_platform.core.errors import HaloError
from halo_platform.core.http import repeated_error, resource
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import hourly_traffic, provider_table, set_manual, state_changes
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.ui.app import render, row_id, seen_change, signed_in, text_error

router = APIRouter(include_in_schema=False)
CHANGES_ROWS = 50  # state changes on a page; older ones a link away


def _page_data(providers: ProvidersResource, store: StoreResource, before: int | None = None) -> dict:
    """What the page shows; its state changes those listed after change `before` (default: the newest)."""
    config = providers.config()
    traffic = hourly_traffic(config, store)
    chart = {  # uPlot's columns: x in Unix seconds, then one series per provider
        "x": [int(h.timestamp()) for h in traffic["hours"]],
        "series": [{"name": name, **{k: p[k] for k in ("channel", "error_rate", "share", "attempts")}}
                   for name, p in traffic["providers"].items()],
    }
    changes = state_changes(store, CHANGES_ROWS + 1, before)
    return {"rows": provider_table(config, store), "changes": changes[:CHANGES_ROWS], "before": before,
            "older": changes[CHANGES_ROWS - 1]["id"] if len(changes) > CHANGES_ROWS else None, "chart": json.dumps(chart).replace("<", "\\u003c"),  # inert inside <script>
            "window_minutes": config.autopilot.window_minutes}


@router.get("/ui/providers")
async def providers_page(request: Request, before: str = "", caller: Caller = Depends(signed_in()), store: StoreResource = Depends(resource("store")),
                         providers: ProvidersResource = Depends(resource("providers"))) -> HTMLResponse:
    page = await run_in_threadpool(_page_data, providers, store, row_id(before))
    return render(request, "providers.html", caller, errors={}, form={}, **page)


@router.post("/ui/providers/switch")
async def switch(request: Request, caller: Caller = Depends(signed_in("admin")), store: StoreResource = Depends(resource("store")),
                 providers: ProvidersResource = Depends(resource("providers"))) -> HTMLResponse:
    data = await request.form()
    name, state, reason = str(data.get("provider", "")), str(data.get("state", "")), str(data.get("reason", ""))
    try:
        if twice := repeated_error(data, ("provider", "state", "reason", "seen")):  # `state=off&state=auto` was applied as auto
            raise HaloError(twice)
        if state not in ("off", "auto"):
            raise HaloError("choose off or auto")
        if error := text_error(reason, "reason"):  # the provider's name is one of the configured ones, or refused
            raise HaloError(error)
        config = await run_in_threadpool(providers.config)  # reads the providers file: not on the event loop
        await run_in_threadpool(set_manual, config, name, state == "off", caller.name, reason, store, seen_change=seen_change(data))
    except HaloError as exc:
        page = await run_in_threadpool(_page_data, providers, store)
        # beside the reason of the provider's row; a provider the page has no row of (gone from the
        # providers file since the page was opened): above the table
        field = f"reason.{name}" if any(r["provider"] == name for r in page["rows"]) else "form"
        return render(request, "providers.html", caller, status=422, errors={field: str(exc)}, form={f"reason.{name}": reason}, **page)
    return RedirectResponse("/ui/providers", status_code=303)
