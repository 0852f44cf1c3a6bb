"""A dispatch run whose worker died (SIGKILL, the OOM killer) stayed STARTED for good under the
local instance (`make run`'s dagster.yaml had no run monitoring, and the default run launcher
cannot tell a dead worker): the queue sensor and the run queue counted it against its channel's
two run slots, and two such deaths stopped that channel's dispatch until someone cancelled the
runs by hand. Dispatch runs carry a maximum run time, and the instance's run monitoring ends one
past it: a dead one is marked cancelled once its cancellation times out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import dagster as dg
import yaml

from halo_platform.delivery.jobs import message_dispatch_job
from halo_platform.delivery.service import enqueue_many
from halo_platform.lab.provider_fakes import SECRETS
from halo_platform_tests.fixtures.dagster_webserver import BIN, dagster_daemon
from halo_platform_tests.fixtures.halo_serve import ROOT

ENDED = (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)


def _wait(until, seconds: float, what: str):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + seconds
    while not (found := until()):
        assert time.monotonic() < deadline, what
        time.sleep(0.3)
    return found


def test_a_dispatch_run_whose_worker_was_killed_ends_and_frees_its_channel(fakes, providers_file, halo_store, halo_env, tmp_path):
    settings = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    assert settings.get("run_monitoring", {}).get("enabled") is True, "the local instance monitors its runs"
    settings["run_monitoring"].update(poll_interval_seconds=1, cancel_timeout_seconds=2)  # the test's clock, not the product's
    home = Path(halo_env["DAGSTER_HOME"])
    (home / "dagster.yaml").write_text(yaml.safe_dump(settings))
    fakes["twilio"].set_switches(latency_seconds=120)  # the run's send is still waiting when its worker is killed
    providers = providers_file({"tw": {"kind": "twilio", "channel": "sms", "base_url": fakes["twilio"].url, **SECRETS["twilio"],
                                       "sender": "+33700000000", "timeout_seconds": 150}},
                               [{"channel": "sms", "country": "*", "capability": "*", "weights": {"tw": 1}}], lease_seconds=200)
    enqueue_many("sms", [{"to": "+33612345678", "body": "hello", "priority": "NORMAL"}], store=halo_store, providers=providers)
    env = dict(os.environ)
    dagster = [str(BIN / "dagster")]
    stopped = subprocess.run([*dagster, "sensor", "stop", "message_queue_sensor", "-w", str(ROOT / "workspace.yaml")],
                             cwd=home, env=env, capture_output=True, text=True, timeout=120)  # this test launches the run
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    instance = dg.DagsterInstance.from_config(str(home))
    tags = {"halo/channel": "sms", "dagster/max_runtime": "8"}  # the sensor's tag, shortened to the test's clock
    launched = subprocess.run([*dagster, "job", "launch", "-w", str(ROOT / "workspace.yaml"), "-j", message_dispatch_job.name,
                               "--tags", json.dumps(tags), "--config-json",
                               json.dumps({"ops": {"dispatch_messages": {"config": {"channels": ["sms"]}}}})],
                              cwd=home, env=env, capture_output=True, text=True, timeout=120)
    assert launched.returncode == 0, launched.stderr[-2000:]
    [run] = instance.get_runs(dg.RunsFilter(job_name=message_dispatch_job.name))
    with dagster_daemon(env, tmp_path / "daemon.log"):
        _wait(lambda: fakes["twilio"].request_count or fakes["twilio"].in_progress, 90, "the run never sent")
        worker = subprocess.run(["pgrep", "-f", run.run_id], capture_output=True, text=True).stdout.split()
        assert worker, "no worker process names the run"
        for pid in worker:
            os.kill(int(pid), signal.SIGKILL)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
        ended = _wait(lambda: (r := instance.get_run_by_id(run.run_id)).status in ENDED and r, 60,
                      f"still {instance.get_run_by_id(run.run_id).status}: {(tmp_path / 'daemon.log').read_text()[-1500:]}")
    assert ended.status in ENDED

