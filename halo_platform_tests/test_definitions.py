"""The code location loads fast, with no server, and is complete."""

import subprocess
import sys
import time

import dagster as dg

from halo_platform.core.instance import EVENT_BATCH_SIZE, EVENT_BATCH_SWITCH, PLANNED_EVENTS_SWITCH


def test_definitions_module_imports_in_under_five_seconds_with_no_server_and_sets_the_dagster_switches():
    """A process that loads the code location (a run worker launched by any launcher) gets the
    platform's Dagster switches (core/instance.py) without anything in its environment."""
    started = time.perf_counter()
    switches = subprocess.run(
        [sys.executable, "-c", "import os, halo_platform.definitions; "
                               f"print(*(os.environ[k] for k in {[PLANNED_EVENTS_SWITCH, EVENT_BATCH_SWITCH]}))"],
        check=True, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HALO_DB_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    assert time.perf_counter() - started < 5
    assert switches.stdout.split() == ["true", str(EVENT_BATCH_SIZE)]


def test_code_location_is_loadable_and_binds_core_resources():
    from halo_platform.definitions import defs

    dg.Definitions.validate_loadable(defs)
    resources = defs.resources or {}
    assert {"store", "warehouses", "sinks"} <= set(resources)
    assert defs.resolve_sensor_def("run_failure_alert_sensor") is not None


def test_every_job_runs_its_steps_in_the_runs_own_process():
    """A step under the multiprocess executor is one more process importing the code location
    (an EMR run of one small file took 16-30 s under `make run` instead of 1-4 s)."""
    from halo_platform.definitions import defs

    jobs = defs.resolve_all_job_defs()
    assert len(jobs) > 10
    assert {job.name: job.executor_def.name for job in jobs} == {job.name: "in_process" for job in jobs}
