"""Task requests whose submission's answer is lost in other ways than a timeout: the connection
reset after the request was sent, a proxy's 502; and the run of such a request sent again that
stops as a repeat, which alerted."""

from __future__ import annotations

import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import dagster as dg
import httpx
import pytest

from halo_platform.alerts.sensors import run_failure_alert_sensor
from halo_platform.core.instance import dagster_instance
from halo_platform.core.store import StoreResource
from halo_platform.http import create_app
from halo_platform.reports import audit
from halo_platform.reports.assets import run_config, run_tags
from halo_platform.reports.definitions import defs
from halo_platform.reports.task import get_task
from halo_platform.sinks import SinksResource
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


def test_the_run_of_a_request_sent_again_that_stops_as_a_repeat_is_not_alerted(halo_env, store):
    """Of a submission whose answer was lost and the request sent again with its key, the run
    recorded second is a repeat: its audit row CANCELED, it delivers nothing, and it ends FAILURE in
    Dagster. The run-failure sensor alerted on it ('request ... is CANCELED already: nothing ran'):
    an operator was called out for a run that rightly did nothing. A re-execution of it, which
    carries its tags, is a request of its own: its failure is alerted."""
    payload = {"as_of": "2024-05-10", "sinks": ["outbox"]}
    audit.record_status(store, "the-retry", "QUEUED", task="campaign_alerts", payload=payload, trigger="api",
                        requested_by="ops", idempotency_key="may-10")
    instance = dagster_instance()
    task = get_task("campaign_alerts")
    result = defs.resolve_job_def("campaign_alerts_job").execute_in_process(
        run_config=run_config(task, payload), instance=instance, raise_on_error=False,
        tags=run_tags(task, "api", "ops", payload, "may-10"))
    assert not result.success
    repeat = audit.get_request(store, result.run_id)
    assert (repeat["status"], repeat["error"]) == ("CANCELED", "a repeat of request the-retry (same idempotency key): canceled")

    assert alert_tick(instance, store, "0") == "1 run failed; alerts: none"
    alerts = Path(halo_env["HALO_HOME"]) / "alerts"
    assert not alerts.exists() or not list(alerts.iterdir())

    # a re-execution carries its parent's tags, and is a request of its own: its failure is alerted
    cursor = instance.fetch_run_status_changes(dg.DagsterEventType.RUN_FAILURE, limit=1).records[0].storage_id
    with dg.execute_job(dg.reconstructable(_campaign_alerts_job), instance, tags=instance.get_run_by_id(result.run_id).tags,
                        raise_on_error=False, reexecution_options=dg.ReexecutionOptions.from_failure(result.run_id, instance)
                        ) as again:
        assert not again.success and audit.get_request(store, again.run_id)["status"] == "FAILED"
    assert alert_tick(instance, store, str(cursor)) == "1 run failed; alerts: 1 delivered"
    (alerted,) = alerts.iterdir()
    assert alerted.name.endswith(f"_{again.run_id}_run_failed_campaign_alerts_job.json")


def alert_tick(instance: dg.DagsterInstance, store: StoreResource, cursor: str) -> str:
    """What a tick of the run-failure alert sensor with `cursor` said."""
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"sinks": SinksResource(), "store": store}) as context:
        return run_failure_alert_sensor.evaluate_tick(context).skip_message


def _campaign_alerts_job() -> dg.JobDefinition:
    return defs.resolve_job_def("campaign_alerts_job")
