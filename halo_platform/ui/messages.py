"""The Control Center's Messages page: look a message up by id or idempotency key and read its
lifecycle. The view comes from `delivery.service.find_message`, which masks the recipient, the
idempotency key and event details, so the full number or address never reaches the page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from halo_platform.access.guard import Caller
from halo_platform.core.errors import NotFoundError
from halo_platform.core.http import resource
from halo_platform.core.store import StoreResource
from halo_platform.delivery.service import find_message
from halo_platform.ui.app import render, signed_in, text_error

router = APIRouter(include_in_schema=False)


@router.get("/ui/messages")
async def messages(request: Request, q: str = "", caller: Caller = Depends(signed_in()),
                   store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    if not q.strip():  # kept as typed otherwise: an idempotency key may hold spaces (find_message)
        return render(request, "messages.html", caller, q="", message=None, errors={})
    if error := text_error(q, "message id or idempotency key"):
        return render(request, "messages.html", caller, status=422, q=q, message=None, errors={"q": error})
    try:
        message = await run_in_threadpool(find_message, q, store)
    except NotFoundError:
        return render(request, "messages.html", caller, status=404, q=q, message=None,
                      errors={"q": "No message has this id or idempotency key."})
    return render(request, "messages.html", caller, q=q, message=message, errors={})
