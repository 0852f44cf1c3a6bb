"""The Control Center's Routing page."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
