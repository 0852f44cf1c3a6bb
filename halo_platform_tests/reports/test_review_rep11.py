"""Task requests whose submission's answer is lost in other ways than a timeout: the connection
reset after the request was sent, a proxy's 502."""

from __future__ import annotations

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import httpx
import pytest

from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import authorized_client


class LosingProxy(ThreadingHTTPServer):
    """A real HTTP proxy on 127.0.0.1 in front of the Dagster webserver: every GraphQL query goes
    through; a run's submission reaches the webserver (which creates and queues the run) and its
    answer is then lost, by `how`: "reset" closes the connection with a TCP reset instead of
    answering, "502" answers the 502 a proxy such as nginx gives when its upstream broke off."""

    daemon_threads = True

    def __init__(self, upstream: str, how: str) -> None:
        self.upstream, self.how = upstream, how
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LosingProxy

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = httpx.post(f"{self.server.upstream}{self.path}", content=body, timeout=60,
                            headers={"Content-Type": "application/json"})
        status, content, kind = answer.status_code, answer.content, "application/json"
        if b"launchPipelineExecution" in body:
            if self.server.how == "reset":  # linger 0: close sends RST, not FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            status, content, kind = 502, b"<html><head><title>502 Bad Gateway</title></head></html>", "text/html"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


@pytest.fixture(params=["reset", "502"])
def losing_proxy(request, submitting, monkeypatch):  # noqa: ANN001, ANN201
    proxy = LosingProxy(submitting.url, request.param)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    monkeypatch.setenv("DAGSTER_UI_URL", proxy.url)
    yield proxy
    proxy.shutdown()
    proxy.server_close()


def test_a_submission_whose_answer_is_lost_after_it_was_sent_is_said_to_leave_the_run_maybe_queued(
        losing_proxy, submitting, store):
    """The webserver queued the run and the answer was lost on its way back (the connection reset,
    a proxy's 502): the API said 503 'could not submit the run ... (is `halo up` running?)', which
    the caller reads as nothing queued, and a request sent again without thinking of the key ran
    the report twice. Only a submission that never left (connection refused) is nothing queued."""
    client = authorized_client(create_app(), "tasks:request")
    lost = client.post("/v1/tasks/campaign_alerts/requests", json={"payload": {"as_of": "2024-05-10"}})
    assert lost.status_code == 504, lost.text
    how = {"reset": "the connection broke off before the answer", "502": "an HTTP 502 (Bad Gateway)"}[losing_proxy.how]
    assert lost.json() == {"error": (
        f"could not learn whether the Dagster webserver at {losing_proxy.url} queued the run: {how};"
        " it may run (see `halo tasks log`), and a request sent again with the same idempotency key runs once"),
        "detail": None}
    with submitting.instance() as instance:  # it may run: it was queued
        assert len(instance.get_runs(dg.RunsFilter(job_name="campaign_alerts_job", statuses=[dg.DagsterRunStatus.QUEUED]))) == 1

