"""deploy/dagster.yaml: a production instance on the local PostgreSQL runs work and stores it.
(That it queues launched runs is shown through the webserver in test_webserver.py.)"""

import shutil
from pathlib import Path

import dagster as dg
import sqlalchemy as sa

from halo_platform_tests.fixtures.databases import deploy_instance_env

ROOT = Path(__file__).resolve().parents[2]


@dg.op
def add_one() -> int:
    return 2


@dg.job(tags={"halo/channel": "sms", "owner": "platform", "domain": "core"})
def tiny_job():
    add_one()


def test_production_instance_stores_runs_in_postgresql_and_limits_by_tag(tmp_path, fresh_pg_url, monkeypatch):
    for key, value in deploy_instance_env(fresh_pg_url).items():
        monkeypatch.setenv(key, value)
    shutil.copy(ROOT / "deploy" / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        limits = {lim["key"]: lim for lim in instance.run_coordinator.get_run_queue_config().tag_concurrency_limits}
        assert limits["halo/channel"]["limit"] == 4  # the consumer pool: dispatch runs per channel
        assert instance.run_coordinator.dequeue_interval_seconds == 1  # a queued run starts within a second of its turn
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 2

        result = tiny_job.execute_in_process(instance=instance)
        assert result.success and result.output_for_node("add_one") == 2


    engine = sa.create_engine(fresh_pg_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT count(*) FROM runs")).scalar()
    engine.dispose()
    assert stored == 1


def test_the_local_instance_starts_a_queued_run_within_a_second_of_its_turn(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))  # the local dagster.yaml is DAGSTER_HOME's: its storage lies there
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 1
