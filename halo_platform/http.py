"""The HTTP service root: one FastAPI app; each domain adds its `ROUTERS` from `<domain>/api.py`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from halo_platform.availability import api as availability
from halo_platform.core.http import make_app
from halo_platform.delivery import api as delivery
from halo_platform.reports import api as reports

ROUTERS = (*reports.ROUTERS, *availability.ROUTERS, *delivery.ROUTERS)


def create_app(resources: Mapping[str, Any] | None = None) -> FastAPI:
    """The app over `resources` (default: the resources bound by the code location)."""
    if resources is None:
        from halo_platform.definitions import defs

        resources = defs.resources
    return make_app(ROUTERS, resources)
