"""Availability over HTTP: `GET /v1/availability` (REST) and `/graphql` (strawberry)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from fastapi import APIRouter, Query
from strawberry.fastapi import GraphQLRouter

from halo_platform.availability import service

router = APIRouter(tags=["availability"])


@router.get("/v1/availability")
def availability(
    feed: str = Query(..., description="Feed name"),
    provider_id: str = Query(..., description="Provider id in that feed"),
    from_: str | None = Query(None, alias="from", description="First local date, YYYY-MM-DD"),
    to: str | None = Query(None, description="Last local date (inclusive), YYYY-MM-DD"),
) -> dict:
    """Available spans of one provider, by local date; instants in UTC."""
    first, last = service.parse_date(from_, "from"), service.parse_date(to, "to")
    found = service.spans(feed, provider_id, first, last)
    return {"feed": feed, "provider_id": provider_id, "from": from_, "to": to, "spans": [s.as_json() for s in found]}


@strawberry.type
class AvailableSpan:
    span_date: dt.date
    start_at: dt.datetime
    end_at: dt.datetime


@strawberry.type
class Slot:
    start_at: dt.datetime
    end_at: dt.datetime


@strawberry.type(name="Query")
class AvailabilityQuery:
    @strawberry.field(description="Available spans of a provider with local dates in [from, to].")
    def available_spans(self, feed: str, provider_id: str,
                        from_: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
                        to: dt.date | None = None) -> list[AvailableSpan]:
        return [AvailableSpan(span_date=s.span_date, start_at=s.start_at, end_at=s.end_at)
                for s in service.spans(feed, provider_id, from_, to)]

    @strawberry.field(description="The earliest free slot of durationMinutes starting at or after `after` (default now).")
    def next_available(self, feed: str, provider_id: str, duration_minutes: int, after: dt.datetime | None = None) -> Slot:
        if after is not None and after.tzinfo is None:
            after = after.replace(tzinfo=dt.UTC)
        start, end = service.next_available(feed, provider_id, duration_minutes, after)
        return Slot(start_at=start, end_at=end)


schema = strawberry.Schema(query=AvailabilityQuery, config=strawberry.schema.config.StrawberryConfig(auto_camel_case=True))
graphql_router = GraphQLRouter(schema, path="/graphql")

ROUTERS = (router, graphql_router)
