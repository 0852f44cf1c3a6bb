"""The Control Center's Providers page: each provider's autopilot state, its error rate and
traffic share per hour over the last day (a uPlot chart), and the autopilot's decisions.

Read-only, for every role: no domain function changes a provider's state by hand (the
autopilot alone writes `provider_state`; `halo delivery providers` only lists), so the page
offers none rather than writing to the table itself."""

from __future__ import annotations

import json

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from halo_platform.access.guard import Caller
from halo_platform.core.http import resource
from halo_platform.core.store import StoreResource
from halo_platform.delivery.autopilot import hourly_traffic, provider_table, state_changes
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.ui.app import render, signed_in

router = APIRouter(include_in_schema=False)


def _page_data(providers: ProvidersResource, store: StoreResource) -> dict:
    config = providers.config()
    traffic = hourly_traffic(config, store)
    chart = {  # uPlot's columns: x in Unix seconds, then one series per provider
        "x": [int(h.timestamp()) for h in traffic["hours"]],
        "series": [{"name": name, **{k: p[k] for k in ("channel", "error_rate", "share", "attempts")}}
                   for name, p in traffic["providers"].items()],
    }
    return {"rows": provider_table(config, store), "changes": state_changes(store), "chart": json.dumps(chart).replace("<", "\\u003c"),  # inert inside <script>
            "window_minutes": config.autopilot.window_minutes}


@router.get("/ui/providers")
async def providers_page(request: Request, caller: Caller = Depends(signed_in()), store: StoreResource = Depends(resource("store")),
                         providers: ProvidersResource = Depends(resource("providers"))) -> HTMLResponse:
    return render(request, "providers.html", caller, **await run_in_threadpool(_page_data, providers, store))
