"""Landing and the operational store reviewed (8): a MariaDB database whose default character
set is utf8mb3 takes 4-byte characters; a landed file rewritten in place keeping its old
modification time is processed again."""

import hashlib
import os
import uuid
from collections.abc import Iterator

import dagster as dg
import pytest
import sqlalchemy as sa

from halo_platform.availability import landing, pipeline
from halo_platform.availability.feeds import get_feed
from halo_platform.availability.sensors import emr_landing_sensor
from halo_platform.availability.service import quarantined
from halo_platform.core.store import StoreResource
from halo_platform.sinks import SinksResource
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.fixtures.databases import MYSQL_ADMIN_URL, collations

DAY = "2027-01-04"  # a Monday


def hours(start: str, version: str) -> str:
    return f'{{"type":"hours","provider":"P1","tz":"UTC","week":{{"mon":[["{start}","12:00"]]}},"updated_at":"{version}"}}\n'


@pytest.fixture
def utf8mb3_url() -> Iterator[str]:
    """A MariaDB database created with the 3-byte utf8 as its default character set."""
    name = f"halo_t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(MYSQL_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb3"))
    yield sa.make_url(MYSQL_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE `{name}`"))


def test_a_utf8mb3_database_keeps_4_byte_characters_of_emr_records(halo_env, utf8mb3_url):  # noqa: ARG001
    """The tables took the database's utf8mb3: the quarantine row of a file named with an emoji was
    refused ("Incorrect string value"), the run failed and the file's good events were never applied."""
    store = StoreResource(db_url=utf8mb3_url)
    try:
        land("acme", "hours 🗓.jsonl", hours("09:00", "2026-11-01T00:00:00Z") + '{"type":"appointment","id":"𝔸1","note":"🙂" broken\n')
        assert process(store, DAY, 1).quarantined == 1
        [record] = quarantined(store, "acme")
        assert record["file"] == "acme/hours 🗓.jsonl" and "🙂" in record["raw"]
        assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
        with store.read() as conn:  # every text column converted; the byte-for-byte ones still compare so
            narrow = conn.execute(sa.text("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = "
                                          "DATABASE() AND character_set_name <> 'utf8mb4' AND table_name <> 'alembic_version'")).all()
            exact = collations(conn, [("emr_processed_files", "path"), ("emr_quarantine", "file"), ("users", "name")])
        assert narrow == []
        assert exact == {("emr_processed_files", "path"): "utf8mb4_nopad_bin", ("emr_quarantine", "file"): "utf8mb4_general_ci",
                         ("users", "name"): "utf8mb4_nopad_bin"}
    finally:
        store.dispose()


def test_a_file_rewritten_in_place_keeping_its_size_and_modification_time_is_processed_again(halo_env, store):
    """`rsync -t` of a corrected file (or a rewrite then `touch -d` back) keeps the path, the size
    and the modification time: the file was taken for the content processed, and never processed."""
    path = land("acme", "hours.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
    process(store, DAY, 1)
    landed = path.stat()
    path.write_text(hours("08:00", "2026-11-02T00:00:00Z"))
    os.utime(path, ns=(landed.st_atime_ns, landed.st_mtime_ns))
    assert path.stat().st_size == landed.st_size
    assert [f.relpath for f in pipeline.pending_files(store, get_feed("acme"))] == ["acme/hours.jsonl"]
    assert process(store, DAY, 1).files == 1
    assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T08:00Z", f"{DAY}T12:00Z")]
    assert pipeline.pending_files(store, get_feed("acme")) == [] and process(store, DAY, 1).files == 0


def test_the_sensor_asks_for_a_file_rewritten_keeping_its_modification_time(halo_env, store):
    path = land("acme", "hours.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
    process(store, DAY, 1)
    landed = path.stat()
    path.write_text(hours("08:00", "2026-11-02T00:00:00Z"))
    os.utime(path, ns=(landed.st_atime_ns, landed.st_mtime_ns))
    with dg.DagsterInstance.ephemeral() as instance, \
            dg.build_sensor_context(instance=instance, resources={"store": store, "sinks": SinksResource()}) as context:
        result = emr_landing_sensor(context)
    assert [r.run_key for r in result.run_requests] == [f"acme/hours.jsonl@{hashlib.sha256(path.read_bytes()).hexdigest()}"]


def test_a_processed_file_seen_with_a_new_identity_is_read_once_not_processed_again(halo_env, store, monkeypatch):
    """A file whose mode changed (or copied to another disk, or processed before identities were
    recorded) is hashed once: the identity it is seen with is recorded, and the sensor's next
    ticks read it no more."""
    path = land("acme", "hours.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
    process(store, DAY, 1)
    path.chmod(0o600)
    hashed = []
    real = landing.sha256_of
    monkeypatch.setattr(landing, "sha256_of", lambda found: hashed.append(found.name) or real(found))
    assert pipeline.pending_files(store, get_feed("acme")) == []
    assert pipeline.pending_files(store, get_feed("acme")) == []
    assert hashed == ["hours.jsonl"]


def test_a_store_url_asking_for_the_3_byte_utf8_still_keeps_4_byte_characters(halo_env, migrated_mysql_url):  # noqa: ARG001
    """`?charset=utf8` (old guides' spelling) made the connection utf8mb3: the server refused every
    4-byte character sent, whatever the tables held."""
    store = StoreResource(db_url=f"{migrated_mysql_url}?charset=utf8")
    try:
        land("acme", "hours 🗓.jsonl", hours("09:00", "2026-11-01T00:00:00Z"))
        assert process(store, DAY, 1).files == 1
        assert quarantined(store, "acme") == []
        assert spans_on(store, "acme", "P1", DAY) == [(f"{DAY}T09:00Z", f"{DAY}T12:00Z")]
    finally:
        store.dispose()
