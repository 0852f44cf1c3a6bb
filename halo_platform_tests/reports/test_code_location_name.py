"""A deployment names its code location as it likes (a workspace.yaml `location_name`, a Helm
chart's user deployment): a task request is queued on whichever location of the webserver holds
the task's job. Submissions named `halo_platform.definitions`, the name `make run`'s workspace
gives it, and every request failed on any other name."""

from __future__ import annotations

import dagster as dg
import yaml
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.reports.audit import get_request
from halo_platform_tests.fixtures.dagster_webserver import webserver_on
from halo_platform_tests.fixtures.halo_serve import ROOT


def test_a_request_is_queued_on_a_code_location_of_any_name(halo_env, store, tmp_path, monkeypatch):  # noqa: ANN001
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
        "module_name": "halo_platform.definitions", "working_directory": str(ROOT), "location_name": "halo-reports"}}]}))
    with webserver_on(tmp_path / "webserver", workspace) as webserver:
        for key, value in webserver.env({}).items():
            monkeypatch.setenv(key, value)
        queued = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--requested-by", "ana"])
        assert queued.exit_code == 0, queued.output
        request_id = queued.stdout.strip()
        with webserver.instance() as instance:
            run = instance.get_run_by_id(request_id)
        webserver.clear_queue()
    assert run.status == dg.DagsterRunStatus.QUEUED and run.job_name == "campaign_alerts_job"
    assert run.remote_job_origin.location_name == "halo-reports"
    assert get_request(store, request_id)["status"] == "QUEUED"
