"""`halo` as a script runs it: a task request retried after a timeout, a `--wait` run whose
process id another process took since, and a name or a path given empty."""

from __future__ import annotations

import subprocess
from pathlib import Path

import dagster as dg
import pytest

from halo_platform.cli import cli
from halo_platform.reports.audit import get_request, list_requests
from halo_platform.reports.definitions import defs
from halo_platform.reports.requests import PID_TAG, dagster_instance
from halo_platform_tests.reports.conftest import _fresh_shared_store, sinks_file, store, warehouses  # noqa: F401 - the reports fixtures
from halo_platform_tests.reports.test_requests import _seed_marketing
from halo_platform_tests.reports.test_review_requests_9 import _wait_for_row, run_wait_held_at_its_webhook


def halo(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code, its stdout lines and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err.splitlines()


def test_a_task_request_sent_again_with_its_idempotency_key_runs_once(warehouses, halo_env, store, keep_sigterm, capsys) -> None:  # noqa: F811
    """`POST /v1/tasks/{task}/requests` takes an `Idempotency-Key`, and the 504 of a submission whose
    answer was lost says a request sent again with the same key runs once; `halo tasks run` had no
    way to give one, so a script retrying it after a timeout ran the report twice. `--idempotency-key`
    takes the API's key through the same create_request: the repeat answers with the first request,
    another payload under the key is refused (the API's 409), and so is a key no header can hold."""
    _seed_marketing(warehouses)
    run = ["tasks", "run", "campaign_alerts", "--wait", "--requested-by", "ana", "--idempotency-key", "may-10"]
    code, first, err = halo(capsys, *run, "--payload", '{"as_of": "2024-05-10"}')
    assert (code, err) == (0, [])
    assert first[1] == "status: SUCCEEDED"
    output = Path(halo_env["HALO_HOME"]) / "outbox" / "campaign_alerts_2024-05-10.csv"
    output.unlink()

    assert halo(capsys, *run, "--payload", '{"as_of": "2024-05-10"}') == (0, first, [])
    assert not output.exists()
    assert halo(capsys, *run, "--payload", '{"as_of": "2024-05-11"}') == (
        2, [], [f"error: Idempotency-Key already sent with another task or payload: request {first[0]}"])
    assert halo(capsys, *run[:-1], "not visible") == (
        2, [], ["error: Idempotency-Key: 1 to 255 visible ASCII characters (such as a UUID)"])
    assert [r["request_id"] for r in list_requests(store, None, None, 10)] == [first[0]]


def abandoned_tick(held) -> str:  # noqa: ANN001
    """What a tick of task_request_abandoned_sensor says it did."""
    sensor = defs.resolve_sensor_def("task_request_abandoned_sensor")
    with dg.build_sensor_context(instance=dagster_instance(), resources={"store": held}) as context:
        return sensor(context).skip_message


def test_a_wait_run_whose_pid_another_process_took_since_is_ended_canceled(warehouses, halo_env, store, http_fake, sinks_file,  # noqa: F811
                                                                           tmp_path) -> None:
    """A `halo tasks run --wait` killed (SIGKILL) is found gone by its pid (`halo/pid`); once another
    process had that pid (after a reboot, or pids wrapping around), the run looked alive and its
    request stayed RUNNING for good. The run now carries its process's start time too: the process
    holding the pid since started at another time, and the run ends CANCELED. While its own process
    runs, the run is left alone."""
    halo, posted, release = run_wait_held_at_its_webhook(warehouses, http_fake, sinks_file, tmp_path)
    try:
        assert posted.wait(120), "the run never posted to the webhook"
        assert abandoned_tick(store) == "0 task runs of a process gone: canceled"
        halo.kill()
        halo.communicate(timeout=60)
    finally:
        release.set()
    running = _wait_for_row(store, "RUNNING")
    with subprocess.Popen(["sleep", "60"]) as other:
        try:
            # the pid is the other process's now, as if the kernel had given it the pid of the one killed
            dagster_instance().add_run_tags(running["request_id"], {PID_TAG: str(other.pid)})
            assert abandoned_tick(store) == "1 task run of a process gone: canceled"
        finally:
            other.kill()
    request = get_request(store, running["request_id"])
    assert (request["status"], request["error"]) == (
        "CANCELED", f"its process (`halo tasks run --wait`, pid {other.pid}) ended before its run finished")


@pytest.mark.parametrize(("args", "refusal"), [
    (["tasks", "run", "campaign_alerts", "--sink", ""], "Invalid value for '--sink': empty (leave the option out for its default)"),
    (["schedules", "set", "daily", "--task", "campaign_alerts", "--cron", "0 7 * * *", "--sink", "outbox", "--sink", ""],
     "Invalid value for '--sink': empty (leave the option out for its default)"),
    (["delivery", "weights", "set", "sms/*/TEXT", "=50", "--reason", "r"], "expected provider=weight, got '=50'"),
], ids=["tasks run --sink", "schedules set --sink", "weights set =50"])
def test_a_name_given_empty_is_refused_saying_so(halo_env, capsys, args, refusal) -> None:
    """`--sink ''` was refused as 'unknown sink(s): ; known: alerts, outbox' and a weight given no
    provider as 'unknown provider(s):': a refusal naming nothing, which the user could not act on.
    An empty sink is refused as every empty option is, and `=50` as every assignment without a
    provider name."""
    assert halo(capsys, *args) == (2, [], [f"error: {refusal}"])


@pytest.mark.parametrize(("args", "option"), [
    (["emr", "export", "--out", ""], "'--out'"),
    (["emr", "ingest", "--feed", "acme", ""], "'FILES...'"),
    (["up", "--workspace", ""], "'--workspace' / '-w'"),
])
def test_a_path_given_empty_is_refused_as_empty(halo_env, capsys, args, option) -> None:
    """As a path, '' is the current folder: `halo emr export --out ''` said 'cannot write .: it is a
    directory' and `halo emr ingest --feed acme ''` 'not a file: .', naming a folder the user never
    gave (and a bench's `--workdir ''` wrote its scratch files into it). An empty path is refused as
    empty, by the one path type every command takes paths with."""
    assert halo(capsys, *args) == (2, [], [f"error: Invalid value for {option}: empty: a path names a file or folder"])
