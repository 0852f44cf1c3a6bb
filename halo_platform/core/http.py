"""The generic parts of the HTTP service: `make_app(routers, resources)` builds one FastAPI app
over the routers it is given (the top-level `halo_platform.http` hands over every domain's).

Every 4xx body is JSON `{"error": "...", "detail": ...}` (405 and 413 included), and no input
yields a 500: bodies are bounded in size and nesting before any parser sees them, and a
last-resort handler answers whatever still escapes with a bare JSON 500."""

from __future__ import annotations

import codecs
import functools
import json
import logging
import os
import re
import types
import typing
from collections.abc import Callable, Coroutine, Iterable, Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Depends, FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from sqlalchemy import exc as sa_exc
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from halo_platform.core.docs import mount_static, swagger_html
from halo_platform.core.errors import HaloError
from halo_platform.core.redact import install_redaction
from halo_platform.core.settings import get_settings
from halo_platform.core.text import cut, echo, unique_keys

MAX_BODY_BYTES = 1 << 20
# Python's json and graphql-core parse recursively and raise RecursionError around a
# thousand levels; no request of ours needs more than a few.
MAX_JSON_DEPTH = 64

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"description": "Structured detail, or null"}},
}

_ESCAPED = re.compile(rb"\\.", re.DOTALL)
# once escapes are gone a string runs to the next quote; an unterminated one runs to the end
_STRING = re.compile(rb'"[^"]*(?:"|\Z)')
_NOT_A_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))

log = logging.getLogger("halo.http")


class _EscapedJSON(JSONResponse):
    """An error body as ASCII JSON: it may repeat what the caller sent, and a lone surrogate (JSON's
    `\\ud800`, decoded) has no UTF-8, so rendered as UTF-8 it raised and the 422 became a 500."""

    def render(self, content: Any) -> bytes:  # noqa: ANN401 - any JSON value
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(status: int, error: str, detail: Any = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return _EscapedJSON(status_code=status, content={"error": error, "detail": detail}, headers=headers)


# an absolute path where a message starts or after a blank, its last part kept: a value of the
# caller's that a message repeats is quoted (`got '/a/b'`) and stays as it was
_SERVER_PATH = re.compile(r"(?:^|(?<=\s))~?/(?:[^\s/]+/)+([^\s/:]+)")


def _configured_files() -> list[str]:
    """The configuration files' paths as a message may name them (as set, absolute, resolved), longest first."""
    try:
        settings = get_settings()
    except HaloError:  # a broken environment: the pattern alone applies
        return []
    files = (settings.feeds_file, settings.providers_file, settings.sinks_file, settings.warehouses_file)
    return sorted({str(form) for file in files for form in (file, file.absolute(), file.resolve())}, key=len, reverse=True)


# the most of an error line a caller reads: what a message repeats of the caller's value is cut
# where it is written (`core.text.echo`), and this bounds the others (a 10 kB feed name came back whole)
MAX_ERROR_CHARS = 500


def public_message(message: str) -> str:
    """`message` as a caller reads it: on one line of at most MAX_ERROR_CHARS, each server path in
    it written as its file's name. A configuration error names its file as the server has it
    (`/srv/halo/config/emr_feeds.yaml: invalid YAML: ...`), and every caller with a key read the
    server's folders; the log keeps them."""
    for path in _configured_files():
        message = message.replace(path, PurePath(path).name)
    return cut(" ".join(_SERVER_PATH.sub(r"\1", message).split()), MAX_ERROR_CHARS)


def _file_version(path: str) -> tuple[str, int, int] | tuple[str]:
    """`path` with its modification time and size: a version of the file; the path alone when it cannot be read."""
    try:
        stat = os.stat(path)
    except OSError:
        return (path,)
    return path, stat.st_mtime_ns, stat.st_size


# the messages with server paths logged lately, each once per version of the configuration files it names
LOGGED_MESSAGES = 256


@functools.lru_cache(maxsize=LOGGED_MESSAGES)
def _log_once(message: str, _versions: tuple[tuple, ...]) -> None:
    log.warning("answered without its server paths: %s", message)


def public_error(exc: HaloError) -> str:
    """`public_message` of a HaloError answered to a caller; what it left out is logged, once per
    version of the configuration files the message names (a broken emr_feeds.yaml is answered on
    every request, and was logged on every one: a partner polling each second, a line a second)."""
    message = str(exc)
    public = public_message(message)
    if public != cut(" ".join(message.split()), MAX_ERROR_CHARS):
        _log_once(message, tuple(_file_version(path) for path in _configured_files() if path in message))
    return public


# every JSON body that does not parse (bad syntax, not UTF-8, a number Python will not read) gets
# this 422, whether FastAPI reads it for a model or a route reads it itself (`/v1/messages/*`)
NOT_JSON = "body: not valid JSON"


def nesting_depth(data: bytes, limit: int) -> int:
    """How deep `[` and `{` nest in `data` outside JSON strings; stops counting at `limit + 1`.

    Linear in `len(data)` whatever the bytes (no regex backtracking), so it can run on every body
    before a recursive parser does; unbalanced input gives an approximate but bounded answer."""
    brackets = _STRING.sub(b"", _ESCAPED.sub(b"", data)).translate(None, _NOT_A_BRACKET)
    depth = deepest = 0
    for byte in brackets:
        if byte in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif depth:
            depth -= 1
    return deepest


def _declared_length(scope: Scope) -> int:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0  # the server rejects a malformed length; the streamed count still applies
    return 0


# the charsets a multipart body may name for its fields (a browser names none: UTF-8). Starlette
# decodes the fields with whatever Python codec the body names, and `unicode_escape`,
# `raw_unicode_escape`, `utf-7` or `punycode` turn the caller's bytes into lone surrogates, which
# no password hash, comparison, page or store can encode (every such form was a 500).
FORM_CHARSETS = frozenset({"utf-8", "ascii", "iso8859-1"})


def _unsupported_form_charset(scope: Scope) -> str | None:
    """The charset a multipart/form-data body names, when it is not one of `FORM_CHARSETS`."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind, params = parse_options_header(value)
            if kind != b"multipart/form-data" or b"charset" not in params:
                return None
            named = params[b"charset"]
            charset = named.decode("latin-1") if isinstance(named, bytes) else str(named)
            try:
                known = codecs.lookup(charset).name
            except LookupError:
                return charset
            return None if known in FORM_CHARSETS else charset
    return None


# the headers a request gives once: a credential (Authorization, X-CSRF-Token) or the identity of a
# request (Idempotency-Key). Given twice, Starlette reads the first where a proxy, a log or another
# server may read the last: a valid key then a wrong one was let in as the first.
SINGLE_HEADERS = {b"authorization": "Authorization", b"x-csrf-token": "X-CSRF-Token", b"idempotency-key": "Idempotency-Key"}


def _repeated_header(scope: Scope) -> str | None:
    """Why a request giving one of `SINGLE_HEADERS` more than once is refused, else None (ASGI
    names headers in lower case)."""
    names = [name for name, _ in scope["headers"] if name in SINGLE_HEADERS]
    for name, shown in SINGLE_HEADERS.items():
        if names.count(name) > 1:
            return f"the {shown} header is given more than once; send one"
    return None


# Starlette reads a query's escapes as UTF-8 and puts U+FFFD for a byte that is none: `?feed=%ff`
# asked for the feed '\ufffd', `/health?x=%ff` was a 200, each a question other than the one sent
# (the path's alike: `/v1/messages/%ff` asked for the message '\ufffd')
QUERY_NOT_UTF8 = "query string: not UTF-8 (a percent-escape such as %FF decodes to no text): send text as UTF-8"
PATH_NOT_UTF8 = QUERY_NOT_UTF8.replace("query string", "path", 1)
NOT_UTF8 = "halo.not_utf8"  # in the scope of a request whose path or query is not UTF-8: the refusal `text_is_utf8` answers


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the buffered body over once, then defers to the server (disconnects)."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class RequestGuard:
    """Bounds every HTTP request before a route (and its parser) sees it: 413 past `max_body_bytes`,
    counted from Content-Length or, without one, while the chunks stream in; 400 when the body or
    the query string nests deeper than `max_depth`, or when a header of `SINGLE_HEADERS` is given
    twice; 415 for a form naming a charset other than `FORM_CHARSETS`. A path or query string whose
    percent-escapes are not UTF-8 is marked (`NOT_UTF8`), and refused by `text_is_utf8` once the
    route's guards know the caller.

    A pure ASGI middleware, not BaseHTTPMiddleware: it must see the body as it streams and stop
    reading, which a request-level middleware cannot do."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_depth = max_depth

    def _too_large(self) -> JSONResponse:
        # closing spares the server from swallowing the rest of a body nobody will read
        return _error(413, f"request body larger than {self.max_body_bytes} bytes", {"limit_bytes": self.max_body_bytes},
                      headers={"connection": "close"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _declared_length(scope) > self.max_body_bytes:
            await self._too_large()(scope, receive, send)
            return
        if (charset := _unsupported_form_charset(scope)) is not None:
            refusal = _error(415, f"multipart/form-data: charset {cut(charset, 40)!r} is not supported; send UTF-8",
                             {"supported": sorted(FORM_CHARSETS)}, headers={"connection": "close"})
            await refusal(scope, receive, send)
            return
        if (repeated := _repeated_header(scope)) is not None:
            await _error(400, repeated, headers={"connection": "close"})(scope, receive, send)  # its body unread
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        query = unquote_to_bytes(scope.get("query_string", b""))
        if not _is_utf8(query):
            scope[NOT_UTF8] = QUERY_NOT_UTF8
        elif not _is_utf8(unquote_to_bytes(scope.get("raw_path") or b"")):
            scope[NOT_UTF8] = PATH_NOT_UTF8
        if max(nesting_depth(body, self.max_depth), nesting_depth(query, self.max_depth)) > self.max_depth:
            refusal = _error(400, f"request nested deeper than {self.max_depth} levels", {"max_depth": self.max_depth})
            await refusal(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _forwarded_host(entry: str) -> str:
    """The address of an X-Forwarded-For entry, without the port a proxy may add (`[::1]:80`, `10.0.0.1:80`)."""
    entry = entry.strip()
    if entry.startswith("["):
        return entry[1:].partition("]")[0]
    return entry.partition(":")[0] if entry.count(":") == 1 else entry


def untrusted_forwarder(scope: Scope) -> str | None:
    """The peer address of a request carrying X-Forwarded-For that the server did not apply, else
    None. uvicorn's --proxy-headers makes the client one of the header's addresses, from a trusted
    peer only; left as the peer, the header was not read (no --proxy-headers, or a peer not among
    --forwarded-allow-ips)."""
    forwarded = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"]
    if not forwarded:
        return None
    peer = scope["client"][0] if scope.get("client") else "unknown"
    return None if peer in {_forwarded_host(e) for e in ",".join(forwarded).split(",")} else peer


class UntrustedProxyWarning:
    """Logs once when requests come through a proxy whose X-Forwarded-For the service does not
    trust: behind nginx without --proxy-headers every client was the proxy's address, so 20 failed
    sign-ins from anyone locked everyone out for 15 minutes (the limit is per address), and nothing
    said why. The header is never trusted here: a client could name any address in it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.warned and scope["type"] == "http" and (peer := untrusted_forwarder(scope)) is not None:
            self.warned = True
            log.warning("requests from %s carry X-Forwarded-For, which this service does not trust: every client behind it is "
                        "seen as %s and shares that address's sign-in limit (enough failed sign-ins from anyone lock everyone out). "
                        "Behind your own proxy, start halo serve --proxy-headers --forwarded-allow-ips <its address>", peer, peer)
        await self.app(scope, receive, send)


CHANGES_STATE = "halo_changes_state"  # an endpoint attribute: its GET changes state (its 405 lists no HEAD)
HEAD_AS_GET = "halo_head_as_get"  # in the scope of a HEAD answered as a GET (HeadAsGet)


def changes_state(route: object) -> bool:
    """Whether `route` is a GET that changes state (a provider's callback: Vonage sends receipts
    and inbound SMS by GET), marked so by `CHANGES_STATE` on its endpoint."""
    return getattr(getattr(route, "endpoint", None), CHANGES_STATE, False)


def refuse_head(request: Request) -> None:
    """First thing in a GET that changes state: a HEAD answered as it is a 405 (HEAD is safe)."""
    if request.scope.get(HEAD_AS_GET):
        raise HTTPException(405)


class HeadAsGet:
    """Answers HEAD wherever GET answers (RFC 9110 9.3.2): FastAPI routes only the methods a route
    names, so `HEAD /v1/tasks` was a 405 where every client, proxy and link checker expects the
    GET's status and headers. A HEAD no route takes itself (`/health` does) goes to the GET route
    as a GET, through the same guard (401, 403, 429 alike), and its body is dropped."""

    def __init__(self, app: ASGIApp, router: Router) -> None:
        self.app = app
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or any(
                route.matches(scope)[0] == Match.FULL for route in self.router.routes):
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        # a copy: the server reads its own scope's method to send no body, and must still see HEAD
        await self.app({**scope, "method": "GET", HEAD_AS_GET: True}, receive, headers_only)


def _guards(route: object) -> list[Callable[..., Any]]:
    """The dependencies of `route` that check who is asking (`before_body`: `access.guard.requires`)."""
    dependant = getattr(route, "dependant", None)
    return [d.call for d in dependant.dependencies if hasattr(d.call, "before_body")] if dependant else []


async def text_is_utf8(request: Request) -> None:
    """Every route's first dependency (`make_app`): the 422 of a path or query string that is not
    UTF-8 (`RequestGuard` marks it), once the route's guards have admitted the caller. access.md
    gives nobody an answer without an identity (401) or the route's scope (403); the 422 came
    first and told an anonymous caller about the request. A Control Center page's guard
    (`ui.app.signed_in`) alike: a person without a session is sent to sign in first. A guard
    overridden (a test's) is not run. A path is refused on a guarded route alone: elsewhere its
    U+FFFD is a name no row has (a 404)."""
    if (refusal := request.scope.get(NOT_UTF8)) is None:
        return
    guards = _guards(request.scope.get("route"))
    if refusal == PATH_NOT_UTF8 and not guards:
        return
    for guard in guards:
        if guard not in request.app.dependency_overrides:
            await guard.before_body(request)  # once per request: the route's own run finds the caller it admitted
    raise HTTPException(422, {"error": refusal, "detail": None})


class ChecksFirstRoute(APIRoute):
    """A route whose guarding dependencies run before its body is parsed: FastAPI reads the body
    first, so broken JSON from a caller without a key would be answered 422 where the caller must
    hear 401 (or 403 without the scope). A dependency opts in with a `before_body(request)`
    attribute, the same check from the request alone; it keeps what it found for the dependency
    itself, so a request is checked once. Routers set `route_class=ChecksFirstRoute`; `make_app`
    refuses a guarded route with a body that is not one.

    After the guard, a query parameter the route takes once but the request gives several times
    is a 422 naming it: FastAPI would keep the last one silently (`provider_ids=A&provider_ids=B`
    asked for B alone). So is a JSON body naming a key twice (`core.text.unique_keys`), which
    FastAPI read as its last value, and a body sent as another media type than JSON, which FastAPI
    does not read and refused in pydantic's words ("Input should be a valid dictionary"). So is a
    query parameter the route does not take (`form=` for `from=`), which FastAPI dropped unread,
    unless the route reads the request itself (FHIR's search, a provider's callback)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        checks = [(guard, guard.before_body) for guard in _guards(self)]
        once = _taken_once(self.dependant.query_params)
        body = bool(self.dependant.body_params)
        json_body = any(not isinstance(field.field_info, params.Form) for field in self.dependant.body_params)
        known = None if self.dependant.request_param_name else tuple(field.alias for field in self.dependant.query_params)
        if not checks and not once and not body and known is None:
            return handler

        async def checked_first(request: Request) -> Response:
            overridden = request.app.dependency_overrides
            for guard, check in checks:
                if guard not in overridden:  # an overridden guard is not run, its check from the request alone neither
                    await check(request)
            await text_is_utf8(request)  # before the checks below read the query
            if known is not None and (unknown := unknown_parameters(request.query_params, known)):
                return _error(422, unknown)
            if repeated := repeated_parameter(request.query_params, once):
                return _error(422, repeated)
            if json_body and (wrong := await not_json_media(request)):
                return _error(422, wrong)
            if body and (repeated := await _repeated_key(request)):
                return _error(422, repeated)
            return await handler(request)

        return checked_first


GIVEN_TWICE = "given more than once"


def repeated_fields(data: Any, names: Iterable[str], prefix: str = "") -> dict[str, str]:  # noqa: ANN401 - a form
    """`GIVEN_TWICE` beside each of `names` (fields a page shows once) that the form `data` gives
    more than once, keyed `prefix + name` as the page shows its errors. A browser sends such a field
    once and Starlette reads the last of several, so two values came from a hand-made or broken form
    and which one was meant cannot be told (the API refuses a JSON key given twice the same way)."""
    return {prefix + name: GIVEN_TWICE for name in names if len(data.getlist(name)) > 1}


def repeated_error(data: Any, names: Iterable[str]) -> str | None:  # noqa: ANN401 - a form
    """`repeated_fields` as one error line naming the fields ("state, reason: given more than
    once"), for a form whose errors have one place (a row's small form) or fields the page does not
    show (a hidden field, a password typed again); None when each is given at most once."""
    twice = repeated_fields(data, names)
    return f"{', '.join(twice)}: {GIVEN_TWICE}" if twice else None


def repeated_parameter(query: QueryParams, names: Iterable[str]) -> str | None:
    """Why a query giving one of `names` (parameters taken once) several times is refused, else
    None: a framework keeps the last value silently, a proxy or a log may read the first."""
    for name in names:
        if (given := len(query.getlist(name))) > 1:
            return f"{name}: given {given} times, the route takes one"
    return None


def _media_is_json(request: Request) -> bool:
    """Whether the request's body is JSON as FastAPI reads it: application/json or
    application/*+json, in any case."""
    media = parse_options_header(request.headers.get("content-type", ""))[0].lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def send_json(content_type: str) -> str:
    """The refusal of a body sent as `content_type` (the header as given), which is not JSON."""
    return f"body: send JSON with the header Content-Type: application/json (got {cut(content_type, 60)})"


async def not_json_media(request: Request) -> str | None:
    """Why a body sent as another media type than JSON is refused, else None (no body: none)."""
    if _media_is_json(request) or not await request.body():
        return None
    return send_json(request.headers.get("content-type", "none"))


def unknown_parameters(query: QueryParams, known: tuple[str, ...]) -> str | None:
    """Why a query naming parameters other than `known` is refused, else None; each name `echo`ed,
    as a message repeats a caller's value (a line break or U+202E in a name was repeated as sent)."""
    unknown = [name for name in dict.fromkeys(query.keys()) if name not in known]
    return f"unknown query parameter(s) {cut(', '.join(map(echo, unknown)), 200)}; known: {', '.join(known) or 'none'}" if unknown else None


async def _repeated_key(request: Request) -> str | None:
    """Why a JSON body is refused for naming a key twice, else None (a body that is no JSON is
    left to FastAPI's own answer; Starlette keeps the body read for it)."""
    if not _media_is_json(request):
        return None
    try:
        json.loads(await request.body(), object_pairs_hook=unique_keys)
    except HaloError as exc:
        return str(exc)
    except (ValueError, RecursionError):
        return None
    return None


def _taken_once(params: Iterable[Any]) -> tuple[str, ...]:
    """The names of the query parameters (FastAPI's fields) that are not lists."""
    def many(annotation: Any) -> bool:
        return any(typing.get_origin(a) in (list, set, tuple, frozenset) or a in (list, set, tuple, frozenset)
                   for a in (typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)))

    return tuple(field.alias for field in params if not many(field.field_info.annotation))


def _checks_first(routers: Iterable[APIRouter]) -> None:
    """Refuse to build an app where a guarded route would parse its body before the guard runs."""
    for router in routers:
        for route in router.routes:
            if (isinstance(route, APIRoute) and not isinstance(route, ChecksFirstRoute) and route.body_field is not None
                    and any(hasattr(d.call, "before_body") for d in route.dependant.dependencies)):
                raise TypeError(f"{route.path}: a guarded route with a body needs APIRouter(route_class=ChecksFirstRoute)")


def _allowed_methods(request: Request) -> str | None:
    """The methods of the resource the request named, as the OpenAPI document lists them. FastAPI
    registers one route per method (GraphQL, callbacks) and Starlette's 405 names only the first
    route's; probing the router instead would also list `GET /v1/messages/sms`, which is really
    `GET /v1/messages/{message_id}`."""
    route = request.scope.get("route")
    path, paths = getattr(route, "path", ""), request.app.openapi().get("paths", {})
    # a route also answered with a trailing slash (a provider's callback) is documented without it
    path_item = paths.get(path) or paths.get(path.rstrip("/"))
    if not path_item:
        return None
    methods = {method.upper() for method in path_item if method != "parameters"}
    head = {"HEAD"} if "GET" in methods and not changes_state(route) else set()  # HEAD goes wherever a safe GET does (HeadAsGet)
    return ", ".join(sorted(methods | head))


# what each refusal means, for the OpenAPI document; an operation lists those it can answer
_REFUSALS = {
    400: "Malformed: the body or the query string nests too deep",
    401: "No valid identity: no API key, or an unknown, revoked or expired one",
    403: "The caller lacks the route's scope (or, by session, the CSRF token)",
    404: "Not found",
    409: "Conflicts with what exists (an idempotency key reused for another message)",
    413: "Body larger than 1 MiB",
    422: "Invalid: the body is not JSON, the query string is not UTF-8, or `error` names the field and why",
    429: "Rate limited: retry after the `Retry-After` header's seconds",
}


FASTAPI_422 = "Validation Error"  # FastAPI's description of its own 422, replaced with its schema


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Make the OpenAPI document say what the service answers, with the error body: 401, 403 and
    429 where the operation needs an identity, 400, 413 and 422 where it takes a body, 422 where
    it takes parameters, 404 where the path names something; any other 4xx is covered by `4XX`.
    A description the route gives for a refusal says more than the generic one, and is kept.
    FastAPI's own 422 schema (`{"detail": [...]}`) is not what we send, so it goes."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)

    def error(code: str) -> dict[str, Any]:
        return {"description": _REFUSALS.get(int(code) if code.isdigit() else 0, "Refused: `error` says why"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    for path, path_item in spec.get("paths", {}).items():
        for operation in path_item.values():
            responses = operation.setdefault("responses", {})
            codes = {c for c in responses if c.startswith("4")}
            if operation.get("security"):
                codes |= {"401", "403", "429"}
            if "requestBody" in operation:
                codes |= {"400", "413", "422"}
            if operation.get("parameters"):
                codes.add("422")
            if "{" in path:
                codes.add("404")
            for code in sorted(codes) + ["4XX"]:
                own = responses.get(code, {}).get("description")
                responses[code] = error(code) | ({"description": own} if own and own != FASTAPI_422 else {})
    return spec


def _redirect_slashes_to_paths(router: Router) -> None:
    """Starlette answers `/ui/` with a redirect to `/ui` (and `/x` to `/x/` where only that is a
    route), its Location an absolute URL built from the request's Host header: a forged Host (a
    poisoned cache, a proxy passing it on) sent people to another site. The same redirect, with
    the path and query alone."""
    router.redirect_slashes = False
    not_found = router.default

    async def other_slash(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if scope["type"] == "http" and path != "/":
            other = path.rstrip("/") if path.endswith("/") else path + "/"
            if any(route.matches({**scope, "path": other})[0] is not Match.NONE for route in router.routes):
                query = scope["query_string"].decode("latin-1")
                await RedirectResponse(other + (f"?{query}" if query else ""), status_code=307)(scope, receive, send)
                return
        await not_found(scope, receive, send)

    router.default = other_slash


def _with_documented_errors(openapi: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
    return lambda: document_errors(openapi())


def resource(name: str) -> Callable[[Request], Any]:
    """A FastAPI dependency giving the app's resource `name` (the ones the code location
    binds, or those a test injected into the app): `Depends(resource("store"))`."""

    def get(request: Request) -> Any:
        return request.app.state.resources[name]

    return get


STORE_DOWN = "the operational store does not answer"
#: what SQLAlchemy raises when the store cannot be reached, dropped the connection (a restart, a
#: failover) or has no connection free in time: a 503 with `Retry-After` (seconds), on every route
STORE_UNAVAILABLE = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError)
STORE_RETRY_AFTER = "5"


def make_app(routers: Iterable[APIRouter], resources: Mapping[str, Any], authenticated: Callable[..., Any]) -> FastAPI:
    """The app serving `routers` over `resources` (`resource(name)` hands them to routes).
    `authenticated` is the dependency that lets a caller read the API's description
    (`/openapi.json`, `/docs`); `/health` alone answers anyone."""
    install_redaction()
    app = FastAPI(title="halo_platform", version="0.1.0", openapi_url=None, docs_url=None, redoc_url=None,
                  dependencies=[Depends(text_is_utf8)])
    app.state.resources = dict(resources)

    @app.exception_handler(HaloError)
    async def _halo_error(_req: Request, exc: HaloError) -> JSONResponse:
        return _error(exc.http_status, public_error(exc))

    # Starlette's class, not FastAPI's subclass: routing's 404/405 and FastAPI's body-parsing 400 are raised as it
    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405 and (allowed := _allowed_methods(request)):
            headers["Allow"] = allowed
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError) and "json" in request.headers.get("content-type", ""):
            return _error(422, NOT_JSON)  # FastAPI's 400 for a JSON body it could not read: not UTF-8, 5,000 digits
        if isinstance(exc.detail, dict) and "error" in exc.detail:
            return _error(exc.status_code, exc.detail["error"], exc.detail.get("detail"), headers)
        return _error(exc.status_code, str(exc.detail), headers=headers)

    @app.exception_handler(404)
    async def _not_found(_req: Request, exc: Exception) -> JSONResponse:
        return _error(404, "not found", getattr(exc, "detail", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_req: Request, exc: RequestValidationError) -> JSONResponse:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return _error(422, NOT_JSON)
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in exc.errors()]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        return _error(422, f"{'.'.join(map(str, first['loc'][1:] or first['loc']))}: {first['msg']}", detail)

    @app.exception_handler(sa_exc.DataError)
    async def _unstorable(_req: Request, _exc: sa_exc.DataError) -> JSONResponse:
        # the database refused a value the caller sent (PostgreSQL's driver takes no NUL in text,
        # SQLite stores it); the transaction rolled back. The statement and its values stay out of the answer.
        return _error(422, "a value cannot be stored: text with a NUL character, or a number out of range")

    async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # the store restarting, failing over, or out of connections: a caller that tries again soon
        # may well get through, which a 500 'internal error' did not say
        log.warning("%s %s: %s (%s)", request.method, request.url.path, STORE_DOWN, type(exc).__name__)
        return _error(503, f"{STORE_DOWN}; try again shortly", headers={"Retry-After": STORE_RETRY_AFTER})

    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _store_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_req: Request, _exc: Exception) -> JSONResponse:
        # the last resort: Starlette re-raises after this answer, so the traceback reaches the
        # server log (redacted) and never the client
        return _error(500, "internal error")

    unavailable = {503: {"description": "The operational store does not answer: `{status: unavailable, error}`"}}

    @app.head("/health", response_model=None, responses=unavailable)  # monitoring probes often ask with HEAD: the same check, answered without the body
    @app.get("/health", response_model=None, responses=unavailable)
    def health(request: Request) -> dict | JSONResponse:
        import sqlalchemy as sa

        try:
            with app.state.resources["store"].read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa_exc.SQLAlchemyError as exc:  # was a 500 and a traceback: the probe asks exactly this
            # as every route answers then: the probe (a load balancer) is told when to ask again
            log.warning("%s %s: %s (%s)", request.method, request.url.path, STORE_DOWN, type(exc).__name__)
            return JSONResponse({"status": "unavailable", "error": STORE_DOWN}, status_code=503,
                                headers={"Retry-After": STORE_RETRY_AFTER})
        return {"status": "ok"}

    routers = tuple(routers)
    _checks_first(routers)
    for router in routers:
        app.include_router(router)
    app.openapi = _with_documented_errors(app.openapi)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authenticated)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(authenticated)])
    def docs() -> HTMLResponse:
        return swagger_html("/openapi.json", app.title)

    mount_static(app)
    _redirect_slashes_to_paths(app.router)
    app.add_middleware(RequestGuard)
    app.add_middleware(UntrustedProxyWarning)
    app.add_middleware(HeadAsGet, router=app.router)
    return app
