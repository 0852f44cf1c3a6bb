"""The HTTP service's gate: `Depends(requires(scope))` on a route authenticates the caller (a
bearer API key, or a signed-in user's session cookie) and checks the scope, before the route
runs and before its body is parsed (`core.http.ChecksFirstRoute`). 401 without a valid
identity, 403 without the scope, 429 past the key's rate limit; all in the service's JSON
error body. A session that changes something also needs its CSRF token. A request giving the
Authorization (or X-CSRF-Token) header twice never gets here: `core.http.RequestGuard` answers
400 on every route, as which of the two was meant cannot be told.

The route receives the `Caller`; what it records as `requested_by`/`created_by` is its name."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from python_multipart.multipart import parse_options_header
from starlette.exceptions import HTTPException

from halo_platform.access import keys, users
from halo_platform.core.store import StoreResource

SESSION_COOKIE = "halo_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"  # the form field a session posts its CSRF token in, where it sends no CSRF_HEADER
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ADMITTED = "halo.admitted"  # the request scope's callers found so far, by check

# documented in OpenAPI as the two ways in; neither refuses by itself (auto_error=False)
_bearer = HTTPBearer(auto_error=False, scheme_name="apiKey", description="`Authorization: Bearer halo_<prefix>_<secret>` (`halo keys create`)")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session",
                       description="A Control Center session (sign in at /ui/login); changes also need the X-CSRF-Token header")


@dataclass(frozen=True)
class Caller:
    """Who is asking: an API key or a user, by name, and what they may do."""

    name: str
    kind: str  # "key" | "user"
    scopes: frozenset[str]
    csrf_token: str | None = None
    role: str | None = None  # a user's
    key_prefix: str | None = None  # an API key's: which of a rotated name's keys it is

    def allows(self, scope: str | None) -> bool:
        return scope is None or "admin" in self.scopes or scope in self.scopes


def _refuse(status: int, error: str, detail: object = None, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status, detail={"error": error, "detail": detail}, headers=headers)


def _unauthenticated(why: str) -> HTTPException:
    return _refuse(401, why, None, {"WWW-Authenticate": "Bearer"})


def store_of(request: Request) -> StoreResource:
    return request.app.state.resources["store"]


async def session_caller(request: Request, token: str | None) -> Caller | None:
    """The person whose live session the cookie `token` names, or None."""
    found = await run_in_threadpool(users.session, store_of(request), token) if token else None
    return Caller(found.user, "user", found.scopes, found.csrf_token, found.role) if found else None


async def _caller(request: Request, bearer: HTTPAuthorizationCredentials | None, cookie: str | None) -> Caller:
    store = store_of(request)
    if bearer is not None:
        checked = await run_in_threadpool(keys.check_key, store, bearer.credentials, request.app.state.rate_per_second)
        if checked.refused:
            raise _unauthenticated(checked.refused)
        if checked.retry_after is not None:
            raise _refuse(429, "rate limit exceeded", {"limit_per_second": checked.rate_per_second},
                          {"Retry-After": str(checked.retry_after)})
        return Caller(checked.name, "key", checked.scopes, key_prefix=checked.prefix)
    if request.headers.get("authorization"):
        raise _unauthenticated("the Authorization header must be `Bearer <API key>`")
    if cookie:
        person = await session_caller(request, cookie)
        if person is None:
            raise _unauthenticated("session expired or signed out; sign in again")
        return person
    raise _unauthenticated("authentication required: `Authorization: Bearer <API key>`")


FORM_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data")


async def check_csrf(request: Request, caller: Caller) -> None:
    """A cookie rides along with any request the browser makes, a form posted from another site
    included; a change made by session must also show the session's CSRF token."""
    if caller.kind != "user" or request.method in SAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER)
    # the media type as Starlette's form parser reads it: in any case (`Application/X-WWW-Form-Urlencoded`), parameters apart
    if presented is None and parse_options_header(request.headers.get("content-type", ""))[0] in FORM_TYPES:
        await request.body()  # kept for the route, which may read the body again (as JSON: a 422, not a 500)
        tokens = (await request.form()).getlist(CSRF_FIELD)
        presented = tokens[0] if len(tokens) == 1 else None  # two: the last was read, whichever the form meant
    if not isinstance(presented, str) or not hmac.compare_digest(presented.encode(), (caller.csrf_token or "").encode()):
        raise _refuse(403, "missing or wrong CSRF token")


def requires(scope: str | None, read_only: bool = False) -> Callable[..., Awaitable[Caller]]:
    """The dependency of a route needing `scope` (None: any authenticated caller). `read_only`: a
    POST that changes nothing (GraphQL queries), so a session needs no CSRF token for it.

    Its `before_body` is the same check from the request alone, which `core.http.ChecksFirstRoute`
    runs before the route's body is parsed; a request is checked once (one token of the key's
    rate), the dependency then hands the route the caller found."""

    async def admit(request: Request) -> Caller:
        admitted = request.scope.setdefault(_ADMITTED, {})
        if admit not in admitted:
            caller = await _caller(request, await _bearer(request), await _cookie(request))
            if not caller.allows(scope):
                raise _refuse(403, f"this needs the {scope!r} scope", {"required_scope": scope})
            if not read_only:
                await check_csrf(request, caller)
            admitted[admit] = caller
        return admitted[admit]

    # bearer and cookie are declared so that OpenAPI names both schemes; admit reads them itself
    async def guard(request: Request, bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
                    cookie: str | None = Depends(_cookie)) -> Caller:
        return await admit(request)

    guard.before_body = admit
    return guard
