"""Review of access.md, eighteenth pass: what an operator reads of the API keys' rate limits, and
where an API key pasted into the service's browser pages (Swagger UI at /docs, GraphiQL at
/graphql; in a real chromium) is kept."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from halo_platform.access import users
from halo_platform.access.keys import create_key
from halo_platform.cli import cli
from halo_platform.core.definitions import STORE
from halo_platform_tests.core.test_http_hostile import serving
from halo_platform_tests.fixtures.access import make_key

PASSWORD = "a long enough password"


def _keys_list(capsys: pytest.CaptureFixture[str]) -> list[str]:
    with pytest.raises(SystemExit) as exited:
        cli.main(args=["keys", "list"], prog_name="halo")
    assert exited.value.code == 0
    return capsys.readouterr().out.splitlines()


def test_halo_keys_list_shows_the_rate_limit_of_each_key(halo_env, capsys) -> None:  # noqa: ANN001
    """access.md makes the rate limit per key and configurable per key (`halo keys create --rate`),
    and a key past it is answered 429. `halo keys list` showed each key's scopes, dates and makers
    but not its rate: an operator asked why a partner's key gets 429s could not tell from the CLI
    whether it was made with `--rate 2` or runs at the service's default (the Access page shows it).
    Each line now says `rate=<requests>/s`, or `rate=default` (HALO_API_RATE)."""
    create_key(STORE, "slow-partner", ["messages:send"], rate_per_second=2.5)
    create_key(STORE, "reminders", ["messages:send"])
    slow, reminders = (next(line for line in _keys_list(capsys) if line.startswith(name)) for name in ("slow-partner", "reminders"))
    assert re.search(r" rate=2\.5/s  expires=", slow), slow
    assert re.search(r" rate=default  expires=", reminders), reminders


def test_an_api_key_pasted_into_the_api_docs_is_not_kept_by_the_browser(app, store, page) -> None:  # noqa: ANN001
    """/docs opens for any identity, a Control Center session of any role included, and its
    Swagger UI kept a key pasted into "Authorize" in the browser's localStorage (persistAuthorization),
    in clear, for ever: signing out left it there, and the next person to sign in on that browser,
    a viewer, found the /docs page authorized with the admin key and sent requests with it. An API
    key is shown once and stored nowhere but as a hash (access.md); a person pastes it for the page
    they are on, and it leaves with the page."""
    users.create_user(store, "ada", "admin", PASSWORD)
    users.create_user(store, "vic", "viewer", PASSWORD)
    key = make_key(app)
    with serving(app) as (host, port):
        base = f"http://{host}:{port}"
        page.context.add_cookies([{"name": "halo_session", "value": users.login(store, "ada", PASSWORD, "ada"), "url": base}])
        page.goto(f"{base}/docs")
        page.locator(".auth-wrapper .authorize").click()
        page.locator(".modal-ux input[type=text]").first.fill(key)
        page.locator(".modal-ux .auth-btn-wrapper .authorize").first.click()
        page.locator(".modal-ux .btn-done").first.click()
        expect(page.locator(".auth-wrapper .authorize.locked")).to_be_visible()  # the page sends it meanwhile
        assert key.split("_", 2)[2] not in page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
        # ada leaves (her session ends); vic signs in on the same browser and opens the docs
        page.context.clear_cookies()
        page.context.add_cookies([{"name": "halo_session", "value": users.login(store, "vic", PASSWORD, "vic"), "url": base}])
        page.goto(f"{base}/docs")
        expect(page.locator(".auth-wrapper .authorize")).to_be_visible()
        expect(page.locator(".auth-wrapper .authorize.locked")).to_have_count(0)


def test_an_api_key_typed_into_graphiqls_headers_is_not_kept_in_its_history(app, store, page) -> None:  # noqa: ANN001
    """GraphiQL keeps the headers editor out of localStorage (shouldPersistHeaders is off), but its
    query history (`graphiql:queries`) stored each query run with its headers: a key typed as
    `{"Authorization": "Bearer halo_..."}` stayed in clear in the browser for ever, past a sign-out,
    for whoever opens /graphql next in it. The history keeps the queries, not the headers."""
    users.create_user(store, "ada", "viewer", PASSWORD)
    key = make_key(app, "availability:read")
    with serving(app) as (host, port):
        base = f"http://{host}:{port}"
        page.context.add_cookies([{"name": "halo_session", "value": users.login(store, "ada", PASSWORD, "ada"), "url": base}])
        page.goto(f"{base}/graphql")
        query_editor = page.locator(".graphiql-query-editor .CodeMirror")
        expect(query_editor).to_be_visible()
        page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror").click()
        page.keyboard.type('{"Authorization": "Bearer ' + key + '"}')
        query_editor.click()
        page.keyboard.press("ControlOrMeta+a")
        page.keyboard.type("{ __typename }")
        page.locator(".graphiql-execute-button").click()
        expect(page.locator(".graphiql-response")).to_contain_text('"__typename": "Query"')
        kept = page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
        assert "__typename" in page.evaluate("localStorage.getItem('graphiql:queries')")  # the history still works
        assert key.split("_", 2)[2] not in kept, kept
        assert page.script_errors == []
