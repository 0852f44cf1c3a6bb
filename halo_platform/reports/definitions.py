"""Report tasks: one asset + job per task module, the schedule sensor, the audit sensors,
the schedule editing job, and the shared `store`, `warehouses` and `sinks` instances they use,
so this `defs` resolves and runs its own jobs (the code location merges the same instances)."""

import dagster as dg

from halo_platform.core.definitions import STORE, WAREHOUSES
from halo_platform.reports.assets import build_task
from halo_platform.reports.jobs import manage_task_schedule
from halo_platform.reports.sensors import build_sensors
from halo_platform.reports.task import load_tasks
from halo_platform.sinks.definitions import SINKS

RESOURCES = {"store": STORE, "warehouses": WAREHOUSES, "sinks": SINKS}


def build_defs() -> dg.Definitions:
    """Definitions for every task module found now (tests call this after adding one)."""
    built = [build_task(task) for task in load_tasks().values()]
    jobs = [job for _, job in built]
    return dg.Definitions(
        assets=[asset for asset, _ in built],
        jobs=[*jobs, manage_task_schedule],
        sensors=build_sensors(jobs),
        resources=RESOURCES,
    )


defs = build_defs()
