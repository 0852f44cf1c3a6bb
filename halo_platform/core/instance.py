"""The Dagster instance the CLI and the HTTP service run and submit work on."""

from __future__ import annotations

import os
import shutil

import dagster as dg
import yaml

from halo_platform.core.errors import HaloError
from halo_platform.core.settings import PROJECT_ROOT, YAML_TOO_DEEP, get_settings
from halo_platform.core.text import cut

# A run over a range of partitions records one ASSET_MATERIALIZATION_PLANNED event per asset, the
# range inside it, instead of one per partition. Dagster reads this switch where a run is created:
# the CLI, the daemon's sensors, the webserver's launchpad. An EMR run covers every date of its
# horizon for each of its feeds, 180 partitions per asset: their 540 planned events, written one
# by one, took 6.2 of the 38.8 s of the 1M-event run on the SQLite instance `make run` uses.
# Dagster's price: the partitions of such a run that fails are not marked failed (the run is, and
# alerts as any failed run).
PLANNED_EVENTS_SWITCH = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"

# The materializations of a ranged run's partitions (one per partition and asset) are handed to
# the event storage in batches of up to this many. Dagster reads the switch in the process that
# executes the run, each time it stores an event. PostgreSQL's storage writes a batch in one
# INSERT and one asset-table update: the 540 materializations of a first load (60 dates x 3 feeds
# x 3 assets) took 16-18 s one by one on the local PostgreSQL, 1.7-1.8 s batched. Dagster's SQLite
# storage has no batch write (it stores them one by one, as without the switch): the local
# dagster.yaml's storage (core.event_storage) adds one.
EVENT_BATCH_SWITCH = "DAGSTER_EVENT_BATCH_SIZE"
EVENT_BATCH_SIZE = 1000


def dagster_environment() -> None:
    """Set the platform's Dagster switches (above) in this process's environment, unless they are
    set already; the processes it starts (`halo up`'s dagster dev) inherit them, and a process
    that loads the code location (a run worker) sets them as it imports `halo_platform.definitions`."""
    os.environ.setdefault(PLANNED_EVENTS_SWITCH, "true")
    os.environ.setdefault(EVENT_BATCH_SWITCH, str(EVENT_BATCH_SIZE))


def dagster_instance() -> dg.DagsterInstance:
    """The instance of DAGSTER_HOME (default `./.dagster_home`, created if missing: Dagster
    requires the folder), so runs started from the CLI show in the UI like any other. A new
    folder gets the project's dagster.yaml (run queue, retries, telemetry off)."""
    home = get_settings().dagster_home
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file, a folder the account may not write in
        raise HaloError(f"DAGSTER_HOME: cannot use {home} as the Dagster instance folder: {exc.strerror}") from None
    if not (home / "dagster.yaml").exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    dagster_environment()
    try:
        return dg.DagsterInstance.get()
    except yaml.YAMLError as exc:
        raise HaloError(f"DAGSTER_HOME: {home / 'dagster.yaml'}: invalid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:  # Dagster reads the file with PyYAML, which nests recursively
        raise HaloError(f"DAGSTER_HOME: {home / 'dagster.yaml'}: {YAML_TOO_DEEP}") from None
    except dg.DagsterInvalidConfigError as exc:
        # an unexpected key's message goes on with the whole schema of the file
        why = (exc.errors[0].message if exc.errors else str(exc)).split(" Expected: ")[0]
        raise HaloError(f"DAGSTER_HOME: {home / 'dagster.yaml'}: invalid instance settings: {cut(why, 200)}") from None
