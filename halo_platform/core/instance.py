"""The Dagster instance the CLI and the HTTP service run and submit work on."""

from __future__ import annotations

import os
import shutil

import dagster as dg

from halo_platform.core.settings import PROJECT_ROOT, get_settings


def dagster_instance() -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME (default `./.dagster_home`, created if missing: Dagster
    requires the folder), so runs started from the CLI show in the UI like any other. A new
    folder gets the project's dagster.yaml (run queue, retries, telemetry off)."""
    home = get_settings().dagster_home
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()
