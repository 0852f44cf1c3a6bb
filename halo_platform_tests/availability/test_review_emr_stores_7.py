"""EMR availability on PostgreSQL and MariaDB against SQLite: the same landed files, the same outcome."""

import datetime as dt
import json
import os
import threading
from collections.abc import Iterator

import pytest

from halo_platform.availability import pipeline
from halo_platform.availability.feeds import load_feeds
from halo_platform.availability.service import export_csv, refresh_next_slots
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform_tests.availability.helpers import land, process


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def store3(request, halo_env, monkeypatch) -> Iterator[StoreResource]:  # noqa: ANN001
    url = halo_env["HALO_DB_URL"]
    if request.param != "sqlite":
        url = request.getfixturevalue("migrated_pg_url" if request.param == "postgresql" else "migrated_mysql_url")
        monkeypatch.setenv("HALO_DB_URL", url)
    resource = StoreResource(db_url=url)
    yield resource
    resource.dispose()


def exported(store: StoreResource, tmp_path) -> list[str]:  # noqa: ANN001
    """The lines of `halo emr export` (header left out)."""
    out = tmp_path / "export.csv"
    export_csv(store, out)
    return out.read_text().splitlines()[1:]


def _week(hours: str) -> dict:
    start, end = hours.split("-")
    return {day: [[start, end]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def feed_of(providers: int, per: int, day: str = "2027-03-01", prefix: str = "A") -> str:
    """acme lines: `providers` providers working 08:00-18:00 UTC every day, `per` 5-minute appointments each on `day`."""
    lines = []
    for p in range(providers):
        lines.append(json.dumps({"type": "hours", "provider": f"D{p}", "tz": "UTC", "week": _week("08:00-18:00"),
                                 "updated_at": "2026-11-20T10:00:00Z"}))
        lines.extend(json.dumps({"type": "appointment", "action": "upsert", "id": f"{prefix}{p}-{i}", "provider": f"D{p}",
                                 "start": f"{day}T{8 + i % 10:02d}:{i // 10 * 5 % 60:02d}:00", "duration_min": 5, "tz": "UTC",
                                 "status": "booked", "updated_at": "2026-11-20T10:00:00Z"}) for i in range(per))
    return "\n".join(lines) + "\n"


def test_two_runs_computing_the_spans_of_a_feed_at_once_both_succeed_on_every_store(store3, tmp_path):  # noqa: ANN001
    # a landing sensor's run and `halo emr process` at the same moment: PostgreSQL serialized them
    # with an advisory lock, MariaDB not at all, and the second run's spans hit the first's (1062 duplicate entry)
    land("acme", "day.jsonl", feed_of(60, 20))
    feed = load_feeds()["acme"]
    pipeline.ingest_feeds(store3, [(feed, pipeline.pending_files(store3, feed))])
    errors, results = [], []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(pipeline.recompute_spans(store3, ["acme"], dt.date(2027, 3, 1), 3)["acme"])
        except Exception as exc:  # noqa: BLE001 - what the test is about
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    racers = [threading.Thread(target=run) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert errors == []
    assert sorted(r.provider_dates for r in results) == [0, 180]  # the second found nothing left to do
    lines = exported(store3, tmp_path)
    assert len(lines) == 60 * (10 + 2) and "acme,D0,2027-03-01,2027-03-01T17:10:00Z,2027-03-01T18:00:00Z" in lines


def test_two_runs_refreshing_the_next_slots_of_a_feed_at_once_both_succeed_on_every_store(store3):  # noqa: ANN001
    # each deleted the feed's rows and inserted its own: on PostgreSQL the second's DELETE waited for
    # the first's rows, skipped them once deleted, missed the ones the first inserted, and its insert
    # failed (UniqueViolation on next_available_slots_pkey): the run's slots step failed
    land("acme", "day.jsonl", feed_of(60, 20))
    process(store3, "2027-03-01", 3)
    now = dt.datetime(2027, 3, 1, 7, tzinfo=dt.UTC)
    errors, counts = [], []

    def run(barrier: threading.Barrier) -> None:
        barrier.wait()
        try:
            counts.append(refresh_next_slots(store3, "acme", now))
        except Exception as exc:  # noqa: BLE001 - what the test is about
            errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")

    for _ in range(6):  # the race is lost often, not always
        barrier = threading.Barrier(2)
        racers = [threading.Thread(target=run, args=(barrier,)) for _ in range(2)]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
    assert errors == []
    assert counts == [60] * 12
    with store3.read() as conn:
        rows = conn.exec_driver_sql("SELECT provider_id, start_at FROM next_available_slots WHERE provider_id = 'D0'").fetchall()
    assert [(p, str(s)[:16]) for p, s in rows] == [("D0", "2027-03-01 08:15")]  # 15-minute starts


def test_an_appointment_at_a_fraction_of_a_second_gives_the_same_spans_on_every_store(store3, tmp_path):  # noqa: ANN001
    # instants are whole seconds when spans are computed: SQLite and MariaDB dropped the fraction,
    # PostgreSQL rounded it (CAST of EXTRACT(EPOCH ...) AS BIGINT), so the free time after an
    # appointment ending at 10:30:00.5 began at 10:30:01 there, 10:30:00 elsewhere
    hours = {"type": "hours", "provider": "D1", "tz": "UTC", "week": _week("08:00-18:00"), "updated_at": "2026-11-20T10:00:00Z"}
    booked = {"type": "appointment", "action": "upsert", "id": "A1", "provider": "D1", "start": "2027-03-01T10:00:00.5",
              "duration_min": 30, "tz": "UTC", "status": "booked", "updated_at": "2026-11-20T10:00:00.25Z"}
    land("acme", "day.jsonl", f"{json.dumps(hours)}\n{json.dumps(booked)}\n")
    process(store3, "2027-03-01", 1)
    assert exported(store3, tmp_path) == ["acme,D1,2027-03-01,2027-03-01T08:00:00Z,2027-03-01T10:00:00Z",
                                          "acme,D1,2027-03-01,2027-03-01T10:30:00Z,2027-03-01T18:00:00Z"]


def test_a_file_whose_escaped_name_is_longer_than_the_path_column_is_processed_once_on_every_store(store3, tmp_path):  # noqa: ANN001
    # a Latin-1 client's name of 150 'é' bytes is recorded escaped, 'acme/\\xe9\\xe9...': 612 characters
    # the 512 of emr_processed_files.path took on SQLite alone; PostgreSQL and MariaDB refused it
    # (DataError, also when the file was to be quarantined whole) and every run failed
    folder = get_settings().landing_dir / "acme"
    folder.mkdir(parents=True, exist_ok=True)
    for p, tail in enumerate((b"a", b"b")):  # two names alike in their first 512 characters
        hours = {"type": "hours", "provider": f"D{p}", "tz": "UTC", "week": _week("08:00-18:00"), "updated_at": "2026-11-20T10:00:00Z"}
        with open(os.fsencode(folder) + b"/" + b"\xe9" * 150 + tail + b".jsonl", "wb") as fh:
            fh.write(f"{json.dumps(hours)}\n".encode())
    first = process(store3, "2027-03-01", 1)
    assert (first.files, first.events, first.quarantined) == (2, 2, 0)
    assert exported(store3, tmp_path) == ["acme,D0,2027-03-01,2027-03-01T08:00:00Z,2027-03-01T18:00:00Z",
                                          "acme,D1,2027-03-01,2027-03-01T08:00:00Z,2027-03-01T18:00:00Z"]
    assert process(store3, "2027-03-01", 1).files == 0  # recorded as processed: not again
