"""Availability over HTTP: `GET /v1/availability` (REST) and `/graphql` (strawberry).

GraphQL lets one request ask for arbitrary work, so the document is bounded before it runs:
size and bracket nesting (before parsing), tokens (while parsing), then depth, aliases and
selections with fragments expanded (at validation). A refused document gets a GraphQL error
naming the limit; strawberry's own HTTP refusals get the service's JSON error body."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any

import strawberry
from cross_web import HTTPException as StrawberryHTTPException
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from fastapi.routing import APIWebSocketRoute
from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
    ValidationContext,
    ValidationRule,
    get_operation_ast,
    value_from_ast_untyped,
)
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.fastapi import GraphQLRouter
from strawberry.schema.exceptions import CannotGetOperationTypeError

from halo_platform.access.guard import requires
from halo_platform.availability import fhir_api, freshness, pipeline, service
from halo_platform.availability.slots import SlotRules
from halo_platform.core.docs import graphiql_html
from halo_platform.core.errors import HaloError
from halo_platform.core.http import (
    ChecksFirstRoute,
    nesting_depth,
    public_message,
    repeated_parameter,
    resource,
    send_json,
    unknown_parameters,
)
from halo_platform.core.models import EARLIEST_DATE, LATEST_DATE, iso_z
from halo_platform.core.store import StoreResource
from halo_platform.core.text import echo, unique_keys, yyyy_mm_dd

log = logging.getLogger(__name__)

# The schema is two levels deep; introspection (GraphiQL's query: 12 levels written out, 163
# tokens) is what needs the headroom. QueryDepthLimiter skips introspection fields, so today it
# only guards the schema's own types for when they nest; fragment-built introspection is bounded
# by the selection count (and graphql-core's limit on repeated `fields`).
MAX_QUERY_CHARS = 20_000
MAX_QUERY_DEPTH = 15
MAX_QUERY_TOKENS = 2_000
MAX_ALIASES = 20
MAX_SELECTIONS = 1_000
# What one request may ask of the spans, in provider-days summed over its top-level fields
# (aliases counted): the most one field may ask, 20 providers over the longest range (366 local
# days). 20 aliases of groupAvailability over 20 providers and 60 days, 24,000, took 1.6 s of CPU
# and 3.5 MB; over a year, 7 s and 19 MB.
MAX_QUERY_COST = service.MAX_GROUP_PROVIDERS * service.MAX_QUERY_DAYS

router = APIRouter(tags=["availability"], dependencies=[Depends(requires("availability:read"))], route_class=ChecksFirstRoute)


@router.get("/v1/availability")
def availability(
    feed: str = Query(..., description="Feed name", examples=["hl7"]),
    provider_id: str = Query(..., description="Provider id in that feed", examples=["DR001"]),
    from_: str | None = Query(None, alias="from", description="First local date, YYYY-MM-DD"),
    to: str | None = Query(None, description="Last local date (inclusive), YYYY-MM-DD"),
    store: StoreResource = Depends(resource("store")),
) -> dict:
    """Available spans of one provider, by local date; instants in UTC; and how current the feed is."""
    first, last = service.parse_date(from_, "from"), service.parse_date(to, "to")
    provider_id = service.provider_key(provider_id, "provider_id")
    found = service.spans(store, feed, provider_id, first, last)
    return {"feed": feed, "provider_id": provider_id, "from": from_, "to": to, "spans": [s.as_json() for s in found],
            "freshness": freshness.freshness(store, feed).as_json()}


@router.get("/v1/availability/group")
def group_availability(
    feed: str = Query(..., description="Feed name", examples=["hl7"]),
    provider_ids: str | None = Query(None, description=f"Comma-separated provider ids, at most {service.MAX_GROUP_PROVIDERS}",
                                     examples=["DR001,DR002"]),
    provider_id: list[str] = Query([], description="In place of provider_ids: one provider id each, as it is (commas "
                                                   "included), repeated for each provider"),
    mode: str = Query("any", description="any: at least one is free (each span lists which); all: every one is free "
                                         "(in any case: ANY and ALL as in GraphQL)"),
    from_: str | None = Query(None, alias="from", description="First local date, YYYY-MM-DD (default: today at UTC-12, the earliest date anywhere)"),
    to: str | None = Query(None, description="Last local date (inclusive), YYYY-MM-DD (default: 6 days after from)"),
    store: StoreResource = Depends(resource("store")),
) -> dict:
    """When any or all of several providers are free; instants in UTC; and how current the feed is."""
    first, last = service.parse_date(from_, "from"), service.parse_date(to, "to")
    mode = service.group_mode(mode or "any")  # `mode=` left empty is the default, as an empty `from`, `to` or `type` is
    # provider_ids splits at every comma: an id holding one is asked for by provider_id
    if (provider_ids is None) == (not provider_id):
        both = ", not both" if provider_id else ""
        raise HaloError(f"give provider_ids (comma-separated) or provider_id (repeated, one id each){both}")
    ids = (service.group_ids(provider_ids.split(","), "provider_ids", "a comma-separated list") if provider_ids is not None
           else service.group_ids(provider_id, "provider_id", "repeated parameters"))
    found = service.group_availability(store, feed, ids, mode, first, last)
    return {"feed": feed, "provider_ids": ids, "mode": mode, "from": from_, "to": to, "spans": [s.as_json() for s in found],
            "freshness": freshness.freshness(store, feed).as_json()}


@router.get("/v1/slots")
def slots(
    feed: str = Query(..., description="Feed name", examples=["hl7"]),
    provider_id: str = Query(..., description="Provider id in that feed", examples=["DR001"]),
    type_: str | None = Query(None, alias="type", description="Appointment type of the feed's slot_rules (default: default)"),
    from_: str | None = Query(None, alias="from", description="First local date, YYYY-MM-DD (default: the provider's today)"),
    to: str | None = Query(None, description="Last local date (inclusive), YYYY-MM-DD (default: 6 days after from)"),
    store: StoreResource = Depends(resource("store")),
) -> dict:
    """Bookable slots of one provider and appointment type under the feed's slot rules (duration,
    buffers, minimum notice, alignment, max days ahead); instants in UTC."""
    first, last = service.parse_date(from_, "from"), service.parse_date(to, "to")
    return service.bookable_slots(store, feed, service.provider_key(provider_id, "provider_id"), type_, first, last,
                                  limit=service.MAX_LISTED_SLOTS).as_json()


@strawberry.type
class AvailableSpan:
    span_date: dt.date
    start_at: dt.datetime
    end_at: dt.datetime


@strawberry.type
class Slot:
    start_at: dt.datetime
    end_at: dt.datetime


@strawberry.type
class Freshness:
    feed: str
    applied_at: dt.datetime | None = strawberry.field(description="When the newest file of the feed was processed")
    received_at: dt.datetime | None = strawberry.field(description="When the newest processed file landed")
    lag_seconds: int | None = strawberry.field(description="Seconds from receivedAt to now")


@strawberry.type
class GroupSpan:
    start_at: dt.datetime
    end_at: dt.datetime
    provider_ids: list[str] = strawberry.field(description="Who is free throughout")


def _graphql_date(value: object) -> dt.date:
    """A `Date` argument: YYYY-MM-DD only, as REST takes it (strawberry's Date takes whatever
    `date.fromisoformat` does, 20270101 too); refused with a GraphQL error naming the form."""
    try:
        return yyyy_mm_dd(value)
    except ValueError:
        raise GraphQLError(f"Date: expected a date YYYY-MM-DD, got {echo(value)}") from None


DateScalar = strawberry.scalar(dt.date, name="Date", description="A calendar date, YYYY-MM-DD",
                               serialize=dt.date.isoformat, parse_value=_graphql_date)


def _graphql_date_time(value: object) -> dt.datetime:
    """A `DateTime` argument: a date and time in full (strawberry's DateTime takes whatever
    dateutil's isoparse does: a bare date or year as UTC midnight); naive is UTC."""
    try:
        return service.date_time(value)
    except ValueError as error:
        raise GraphQLError(f"DateTime: {error}") from None


# answered as REST and the CSV export write instants (isoformat wrote +00:00, and microseconds)
DateTimeScalar = strawberry.scalar(dt.datetime, name="DateTime",
                                   description="An instant: given as YYYY-MM-DDThh:mm[:ss][Z|+hh:mm] (UTC when naive), "
                                               "answered as YYYY-MM-DDThh:mm:ssZ",
                                   serialize=iso_z, parse_value=_graphql_date_time)


GroupMode = strawberry.enum(Enum("GroupMode", {"ANY": "any", "ALL": "all"}),
                            description="ANY: at least one provider is free; ALL: every one is")


@strawberry.type(name="Query")
class AvailabilityQuery:
    @strawberry.field(description="Available spans of a provider with local dates in [from, to].")
    def available_spans(self, info: strawberry.Info, feed: str, provider_id: str,
                        from_: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
                        to: dt.date | None = None) -> list[AvailableSpan]:
        return [AvailableSpan(span_date=s.span_date, start_at=s.start_at, end_at=s.end_at)
                for s in service.spans(info.context["store"], feed, service.provider_key(provider_id, "providerId"), from_, to)]

    @strawberry.field(description="Bookable slots of a provider and appointment type with local start dates in [from, to].")
    def slots(self, info: strawberry.Info, feed: str, provider_id: str, type: str | None = None,  # noqa: A002 - the API's name
              from_: Annotated[dt.date | None, strawberry.argument(name="from")] = None, to: dt.date | None = None) -> list[Slot]:
        # the answer's fields share one allowance of slots: the budget weighs a day of slots by its
        # alignment, not by the hours free in it, and 20 of a year each were 700,000 slots, 34 s
        left = info.context.setdefault("slots_left", service.MAX_LISTED_SLOTS)
        found = service.bookable_slots(info.context["store"], feed, service.provider_key(provider_id, "providerId"), type, from_, to,
                                       limit=left)
        info.context["slots_left"] = left - len(found.slots)
        return [Slot(start_at=s, end_at=e) for s, e in found.slots]

    @strawberry.field(description="When any (or all) of providerIds are free, over local dates [from, to].")
    def group_availability(self, info: strawberry.Info, feed: str, provider_ids: list[str], mode: GroupMode = GroupMode.ANY,
                           from_: Annotated[dt.date | None, strawberry.argument(name="from")] = None,
                           to: dt.date | None = None) -> list[GroupSpan]:
        ids = service.group_ids(provider_ids, "providerIds", "a list")
        found = service.group_availability(info.context["store"], feed, ids, mode.value, from_, to)
        return [GroupSpan(start_at=s.start_at, end_at=s.end_at, provider_ids=list(s.provider_ids)) for s in found]

    @strawberry.field(description="How current the feed's spans are: its newest event received and applied.")
    def freshness(self, info: strawberry.Info, feed: str) -> Freshness:
        found = freshness.freshness(info.context["store"], feed)
        return Freshness(feed=found.feed, applied_at=found.applied_at, received_at=found.received_at, lag_seconds=found.lag_seconds)

    @strawberry.field(description="The earliest free slot of durationMinutes starting at or after `after` (default now); "
                                  "under a feed's slot rules, the earliest bookable one of `type` (default: default), durationMinutes long.")
    def next_available(self, info: strawberry.Info, feed: str, provider_id: str, duration_minutes: int,
                       after: dt.datetime | None = None, type: str | None = None) -> Slot:  # noqa: A002 - the API's name
        if after is not None and after.tzinfo is None:
            after = after.replace(tzinfo=dt.UTC)
        start, end = service.next_available(info.context["store"], feed, service.provider_key(provider_id, "providerId"),
                                            duration_minutes, after, type)
        return Slot(start_at=start, end_at=end)


def selection_count(document: DocumentNode, limit: int) -> int:
    """Selections (fields, fragment spreads, inline fragments) the operations make, each fragment
    counted every time it is spread; stops past `limit`, so spread cycles end too."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    pending = [d.selection_set for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    count = 0
    while pending and count <= limit:
        for selection in pending.pop().selections:
            count += 1
            if isinstance(selection, FragmentSpreadNode):
                if (fragment := fragments.get(selection.name.value)) is not None:
                    pending.append(fragment.selection_set)
            elif selection.selection_set is not None:
                pending.append(selection.selection_set)
    return count


class _SelectionLimit(ValidationRule):
    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        if selection_count(context.document, MAX_SELECTIONS) > MAX_SELECTIONS:
            context.report_error(GraphQLError(f"query selects more than {MAX_SELECTIONS} fields (fragments expanded)"))


def _date(value: object) -> dt.date | None:
    """A date argument inside the calendar, else None (the resolver refuses it)."""
    try:
        day = yyyy_mm_dd(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return day if day and EARLIEST_DATE <= day <= LATEST_DATE else None


def field_cost(field: FieldNode, variables: dict) -> int:
    """The provider-days a top-level field asks for, from its arguments as the resolver will
    default them; a field the resolver will refuse (a bad date) costs only its providers."""
    name = field.name.value
    if name not in ("availableSpans", "slots", "groupAvailability", "nextAvailable"):
        return 0  # freshness, __typename, introspection: bounded by the selection limit
    # a variable the request did not send (and that has no default) leaves the argument out
    args = {a.name.value: value for a in field.arguments
            if (value := value_from_ast_untyped(a.value, variables)) is not Undefined}
    providers = 1
    if name == "groupAvailability":
        ids = args.get("providerIds")
        providers = min(len(set(map(str, ids))), service.MAX_GROUP_PROVIDERS) if isinstance(ids, list) and ids else 1
    if name == "nextAvailable":
        return service.MAX_QUERY_DAYS  # reads every span after `after`
    given = {k: args.get(k) for k in ("from", "to") if args.get(k) is not None}
    bounds = {k: _date(v) for k, v in given.items()}
    if None in bounds.values():
        return providers
    if name == "availableSpans" and len(bounds) < 2:
        return service.MAX_QUERY_DAYS  # an open end reads every span on that side
    first = bounds.get("from") or pipeline.today()
    last = bounds.get("to") or first + dt.timedelta(days=service.DEFAULT_SLOT_DAYS - 1)
    days = providers * min(max(service.dates_in(first, last), 1), service.MAX_QUERY_DAYS)
    return days * slot_weight(args) if name == "slots" else days


def slot_weight(args: dict) -> int:
    """What a provider-day of `slots` weighs against the budget: 1 at the default alignment (15
    minutes), and as many times more as the rules' alignment puts more starts in a day (a
    1-minute alignment: 15). A field the resolver will refuse (an unknown feed or type) weighs 1.
    A provider-year at a 1-minute alignment, 8 free hours a day, is 164,615 slots, 0.77 s to
    compute (11,315 and 0.08 s at 15 minutes)."""
    feed, provider_id, slot_type = args.get("feed"), args.get("providerId"), args.get("type")
    if not isinstance(feed, str) or not isinstance(provider_id, str) or not isinstance(slot_type, str | None):
        return 1  # a variable of another type: graphql-core refuses it when it coerces the variables
    try:  # the provider's rules as the resolver reads its id
        rules = service.slot_rules(feed, service.provider_key(provider_id, "providerId"), slot_type)
    except HaloError:
        return 1
    return math.ceil(SlotRules().alignment_minutes / rules.alignment_minutes)


def query_cost(document: DocumentNode, operation_name: str | None, variables: dict | None) -> int:
    """Provider-days the operation run asks for (a day of slots weighed by `slot_weight`): its top-level
    fields summed, fragments expanded."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0  # graphql-core refuses it
    # graphql-core runs the resolvers with a variable's default when the request does not send it
    variables = {**{d.variable.name.value: value_from_ast_untyped(d.default_value)
                    for d in operation.variable_definitions or () if d.default_value is not None}, **(variables or {})}
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    pending: list[SelectionSetNode] = [operation.selection_set]
    spread: set[str] = set()
    cost = 0
    while pending:
        for selection in pending.pop().selections:
            if isinstance(selection, FieldNode):
                cost += field_cost(selection, variables)
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and (fragment := fragments.get(selection.name.value)) is not None:
                if selection.name.value not in spread:  # GraphQL merges a fragment spread twice into one field set
                    spread.add(selection.name.value)
                    pending.append(fragment.selection_set)
    return cost


class _CostBudget(SchemaExtension):
    """Refuses an operation asking more than MAX_QUERY_COST provider-days, after validation and
    before any resolver runs (the variables' values count)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if context.graphql_document is not None and context.result is None:
            cost = query_cost(context.graphql_document, context.operation_name, context.variables)
            if cost > MAX_QUERY_COST:
                message = (f"query too costly: it asks for {cost} provider-days (providers x local days, a day of slots "
                           f"weighed by its alignment, summed over its fields), the budget is {MAX_QUERY_COST}")
                context.result = ExecutionResult(data=None, errors=[GraphQLError(message, original_error=HaloError(message))])
        yield


class _DocumentSizeLimit(SchemaExtension):
    """Refuses a document before graphql-core's recursive parser sees it."""

    def on_operation(self) -> Iterator[None]:
        query = self.execution_context.query or ""
        if len(query) > MAX_QUERY_CHARS:
            raise GraphQLError(f"query too large: {len(query)} characters, the limit is {MAX_QUERY_CHARS}")
        if nesting_depth(query.encode(), MAX_QUERY_DEPTH) > MAX_QUERY_DEPTH:
            raise GraphQLError(f"query nested deeper than {MAX_QUERY_DEPTH} levels")
        yield


class _NoOperationError(CannotGetOperationTypeError):
    """The request names no one operation of its document: strawberry's view answers it with a 400."""

    def __init__(self, message: str) -> None:
        super().__init__(None)
        self.message = message

    def as_http_error_reason(self) -> str:
        return self.message


# the context's key for the operationName the request sent (strawberry's ExecutionContext keeps
# only the name it resolved: the document's first operation when none was sent)
_ASKED_OPERATION = "operation_name"


class _OneOperation(SchemaExtension):
    """The operation run is the one the request's operationName names, or the document's only one
    (GraphQL's GetOperation): a document of several operations and no operationName, or an
    operationName naming none of them, is a request error, a 400 before anything runs. Strawberry
    ran the first operation of the document for the first."""

    def on_parse(self) -> Iterator[None]:
        yield
        context = self.execution_context
        document = context.graphql_document
        if document is None:  # it did not parse: graphql-core's syntax error is the answer
            return
        asked = context.context.get(_ASKED_OPERATION) if isinstance(context.context, dict) else context.operation_name
        if get_operation_ast(document, asked) is not None:
            return
        names = [d.name.value if d.name else "an unnamed one" for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if not names:
            raise _NoOperationError("the document has no operation to run, only fragments")
        if asked is None:
            raise _NoOperationError(f"the document has {len(names)} operations ({', '.join(names)}): name the one to run in operationName")
        raise _NoOperationError(f"operationName {echo(asked)} names no operation of the document, whose operations are: {', '.join(names)}")


# strawberry's refusal of a POST whose media type is not JSON
_UNSUPPORTED_MEDIA = "Unsupported content type"
# strawberry's refusal of a request whose query is missing or empty
_NO_QUERY = "No GraphQL query found in the request"
# a query holding a token: past GraphQL's ignored ones (blanks, line ends, commas, a byte order
# mark, comments to the end of their line), a character. The OpenAPI document's pattern (an
# ECMAScript regex, as JSON Schema's are) and the service's check alike; linear in the query.
_A_TOKEN = r"^[\t\n\r ,\ufeff]*(?:#[^\n\r]*[\n\r][\t\n\r ,\ufeff]*)*[^\t\n\r ,#\ufeff]"
_HOLDS_A_TOKEN = re.compile(_A_TOKEN)

# what a GraphQL request names, in its JSON body or (GET) its query
_GRAPHQL_NAMES = ("query", "variables", "operationName", "extensions")


class _MediaTypeInAnyCase(GraphQLRouter.request_adapter_class):
    """The request as strawberry reads it, with the media type of its Content-Type in lower case
    (parameters as sent): strawberry compares it as written, so `Application/JSON` was a 400
    "Unsupported content type" where every other JSON route reads the body (media types are
    case-insensitive)."""

    @property
    def content_type(self) -> str | None:
        given = super().content_type
        if given is None:
            return None
        media_type, semicolon, parameters = given.partition(";")
        return media_type.strip().lower() + semicolon + parameters


class _JSONErrorsGraphQLRouter(GraphQLRouter):
    """Strawberry answers its HTTP-level refusals (bad content type, unparsable body, no query) in
    text/plain; raised as Starlette's exception they get the service's JSON error body. A key of the
    body or a parameter of the query given twice is one of them (a 400 naming it), as on the other routes.

    The schema has no subscriptions, so no WebSocket route: strawberry adds one whatever its
    protocols, and the router's guard (which takes an HTTP request) crashed on an upgrade with a
    500. Without the route, the server refuses an upgrade (403) before anything runs."""

    request_adapter_class = _MediaTypeInAnyCase

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401
        super().__init__(*args, subscription_protocols=(), **kwargs)
        self.routes[:] = [route for route in self.routes if not isinstance(route, APIWebSocketRoute)]

    def decode_json(self, data: str | bytes) -> object:
        # a key given twice (`query`, a variable) is refused as on every other JSON route: Python
        # keeps the last, a gateway or a log reading the request the first
        return json.loads(data, object_pairs_hook=unique_keys)

    def parse_json(self, data: str | bytes) -> Any:  # noqa: ANN401
        # strawberry turns only JSONDecodeError into a 400; bytes that are not UTF-8, an integer
        # longer than Python reads (4,300 digits) and a JSON scalar (it calls `.get` on it) were
        # 500s. Lists are its batches, which it refuses itself.
        try:
            decoded = super().parse_json(data)
        except ValueError:  # UnicodeDecodeError, or the integer's
            raise StrawberryHTTPException(400, "Unable to parse request body as JSON") from None
        except HaloError as exc:  # a key given twice
            raise StrawberryHTTPException(400, str(exc)) from None
        if not isinstance(decoded, dict | list):
            raise StrawberryHTTPException(400, "the body must be a JSON object: {query, variables?, operationName?}")
        # strawberry reads the keys it knows and drops the rest: `"varibles": {...}` (a typo) ran
        # the query with its variables' defaults, as if they had been read
        unknown = [key for key in decoded if key not in _GRAPHQL_NAMES] if isinstance(decoded, dict) else []
        if unknown:
            raise StrawberryHTTPException(400, f"the body's key {echo(unknown[0])} is not a GraphQL request's: "
                                               f"expected {', '.join(_GRAPHQL_NAMES[:-1])} or {_GRAPHQL_NAMES[-1]}")
        return decoded

    @staticmethod
    def check_query_params(params: Any) -> None:  # noqa: ANN401 - Starlette's QueryParams
        """A GET's parameters are GraphQL's, each once, else a 400 naming them. Strawberry reads those
        it knows and drops the rest: `?varibles=` (a typo) ran the query with its variables'
        defaults, and `?qeury=` answered the GraphiQL page to a client accepting */* (curl)."""
        if unknown := unknown_parameters(params, _GRAPHQL_NAMES):
            raise StrawberryHTTPException(400, unknown)
        # strawberry reads the query as a dict: `?query=A&query=B` ran B
        if repeated := repeated_parameter(params, _GRAPHQL_NAMES):
            raise StrawberryHTTPException(400, repeated)

    def parse_query_params(self, params: Any) -> dict[str, Any]:  # noqa: ANN401 - Starlette's QueryParams
        self.check_query_params(params)
        # `variables` and `extensions` are JSON, read here rather than by `parse_json`, whose
        # refusals name the body a GET has not: `variables=null` (a POST's null runs) was a 400
        # 'the body must be a JSON object', and one left empty a 400 'must be an object or null'.
        # An object, null or nothing is theirs; strawberry refuses another JSON value naming them.
        parsed = dict(params)
        for name in ("variables", "extensions"):
            if name not in parsed:
                continue
            if not parsed[name].strip():
                del parsed[name]
                continue
            try:
                parsed[name] = self.decode_json(parsed[name])
            except ValueError:  # JSONDecodeError, or an integer longer than Python reads
                raise StrawberryHTTPException(400, f"the query parameter {name} is not JSON") from None
            except HaloError as exc:  # a key given twice
                raise StrawberryHTTPException(400, str(exc)) from None
        return parsed

    async def parse_http_body(self, request: Any) -> Any:  # noqa: ANN401
        # strawberry reads a POST's body alone: `POST /graphql?variables=...` ran the body's query
        # with its variables' defaults, as if they had been read
        if request.method == "POST" and (unknown := unknown_parameters(request.query_params, ())):
            raise StrawberryHTTPException(400, f"{unknown} (a POST sends its request in the JSON body)")
        try:
            data = await super().parse_http_body(request)
        except StrawberryHTTPException as exc:
            # strawberry's words name neither the header to fix nor what to send; the REST routes' do
            if exc.reason != _UNSUPPORTED_MEDIA:
                raise
            raise StrawberryHTTPException(400, send_json(request.headers.get("content-type", "none"))) from None
        # strawberry checks the type of query, variables and extensions but not this one; a syntax
        # error in the query would otherwise answer 200 for a malformed request
        if not isinstance(getattr(data, "operation_name", None), str | None):
            raise StrawberryHTTPException(400, "The GraphQL operation's `operationName` must be a string or null, if provided.")
        # `{"query": ""}` is strawberry's 400, and `" "` was a 200 with a syntax error: both ask nothing
        if isinstance(query := getattr(data, "query", None), str) and not _HOLDS_A_TOKEN.search(query):
            raise StrawberryHTTPException(400, _NO_QUERY)
        return data

    async def render_graphql_ide(self, request: Any) -> HTMLResponse:  # noqa: ANN401
        """GraphiQL from the service's own files (strawberry's page loads it from a CDN)."""
        self.check_query_params(request.query_params)
        return HTMLResponse(graphiql_html(request.url.path))

    async def run(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        try:
            return await super().run(*args, **kwargs)
        except StrawberryHTTPException as exc:
            raise HTTPException(exc.status_code, exc.reason) from None


UNSTORABLE = service.UNSTORABLE
INTERNAL = "internal error"


def _caller_error(error: GraphQLError) -> str | None:
    """The message for the caller of a resolver's error that is the caller's mistake, else None."""
    if isinstance(error.original_error, HaloError):
        return error.message
    if isinstance(error.original_error, sa_exc.DataError):
        # the database refused a value the caller sent (PostgreSQL's driver takes no NUL in text)
        return UNSTORABLE
    return None


def _internal(error: GraphQLError) -> bool:
    """An exception a resolver raised that is not the caller's mistake: its text (SQL and its
    parameters, paths, values) is for the log. Errors without a path (parsing, validation,
    variables, the limits above) and GraphQL's own (a result a type cannot represent) are answers."""
    return (error.path is not None and error.original_error is not None
            and not isinstance(error.original_error, GraphQLError) and _caller_error(error) is None)


class _ErrorsWithoutInternals(SchemaExtension):
    """The caller reads a HaloError's message, a clear one for a value the database refused, and
    "internal error" for anything else a resolver raised. It runs after `_Schema.process_errors`
    logged the originals."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if getattr(result, "errors", None):
            result.errors = [self.answered(e) for e in result.errors]

    @staticmethod
    def answered(error: GraphQLError) -> GraphQLError:
        message = INTERNAL if _internal(error) else _caller_error(error) or error.message
        if isinstance(error.original_error, HaloError):  # a broken configuration file's path is left out; the log has it
            message = public_message(message)
        if message == error.message:
            return error
        return GraphQLError(message, nodes=error.nodes, source=error.source, positions=error.positions, path=error.path)


class _Schema(strawberry.Schema):
    async def execute(self, query: str | None, *args: Any, context_value: Any = None, operation_name: str | None = None,  # noqa: ANN401
                      **kwargs: Any) -> ExecutionResult:  # noqa: ANN401
        """Runs the request, its operationName kept in the context for `_OneOperation`."""
        if isinstance(context_value, dict):
            context_value[_ASKED_OPERATION] = operation_name
        return await super().execute(query, *args, context_value=context_value, operation_name=operation_name, **kwargs)

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:  # noqa: ANN401
        """A caller's mistake (a query that does not parse or validate, a variable of the wrong
        type, a HaloError, a value the database refused) is answered with its message: one log
        line, not a traceback. Anything else is logged as strawberry does (with
        its traceback), and answered without its text (`_ErrorsWithoutInternals`)."""
        ours = [e for e in errors if e.path is None or _caller_error(e) is not None]  # no path: the request itself was wrong
        for error in ours:
            log.info("graphql: refused: %s", _caller_error(error) or error.message)
        super().process_errors([e for e in errors if e not in ours], execution_context)


schema = _Schema(
    query=AvailabilityQuery,
    scalar_overrides={dt.date: DateScalar, dt.datetime: DateTimeScalar},
    config=strawberry.schema.config.StrawberryConfig(auto_camel_case=True),
    extensions=[
        _DocumentSizeLimit,
        _OneOperation,
        MaxTokensLimiter(max_token_count=MAX_QUERY_TOKENS),
        QueryDepthLimiter(max_depth=MAX_QUERY_DEPTH),
        MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        AddValidationRules([_SelectionLimit]),
        _CostBudget,
        _ErrorsWithoutInternals,
    ],
)


def _graphql_context(store: StoreResource = Depends(resource("store"))) -> dict:
    """The resolvers' context: the app's store (strawberry adds request and response)."""
    return {"store": store}


graphql_router = _JSONErrorsGraphQLRouter(schema, path="/graphql", context_getter=_graphql_context,
                                           # the schema has queries only: a session needs no CSRF token
                                           dependencies=[Depends(requires("availability:read", read_only=True))])

# strawberry's routes read the request themselves, so FastAPI documents neither the body nor the
# query parameters; without them a client (or schemathesis) cannot know what a request looks like
_GRAPHQL_REQUEST = {
    "type": "object",
    "required": ["query"],
    "properties": {
        "query": {"type": "string", "pattern": _A_TOKEN, "description": "The GraphQL document"},
        "variables": {"type": ["object", "null"]},
        "operationName": {"type": ["string", "null"]},
        "extensions": {"type": ["object", "null"]},
    },
    "additionalProperties": False,
}
_GRAPHQL_PAGE_OR_RESULT = {
    "description": "The GraphQL result, or the GraphiQL page for a browser that sends no query",
    "content": {"application/json": {"schema": {}}, "text/html": {"schema": {"type": "string"}}},
}
_GRAPHQL_QUERY_PARAMETERS = [
    {"name": "query", "in": "query", "required": False, "schema": {"type": "string", "pattern": _A_TOKEN},
     "description": "The GraphQL document (queries only)"},
    {"name": "variables", "in": "query", "required": False, "content": {"application/json": {"schema": {"type": "object"}}}},
    {"name": "operationName", "in": "query", "required": False, "schema": {"type": "string"}},
    {"name": "extensions", "in": "query", "required": False, "content": {"application/json": {"schema": {"type": "object"}}}},
]
_GRAPHQL_OPENAPI = {
    "POST": {"requestBody": {"required": True, "content": {"application/json": {"schema": _GRAPHQL_REQUEST}}}},
    "GET": {"parameters": _GRAPHQL_QUERY_PARAMETERS, "responses": {"200": _GRAPHQL_PAGE_OR_RESULT}},
}
for _route in graphql_router.routes:
    for _method in getattr(_route, "methods", None) or ():
        _route.openapi_extra = _GRAPHQL_OPENAPI.get(_method)

ROUTERS = (router, fhir_api.router, graphql_router)
