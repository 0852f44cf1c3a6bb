"""The API docs (Swagger UI) and GraphiQL pages work with no internet: a real chromium loads them
from a real uvicorn on 127.0.0.1 with every request off the loopback aborted, and they still
render and work: Swagger UI lists the operations and sends a pasted bearer key, which a
reload forgets; GraphiQL runs a query typed into its editor with the headers typed into its headers editor.

The app here is a bare one over `halo_platform.core.docs`, so these tests pin the pages and their
vendored assets, not the service's routes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
import strawberry
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from playwright.sync_api import Page, expect
from pydantic import BaseModel
from strawberry.fastapi import GraphQLRouter
from strawberry.types import Info

from halo_platform.core.docs import STATIC_DIR, graphiql_html, mount_static, swagger_html
from halo_platform_tests.core.test_http_hostile import serving
from halo_platform_tests.fixtures.browser import screenshot


class Appointment(BaseModel):
    patient: str
    minutes: int = 30


@strawberry.type
class Query:
    @strawberry.field
    def greeting(self, name: str) -> str:
        return f"hello {name}"

    @strawberry.field
    def authorization(self, info: Info) -> str | None:
        """The Authorization header the request came with (what GraphiQL's headers editor sent)."""
        return info.context["request"].headers.get("authorization")


class OfflineGraphQLRouter(GraphQLRouter):
    """strawberry's router with its GraphiQL page (CDN assets) swapped for the vendored one."""

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        return HTMLResponse(graphiql_html(request.url.path))  # the page is served where the endpoint is


def build_app() -> FastAPI:
    app = FastAPI(title="docs offline", docs_url=None, redoc_url=None)
    mount_static(app)
    bearer = HTTPBearer()

    @app.post("/v1/appointments")
    def book(appointment: Appointment) -> Appointment:
        return appointment

    @app.get("/v1/whoami")
    def whoami(credentials: HTTPAuthorizationCredentials = Depends(bearer)) -> dict:
        return {"key": credentials.credentials}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return swagger_html()

    app.include_router(OfflineGraphQLRouter(strawberry.Schema(query=Query), path="/graphql"))
    return app


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with serving(build_app()) as (host, port):
        yield f"http://{host}:{port}"


def assert_stayed_offline(page: Page) -> None:
    assert page.external_requests == []
    assert page.script_errors == []


def test_the_pages_name_no_host_but_their_own():
    """The HTML itself: every asset URL is a local path, so nothing is fetched before a script runs."""
    for html in (swagger_html().body.decode(), graphiql_html()):
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", html), html
        assert "/static/" in html


def test_every_vendored_file_matches_the_checksum_vendored_md_records():
    """VENDORED.md is how a reviewer checks the assets are npm's files unchanged; it must list them all."""
    recorded = dict(re.findall(r"`([\w./-]+)`\s*\|\s*`([0-9a-f]{64})`", (STATIC_DIR / "VENDORED.md").read_text()))
    on_disk = {str(path.relative_to(STATIC_DIR)): hashlib.sha256(path.read_bytes()).hexdigest()
               for path in STATIC_DIR.rglob("*") if path.is_file() and path.name != "VENDORED.md"}
    assert recorded == on_disk


def test_the_page_fixture_aborts_and_lists_what_fastapis_stock_docs_page_fetches_from_a_cdn(page, base_url):
    """The fixture's own check: the page /docs served before (FastAPI's default, its assets on a CDN)
    is caught, so an empty `external_requests` in the tests below means something."""
    page.route(f"{base_url}/stock-docs", lambda route: route.fulfill(
        content_type="text/html", body=get_swagger_ui_html(openapi_url="/openapi.json", title="stock").body))
    page.goto(f"{base_url}/stock-docs")
    assert any(url.startswith("https://cdn.jsdelivr.net/") for url in page.external_requests), page.external_requests
    assert any("SwaggerUIBundle" in error for error in page.script_errors), page.script_errors


def test_swagger_ui_renders_the_operations_offline(page, base_url):
    page.goto(f"{base_url}/docs")
    expect(page.locator(".opblock-summary-path", has_text="/v1/appointments")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/v1/whoami")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/graphql").first).to_be_visible()
    screenshot(page, "swagger-ui-offline")
    assert_stayed_offline(page)


def test_a_bearer_key_pasted_into_swagger_ui_is_sent_and_forgotten_with_the_page(page, base_url):
    """A key pasted into "Authorize" is sent by the page's requests, and stored nowhere in the
    browser (access.md: a key is shown once, stored only as a hash): a reload forgets it."""
    page.goto(f"{base_url}/docs")
    page.locator(".auth-wrapper .authorize").click()
    page.locator(".modal-ux input").fill("k-123")
    page.locator(".modal-ux .auth-btn-wrapper .authorize").click()
    page.locator(".modal-ux .btn-done").click()
    expect(page.locator(".auth-wrapper .authorize.locked")).to_be_visible()
    assert "k-123" not in page.evaluate("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)")
    operation = page.locator("#operations-default-whoami_v1_whoami_get")
    operation.locator(".opblock-summary").click()
    operation.locator(".try-out__btn").click()
    operation.locator(".execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_description")).to_contain_text('"key": "k-123"')
    screenshot(page, "swagger-ui-authorized")
    page.reload()
    expect(page.locator(".auth-wrapper .authorize")).to_be_visible()
    expect(page.locator(".auth-wrapper .authorize.locked")).to_have_count(0)
    assert_stayed_offline(page)


def test_graphiql_runs_a_typed_query_with_typed_headers_offline(page, base_url):
    page.goto(f"{base_url}/graphql")
    query_editor = page.locator(".graphiql-query-editor .CodeMirror")
    expect(query_editor).to_be_visible()
    headers_editor = page.locator(".graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror")
    headers_editor.click()
    page.keyboard.type('{"Authorization": "Bearer k-456"}')
    query_editor.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type('{ greeting(name: "Ada") authorization }')
    page.locator(".graphiql-execute-button").click()
    response = page.locator(".graphiql-response")
    expect(response).to_contain_text('"greeting": "hello Ada"')
    expect(response).to_contain_text('"authorization": "Bearer k-456"')
    screenshot(page, "graphiql-offline")
    assert_stayed_offline(page)
