"""What every Control Center page shares: the templates, `signed_in(role)` (a page for a person:
no session -> the sign-in page; a role too low -> a 403 page; a POST -> its CSRF token checked, a
missing or stale one -> a 403 page saying nothing was saved),
`render`, `when` (a time with its zone) and `zone_of` (its zone alone), `text_error(s)` (text no store can hold, refused before any query), and
`install(app)` for the refusals and the stylesheet. A field given twice is refused beside it
with `core.http.repeated_fields` (`repeated_error`, one line for a form's one error).

Roles, lowest first: viewer reads everything; operator also requests tasks and edits schedules;
admin also edits routing weights, providers' state, keys and users."""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException  # what the guard raises (FastAPI's is a subclass)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from halo_platform.access.guard import SESSION_COOKIE, Caller, check_csrf, session_caller
from halo_platform.access.ui import login_page, unavailable_page
from halo_platform.core.errors import HaloError
from halo_platform.core.http import STORE_RETRY_AFTER, STORE_UNAVAILABLE, public_error
from halo_platform.core.text import cut, exact_number, unstorable
from halo_platform.ui.once import form_token

ROLES = ("viewer", "operator", "admin")
PAGES = (  # (path, title, the role that may open it): the navigation, in order
    ("/ui/tasks", "Tasks", "viewer"), ("/ui/requests", "Requests", "viewer"), ("/ui/schedules", "Schedules", "viewer"),
    ("/ui/routing", "Routing", "viewer"), ("/ui/providers", "Providers", "viewer"), ("/ui/messages", "Messages", "viewer"),
    ("/ui/availability", "Availability", "viewer"), ("/ui/access", "Access", "viewer"),
)
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


FORM_WITHOUT_SESSION = "You were signed out before this form was sent (the session ended): nothing was saved. Sign in, then send it again."


class SignInFirst(Exception):  # noqa: N818 - a refusal, answered by a redirect
    def __init__(self, target: str) -> None:
        self.target = target


class NotAllowed(Exception):  # noqa: N818 - a refusal, answered by a 403 page
    def __init__(self, caller: Caller, needed: str) -> None:
        self.caller, self.needed = caller, needed


class FormRefused(Exception):  # noqa: N818 - a refusal, answered by a 403 page
    """A form posted without its session's CSRF token: forged, or a page older than the session
    (signed out and in again in another tab). A person reads why on a page, not a JSON body."""

    def __init__(self, caller: Caller) -> None:
        self.caller = caller


def _here(request: Request) -> str:
    """The address a person asked for (path and query), to come back to after signing in."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _page_of(url: str) -> str | None:
    """The path and query of `url` when it is a Control Center page, else None."""
    page = urlsplit(url)
    return page.path + (f"?{page.query}" if page.query else "") if page.path.startswith("/ui") else None


def _section(path: str) -> str:
    """The page of the navigation `path` is under (`/ui/access/keys` -> `/ui/access`), else `/ui`."""
    return next((page for page, _, _ in PAGES if path == page or path.startswith(page + "/")), "/ui")


def _back_to(request: Request) -> str:
    """Where a person goes once signed in: the page asked for; after a form, the page the form was
    on, else (a browser that sends no Referer) the navigation page it belongs to: never the form's
    address, which may take no GET (`/ui/access/keys` answered a JSON 405, `/ui/routing/edit` without
    its rule a 404 page)."""
    if request.method == "GET":
        return _here(request)
    return _page_of(request.headers.get("referer", "")) or _section(request.url.path)


def role_at_least(caller: Caller, role: str) -> bool:
    return caller.role is not None and ROLES.index(caller.role) >= ROLES.index(role)


def signed_in(role: str = "viewer") -> Callable[[Request], Awaitable[Caller]]:
    """The dependency of a page (or a form's POST) that a person of at least `role` may use."""

    async def person(request: Request) -> Caller:
        caller = await session_caller(request, request.cookies.get(SESSION_COOKIE))
        if caller is None:
            raise SignInFirst(_back_to(request))
        if not role_at_least(caller, role):
            raise NotAllowed(caller, role)
        try:
            await check_csrf(request, caller)
        except HTTPException as exc:  # refused: nothing was read or changed
            raise FormRefused(caller) from exc
        return caller

    # a guard as `access.guard.requires` makes one: `core.http.text_is_utf8` admits the person
    # before it refuses an address that is not UTF-8, so nobody hears of it before signing in
    person.before_body = person
    return person


def text_error(value: Any, what: str = "value") -> str | None:  # noqa: ANN401 - a form's value
    """The error "not a valid <what>: ..." when no store can hold `value` (text, or a list of
    texts; anything else, an upload, holds no text); None when every one can."""
    for text in value if isinstance(value, list | tuple) else (value,):
        if isinstance(text, str) and (why := unstorable(text)):
            return f"not a valid {what}: it holds {why}, which cannot be stored"
    return None


def text_errors(values: Mapping[str, Any] | Iterable[tuple[str, Any]], prefix: str = "",
                what: Mapping[str, str] | None = None) -> dict[str, str]:
    """`text_error` of each field, keyed `prefix + field` as the page shows its errors. `values` maps
    a field to its value, or is a form's or a query's `multi_items()` (a field given twice is
    checked twice); `what` names a field's value in the message (default: the field's name after
    its last dot, `payload.period_start` -> "period start")."""
    errors: dict[str, str] = {}
    for field, value in values.items() if isinstance(values, Mapping) else values:
        noun = (what or {}).get(field) or field.rpartition(".")[2].replace("_", " ")
        if prefix + field not in errors and (error := text_error(value, noun)):
            errors[prefix + field] = error
    return errors


def seen_change(data: Any) -> int | None:  # noqa: ANN401 - a form
    """The id of the newest change an edit form's page showed (its hidden `seen` field), for the
    domain to refuse the edit when a change came since (`core.engine.unchanged_since`); None for
    a form without one."""
    return row_id(str(data.get("seen", "")))


def row_id(text: str) -> int | None:
    """The id of a row a page sent back (a form's hidden field, a link's query), or None for text
    that is no id any table holds (not plain digits, or past a 64-bit integer)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


def zone_of(value: dt.datetime) -> str:
    """How a page names the zone of an aware time: UTC, else its abbreviation with its UTC offset
    (`CST (UTC+08:00)`), or the offset alone when the zone has no abbreviation (`-03`). An
    abbreviation alone names several zones: CST is Shanghai's (UTC+08:00) and Chicago's
    (UTC-06:00), IST India's, Ireland's and Israel's."""
    offset = value.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    utc = f"UTC{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}" if minutes else "UTC"
    name = value.tzname() or ""
    return f"{name} ({utc})" if name.isalpha() and name != utc else utc


def when(value: dt.datetime | str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time as every page shows it: `fmt`, then its zone (`zone_of`)."""
    if value is None:
        return "–"
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime(fmt) + (f" {zone_of(value)}" if value.utcoffset() is not None else "")


SAID_LIMIT = 300  # characters of an error message a page shows: a domain message may repeat a 20,000-character value


def _said(message: object) -> str:
    """An error message as a page shows it beside its field: at most SAID_LIMIT characters."""
    return cut(str(message), SAID_LIMIT)


def _as_json(value: object, indent: int | None = None) -> str:
    """A payload as a page shows it: JSON with every character as typed (Jinja's `tojson` wrote each
    past ASCII as an escape, a note in Arabic read \\u0645\\u0631...), escaped for HTML as any text is."""
    return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=True)


PAYLOAD_VALUE_LIMIT = 300  # characters of a payload's key or value a request's page shows before "… (N characters)"


def _cut_payload(value: object) -> str:
    """A long key or value of a payload as its line shows it: a text's first characters, "…" and how
    many it has; another value's JSON the same way (a 2,000-number list filled 2,000 lines)."""
    if isinstance(value, str):
        return f'{_as_json(value[:PAYLOAD_VALUE_LIMIT])[:-1]}…" ({len(value):,} characters)'
    whole = _as_json(value)
    return f"{whole[:PAYLOAD_VALUE_LIMIT]}… ({len(whole):,} characters)"


def _payload_parts(payload: object) -> list[tuple[str, list[tuple[str, str]]]]:
    """A payload as a request's page shows it: its JSON (`_as_json`, indented) in parts of whole
    lines, each with what its last line shows cut (`_cut_payload`), as ("key" or "value", that key
    or value whole as JSON on one line, wrapped: 2,000 numbers indented were 2,000 lines), for the
    page's <details> after that line. A key or a text longer than
    `PAYLOAD_VALUE_LIMIT` characters is cut, and so is a value whose JSON is, once its own long
    keys and texts are counted as cut; not the payload itself. A 10,000-character value shown
    whole made the page 5,305 px tall at 390 px."""
    long: list[tuple[str, object]] = []
    mark = f"\ue000{secrets.token_hex(8)}-"  # no payload's text: where each long key or value goes

    def marked(what: str, value: object) -> str:
        long.append((what, value))
        return f"{mark}{len(long) - 1}"

    def shown(value: object, nested: bool = True) -> object:
        if isinstance(value, dict):  # sorted here: the marks would sort otherwise than the keys
            inner: object = {marked("key", key) if len(key) > PAYLOAD_VALUE_LIMIT else key: shown(item)
                             for key, item in sorted(value.items())}
        else:
            inner = [shown(item) for item in value] if isinstance(value, list) else value
        size = len(value) if isinstance(value, str) else len(json.dumps(inner, ensure_ascii=False))
        return marked("value", value) if nested and size > PAYLOAD_VALUE_LIMIT else inner

    parts: list[tuple[str, list[tuple[str, str]]]] = []
    lines: list[str] = []
    for line in json.dumps(shown(payload, nested=False), indent=2, ensure_ascii=False).split("\n"):
        wholes: list[tuple[str, str]] = []

        def cut_here(found: re.Match[str], wholes: list[tuple[str, str]] = wholes) -> str:
            what, value = long[int(found.group(1))]
            wholes.append((what, _as_json(value)))
            return _cut_payload(value)

        lines.append(re.sub(f'"{mark}(\\d+)"', cut_here, line))
        if wholes:  # the <details> after the line that shows them cut
            parts.append(("\n".join(lines), wholes))
            lines = []
    return [*parts, ("\n".join(lines), [])] if lines else parts


templates.env.filters["when"] = when
templates.env.filters["zone"] = zone_of
templates.env.filters["said"] = _said
templates.env.filters["exact"] = exact_number
templates.env.filters["json"] = _as_json
templates.env.filters["payload_parts"] = _payload_parts
templates.env.globals["form_token"] = form_token


DONE_COOKIE = "halo_done"


def done_redirect(request: Request, page: str, said: str) -> RedirectResponse:
    """Back to `page` (a path of the Control Center) after a form changed something; the page
    says `said` once. It travels in a cookie for that page, not in the address: a link with
    `?done=...` made an admin's page say "Done: <anything the link's author wrote>"."""
    back = RedirectResponse(page, status_code=303)
    back.set_cookie(DONE_COOKIE, quote(f"{page}\n{said}"), max_age=60, httponly=True, samesite="strict",
                    secure=request.url.scheme == "https", path="/ui")
    return back


def _said_once(request: Request) -> str | None:
    """What the last form did, if it came back to this page (`done_redirect`)."""
    page, _, said = unquote(request.cookies.get(DONE_COOKIE, "")).partition("\n")
    return said if said and page == request.url.path else None


def render(request: Request, template: str, caller: Caller, status: int = 200, **context: Any) -> HTMLResponse:  # noqa: ANN401
    """`template` with what every page needs: the person, their CSRF token, the navigation, and
    what the form that led here did (`done`)."""
    done = _said_once(request)
    page = templates.TemplateResponse(request, template, {
        "caller": caller, "csrf_token": caller.csrf_token, "pages": PAGES, "path": request.url.path,
        "can": lambda role: role_at_least(caller, role), "done": done, **context}, status_code=status)
    if done is not None:
        page.delete_cookie(DONE_COOKIE, path="/ui")
    return page


# no page of the service is shown inside another site's page: framed under a decoy (by a sibling
# site, whose frames carry the SameSite=Lax session cookie), an admin's click on the decoy is a
# click on Revoke, Disable or Switch off (clickjacking)
NO_FRAMING = {"x-frame-options": "DENY", "content-security-policy": "frame-ancestors 'none'"}
# a Control Center page is one person's (their CSRF token, patients' availability, messages, report
# files): kept by no cache, it is not shown again from the browser's cache once they signed out
NOT_KEPT = {"cache-control": "no-store"}


def is_page(path: str) -> bool:
    """Whether `path` is a Control Center page's (or form's), not the API's nor a static file's."""
    return (path == "/ui" or path.startswith("/ui/")) and not path.startswith("/ui/static/")


class PageHeaders:
    """Adds `NO_FRAMING` to every HTTP answer, and `NOT_KEPT` to the Control Center's answers but
    its stylesheet (a pure ASGI middleware, as `core.http.RequestGuard`: it leaves the body as it
    streams); a header an answer sets itself is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        added = {**NO_FRAMING, **NOT_KEPT} if is_page(scope["path"]) else NO_FRAMING

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in added.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    """The page refusals (a redirect to sign in, a 403 page), the Control Center's stylesheet, and
    `PageHeaders` on every answer."""
    app.add_middleware(PageHeaders)

    @app.exception_handler(SignInFirst)
    async def _sign_in(request: Request, exc: SignInFirst) -> Response:
        if request.headers.get("hx-request"):  # a live fragment: the whole page goes to sign-in, then back to the page
            # a 401 all the same (nothing answers without an identity): htmx follows HX-Redirect whatever the status
            back = _page_of(request.headers.get("hx-current-url", "")) or "/ui"
            return Response(status_code=401, headers={"HX-Redirect": f"/ui/login?next={quote(back, safe='/')}"})
        if request.method not in ("GET", "HEAD"):  # a form sent once the session had ended: say so, here
            return login_page(request, 401, next_=exc.target, notice=FORM_WITHOUT_SESSION, form_lost=True)
        return RedirectResponse(f"/ui/login?next={quote(exc.target, safe='/')}", status_code=303)

    @app.exception_handler(NotAllowed)
    async def _not_allowed(request: Request, exc: NotAllowed) -> HTMLResponse:
        return render(request, "refused.html", exc.caller, status=403, needed=exc.needed)

    @app.exception_handler(FormRefused)
    async def _form_refused(request: Request, exc: FormRefused) -> HTMLResponse:
        return render(request, "form_refused.html", exc.caller, status=403)

    api_unavailable = app.exception_handlers[STORE_UNAVAILABLE[0]]

    async def _store_unavailable(request: Request, exc: Exception) -> Response:
        answer = await api_unavailable(request, exc)  # which logs it
        return unavailable_page(request, STORE_RETRY_AFTER) if is_page(request.url.path) else answer

    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _store_unavailable)

    api_refused = app.exception_handlers[HaloError]

    @app.exception_handler(HaloError)
    async def _page_refused(request: Request, exc: HaloError) -> Response:
        # what a page's form does not catch, a providers file a rule of which weighs a provider it
        # does not have above all: every delivery page answered the API's bare JSON in the browser
        caller = await session_caller(request, request.cookies.get(SESSION_COOKIE)) if is_page(request.url.path) else None
        if caller is None:
            return await api_refused(request, exc)
        return render(request, "problem.html", caller, status=exc.http_status, message=public_error(exc))

    api_not_found = app.exception_handlers[404]

    @app.exception_handler(404)
    async def _no_such_page(request: Request, exc: Exception) -> Response:
        # an address under /ui that names no page is a person's mistake: a page says so (once
        # signed in, like any page); elsewhere the API's JSON answer
        if not request.url.path.startswith("/ui/") or request.url.path.startswith("/ui/static/") or request.method not in ("GET", "HEAD"):
            return await api_not_found(request, exc)
        caller = await session_caller(request, request.cookies.get(SESSION_COOKIE))
        if caller is None:
            return await _sign_in(request, SignInFirst(_here(request)))
        return render(request, "missing.html", caller, status=404)

    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")
    # compiled once per process (about 0.3 s for all), so nobody's first visit of a page pays it
    for name in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(name)
