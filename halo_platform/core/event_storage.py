"""The local Dagster instance's storage (`make run`'s dagster.yaml): Dagster's SQLite storage, its
files and layout under DAGSTER_HOME unchanged, except that a batch of asset materializations is
written in one transaction per database, as Dagster's PostgreSQL storage writes it.

A run over a range of partitions materializes each partition of an output: Dagster hands them to
the storage in batches (`instance.EVENT_BATCH_SWITCH`), and its SQLite storage stored them one by
one, each event opening, committing and closing a connection to the run's database and another to
the index (its engines have no pool). The 361 materializations of the 1M-event EMR bench took
5.1 s of its 23.8 s that way."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.event_log import SqlEventLogStorageTable, SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClassData


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` writing a batch of one run's materializations in two transactions."""

    def store_event_batch(self, events: Sequence[dg.EventLogEntry]) -> None:
        kinds = {event.dagster_event_type for event in events}
        if kinds != {dg.DagsterEventType.ASSET_MATERIALIZATION} or len({event.run_id for event in events}) != 1:
            super().store_event_batch(events)  # one by one, as Dagster does
            return
        # What `store_event` does for each: the event into its run's database, then into the
        # index (whose ids the asset tables refer to) with its tags and the asset's latest.
        # Should the index's transaction fail, Dagster stores the batch again one by one: the run's
        # database then holds the batch twice, as with PostgreSQL's batch write.
        rows = [self._event_to_row(event) for event in events]  # each event serialized once, for both
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            inserted = conn.execute(SqlEventLogStorageTable.insert().returning(SqlEventLogStorageTable.c.id, sort_by_parameter_order=True), rows)
            ids = [event_id for (event_id,) in inserted]
            self._store_asset_event_tags(conn, events, ids)
            latest = {event.dagster_event.asset_key: (event, event_id) for event, event_id in zip(events, ids, strict=True)}
            for event, event_id in latest.values():
                self._store_asset_event(conn, event, event_id)


class SqliteStorage(DagsterSqliteStorage):
    """Dagster's default storage (`storage: sqlite`) with the batching event log above."""

    def __init__(self, base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        super().__init__(base_dir, inst_data)
        default = self._event_log_storage
        self._event_log_storage = BatchingSqliteEventLogStorage(default._base_dir)  # noqa: SLF001 - the same folder
        default.dispose()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: dict) -> SqliteStorage:  # type: ignore[override]
        return cls.from_local(inst_data=inst_data, **config_value)
