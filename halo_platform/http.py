"""The HTTP service root: one FastAPI app; each domain adds its `ROUTERS` from `<domain>/api.py`,
access its sign-in pages, `ui` the Control Center's pages. Every route but `/health`, sign-in and the provider callbacks needs an
identity (`access.guard.requires`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from halo_platform.access import ui as access
from halo_platform.access.guard import requires
from halo_platform.availability import api as availability
from halo_platform.core.http import make_app
from halo_platform.core.settings import get_settings
from halo_platform.delivery import api as delivery
from halo_platform.reports import api as reports
from halo_platform.ui import access as ui_access
from halo_platform.ui import app as ui
from halo_platform.ui import availability as ui_availability
from halo_platform.ui import home as ui_home
from halo_platform.ui import messages as ui_messages
from halo_platform.ui import providers as ui_providers
from halo_platform.ui import requests as ui_requests
from halo_platform.ui import routing as ui_routing
from halo_platform.ui import schedules as ui_schedules
from halo_platform.ui import tasks as ui_tasks

ROUTERS = (*access.ROUTERS, *reports.ROUTERS, *availability.ROUTERS, *delivery.ROUTERS)
# the Control Center's pages, in its navigation order
PAGES = (ui_home, ui_tasks, ui_requests, ui_schedules, ui_routing, ui_providers, ui_messages, ui_availability, ui_access)


def create_app(resources: Mapping[str, Any] | None = None) -> FastAPI:
    """The app over `resources` (default: the resources bound by the code location)."""
    if resources is None:
        from halo_platform.definitions import defs

        resources = defs.resources
    app = make_app((*ROUTERS, *(page.router for page in PAGES)), resources, requires(None))
    ui.install(app)
    app.state.rate_per_second = get_settings().api_rate_per_second
    return app
