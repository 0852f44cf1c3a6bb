"""`make run` serves the Dagster UI: dagster-webserver on workspace.yaml lists the code location
with every job, schedule and sensor of the definitions, and a run launched through its GraphQL
API is queued by the production instance (deploy/dagster.yaml on the local PostgreSQL): the
session's webserver, started as `halo up` starts it."""

import httpx

REPOS = """{ repositoriesOrError { __typename ... on RepositoryConnection { nodes {
  name location { name } jobs { name } schedules { name } sensors { name } } }
  ... on PythonError { message } } }"""
LAUNCH = """mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
  ... on LaunchRunSuccess { run { runId status } } ... on PythonError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""


def test_webserver_lists_every_job_schedule_and_sensor_and_queues_a_launched_run(dagster_webserver):
    from halo_platform.definitions import defs

    client = httpx.Client(base_url=dagster_webserver.url, timeout=60)
    answer = client.post("/graphql", json={"query": REPOS}).json()
    data = answer["data"]["repositoriesOrError"]
    assert data["__typename"] == "RepositoryConnection", data
    (repo,) = data["nodes"]
    assert repo["location"]["name"] == "halo_platform.definitions"
    repo_def = defs.get_repository_def()
    assert {j["name"] for j in repo["jobs"]} == {j.name for j in repo_def.get_all_jobs()}
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
    try:
        assert launched["__typename"] == "LaunchRunSuccess", launched
        assert launched["run"]["status"] == "QUEUED"  # no daemon here: the queue holds it
    finally:
        dagster_webserver.clear_queue()  # no later daemon on this instance runs it
