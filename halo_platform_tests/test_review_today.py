"""Defects found reviewing the day's changes. A task request no longer names the code location
(5460212): the webserver is first asked which location holds the job, and only then is the run
submitted; what goes wrong in that first query queued nothing, and is said so. A provider's
result is no longer made twice (f90cef1): its text is masked as two maskings masked it."""

from __future__ import annotations

import json

import pytest

from halo_platform.delivery.providers.base import DETAIL_LIMIT, RETRYABLE, SendResult
from halo_platform.lab.fakehttp import FakeHTTPServer, Request
from halo_platform.reports.requests import DagsterUnavailable, submit_run

JOB = "campaign_alerts_job"


class Webserver:
    """A Dagster webserver's GraphQL endpoint on 127.0.0.1: the query asking which locations hold a
    job is answered `lookup` (a status and a body), and every run submission is recorded."""

    def __init__(self, fake: FakeHTTPServer, lookup: tuple[int, dict | str]) -> None:
        self.lookup, self.submitted = lookup, []
        fake.add_route("POST", "/graphql", self.answer)
        self.url = fake.url

    def answer(self, request: Request) -> tuple[int, dict, bytes]:
        if b"launchPipelineExecution" in request.body:
            self.submitted.append(request.body)
            return 200, {"Content-Type": "application/json"}, b'{"data": {"launchPipelineExecution": {"__typename": "LaunchRunSuccess", "run": {"runId": "r1"}}}}'
        status, body = self.lookup
        if isinstance(body, str):
            return status, {"Content-Type": "text/html"}, body.encode()
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _locations(*names: str) -> dict:
    return {"data": {"repositoriesOrError": {"__typename": "RepositoryConnection", "nodes": [
        {"name": "__repository__", "location": {"name": name}, "pipelines": [{"name": JOB}]} for name in names]}}}


def test_a_lost_answer_to_the_location_lookup_is_nothing_queued_not_a_run_that_may_run(http_fake, monkeypatch):  # noqa: ANN001
    """A proxy's 502 to the query asking which location holds the job: no submission was sent, yet
    it was SubmissionUnanswered (504: 'could not learn whether ... queued the run ... it may run'),
    and the caller was sent looking for a run that nobody queued."""
    webserver = Webserver(http_fake, (502, "<html><head><title>502 Bad Gateway</title></head></html>"))
    monkeypatch.setenv("DAGSTER_UI_URL", webserver.url)
    with pytest.raises(DagsterUnavailable) as refused:
        submit_run("campaign_alerts", {}, {})
    assert webserver.submitted == []
    assert str(refused.value) == (f"could not submit the run to the Dagster webserver at {webserver.url} (is `halo up` running?): "
                                  "an HTTP 502 (Bad Gateway) to the query of the code locations")


def test_a_job_held_by_two_code_locations_is_refused_naming_them_in_one_line(http_fake, monkeypatch):  # noqa: ANN001
    """Two locations holding the task's job (a second deployment of the same code): the 503 said
    the client's advice 'Must specify repository_location_name and repository_name ...', which no
    operator can follow; it names the locations and submits nothing."""
    webserver = Webserver(http_fake, (200, _locations("halo-reports", "halo-reports-canary")))
    monkeypatch.setenv("DAGSTER_UI_URL", webserver.url)
    with pytest.raises(DagsterUnavailable) as refused:
        submit_run("campaign_alerts", {}, {})
    assert webserver.submitted == []
    assert str(refused.value) == (f"could not submit the run to the Dagster webserver at {webserver.url}: job {JOB} is in more"
                                  " than one code location (halo-reports, halo-reports-canary); keep it in one")


def test_the_run_is_submitted_to_the_one_location_holding_the_job(http_fake, monkeypatch):  # noqa: ANN001
    webserver = Webserver(http_fake, (200, _locations("halo-reports")))
    monkeypatch.setenv("DAGSTER_UI_URL", webserver.url)
    assert submit_run("campaign_alerts", {}, {}) == "r1"
    (body,) = webserver.submitted
    selector = json.loads(body)["variables"]["executionParams"]["selector"]
    assert (selector["repositoryLocationName"], selector["repositoryName"], selector["pipelineName"]) == (
        "halo-reports", "__repository__", JOB)


@pytest.mark.parametrize("number", ["%2B33612345678999999", "+33612345678999999"])
def test_a_providers_text_cut_short_has_the_phone_number_the_cut_leaves_masked(number):  # noqa: ANN001
    """A provider's text past DETAIL_LIMIT is masked, then cut: a number too long to be a phone
    number, cut short, can read as one. `dispatch.throttled` made every result again, masking its
    text a second time, which masked it; since f90cef1 a result that asked for no pause keeps the
    first masking, and the number stayed as the cut left it (`tel=%2B336123456789999…`)."""
    for pad in range(DETAIL_LIMIT - 20, DETAIL_LIMIT - 8):
        result = SendResult("m1", RETRYABLE, detail="x" * pad + " tel=" + number + " more")
        again = SendResult(result.message_id, result.outcome, detail=result.detail)
        assert result.detail == again.detail, pad
