"""`/ui`: the Control Center's front door leads to its first page."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse

from halo_platform.access.guard import Caller
from halo_platform.ui.app import PAGES, signed_in

router = APIRouter(include_in_schema=False)


@router.get("/ui")
def home(caller: Caller = Depends(signed_in())) -> RedirectResponse:  # noqa: ARG001 - signed in first
    return RedirectResponse(PAGES[0][0], status_code=303)
