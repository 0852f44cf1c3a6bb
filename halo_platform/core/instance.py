"""The Dagster instance the CLI and the HTTP service run and submit work on."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.event_log import sqlite as dg_sqlite
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable

from halo_platform.core.settings import PROJECT_ROOT, get_settings

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
# storage has no batch write; the local instance's (SqliteEventLogStorage, below) has one.
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
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    dagster_environment()
    return dg.DagsterInstance.get()


# The events a batch write below takes: what a step records per partition. Other kinds (a failed
# materialization, a run's status) go through Dagster's own writes, one by one.
BATCHED_ASSET_EVENTS = frozenset({dg.DagsterEventType.ASSET_MATERIALIZATION, dg.DagsterEventType.ASSET_OBSERVATION,
                                  dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED})
BATCHED_CHECK_EVENTS = frozenset({dg.DagsterEventType.ASSET_CHECK_EVALUATION, dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED})


class SqliteEventLogStorage(dg_sqlite.SqliteEventLogStorage):
    """Dagster's SQLite event log, with a batch write. Dagster's own stores a batch event by event,
    each in two transactions (the run's file and the cross-run index), each on a new engine: the
    540 materializations of a 1M-event EMR run (60 dates x 3 feeds x 3 assets) took 5.3-10.7 s of
    it. A batch is written here as Dagster's PostgreSQL storage writes one: the run's rows in one
    transaction, then their index rows, partition tags and the assets' latest entries in another;
    each check event then updates its check's executions, as one by one. `base_dir` defaults to
    Dagster's own folder under DAGSTER_HOME, so an instance switched to this class keeps its history."""

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": dg.Field(dg.StringSource, is_required=False)}

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> SqliteEventLogStorage:  # noqa: ANN001
        base_dir = config_value.get("base_dir")
        if not base_dir:
            if not os.environ.get("DAGSTER_HOME"):
                raise dg.DagsterInvalidConfigError("event_log_storage: set DAGSTER_HOME or config.base_dir", [], config_value)
            base_dir = os.path.join(os.environ["DAGSTER_HOME"], "history", "runs", "")
        return cls(base_dir=base_dir, inst_data=inst_data)

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        kinds = [e.dagster_event_type for e in events]
        if len({e.run_id for e in events}) != 1 or not BATCHED_ASSET_EVENTS.union(BATCHED_CHECK_EVENTS).issuperset(kinds):
            super().store_event_batch(events)
            return
        rows = [self._event_to_row(e) for e in events]
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        insert = SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True)
        with self.index_transaction() as conn:
            ids = list(conn.scalars(insert, rows))
            stored = list(zip(events, ids, strict=True))
            assets = [(e, i) for e, i in stored if e.dagster_event_type in BATCHED_ASSET_EVENTS]
            self._store_asset_event_tags(conn, [e for e, _ in assets], [i for _, i in assets])
            # each kind of event sets the same columns of its asset's entry: the last one of each
            # kind, in the order of those last ones, leaves the entry as writing them all would
            latest: dict[tuple, tuple[dg.EventLogEntry, int]] = {}
            for event, event_id in assets:
                key = (event.dagster_event.asset_key, event.dagster_event_type)
                latest.pop(key, None)
                latest[key] = (event, event_id)
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)
        for event, event_id in stored:
            if event.dagster_event_type in BATCHED_CHECK_EVENTS:
                self.store_asset_check_event(event, event_id)
