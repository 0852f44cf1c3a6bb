"""HTTP API of task requests: `POST /v1/tasks/{task}/requests`, `GET /v1/task-requests/{id}`."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import dagster_graphql  # noqa: F401 - the client `submit_run` imports, loaded at start-up: the first request is not slower
from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from halo_platform.access.guard import Caller, requires
from halo_platform.core.http import ChecksFirstRoute, resource
from halo_platform.core.store import StoreResource
from halo_platform.reports.audit import STATUSES, get_request
from halo_platform.reports.requests import (  # at start-up: the first request is not slower
    create_request,
    warm_up_webserver,
)
from halo_platform.reports.task import JsonNumber, PayloadError
from halo_platform.sinks import UnknownSink


@contextlib.asynccontextmanager
async def _warm_up(_app: Any) -> AsyncIterator[None]:
    """The Dagster webserver warmed up for the first request, in the background: the API starts
    without waiting for it."""
    threading.Thread(target=warm_up_webserver, name="warm-up-dagster-webserver", daemon=True).start()
    yield


router = APIRouter(tags=["report tasks"], lifespan=_warm_up, route_class=ChecksFirstRoute)


class TaskRequestIn(BaseModel):
    """A request of a task; who asks is the caller (API key or user), never a field's value."""

    model_config = ConfigDict(extra="forbid")
    payload: dict[str, Any] = Field(default_factory=dict, description="The task's payload (see `payload_schema` in GET /v1/tasks)")
    sinks: list[str] | None = Field(None, description="Sink names; default: the task's default sinks")
    # reports.md documents the field; access.md makes the caller the requester, so its value is dropped
    requested_by: str | None = Field(None, description="Accepted and ignored: the request records the caller "
                                     "(the API key's or the signed-in user's name) as requested_by")


@router.get("/v1/tasks", dependencies=[Depends(requires("tasks:read"))])
def list_tasks() -> list[dict[str, Any]]:
    """The tasks, their owners, default sinks and payload JSON schema."""
    from halo_platform.reports.task import load_tasks

    return [
        {"task": t.name, "description": t.description, "owner": t.owner, "default_sinks": list(t.default_sinks),
         "payload_schema": t.config.model_json_schema(), "payload_form": t.form_schema()}
        for t in load_tasks().values()
    ]


async def payload_as_written(request: Request) -> Any:  # noqa: ANN401 - the caller's JSON
    """The body's `payload` with its numbers as written (`JsonNumber`), which the task's schema
    judges (FastAPI reads them as floats: 99999999999.999999 was the money 100000000000.00); None
    for a body with none, or one FastAPI refuses (a 422 before the route runs)."""
    try:
        body = json.loads(await request.body(), parse_float=JsonNumber)
    except (ValueError, RecursionError):
        return None
    return body.get("payload") if isinstance(body, dict) else None


class TaskRequestAccepted(BaseModel):
    request_id: str
    status: str = Field(description="QUEUED: the Dagster run is submitted")


@router.post("/v1/tasks/{task}/requests", status_code=202, response_model=TaskRequestAccepted, responses={
    409: {"description": "The Idempotency-Key was sent before with another task or payload; nothing is queued",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    503: {"description": "The Dagster webserver did not take the run (not running, or refused it), or the request names no"
                         " sinks and a default sink of the task is not in the server's sinks file; nothing is queued",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
    504: {"description": "The Dagster webserver took the submission and did not answer in time: the run may be queued; "
                         "sent again with the same Idempotency-Key, the request runs once",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}})
async def request_task(task: str, body: TaskRequestIn, store: StoreResource = Depends(resource("store")),
                       caller: Caller = Depends(requires("tasks:request")), payload: Any = Depends(payload_as_written),
                       idempotency_key: str | None = Header(None, alias="Idempotency-Key", description=(
                           "Optional, the caller's own: a request repeated with the same key (a retry) answers "
                           "with the first request and queues nothing"))) -> dict[str, str]:
    """Validate the payload (422 naming the field and the reason, nothing queued) and submit the run
    to the Dagster webserver (503 when it does not take it or the task's default sinks are not in the sinks
    file, 504 when its answer does not come). With an `Idempotency-Key` the caller
    used before for the same task and payload, the answer is that request (409 for another one)."""
    try:
        request = await run_in_threadpool(create_request, store, task, payload, body.sinks, caller.name, "api",
                                          idempotency_key=idempotency_key)
    except PayloadError as exc:
        raise HTTPException(422, detail={"error": str(exc), "detail": exc.detail}) from None
    except UnknownSink as exc:  # a name in the payload's `sinks`: that field's error, as the schema's are
        raise HTTPException(422, detail={"error": str(exc), "detail": [{"field": "sinks", "reason": str(exc)}]}) from None
    return {"request_id": request["request_id"], "status": request["status"]}


class TaskDeliveryAttemptView(BaseModel):
    """One attempt of a sink's delivery."""

    attempt: int
    at: str = Field(json_schema_extra={"format": "date-time"})
    outcome: str = Field(description="DELIVERED | FAILED")
    error: str | None = Field(description="The attempt's error line (None when it delivered)")


class TaskDeliveryView(BaseModel):
    """One sink's delivery of a request's outputs."""

    sink: str
    target: str | None = Field(description="Where it went (a path, a URL, an address)")
    status: str
    attempts: int
    delivered_at: str | None = Field(json_schema_extra={"format": "date-time"})
    detail: str | None
    attempt_log: list[TaskDeliveryAttemptView] | None = Field(
        description="Each attempt in order (None for deliveries recorded before attempts were kept)")


class TaskRequestView(BaseModel):
    """A task request as the audit log holds it."""

    request_id: str = Field(description="The Dagster run's id")
    root_request_id: str | None = Field(description="The request a retry, a re-execution or a repeat (sent again with its"
                                                    " idempotency key) repeats; its own id otherwise")
    task: str
    payload: dict[str, Any]
    trigger: str = Field(description="manual | schedule | api | retry")
    requested_by: str | None = Field(description="The API key's or the user's name")
    status: str = Field(description=f"One of {', '.join(STATUSES)}")
    created_at: str = Field(json_schema_extra={"format": "date-time"})
    started_at: str | None = Field(json_schema_extra={"format": "date-time"})
    finished_at: str | None = Field(json_schema_extra={"format": "date-time"})
    outputs: list[Any]
    row_count: int | None
    error: str | None
    stats: dict[str, Any]
    deliveries: list[TaskDeliveryView]


@router.get("/v1/task-requests/{request_id}", dependencies=[Depends(requires("tasks:read"))], response_model=TaskRequestView)
def get_task_request(request_id: str, store: StoreResource = Depends(resource("store"))) -> dict[str, Any]:
    """Status, outputs and deliveries of one request."""
    return get_request(store, request_id)


ROUTERS = (router,)
