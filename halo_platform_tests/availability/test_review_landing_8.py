"""Landing and the operational store reviewed (8): a MariaDB database whose default character
set is utf8mb3 takes 4-byte characters."""

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from halo_platform.availability.service import quarantined
from halo_platform.core.store import StoreResource
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
