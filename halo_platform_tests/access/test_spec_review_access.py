"""Review of the service against access.md and the platform page: hostile requests to the sign-in
form and the Control Center's forms, answered as the contract says."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.access.keys import list_keys

PASSWORD = "a long enough password"
BOUNDARY = "halo-review-boundary"


def multipart(fields: dict[str, bytes], charset: str) -> tuple[bytes, dict[str, str]]:
    """A multipart/form-data body whose Content-Type names `charset` (a browser names none)."""
    body = b"".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
                    for name, value in fields.items()) + f"--{BOUNDARY}--\r\n".encode()
    return body, {"content-type": f"multipart/form-data; boundary={BOUNDARY}; charset={charset}"}


def _refused_as_json(answer) -> dict:  # noqa: ANN001 - httpx's Response
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/json"), answer.headers["content-type"]
    body = answer.json()
    assert set(body) == {"error", "detail"} and body["error"], body
    return body


@pytest.mark.parametrize("charset", ["unicode_escape", "raw_unicode_escape", "utf-7"])
@pytest.mark.parametrize("field", ["name", "password", "csrf_token", "next"])
def test_a_sign_in_form_in_a_charset_that_decodes_to_a_lone_surrogate_is_a_4xx_not_a_500(app, store, charset: str, field: str) -> None:  # noqa: ANN001
    """platform page: "no input yields a 500"; every 4xx body is JSON. A multipart body's own
    `charset=` parameter (Starlette decodes with any Python codec it names) turned `\\ud800` (or
    UTF-7's `+2AA-`) into a lone surrogate, which argon2, the CSRF comparison and the page's
    rendering cannot encode: anybody, without signing in, got a 500 and a traceback in the log."""
    users.create_user(store, "ada", "admin", PASSWORD)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    fields = {"name": b"ada", "password": PASSWORD.encode(), "csrf_token": token.encode(), "next": b"/ui"}
    fields[field] = (b"/ui/" if field == "next" else b"") + (b"+2AA-" if charset == "utf-7" else b"\\ud800")
    _refused_as_json(client.post("/ui/login", content=(body := multipart(fields, charset))[0], headers=body[1]))
    assert "halo_session" not in client.cookies


def test_an_admin_form_in_a_charset_that_decodes_to_a_lone_surrogate_is_a_4xx_and_makes_no_key(app, store) -> None:  # noqa: ANN001
    users.create_user(store, "ada", "admin", PASSWORD)
    client = TestClient(app, raise_server_exceptions=False, follow_redirects=False)
    client.cookies.set("halo_session", users.login(store, "ada", PASSWORD, "test"))
    csrf = users.session(store, client.cookies["halo_session"]).csrf_token
    body, headers = multipart({"csrf_token": csrf.encode(), "name": b"partner\\ud800", "scope": b"tasks:read"}, "unicode_escape")
    _refused_as_json(client.post("/ui/access/keys", content=body, headers=headers))
    assert list_keys(store) == []


@pytest.mark.parametrize("charset", ["utf-8", "UTF8", "us-ascii", "iso-8859-1"])
def test_a_multipart_form_naming_a_plain_charset_still_signs_in(app, store, charset: str) -> None:  # noqa: ANN001
    users.create_user(store, "ada", "admin", PASSWORD)
    client = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    body, headers = multipart({"name": b"ada", "password": PASSWORD.encode(), "csrf_token": token.encode(), "next": b"/ui"}, charset)
    done = client.post("/ui/login", content=body, headers=headers)
    assert (done.status_code, done.headers["location"]) == (303, "/ui")
