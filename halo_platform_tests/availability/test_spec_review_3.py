"""Spec review of emr.md (third pass), on MariaDB, which "should work too" and which the EMR
tests had run on for bulk writes only: ids compared character for character, a quarantined
record longer than a TEXT column, a file replaced in place within a second."""

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from halo_platform.availability.service import quarantined
from halo_platform.availability.tables import SchedulingItem
from halo_platform.core.engine import make_engine
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource, _alembic_config, migrate
from halo_platform_tests.availability.helpers import land, process, spans_on
from halo_platform_tests.fixtures.databases import collations

EXACT_IDS = (("scheduling_items", "item_id"), ("scheduling_item_blocks", "item_id"), ("scheduling_item_blocks", "provider_id"),
             ("scheduling_item_blocks", "ref"), ("scheduling_item_hours", "item_id"), ("scheduling_item_hours", "provider_id"),
             ("available_spans", "provider_id"), ("emr_dirty_dates", "provider_id"), ("emr_processed_files", "path"),
             ("next_available_slots", "provider_id"))


@pytest.fixture
def maria_store(halo_env, fresh_mysql_url, monkeypatch) -> Iterator[StoreResource]:  # noqa: ARG001
    monkeypatch.setenv("HALO_DB_URL", fresh_mysql_url)
    store = StoreResource(db_url=fresh_mysql_url)
    yield store
    store.dispose()


def _appointment(item_id: str, provider: str, start: str, version: str, action: str = "upsert") -> str:
    return (f'{{"type":"appointment","action":"{action}","id":"{item_id}","provider":"{provider}","start":"2026-12-01T{start}",'
            f'"duration_min":60,"tz":"Europe/Paris","status":"booked","updated_at":"{version}"}}\n')


def test_ids_differing_only_in_case_are_distinct_items_and_providers_on_mariadb(maria_store):
    """Appointments A1 and a1 are two bookings, P1 and p1 two providers. On MariaDB the file was
    quarantined whole ('Duplicate entry ... for key PRIMARY'): nobody had spans. A later delete
    of a1 would have deleted A1's facts too."""
    land("acme", "a.jsonl",
         '{"type":"hours","provider":"P1","tz":"Europe/Paris","week":{"tue":[["09:00","17:00"]]},"updated_at":"2026-11-01T00:00:00Z"}\n'
         '{"type":"hours","provider":"p1","tz":"Europe/Paris","week":{"tue":[["09:00","12:00"]]},"updated_at":"2026-11-01T00:00:00Z"}\n'
         + _appointment("A1", "P1", "10:00:00", "2026-11-20T10:00:00Z") + _appointment("a1", "P1", "14:00:00", "2026-11-20T10:00:00Z"))
    process(maria_store, "2026-12-01", 3)
    assert quarantined(maria_store) == []
    assert spans_on(maria_store, "acme", "P1", "2026-12-01") == [
        ("2026-12-01T08:00Z", "2026-12-01T09:00Z"), ("2026-12-01T10:00Z", "2026-12-01T13:00Z"), ("2026-12-01T14:00Z", "2026-12-01T16:00Z")]
    assert spans_on(maria_store, "acme", "p1", "2026-12-01") == [("2026-12-01T08:00Z", "2026-12-01T11:00Z")]

    land("acme", "b.jsonl", _appointment("a1", "P1", "14:00:00", "2026-11-21T10:00:00Z", action="delete"))
    process(maria_store, "2026-12-01", 3)
    assert spans_on(maria_store, "acme", "P1", "2026-12-01") == [
        ("2026-12-01T08:00Z", "2026-12-01T09:00Z"), ("2026-12-01T10:00Z", "2026-12-01T16:00Z")]


def test_the_migration_keeps_stored_ids_and_compares_them_exactly_from_then_on_on_mariadb(fresh_mysql_url):
    engine = make_engine(fresh_mysql_url)
    command.upgrade(_alembic_config(engine), "availability_0009")
    items = SchedulingItem.__table__
    with engine.begin() as conn:
        conn.execute(items.insert().values(feed="acme", item_id="appointment:A1", kind="appointment", version=utcnow(), deleted=False,
                                           fingerprint=1, updated_at=utcnow()))
        assert conn.execute(sa.select(items.c.item_id).where(items.c.item_id == "appointment:a1")).all() == [("appointment:A1",)]
    migrate(engine)
    with engine.begin() as conn:
        assert set(collations(conn, EXACT_IDS).items()) == {(column, "utf8mb4_nopad_bin") for column in EXACT_IDS}
        assert conn.execute(sa.select(items.c.item_id).where(items.c.item_id == "appointment:a1")).all() == []
        assert conn.execute(sa.select(items.c.item_id)).all() == [("appointment:A1",)]
    command.downgrade(_alembic_config(engine), "availability_0009")
    with engine.begin() as conn:
        assert "utf8mb4_nopad_bin" not in collations(conn, EXACT_IDS).values()
    engine.dispose()


def test_a_record_longer_than_a_mariadb_text_is_quarantined_alone_and_the_file_applied(maria_store):
    """"Bad input never stops a batch ... goes to emr_quarantine (feed, file, position, reason,
    raw text) and processing continues." A 70 kB line (and a reason quoting a 70 kB value) did
    not fit MariaDB's TEXT: the whole file was quarantined ('Data too long for column raw') and
    its good records were lost. The quarantine keeps the first 64 kB; the line stays whole in
    its landed file, at its position."""
    land("acme", "a.jsonl",
         '{"type":"hours","provider":"P1","tz":"Europe/Paris","week":{"tue":[["09:00","17:00"]]},"updated_at":"2026-11-01T00:00:00Z"}\n'
         '{"type":"appointment","note":"' + "é" * 70_000 + '"}\n'
         + _appointment("A1", "P1", "10:00:00", "2026-11-20T10:00:00Z").replace('"booked"', '"' + "x" * 70_000 + '"'))
    process(maria_store, "2026-12-01", 3)
    assert spans_on(maria_store, "acme", "P1", "2026-12-01") == [("2026-12-01T08:00Z", "2026-12-01T16:00Z")]
    rows = quarantined(maria_store)
    assert [(r["position"], r["reason"][:16]) for r in rows] == [(2, "missing updated_"), (3, "unknown status '")], rows
    for r in rows:
        assert len(r["raw"].encode()) <= 65_535 and len(r["reason"].encode()) <= 65_535
    assert rows[0]["raw"].startswith('{"type":"appointment","note":"éé') and "cut" in rows[0]["raw"][-60:]


def test_a_file_replaced_within_a_second_of_a_whole_second_mtime_is_processed_again_on_mariadb(maria_store):
    """"A file is processed once" per content: one replaced in place is processed again. MariaDB
    was taken to keep whole seconds, so a landing time within a second of the recorded one
    counted as unchanged; its DATETIME(6) keeps microseconds, and the new content (A1 moved to
    13:00) was never processed."""
    land("acme", "hours.jsonl", '{"type":"hours","provider":"P1","tz":"UTC","week":{"tue":[["09:00","17:00"]]},"updated_at":"2026-11-01T00:00:00Z"}\n')
    path = land("acme", "bookings.jsonl", _appointment("A1", "P1", "10:00:00", "2026-11-20T10:00:00Z").replace("Europe/Paris", "UTC"))
    os.utime(path, ns=(1_800_000_000_000_000_000,) * 2)
    process(maria_store, "2026-12-01", 3)
    path.write_text(_appointment("A1", "P1", "13:00:00", "2026-11-21T10:00:00Z").replace("Europe/Paris", "UTC"))
    os.utime(path, ns=(1_800_000_000_500_000_000,) * 2)
    process(maria_store, "2026-12-01", 3)
    assert spans_on(maria_store, "acme", "P1", "2026-12-01") == [
        ("2026-12-01T09:00Z", "2026-12-01T13:00Z"), ("2026-12-01T14:00Z", "2026-12-01T17:00Z")]
