"""`make run` serves the Dagster UI: dagster-webserver on workspace.yaml lists the code location
with every job, schedule and sensor of the definitions, and a run launched through its GraphQL
API is queued by the production instance (deploy/dagster.yaml on the local PostgreSQL)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]

REPOS = """{ repositoriesOrError { __typename ... on RepositoryConnection { nodes {
  name location { name } jobs { name } schedules { name } sensors { name } } }
  ... on PythonError { message } } }"""
LOAD_ERRORS = """{ workspaceOrError { ... on Workspace { locationEntries { name
  locationOrLoadError { __typename ... on PythonError { message } } } } } }"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_webserver_lists_every_job_schedule_and_sensor_and_queues_a_launched_run(tmp_path, fresh_pg_url):
    from halo_platform.definitions import defs

    url = sa.make_url(fresh_pg_url)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.yaml", home / "dagster.yaml")
    port = _free_port()
    env = {**os.environ, "DAGSTER_HOME": str(home), "HALO_HOME": str(tmp_path / "halo"),
           "HALO_DB_URL": f"sqlite:///{tmp_path / 'halo.db'}",
           "DAGSTER_PG_HOST": url.host, "DAGSTER_PG_PORT": str(url.port or 5432), "DAGSTER_PG_USER": url.username,
           "DAGSTER_PG_PASSWORD": url.password or "", "DAGSTER_PG_DB": url.database}
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "webserver.log", "w"),
    )
    try:
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
        deadline = time.monotonic() + 120
        while True:
            try:
                if client.get("/server_info").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "webserver did not come up in 120 s"
            time.sleep(0.5)
        answer = client.post("/graphql", json={"query": REPOS}).json()
        assert answer.get("data"), answer
        data = answer["data"]["repositoriesOrError"]
        assert data["__typename"] == "RepositoryConnection", data
        if not data["nodes"]:  # the location failed to load: show why
            errors = client.post("/graphql", json={"query": LOAD_ERRORS}).json()
            raise AssertionError(f"code location did not load: {errors}")
        (repo,) = data["nodes"]
        assert repo["location"]["name"] == "halo_platform.definitions"
        repo_def = defs.get_repository_def()
        expected_jobs = {j.name for j in repo_def.get_all_jobs()}
        assert {j["name"] for j in repo["jobs"]} == expected_jobs
        assert {s["name"] for s in repo["schedules"]} == {s.name for s in repo_def.schedule_defs}
        assert {s["name"] for s in repo["sensors"]} == {s.name for s in repo_def.sensor_defs}
        assert "run_failure_alert_sensor" in {s["name"] for s in repo["sensors"]}

        launched = None
        for job in sorted(repo["jobs"], key=lambda j: j["name"].startswith("__")):  # any job whose config is all defaults
            params = {"selector": {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"],
                                   "jobName": job["name"]}, "runConfigData": {}}
            launched = client.post("/graphql", json={"query": LAUNCH, "variables": {"p": params}}).json()["data"]["launchRun"]
            if launched["__typename"] != "RunConfigValidationInvalid":
                break
        assert launched["__typename"] == "LaunchRunSuccess", launched
        assert launched["run"]["status"] == "QUEUED"  # no daemon here: the queue holds it
    finally:
        proc.terminate()
        proc.wait(timeout=30)
