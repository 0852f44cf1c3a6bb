"""The code location loads fast, with no server, and is complete."""

import resource
import subprocess
import sys

import dagster as dg

from halo_platform.core.instance import EVENT_BATCH_SIZE, EVENT_BATCH_SWITCH, PLANNED_EVENTS_SWITCH


def test_definitions_module_imports_in_under_five_seconds_with_no_server_and_sets_the_dagster_switches():
    """A process that loads the code location (a run worker launched by any launcher) gets the
    platform's Dagster switches (core/instance.py) without anything in its environment. Judged on
    the child's CPU time: its wall time on the shared 2-core machine under the suite's load was
    12 s once (the import itself takes about 2 CPU-s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    switches = subprocess.run(
        [sys.executable, "-c", "import os, halo_platform.definitions; "
                               f"print(*(os.environ[k] for k in {[PLANNED_EVENTS_SWITCH, EVENT_BATCH_SWITCH]}))"],
        check=True, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HALO_DB_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime) < 5
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


def _product_functions(defs: dg.Definitions) -> dict[str, object]:
    """name -> the function of ours behind every op (assets and asset checks included, through the
    jobs that run them), sensor and schedule of the code location. Dagster has no public accessor
    for a sensor's or schedule's function: their attributes are read, and a rename fails here."""
    found = {}
    for job in defs.resolve_all_job_defs():
        for node in job.all_node_defs:
            fn = getattr(getattr(node, "compute_fn", None), "decorated_fn", None)
            if fn is not None and fn.__module__.startswith("halo_platform"):
                found[f"op {node.name}"] = fn
    for name in {s.name for s in defs.sensors or []}:
        sensor = defs.resolve_sensor_def(name)
        found[f"sensor {name}"] = getattr(sensor, "_run_status_sensor_fn", None) or sensor._raw_fn  # noqa: SLF001
    for name in {s.name for s in defs.schedules or []}:
        execution_fn = defs.resolve_schedule_def(name)._execution_fn  # noqa: SLF001
        fn = getattr(execution_fn, "decorated_fn", execution_fn)
        if fn.__module__.startswith("halo_platform"):  # not a plain ScheduleDefinition (a job and a cron)
            found[f"schedule {name}"] = fn
    return found


def test_every_op_asset_check_sensor_and_schedule_function_masks_its_failures():
    """What they raise reaches the event log and tick history, which no log filter sees
    (core/failures.py): each is `@masked`, so a new one cannot leak a recipient or a secret."""
    from halo_platform.core.failures import MARK
    from halo_platform.definitions import defs

    found = _product_functions(defs)
    assert {"op campaign_alerts", "op payment_reconciliation", "op dispatch_messages", "op available_spans_spans_do_not_overlap",
            "op available_spans", "sensor run_failure_alert_sensor", "sensor emr_landing_sensor",
            "sensor task_schedule_sensor", "schedule autopilot"} <= set(found)
    assert [name for name, fn in sorted(found.items()) if not getattr(fn, MARK, False)] == []
