"""Task requests whose submission or run is cut short: a Dagster webserver that creates the run
but answers the submission too late, and `halo tasks run --wait` killed while its run runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from halo_platform.access import users
from halo_platform.http import create_app
from halo_platform.lab.fakehttp import FakeHTTPServer, Request
from halo_platform.reports import requests
from halo_platform.reports.audit import get_request
from halo_platform.reports.definitions import defs
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform_tests.fixtures.access import authorized_client, signed_in_client
from halo_platform_tests.fixtures.dagster_webserver import dagster_daemon
from halo_platform_tests.fixtures.halo_serve import HALO
from halo_platform_tests.reports.test_requests import _seed_marketing
from halo_platform_tests.ui.test_page_edges import PASSWORD

SUBMIT_TIMEOUT = 2  # seconds the API waits for the webserver's answer to a submission (30 in production)


class SlowWebserver:
    """A real HTTP proxy on 127.0.0.1 in front of the Dagster webserver: every GraphQL query goes
    through; while `slow`, a run's submission reaches the webserver (which creates and queues the
    run) and its answer is held until `release` (past the API's timeout), or, with `gateway_timeout`,
    replaced by the 504 a proxy such as nginx answers when the webserver is slower than its own timeout."""

    def __init__(self, fake: FakeHTTPServer, upstream: str, gateway_timeout: bool = False) -> None:
        self.upstream, self.slow, self.gateway_timeout = upstream, True, gateway_timeout
        self.held, self.release = threading.Event(), threading.Event()
        fake.add_route("POST", "/graphql", self.answer)
        self.url = fake.url

    def answer(self, request: Request) -> tuple[int, dict, bytes]:
        answer = httpx.post(f"{self.upstream}/graphql", content=request.body, timeout=60,
                            headers={"Content-Type": "application/json"})
        if self.slow and b"launchPipelineExecution" in request.body:
            self.held.set()
            if self.gateway_timeout:
                return 504, {"Content-Type": "text/html"}, b"<html><head><title>504 Gateway Time-out</title></head></html>"
            self.release.wait(60)
        return answer.status_code, {"Content-Type": "application/json"}, answer.content


def test_a_submission_answered_too_late_is_said_so_and_its_retry_with_the_key_runs_the_report_once(
        submitting, warehouses, halo_env, store, http_fake, monkeypatch, tmp_path):
    """The webserver created the run and answered after the API's 30 s: the API said 503 'nothing
    is queued' while the run was queued; the client's retry with the same Idempotency-Key found no
    request with the key and queued a second run. The daemon ran both: the report went out twice."""
    _seed_marketing(warehouses)
    proxy = SlowWebserver(http_fake, submitting.url)
    monkeypatch.setenv("DAGSTER_UI_URL", proxy.url)
    monkeypatch.setattr(requests, "SUBMIT_TIMEOUT", SUBMIT_TIMEOUT)
    client = authorized_client(create_app(), "tasks:request", "tasks:read")
    body, key = {"payload": {"as_of": "2024-05-10"}}, {"Idempotency-Key": "may-10"}

    late = client.post("/v1/tasks/campaign_alerts/requests", json=body, headers=key)
    assert proxy.held.is_set()
    assert late.status_code == 504, late.text
    assert late.json() == {"error": (
        f"could not learn whether the Dagster webserver at {proxy.url} queued the run: no answer within {SUBMIT_TIMEOUT} s;"
        " it may run (see `halo tasks log`), and a request sent again with the same idempotency key runs once"),
        "detail": None}

    proxy.slow = False
    proxy.release.set()
    retried = client.post("/v1/tasks/campaign_alerts/requests", json=body, headers=key)
    assert retried.status_code == 202, retried.text
    with submitting.instance() as instance:
        queued = instance.get_runs(dg.RunsFilter(job_name="campaign_alerts_job", statuses=[dg.DagsterRunStatus.QUEUED]))
    assert len(queued) == 2  # the run of the late answer, queued all the same, and the retry's
    (unanswered,) = [r.run_id for r in queued if r.run_id != retried.json()["request_id"]]

    with dagster_daemon(dict(os.environ), tmp_path / "daemon.log"), submitting.instance() as instance:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all(instance.get_run_by_id(r.run_id).is_finished for r in queued):
            time.sleep(1)
    done = get_request(store, retried.json()["request_id"])
    assert (done["status"], [(d["sink"], d["status"]) for d in done["deliveries"]]) == ("SUCCEEDED", [("outbox", "DELIVERED")])
    repeat = get_request(store, unanswered)
    assert (repeat["status"], repeat["deliveries"], repeat["idempotency_key"]) == ("CANCELED", [], None), repeat
    assert repeat["error"] == f"a repeat of request {done['request_id']} (same idempotency key): canceled"
    with store.read() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM task_deliveries")).scalar_one() == 1
    assert [p.name for p in (Path(halo_env["HALO_HOME"]) / "outbox").iterdir()] == ["campaign_alerts_2024-05-10.csv"]


def test_a_re_execution_of_a_request_made_with_an_idempotency_key_delivers_to_its_failed_sink(
        warehouses, halo_env, sinks_file, store, tmp_path):
    """A re-execution carries its parent run's tags (the Dagster UI's re-execute, the run retry daemon:
    `use_parent_run_tags`), the idempotency key with them: it is a request of its own (trigger retry),
    never taken for a repeat of the one it re-executes, and delivers to the sink that failed."""
    _seed_marketing(warehouses)
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    sinks = {"outbox": {"kind": "folder", "path": str(tmp_path / "outbox")},
             "partner": {"kind": "folder", "path": str(blocker / "partner")}}
    sinks_file(sinks)
    failed = create_request(store, "campaign_alerts", {"as_of": "2024-05-10"}, sinks=list(sinks), requested_by="ops",
                            wait=True, idempotency_key="may-10")
    assert [(d["sink"], d["status"]) for d in failed["deliveries"]] == [("outbox", "DELIVERED"), ("partner", "FAILED")]

    sinks["partner"]["path"] = str(tmp_path / "partner")  # the fix
    sinks_file(sinks)
    instance = dagster_instance()
    parent = instance.get_run_by_id(failed["request_id"])
    with dg.execute_job(dg.reconstructable(_campaign_alerts_job), instance, tags=parent.tags, raise_on_error=False,
                        reexecution_options=dg.ReexecutionOptions.from_failure(parent.run_id, instance)) as result:
        retry = get_request(store, result.run_id)
    assert (retry["status"], retry["trigger"], retry["error"]) == ("SUCCEEDED", "retry", None)
    assert [(d["sink"], d["status"]) for d in retry["deliveries"]] == [("partner", "DELIVERED")]
    assert get_request(store, failed["request_id"])["idempotency_key"] == "may-10"


def _campaign_alerts_job() -> dg.JobDefinition:
    return defs.resolve_job_def("campaign_alerts_job")


def test_a_proxy_s_gateway_timeout_is_said_to_leave_the_run_maybe_queued_not_refused(submitting, halo_env, store, http_fake,
                                                                                      monkeypatch):
    """A proxy in front of the webserver (nginx, 60 s by default) that gives up before the webserver
    answers says 504: the API said 503 'could not submit the run ... Server error with code 504', the
    caller read it as nothing queued, and the run was queued."""
    proxy = SlowWebserver(http_fake, submitting.url, gateway_timeout=True)
    monkeypatch.setenv("DAGSTER_UI_URL", proxy.url)
    client = authorized_client(create_app(), "tasks:request")
    late = client.post("/v1/tasks/campaign_alerts/requests", json={"payload": {"as_of": "2024-05-10"}})
    assert (late.status_code, late.json()) == (504, {"error": (
        f"could not learn whether the Dagster webserver at {proxy.url} queued the run: an HTTP 504 (Gateway Timeout);"
        " it may run (see `halo tasks log`), and a request sent again with the same idempotency key runs once"),
        "detail": None})
    with submitting.instance() as instance:  # it may run: it was queued
        assert len(instance.get_runs(dg.RunsFilter(job_name="campaign_alerts_job", statuses=[dg.DagsterRunStatus.QUEUED]))) == 1


def test_the_control_center_form_answered_too_late_keeps_its_key_so_sending_it_again_is_the_same_request(
        submitting, store, http_fake, monkeypatch):
    """The form's one-time key makes a form sent twice one request. The form shown again with the
    webserver's late answer had a new key: the operator sent it again (the page said the run may
    be queued, nothing more to do) and made a second request, while the first run was queued too."""
    proxy = SlowWebserver(http_fake, submitting.url, gateway_timeout=True)
    monkeypatch.setenv("DAGSTER_UI_URL", proxy.url)
    users.create_user(store, "otto", "operator", PASSWORD)
    operator = signed_in_client(create_app(), "otto", PASSWORD)
    form = {"csrf_token": operator.csrf, "as_of": "2024-05-10", "sinks": "outbox", "idempotency_key": "form-1"}
    page = operator.post("/ui/tasks/campaign_alerts", data=form)
    assert "could not learn whether the Dagster webserver" in page.text, page.text[:500]
    assert re.search(r'name="idempotency_key" value="([^"]*)"', page.text).group(1) == "form-1"
    assert page.status_code == 504

    proxy.slow = False
    again = operator.post("/ui/tasks/campaign_alerts", data=form)  # the form as shown, sent again
    assert again.status_code == 303
    request_id = again.headers["location"].rsplit("/", 1)[1]
    assert get_request(store, request_id)["idempotency_key"] == "form-1"  # the first run is its repeat: it runs nothing


def _wait_for_row(store, status: str) -> dict:  # noqa: ANN001
    """The one request row once it has `status` (30 s at most)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with store.read() as conn:
            rows = conn.execute(sa.text("SELECT request_id, status FROM task_requests")).all()
        if rows and rows[0][1] == status:
            return get_request(store, rows[0][0])
        time.sleep(0.02)
    pytest.fail(f"no request {status} within 30 s: {rows}")


def run_wait_held_at_its_webhook(warehouses, http_fake, sinks_file, tmp_path) -> tuple[subprocess.Popen, threading.Event, threading.Event]:  # noqa: ANN001
    """`halo tasks run campaign_alerts --sink hook --wait` started, its webhook sink's receiver holding
    the POST (`posted` once it came) until `release`."""
    _seed_marketing(warehouses)
    posted, release = threading.Event(), threading.Event()

    def hold(_request: Request) -> tuple[int, dict]:
        posted.set()
        release.wait(60)
        return 200, {"ok": True}

    http_fake.add_route("POST", "/hook", hold)
    sinks_file({"links": {"kind": "folder", "path": str(tmp_path / "links"), "url": "http://files.example/links"},
                "hook": {"kind": "webhook", "url": f"{http_fake.url}/hook", "secret": "s3cret", "link_store": "links"}})
    halo = subprocess.Popen([HALO, "tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--sink", "hook",
                             "--wait"], env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return halo, posted, release


@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("when", ["delivering", "queued"])
def test_halo_tasks_run_wait_stopped_by_a_signal_ends_its_request_canceled(warehouses, halo_env, store, http_fake, sinks_file,
                                                                           tmp_path, signo, when):
    """With --wait the command runs the run in its own process: stopped, nobody runs it. Stopped (SIGINT
    or SIGTERM) while its webhook sink's receiver had the POST, the request ended FAILED with the error
    `dagster._core.errors.DagsterExecutionInterruptedError`; stopped after its QUEUED row was written and
    before the run started (the definitions loading), it stayed QUEUED for good, with no Dagster run.
    Either way it ends CANCELED, saying why."""
    halo, posted, release = run_wait_held_at_its_webhook(warehouses, http_fake, sinks_file, tmp_path)
    try:
        if when == "delivering":
            assert posted.wait(120), "the run never posted to the webhook"
        else:
            _wait_for_row(store, "QUEUED")
        halo.send_signal(signo)
        out, err = halo.communicate(timeout=60)
    finally:
        release.set()
        if halo.poll() is None:
            halo.kill()
    request = _wait_for_row(store, "CANCELED")
    assert request["error"] == "stopped by a signal (Ctrl-C, SIGTERM) before its run finished", (out, err)
    assert request["finished_at"] and request["deliveries"] == []
    if when == "delivering":  # Dagster ended the run at its step; the command says how it ended
        assert request["started_at"] and (halo.returncode, out.splitlines()[1:3]) == (
            1, ["status: CANCELED", f"error: {request['error']}"]), (out, err)
    else:  # the run never started
        assert request["started_at"] is None and (halo.returncode, err.strip()) == (130, "error: aborted"), (out, err)
