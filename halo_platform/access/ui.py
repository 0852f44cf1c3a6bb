"""Signing in to the Control Center: `/ui/login` (a form with a CSRF token, the generic failure
message, the login rate limit) and `/ui/logout` (a POST; opened in a browser, a page with its
button); the pages themselves are `halo_platform.ui`. The session cookie is HTTP-only and
SameSite=Lax, Secure when the service is reached over HTTPS, and lives `SESSION_HOURS`."""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path

from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException  # what the guard raises

from halo_platform.access import users
from halo_platform.access.guard import SESSION_COOKIE, Caller, check_csrf, session_caller, store_of
from halo_platform.core.errors import HaloError
from halo_platform.core.http import repeated_error

LOGIN_CSRF_COOKIE = "halo_login_csrf"
templates = Jinja2Templates(directory=Path(__file__).with_name("templates"))
router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only a path of this service: never `//elsewhere` or `https://elsewhere` (an open redirect)."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/ui"


def login_page(request: Request, status: int = 200, error: str | None = None, name: str = "", next_: str = "/ui",
               headers: dict[str, str] | None = None, notice: str | None = None, form_lost: bool = False) -> HTMLResponse:
    """The sign-in form, going on to `next_`; `error` beside the fields, `notice` above them;
    `form_lost`: the answer to a form that saved nothing, whose page fills in again what was typed. Its
    token is the browser's (its login-CSRF cookie's, kept once signed in): a new one per page
    refused every sign-in page of the browser but the last opened (tabs sent to sign in at once)."""
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    page = templates.TemplateResponse(request, "login.html", {"csrf_token": token, "error": error, "name": name, "next": next_,
                                                              "notice": notice, "form_lost": form_lost}, status_code=status, headers=headers)
    page.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/ui/login")
    return page


def unavailable_page(request: Request, retry_after: str) -> HTMLResponse:
    """What a person sees while the operational store does not answer (503): no session can be
    read then, so the page needs none."""
    return templates.TemplateResponse(request, "unavailable.html", {}, status_code=503, headers={"Retry-After": retry_after})


@router.get("/ui/login")
def login_form(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query parameter's name
    return login_page(request, next_=_safe_next(next))


@router.post("/ui/login")
async def login(request: Request, name: str = Form(""), password: str = Form(""), csrf_token: str = Form(""),
                next: str = Form("/ui")) -> Response:  # noqa: A002
    target = _safe_next(next)
    if twice := repeated_error(await request.form(), ("name", "password", "csrf_token", "next")):  # `name=ada&name=bob` signed in bob
        return login_page(request, 422, twice, "", target)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf_token.encode(), expected.encode()):
        return login_page(request, 403, "the form expired; sign in again", name, target)
    client = request.client.host if request.client else "unknown"
    presented = request.cookies.get(SESSION_COOKIE)
    # signed in again as the same person (another tab's sign-in page): the pages open in the
    # browser carry the session's CSRF token, which the new session keeps; it is a new session all the same
    current = await session_caller(request, presented) if presented else None
    try:
        token = await run_in_threadpool(users.login, store_of(request), name, password, client,
                                        current.csrf_token if current is not None and current.name == name else None)
    except users.LoginThrottled as exc:
        return login_page(request, 429, str(exc), name, target, {"Retry-After": str(exc.retry_after)})
    except HaloError as exc:
        return login_page(request, 401, str(exc), name, target)
    if presented:  # whoever this browser was signed in as before is signed out, on the server too
        await run_in_threadpool(users.logout, store_of(request), presented)
    done = RedirectResponse(target, status_code=303)
    done.set_cookie(SESSION_COOKIE, token, max_age=users.SESSION_HOURS * 3600, httponly=True, samesite="lax",
                    secure=request.url.scheme == "https", path="/")
    return done


def _sign_out_page(request: Request, caller: Caller, refused: bool = False) -> HTMLResponse:
    """A button signing `caller` out with their session's CSRF token; `refused`: a form without it
    was sent, and nothing changed."""
    return templates.TemplateResponse(request, "logout.html", {"name": caller.name, "csrf_token": caller.csrf_token, "refused": refused},
                                      status_code=403 if refused else 200)


def _signed_out() -> RedirectResponse:
    done = RedirectResponse("/ui/login", status_code=303)
    done.delete_cookie(SESSION_COOKIE, path="/")
    return done


@router.get("/ui/logout")
async def logout_form(request: Request) -> Response:
    """The sign-out address opened in a browser (typed, a link): a page asking, as signing out is
    a POST (a link on another site signs nobody out); signed out already, the sign-in page."""
    caller = await session_caller(request, request.cookies.get(SESSION_COOKIE))
    return _signed_out() if caller is None else _sign_out_page(request, caller)


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """End the session, once its CSRF token is shown (a forged form signs nobody out); a person
    whose session had ended already goes on to the sign-in page."""
    caller = await session_caller(request, request.cookies.get(SESSION_COOKIE))
    if caller is not None:
        try:
            await check_csrf(request, caller)
        except HTTPException:
            return _sign_out_page(request, caller, refused=True)
        await run_in_threadpool(users.logout, store_of(request), request.cookies.get(SESSION_COOKIE, ""))
    return _signed_out()


ROUTERS = (router,)
