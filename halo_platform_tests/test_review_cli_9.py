"""`halo` as a script runs it: a task request retried after a timeout."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from halo_platform.cli import cli
from halo_platform.reports.audit import list_requests
from halo_platform_tests.reports.conftest import _fresh_shared_store, store, warehouses  # noqa: F401 - the reports fixtures
from halo_platform_tests.reports.test_requests import _seed_marketing


def halo(capsys, *args: str) -> tuple[int, list[str], list[str]]:  # noqa: ANN001
    """Run `halo args` in this process: its exit code, its stdout lines and its stderr lines."""
    with pytest.raises(SystemExit) as exited:
        cli.main(args=list(args), prog_name="halo")
    out, err = capsys.readouterr()
    return exited.value.code, out.splitlines(), err.splitlines()


@pytest.fixture
def keep_sigterm() -> Iterator[None]:
    """`halo tasks run --wait` takes SIGTERM as Ctrl-C for its process: this one's is given back."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


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

