"""The Control Center's Access page: API keys and users, listed to every role (a viewer reads
everything; never a secret nor a hash), changed by an admin alone. An admin creates a key (shown
once, on the answer to the form, never stored in clear or sent again), revokes one, creates a
user, gives a user a new password (which also re-enables them and ends their sessions: an admin
who gives themselves one is told so on the sign-in page) and disables one.

Every change goes through `access.keys` / `access.users`, the functions of `halo keys` and
`halo users`; their errors name the field they are about (`name: ...`), so the page shows each
beside its field. Each change is recorded as made by the signed-in admin, and the tables show who
made each change and when."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from halo_platform.access.guard import SESSION_COOKIE, Caller
from halo_platform.access.keys import (
    MAX_OVERLAP_HOURS,
    SCOPES,
    check_expires,
    check_name,
    check_rate,
    check_scopes,
    create_key_in,
    list_keys,
    revoke_key,
    rotate_key_in,
)
from halo_platform.access.ui import login_page
from halo_platform.access.users import ROLE_SCOPES, check_password, create_user, disable_user, list_users, set_password
from halo_platform.core.errors import ConflictError, HaloError, NotFoundError
from halo_platform.core.http import repeated_error, repeated_fields, resource
from halo_platform.core.store import StoreResource
from halo_platform.core.text import plain_number, unstorable, yyyy_mm_dd
from halo_platform.ui.app import done_redirect, render, signed_in, text_errors
from halo_platform.ui.once import FormSentAlready, sent_once

router = APIRouter(include_in_schema=False)
KEY_FIELDS = ("name", "scope", "expires", "rate")
USER_FIELDS = ("name", "role", "password")
PASSWORDS_DIFFER = "the two passwords differ"
NOT_CREATED_AGAIN = "This form was already sent; no second key was created."
NOT_ROTATED_AGAIN = "This form was already sent; the key was not rotated again."
OWN_PASSWORD_CHANGED = "Your password was changed, and every session of yours ended, this one too. Sign in with the new password."


def _field_error(exc: HaloError, fields: tuple[str, ...], prefix: str) -> dict[str, str]:
    """The error beside its field: the domain's messages start with the field's name."""
    field, _, rest = str(exc).partition(": ")
    if field in fields and rest:
        return {f"{prefix}.{field}": rest}
    if isinstance(exc, ConflictError):  # a name in use
        return {f"{prefix}.name": str(exc)}
    return {f"{prefix}.form": str(exc)}


def _checked(errors: dict[str, str], prefix: str, check: Callable[[], object]) -> None:
    """Run one of the domain's field checks; its error beside its field unless that field has one
    already. A form with several bad fields shows each error at once, not one per submit."""
    try:
        check()
    except HaloError as exc:
        for field, message in _field_error(exc, KEY_FIELDS + USER_FIELDS, prefix).items():
            errors.setdefault(field, message)


def _named(name: str, what: str) -> str:
    """`name` from the path; a name no store can hold is no row's: NotFoundError, as the domain
    words it, without looking (PostgreSQL would refuse the query)."""
    if unstorable(name):
        raise NotFoundError(f"no {what} named {name!r}")
    return name


def _state(key: dict[str, Any]) -> str:
    if key["revoked_at"]:
        return "revoked"
    expires = key["expires_at"]
    if expires is not None and (expires if expires.tzinfo else expires.replace(tzinfo=dt.UTC)) <= dt.datetime.now(dt.UTC):
        return "expired"
    return "active"


def _page(request: Request, caller: Caller, store: StoreResource, status: int = 200, **context: Any) -> HTMLResponse:  # noqa: ANN401
    context.setdefault("errors", {})
    context.setdefault("key_form", {"name": "", "scopes": [], "expires": "", "rate": ""})
    context.setdefault("user_form", {"name": "", "role": "viewer"})
    errors = context["errors"]
    keys = [{**k, "state": _state(k)} for k in list_keys(store)]
    rows = {f"revoke.{k['name']}.{k['prefix']}" for k in keys}
    for field in [f for f in errors if f.startswith("revoke.") and f not in rows]:  # no row to be beside: at the top
        errors["form"] = errors.pop(field)
    answer = render(request, "access.html", caller, status=status, keys=keys,
                    users=list_users(store), scopes=SCOPES, roles=list(ROLE_SCOPES),
                    key_open=any(f.startswith("key.") for f in errors), user_open=any(f.startswith("user.") for f in errors), **context)
    answer.headers["Cache-Control"] = "no-store"  # the answer to a created key holds the key
    return answer


@router.get("/ui/access", response_class=HTMLResponse)
def access_page(request: Request, caller: Caller = Depends(signed_in()),
                store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    return _page(request, caller, store)


def _key_fields(data: Any, errors: dict[str, str]) -> tuple[dict[str, Any], dt.date | None, float | None]:  # noqa: ANN401 - a form
    form = {"name": str(data.get("name", "")).strip(), "scopes": [str(s) for s in data.getlist("scope")],
            "expires": str(data.get("expires", "")).strip(), "rate": str(data.get("rate", "")).strip()}
    errors.update(text_errors({"name": form["name"], "scope": form["scopes"], "expires": form["expires"], "rate": form["rate"]},
                              "key.", what={"expires": "date"}))
    errors.update(repeated_fields(data, ("name", "expires", "rate"), "key."))
    _checked(errors, "key", lambda: check_name(form["name"]))
    _checked(errors, "key", lambda: check_scopes(form["scopes"]))
    expires = rate = None
    if form["expires"] and "key.expires" not in errors:
        try:
            expires = yyyy_mm_dd(form["expires"])
        except ValueError:
            errors["key.expires"] = "a date, YYYY-MM-DD"
        else:  # in the past: beside the field with the others' errors, not once the name is right
            _checked(errors, "key", lambda: check_expires(expires))
    if form["rate"] and "key.rate" not in errors:
        rate = plain_number(form["rate"])
        if rate is None:
            errors["key.rate"] = "a number of requests per second"
        else:
            _checked(errors, "key", lambda: check_rate(rate))
    return form, expires, rate


@router.post("/ui/access/keys", response_class=HTMLResponse)
async def new_key(request: Request, caller: Caller = Depends(signed_in("admin")),
                  store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    errors: dict[str, str] = {}
    data = await request.form()
    form, expires, rate = _key_fields(data, errors)
    key, status = None, 422
    if not errors:
        def create() -> str:
            with sent_once(store, data, caller.name, NOT_CREATED_AGAIN) as conn:
                return create_key_in(conn, form["name"], form["scopes"], expires=expires, rate_per_second=rate, created_by=caller.name)
        try:
            key = await run_in_threadpool(create)
        except FormSentAlready as exc:  # a reload of the answer showing the key: shown once, made once
            errors, status = {"key.form": str(exc)}, exc.http_status
        except HaloError as exc:
            errors = _field_error(exc, KEY_FIELDS, "key")
    if errors:
        return await run_in_threadpool(_page, request, caller, store, status, errors=errors, key_form=form)
    return await run_in_threadpool(_page, request, caller, store, 201, created_key={"name": form["name"], "key": key})


async def _change(request: Request, caller: Caller, store: StoreResource, change: Callable[[], None], done: str,
                  beside: str = "form") -> Response:
    """Make a change of a row's button; back to the page saying what was done, or with the
    error `beside` the row (a second click on the same button: the key is revoked already), at
    the top by default."""
    try:
        await run_in_threadpool(change)
    except HaloError as exc:
        return await run_in_threadpool(_page, request, caller, store, 404 if isinstance(exc, NotFoundError) else 422,
                                       errors={beside: str(exc)})
    return done_redirect(request, "/ui/access", done)


@router.post("/ui/access/keys/{name}/revoke", response_class=HTMLResponse)
async def revoke(request: Request, name: str, caller: Caller = Depends(signed_in("admin")),
                 store: StoreResource = Depends(resource("store"))) -> Response:
    # the row's prefix names the key the button is on: by name alone, an expired key's button (or
    # a page older than the key) revoked the newer key holding that name
    data = await request.form()
    if twice := repeated_error(data, ("prefix",)):
        return await run_in_threadpool(_page, request, caller, store, 422, errors={"form": twice})
    prefix = str(data["prefix"]) if "prefix" in data else None
    if prefix is not None and unstorable(prefix):
        prefix = ""  # no key's
    return await _change(request, caller, store,
                         lambda: revoke_key(store, _named(name, "active key"), revoked_by=caller.name, prefix=prefix),
                         f"key {name} revoked", beside="form" if prefix is None else f"revoke.{name}.{prefix}")


@router.post("/ui/access/keys/{name}/rotate", response_class=HTMLResponse)
async def rotate(request: Request, name: str, caller: Caller = Depends(signed_in("admin")),
                 store: StoreResource = Depends(resource("store"))) -> Response:
    """A new key for the name's active key (`halo keys rotate`), shown once; the replaced key works
    for the overlap the row's field gives (hours, 24 if left empty)."""
    data = await request.form()
    beside = f"rotate.{name}"  # the row's form: its errors beside its field, not at the top of the page
    if twice := repeated_error(data, ("overlap_hours",)):
        return await run_in_threadpool(_page, request, caller, store, 422, errors={beside: twice})
    try:
        hours = plain_number(str(data.get("overlap_hours", "")).strip() or "24")
        if hours is None:  # as the key's rate: digits 0-9 (float() read `١٢` as 12)
            raise ValueError("not a number in digits 0-9")

        def rotated() -> tuple[str, dt.datetime]:
            with sent_once(store, data, caller.name, NOT_ROTATED_AGAIN) as conn:
                return rotate_key_in(conn, _named(name, "active key"), overlap_hours=hours, rotated_by=caller.name)
        key, until = await run_in_threadpool(rotated)
    except FormSentAlready as exc:  # a reload of the answer showing the new key: the key it showed stays the name's
        return await run_in_threadpool(_page, request, caller, store, exc.http_status, errors={beside: str(exc)})
    except NotFoundError as exc:  # no row to be beside: at the top
        return await run_in_threadpool(_page, request, caller, store, 404, errors={"form": str(exc)})
    except (ValueError, HaloError) as exc:
        why = str(exc) if isinstance(exc, HaloError) else f"overlap: a number of hours from 0 to {MAX_OVERLAP_HOURS}"
        return await run_in_threadpool(_page, request, caller, store, 422, errors={beside: why})
    return await run_in_threadpool(_page, request, caller, store, 201, created_key={"name": name, "key": key, "replaced_until": until})


@router.post("/ui/access/users", response_class=HTMLResponse)
async def new_user(request: Request, caller: Caller = Depends(signed_in("admin")),
                   store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    data = await request.form()
    form = {"name": str(data.get("name", "")).strip(), "role": str(data.get("role", ""))}
    password = str(data.get("password", ""))
    errors = text_errors(form, "user.") | repeated_fields(data, ("name", "role", "password"), "user.")
    _checked(errors, "user", lambda: check_name(form["name"]))
    _checked(errors, "user", lambda: check_password(password))
    if form["role"] not in ROLE_SCOPES:
        errors.setdefault("user.role", f"one of {', '.join(ROLE_SCOPES)}")
    if twice := repeated_error(data, ("password_again",)):  # a field the page shows no error beside
        errors.setdefault("user.password", twice)
    elif password != data.get("password_again"):
        errors["user.password"] = PASSWORDS_DIFFER
    if not errors:
        try:
            await run_in_threadpool(lambda: create_user(store, form["name"], form["role"], password, created_by=caller.name))
        except HaloError as exc:
            errors = _field_error(exc, USER_FIELDS, "user")
    if errors:
        return await run_in_threadpool(_page, request, caller, store, 422, errors=errors, user_form=form)
    done = f"user {form['name']} created"
    return done_redirect(request, "/ui/access", done)


@router.post("/ui/access/users/{name}/password", response_class=HTMLResponse)
async def new_password(request: Request, name: str, caller: Caller = Depends(signed_in("admin")),
                       store: StoreResource = Depends(resource("store"))) -> HTMLResponse:
    data = await request.form()
    password, field = str(data.get("password", "")), f"password.{name}"
    errors: dict[str, str] = {}
    if twice := repeated_error(data, ("password", "password_again")):  # `password=A&password=B&password_again=B` set B
        errors[field] = twice
    elif password != data.get("password_again"):
        errors[field] = PASSWORDS_DIFFER
    try:
        _named(name, "user")  # first: the form's errors would go beside a row that is not there
        if not errors:
            await run_in_threadpool(lambda: set_password(store, name, password, changed_by=caller.name))
    except NotFoundError as exc:
        return await run_in_threadpool(_page, request, caller, store, 404, errors={"form": str(exc)})
    except HaloError as exc:
        errors = {field: str(exc).removeprefix("password: ")}
    if errors:
        return await run_in_threadpool(_page, request, caller, store, 422, errors=errors)
    if name == caller.name:  # this session ended with the others: the next click was the sign-in page, with no word why
        page = login_page(request, name=caller.name, next_="/ui/access", notice=OWN_PASSWORD_CHANGED)
        page.delete_cookie(SESSION_COOKIE, path="/")
        return page
    return done_redirect(request, "/ui/access", f"new password for {name}; their sessions ended")


@router.post("/ui/access/users/{name}/disable", response_class=HTMLResponse)
async def disable(request: Request, name: str, caller: Caller = Depends(signed_in("admin")),
                  store: StoreResource = Depends(resource("store"))) -> Response:
    if name == caller.name:  # an admin never locks the Control Center's door behind themselves
        return await run_in_threadpool(_page, request, caller, store, 422,
                                       errors={f"disable.{name}": "you cannot disable the user you are signed in as"})
    return await _change(request, caller, store, lambda: disable_user(store, _named(name, "user"), disabled_by=caller.name),
                         f"user {name} disabled; their sessions ended")
