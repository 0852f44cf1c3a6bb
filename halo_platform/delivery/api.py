"""HTTP: `POST /v1/messages/{sms,email,push}`, `GET /v1/messages/{id}`, `POST /v1/callbacks/{provider}`,
`POST /v1/inbound/{provider}` (opt-out keywords), `POST /v1/suppressions`, `POST /v1/suppressions/lift`."""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from halo_platform.access.guard import Caller, requires
from halo_platform.core.errors import HaloError, NotFoundError
from halo_platform.core.http import (
    CHANGES_STATE,
    NOT_JSON,
    ChecksFirstRoute,
    not_json_media,
    refuse_head,
    resource,
    unknown_parameters,
)
from halo_platform.core.store import StoreResource
from halo_platform.core.text import unique_keys
from halo_platform.delivery import schemas
from halo_platform.delivery.resources import ProvidersResource

router = APIRouter(tags=["delivery"], route_class=ChecksFirstRoute)


async def _json_object(request: Request) -> dict[str, Any]:
    """The request's JSON object; a key given twice (at any depth) is refused, not read as the last.
    An `Idempotency-Key` header (the task API's way to name a request) is its `idempotency_key`.
    As on every other JSON route (`ChecksFirstRoute`, which lets a route reading the request
    itself be), a body of another media type and a query parameter (none is taken) are refused."""
    if unknown := unknown_parameters(request.query_params, ()):
        raise HaloError(unknown)
    if wrong := await not_json_media(request):
        raise HaloError(wrong)
    try:
        body = json.loads(await request.body(), object_pairs_hook=unique_keys)
    except ValueError:
        raise HaloError(NOT_JSON) from None
    if not isinstance(body, dict):
        raise HaloError("body: must be a JSON object")
    header = request.headers.get("idempotency-key")
    if header is None:
        return body
    if body.get("idempotency_key", header) != header:
        raise HaloError("Idempotency-Key: the header and the body's idempotency_key differ; send one")
    return {**body, "idempotency_key": header}


def _send(channel: str, body: dict[str, Any], store: StoreResource, providers: ProvidersResource, caller: Caller) -> JSONResponse:
    from halo_platform.delivery.service import submit

    view, _created = submit(channel, body, store=store, providers=providers, created_by=caller.name,
                            sender_key=caller.name if caller.kind == "key" else None, sender_prefix=caller.key_prefix)
    if view["priority"] == "HIGH":
        return JSONResponse({"id": view["id"], "status": view["status"], "provider": view["provider"]}, status_code=201)
    return JSONResponse({"id": view["id"], "status": view["status"]}, status_code=202)


@router.post("/v1/messages/sms", status_code=202, summary="Send an SMS", openapi_extra=schemas.openapi_extra("sms"), responses=schemas.RESPONSES)
async def post_sms(request: Request, store: StoreResource = Depends(resource("store")),
                    providers: ProvidersResource = Depends(resource("providers")),
                    caller: Caller = Depends(requires("messages:send"))) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_send, "sms", await _json_object(request), store, providers, caller)


@router.post("/v1/messages/email", status_code=202, summary="Send an email", openapi_extra=schemas.openapi_extra("email"), responses=schemas.RESPONSES)
async def post_email(request: Request, store: StoreResource = Depends(resource("store")),
                    providers: ProvidersResource = Depends(resource("providers")),
                    caller: Caller = Depends(requires("messages:send"))) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_send, "email", await _json_object(request), store, providers, caller)


@router.post("/v1/messages/push", status_code=202, summary="Send a push notification", openapi_extra=schemas.openapi_extra("push"), responses=schemas.RESPONSES)
async def post_push(request: Request, store: StoreResource = Depends(resource("store")),
                    providers: ProvidersResource = Depends(resource("providers")),
                    caller: Caller = Depends(requires("messages:send"))) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_send, "push", await _json_object(request), store, providers, caller)


@router.get("/v1/messages/{message_id}", dependencies=[Depends(requires("messages:read"))], summary="A message's status, provider, retries and lifecycle events")
def get_message(message_id: str, store: StoreResource = Depends(resource("store"))) -> dict[str, Any]:
    from halo_platform.delivery.service import message_view

    return message_view(message_id, store)


async def _from_provider(handle, provider: str, request: Request, store: StoreResource, providers: ProvidersResource) -> JSONResponse:  # noqa: ANN001
    """Hand a provider's request, as its signature checks read it, to `handle` (callbacks or
    inbound messages); a refused one is 401/400 with the reason."""
    refuse_head(request)  # a GET callback applies a receipt or an inbound STOP
    from starlette.concurrency import run_in_threadpool

    from halo_platform.delivery.providers.base import CallbackRejected, CallbackRequest

    incoming = CallbackRequest(url=str(request.url), method=request.method, headers={k.lower(): v for k, v in request.headers.items()},
                               body=await request.body(), query=request.query_params.multi_items())
    try:
        answer = await run_in_threadpool(handle, provider, incoming, store, providers)
    except CallbackRejected as exc:
        return JSONResponse({"error": str(exc), "detail": None}, status_code=exc.status)
    return JSONResponse(answer, status_code=200)


async def callback(provider: str, request: Request, store: StoreResource = Depends(resource("store")),
                   providers: ProvidersResource = Depends(resource("providers"))) -> JSONResponse:
    from halo_platform.delivery.callbacks import handle_callback

    return await _from_provider(handle_callback, provider, request, store, providers)


async def inbound(provider: str, request: Request, store: StoreResource = Depends(resource("store")),
                  providers: ProvidersResource = Depends(resource("providers"))) -> JSONResponse:
    from halo_platform.delivery.inbound import handle_inbound

    return await _from_provider(handle_inbound, provider, request, store, providers)


class LiftIn(BaseModel):
    """A suppression to lift: its recipient on a channel, as `SuppressionIn` names them, and why."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"channel": "sms", "to": "+33612345678", "reason": "consent given again"}]})
    channel: Literal["sms", "email", "push"]
    to: str = Field(description="Phone number (E.164, or national with `country`), email address or device token")
    country: str | None = Field(None, min_length=2, max_length=2)
    reason: str | None = Field(None, max_length=255)


class SuppressionIn(LiftIn):
    """A recipient who wants no more NORMAL/LOW messages on a channel (`all`: no HIGH either)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"channel": "sms", "to": "+33612345678", "reason": "asked by phone"}]})
    scope: str = Field("normal", description="`normal` (no NORMAL/LOW messages) or `all` (no HIGH either); any letter case")


@router.post("/v1/suppressions", summary="Opt a recipient out of a channel", status_code=201)
def post_suppression(body: SuppressionIn, store: StoreResource = Depends(resource("store")),
                     caller: Caller = Depends(requires("messages:send"))) -> dict[str, Any]:
    from halo_platform.delivery.suppressions import suppress

    return suppress(store, body.channel, body.to, scope=body.scope, reason=body.reason, created_by=caller.name, country=body.country)


@router.post("/v1/suppressions/lift", summary="Lift a recipient's opt-out of a channel (admin: a consent decision)",
             responses={404: {"description": "No suppression of that recipient on the channel: nothing to lift"}})
def post_suppression_lift(body: LiftIn, store: StoreResource = Depends(resource("store")),
                          caller: Caller = Depends(requires("admin"))) -> dict[str, Any]:
    """Lift the suppression of `to` on `channel` (the CLI's `halo delivery unsuppress`), recorded in
    its history by the caller's name and the reason. Scope `admin`, not `messages:send` which adds
    one: messaging someone who said STOP again is a consent decision, not a sending team's."""
    from halo_platform.delivery.suppressions import unsuppress

    if not unsuppress(store, body.channel, body.to, reason=body.reason, lifted_by=caller.name, country=body.country):
        raise NotFoundError(f"no suppression of that recipient on {body.channel}")
    return {"lifted": True, "channel": body.channel}


ROUTERS = (router,)


# what a provider posts, as its own wire format has it (providers.md); read raw, since the signature
# covers the bytes (or the form fields) as sent
_PROVIDER_BODY = {"requestBody": {"required": True, "description": "The provider's own request as it sends it (providers.md): "
                                  "form fields (Twilio, Vonage) or JSON (an event or a list of events)", "content": {
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "additionalProperties": {"type": "string"}}},
    "application/json": {"schema": {"anyOf": [{"type": "object"}, {"type": "array", "items": {"type": "object"}}]}}}}}
_PROVIDER_REFUSALS = {400: {"description": "The body is not what the provider sends"},
                      401: {"description": "The provider's signature (or shared secret) is missing, wrong or too old"}}

# one handler, two methods (Vonage may send receipts by GET); distinct operation ids keep OpenAPI valid.
# Such a GET changes state: HEAD is not let into it (core.http.HeadAsGet)
for _handler in (callback, inbound):
    setattr(_handler, CHANGES_STATE, True)
# A provider's console may be given the URL with a trailing slash: it is answered there too, never
# redirected (the provider signed the slashed URL, and the request posted again elsewhere fails it)
for _method in ("POST", "GET"):
    _body = _PROVIDER_BODY if _method == "POST" else None
    for _slash in ("", "/"):
        router.add_api_route(f"/v1/callbacks/{{provider}}{_slash}", callback, methods=[_method], include_in_schema=not _slash,
                             operation_id=f"provider_callback_{_method.lower()}", summary="Provider status callbacks (signature verified)",
                             responses=_PROVIDER_REFUSALS, openapi_extra=_body)
        router.add_api_route(f"/v1/inbound/{{provider}}{_slash}", inbound, methods=[_method], include_in_schema=not _slash,
                             operation_id=f"provider_inbound_{_method.lower()}",
                             summary="Inbound SMS from Twilio or Vonage (signature verified): STOP opts the sender out, START back in",
                             responses=_PROVIDER_REFUSALS, openapi_extra=_body)
