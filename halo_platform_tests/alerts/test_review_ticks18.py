"""A sensor that starts failing alerts the HALO_ALERTS sinks, once (reports.md "Alerts": failures
alert; the mission: within a minute). Dagster alone records a failed tick and nothing else: a
malformed feeds file or an unreachable store stopped the EMR landing sensor or the message
dispatch sensor without anyone told. Each tick here is a real evaluation of the code location's
sensor, as the daemon makes it, against a real store (SQLite, PostgreSQL, MariaDB) and the
default `alerts` folder sink."""

import logging
import subprocess
import sys

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from halo_platform.alerts import failing_sensors
from halo_platform.core.store import StoreResource
from halo_platform.definitions import defs
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.alerts import alerts_sent
from halo_platform_tests.test_definitions import _product_functions

#: a feed name holding an address: the error quotes it, and the alert must not
BROKEN_FEEDS = "feeds:\n  jane.doe@example.com: {format: hl7}\n"
GOOD_FEEDS = "feeds:\n  hl7: {format: hl7}\n"
SENSOR_ERROR = "invalid feed name"


@pytest.fixture
def instance(halo_env):
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def feeds(halo_env, tmp_path, monkeypatch):
    """`feeds(good)`: HALO_FEEDS_FILE names a file that reads, or one that does not."""
    (tmp_path / "good.yaml").write_text(GOOD_FEEDS)
    (tmp_path / "broken.yaml").write_text(BROKEN_FEEDS)
    return lambda good: monkeypatch.setenv("HALO_FEEDS_FILE", str(tmp_path / ("good.yaml" if good else "broken.yaml")))


def tick(instance: dg.DagsterInstance, name: str, store: StoreResource | None = None) -> object:
    """One tick of the code location's sensor `name`, with its resources: what Dagster records of it."""
    with dg.build_sensor_context(instance=instance, resources={"store": store or StoreResource(),
                                                                "sinks": SinksResource()}) as context:
        return defs.resolve_sensor_def(name).evaluate_tick(context)


def failing_tick(instance: dg.DagsterInstance, name: str, store: StoreResource | None = None) -> str:
    """A tick of sensor `name` that fails: what escaped (the sensor's own error, masked)."""
    with pytest.raises(dg.Failure) as failed:
        tick(instance, name, store)
    return failed.value.description


def sensor_alerts(name: str) -> list[dict]:
    return [alert for alert in alerts_sent() if alert["title"] == f"sensor failing: {name}"]


def test_a_failing_sensor_alerts_once_per_episode_across_processes_and_again_after_a_success(feeds, instance, caplog):
    """Three failing ticks, then one in another process (a code-server restart): one alert, naming the
    sensor, with the masked error and a link to its page; every tick still fails as before. A tick
    that succeeds ends the episode: the next failure alerts again."""
    feeds(good=False)
    errors = [failing_tick(instance, "emr_landing_sensor") for _ in range(3)]
    assert all(SENSOR_ERROR in error for error in errors) and "jane.doe@example.com" not in errors[0]
    (alert,) = sensor_alerts("emr_landing_sensor")
    assert alert["severity"] == "ERROR" and SENSOR_ERROR in alert["error"]
    assert alert["details"]["link"] == "http://127.0.0.1:3000/locations/halo_platform.definitions/sensors/emr_landing_sensor"
    assert "jane.doe@example.com" not in str(alert)

    # another process: what it knows of the episode is the store's
    code = "from halo_platform_tests.alerts.test_review_ticks18 import tick_in_a_new_process; tick_in_a_new_process()"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert other.returncode == 0, other.stderr[-2000:]
    assert other.stdout.strip() == "failed", other.stdout
    assert len(sensor_alerts("emr_landing_sensor")) == 1

    feeds(good=True)
    assert tick(instance, "emr_landing_sensor").skip_message
    feeds(good=False)
    failing_tick(instance, "emr_landing_sensor")
    failing_tick(instance, "emr_landing_sensor")
    assert len(sensor_alerts("emr_landing_sensor")) == 2


def tick_in_a_new_process() -> None:
    """What the subprocess of the test above runs: one tick of the EMR landing sensor, in the test's
    environment (HALO_HOME, HALO_DB_URL, HALO_FEEDS_FILE), with an instance of its own."""
    with dg.instance_for_test() as instance:
        try:
            tick(instance, "emr_landing_sensor")
        except dg.Failure:
            print("failed")


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"])
def test_the_episode_is_kept_alike_on_postgresql_and_mariadb(backend, feeds, instance, request):
    """The store's row decides whether a failure was alerted: a second insert is refused (on PostgreSQL
    its transaction is aborted), which is no alert and no error."""
    store = StoreResource(db_url=request.getfixturevalue("migrated_pg_url" if backend == "postgresql" else "migrated_mysql_url"))
    try:
        feeds(good=False)
        failing_tick(instance, "emr_landing_sensor", store)
        failing_tick(instance, "emr_landing_sensor", store)
        assert len(sensor_alerts("emr_landing_sensor")) == 1
        feeds(good=True)
        tick(instance, "emr_landing_sensor", store)
        with store.read() as conn:
            assert conn.execute(sa.select(failing_sensors.failing_t)).all() == []
        feeds(good=False)
        failing_tick(instance, "emr_landing_sensor", store)
        assert len(sensor_alerts("emr_landing_sensor")) == 2
    finally:
        store.dispose()


def test_a_sensor_whose_store_is_unreachable_alerts_once_without_the_urls_password(instance):
    """The message dispatch sensor's store points at nothing: the episode cannot be kept there, so the
    process keeps it; one alert for three ticks, and the URL's password is in none of it."""
    store = StoreResource(db_url="postgresql+psycopg://halo:s3cret-pw@127.0.0.1:1/none")
    for _ in range(3):
        assert "s3cret-pw" not in failing_tick(instance, "message_queue_sensor", store)
    (alert,) = sensor_alerts("message_queue_sensor")
    assert alert["error"] and "s3cret-pw" not in str(alert)
    assert alerts_sent() == [alert]


def test_a_succeeding_tick_writes_nothing_once_the_episode_is_known_ended(feeds, instance):
    """A sensor ticks every 5-60 s and the delivery drain shares SQLite's one writer: after the success
    that clears the episode's row, a succeeding tick only reads the failing sensors' table (another
    process may have started an episode), and writes nothing there."""
    feeds(good=True)
    store = StoreResource()
    store.engine  # noqa: B018 - migrated now: the migration's statements are not the ticks'
    store.dispose()
    statements: list[str] = []

    def seen(conn, cursor, sql, *_) -> None:  # noqa: ANN001 - every engine's (Dagster copies the store per tick)
        statements.append(sql)

    sa.event.listen(sa.Engine, "before_cursor_execute", seen)
    try:
        tick(instance, "emr_landing_sensor")
        assert any("failing_sensors" in sql for sql in statements)  # read: another process may have one there
        statements.clear()
        for _ in range(3):
            tick(instance, "emr_landing_sensor")
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", seen)
    assert statements and not [sql for sql in statements if "failing_sensors" in sql and not sql.startswith("SELECT")]


def test_a_failing_alert_sink_leaves_the_sensors_own_error_to_escape(feeds, instance, tmp_path, monkeypatch, caplog):
    """The alert path failing (a folder sink that cannot be written) is logged and never re-alerted;
    what the tick raises is the sensor's own error, not the sink's."""
    (tmp_path / "not_a_folder").write_text("a file")
    sinks_file = tmp_path / "sinks.yaml"
    sinks_file.write_text(yaml.safe_dump({"sinks": {"alerts": {"kind": "folder", "path": str(tmp_path / "not_a_folder" / "alerts")}}}))
    monkeypatch.setenv("HALO_SINKS_FILE", str(sinks_file))
    feeds(good=False)
    with caplog.at_level(logging.WARNING, logger="halo.alerts"):
        error = failing_tick(instance, "emr_landing_sensor")
    assert SENSOR_ERROR in error
    assert any("sensor failing: emr_landing_sensor' to alerts failed" in record.getMessage() for record in caplog.records)


def test_every_sensor_but_the_alert_sensors_alerts_when_it_starts_failing():
    """A new sensor cannot fail silently: each is `alerted_when_failing` under its own name, but the
    alert sensors themselves (alerting never recurses)."""
    alerted = {name.removeprefix("sensor "): getattr(fn, failing_sensors.MARK, None)
               for name, fn in _product_functions(defs).items() if name.startswith("sensor ")}
    alert_sensors = {"run_failure_alert_sensor", "asset_check_alert_sensor", "alert_retry_sensor"}
    assert {name: alerted[name] for name in alert_sensors} == dict.fromkeys(alert_sensors)
    others = {name: mark for name, mark in alerted.items() if name not in alert_sensors}
    assert len(others) >= 10 and others == {name: name for name in others}
