"""Access, second review: one password rule for `halo users` and the Access page, signing in as
another person in the same browser ends the first one's session, the demo admin is what `halo demo`
prints, and `halo users list` on an empty store says how to begin, as `halo keys list` does."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from halo_platform.access import demo, users
from halo_platform.core.settings import get_settings

HALO = str(Path(sys.executable).with_name("halo"))
PASSWORD = "a long enough password"


def halo(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([HALO, *args], input=stdin, capture_output=True, text=True, timeout=120)


def _sign_in(client: TestClient, name: str) -> None:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    done = client.post("/ui/login", data={"name": name, "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303, done.text[:300]


def test_a_password_the_access_page_refuses_is_refused_by_halo_users_create_with_the_same_words(
        halo_env, store, app) -> None:  # noqa: ANN001
    """The Access page refused a NUL in a password ("cannot be stored") where `printf 'pw\\0 ...' |
    halo users create` made the user, with a password nobody can type at the sign-in. Both now run
    `users.check_password`: the same refusal, word for word, and no user."""
    password = f"pw\x00 {PASSWORD}"
    made = halo("users", "create", "nul", "--role", "viewer", stdin=password + "\n")
    assert (made.returncode, made.stdout) == (2, ""), made.stdout
    said = made.stderr.strip()
    assert said == "error: password: not a valid password: it holds a NUL character, which cannot be typed at sign-in"

    users.create_user(store, "ada", "admin", PASSWORD)
    client = TestClient(app, raise_server_exceptions=False)
    _sign_in(client, "ada")
    csrf = users.session(store, client.cookies["halo_session"]).csrf_token
    for url, form, field in (("/ui/access/users", {"name": "nul", "role": "viewer"}, "user.password"),
                             ("/ui/access/users/ada/password", {}, "password.ada")):
        page = client.post(url, data={"csrf_token": csrf, **form, "password": password, "password_again": password})
        assert page.status_code == 422
        beside = re.search(rf'<small id="{field}-error" class="error" role="alert">([^<]*)</small>', page.text).group(1)
        assert beside == said.removeprefix("error: password: ")
    assert [u["name"] for u in users.list_users(store)] == ["ada"]
    assert users.session(store, client.cookies["halo_session"]).user == "ada"  # no new password: the session lives


def test_signing_in_as_another_person_in_the_same_browser_ends_the_first_ones_session(app, store) -> None:  # noqa: ANN001
    """The sign-in replaced only the cookie: the first person's session stayed alive on the server,
    so its token (in a copy of the cookie, a proxy's log) still acted as them for 12 hours."""
    users.create_user(store, "ada", "admin", PASSWORD)
    users.create_user(store, "vera", "viewer", PASSWORD)
    client = TestClient(app)
    _sign_in(client, "ada")
    first = client.cookies["halo_session"]
    _sign_in(client, "vera")
    assert client.cookies["halo_session"] != first
    assert users.session(store, first) is None
    assert TestClient(app, cookies={"halo_session": first}).get("/v1/tasks").status_code == 401
    assert users.session(store, client.cookies["halo_session"]).user == "vera"


def test_a_failed_sign_in_leaves_the_browsers_session_as_it_was(app, store) -> None:  # noqa: ANN001
    users.create_user(store, "ada", "admin", PASSWORD)
    client = TestClient(app)
    _sign_in(client, "ada")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ui/login").text).group(1)
    assert client.post("/ui/login", data={"name": "ada", "password": "wrong password!", "csrf_token": token}).status_code == 401
    assert users.session(store, client.cookies["halo_session"]).user == "ada"


def test_the_demo_admin_is_an_admin_even_when_a_user_admin_was_made_a_viewer(halo_env, store) -> None:  # noqa: ANN001
    """`halo demo` gave an existing viewer `admin` a new password and printed "(role admin)": its
    person signed in as a viewer (no Access page, no routing edits). The demo owns the user `admin`
    (its password is replaced on every run): it is made an admin again, and the line says it was not."""
    users.create_user(store, "admin", "viewer", PASSWORD)
    printed = "\n".join(demo.seed(get_settings()))
    found = re.search(r"^demo Control Center user: admin / (\S+)  \(role admin; it was viewer\)$", printed, re.M)
    assert found, printed
    assert [(u["name"], u["role"]) for u in users.list_users(store)] == [("admin", "admin")]
    signed = users.session(store, users.login(store, "admin", found.group(1), "test"))
    assert signed.role == "admin"
    again = "\n".join(demo.seed(get_settings()))
    assert re.search(r"^demo Control Center user: admin / \S+  \(role admin\)$", again, re.M), again


def test_halo_users_list_on_an_empty_store_says_how_to_create_one_as_halo_keys_list_does(halo_env, store) -> None:  # noqa: ANN001
    listed = halo("users", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == "no users; create one with `halo users create NAME --role viewer|operator|admin`\n"
    assert halo("keys", "list").stdout.startswith("no keys; create one with ")
