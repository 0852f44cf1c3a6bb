"""Review of the HTTP service's edges (http17): what a caller is told when a service the API
needs does not answer, and when a GraphQL body is not sent as JSON."""

from __future__ import annotations

import http.server
import threading

import pytest
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.fixtures.ports import closed_port

PAYLOAD = '{"as_of": "2024-05-10"}'


def test_a_task_request_while_the_dagster_webserver_is_down_is_a_503_saying_no_connection_was_made(halo_env, monkeypatch):
    """With nothing listening at DAGSTER_UI_URL the API answered 503 '... (is `halo up` running?):
    Exception occured during execution of query ' (the GraphQL client's wrapper, which says nothing
    of a connection); the CLI printed the same line. Both now end with why no connection was made,
    the URL's password masked, and nothing is recorded."""
    with closed_port() as port:
        monkeypatch.setenv("DAGSTER_UI_URL", f"http://ops:s3cret@127.0.0.1:{port}")
        said = (f"could not submit the run to the Dagster webserver at http://ops:***@127.0.0.1:{port} (is `halo up` running?):"
                " no connection (Connection refused)")

        app = create_app()
        answer = authorized_client(app).post("/v1/tasks/campaign_alerts/requests", json={"payload": {"as_of": "2024-05-10"}})
        assert (answer.status_code, answer.json()) == (503, {"error": said, "detail": None})

        refused = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", PAYLOAD])
        assert (refused.exit_code, refused.output.strip().splitlines()) == (2, [f"error: {said}"])
    with app.state.resources["store"].read() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM task_requests").scalar() == 0


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_graphql_body_sent_as_another_media_type_than_json_is_refused_saying_to_send_json(halo_env, content_type):
    """POST /graphql with `curl -d` (a form's media type) or text/plain was refused 400 'Unsupported
    content type', strawberry's words, which name neither the header to fix nor what to send, where
    every REST route says 'send JSON with the header Content-Type: application/json (got ...)'.
    GraphQL keeps its 400 (GraphQL over HTTP), now with the REST routes' words."""
    answer = authorized_client(create_app(), "availability:read").post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers={"content-type": content_type})
    assert (answer.status_code, answer.json()) == (
        400, {"error": f"body: send JSON with the header Content-Type: application/json (got {content_type})", "detail": None})


class _SignInPage(http.server.BaseHTTPRequestHandler):
    """What answers at a wrong DAGSTER_UI_URL: another web application's page, 200 to any POST."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("content-length", "0")))
        page = b"<html>sign in</html>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, *_args: object) -> None:
        pass


def test_a_task_request_to_a_url_answering_no_graphql_is_a_503_saying_so(halo_env, monkeypatch):
    """With DAGSTER_UI_URL naming another web application (a proxy's sign-in page, the API's own
    port), the API answered 503 '... (is `halo up` running?): Exception occured during execution
    of query ', the GraphQL client's wrapper; it now names what came back instead."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SignInPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("DAGSTER_UI_URL", f"http://127.0.0.1:{server.server_port}")
        answer = authorized_client(create_app()).post("/v1/tasks/campaign_alerts/requests", json={"payload": {"as_of": "2024-05-10"}})
    finally:
        server.shutdown()
        server.server_close()
    assert (answer.status_code, answer.json()["error"]) == (
        503, f"could not submit the run to the Dagster webserver at http://127.0.0.1:{server.server_port} (is `halo up` running?):"
             " Server did not return a GraphQL result: Not a JSON answer: <html>sign in</html>")
