"""Names callers choose in the reports domain are compared byte for byte on every store: on MariaDB
(default collation: no letter case, accents or trailing spaces) the requester `OPS` was answered
with the request `ops` made under the same idempotency key, saving schedule `Daily` changed
`daily`, and a condition alert keyed `ACME` was sent again inside its re-arm window when
`Acme` had been."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from halo_platform.core.engine import make_engine
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource, _alembic_config, migrate
from halo_platform.reports import audit
from halo_platform.reports.schedules import list_schedules, schedule_edits, set_schedule
from halo_platform.reports.tables import TaskRequest, TaskSchedule, TaskScheduleEdit
from halo_platform_tests.fixtures.databases import collations
from halo_platform_tests.reports.test_rearm import running


@pytest.fixture
def mariadb(halo_env, fresh_mysql_url) -> Iterator[StoreResource]:  # noqa: ANN001, ARG001
    store = StoreResource(db_url=fresh_mysql_url)
    yield store
    store.dispose()


def test_requesters_whose_names_differ_only_in_case_keep_their_own_idempotency_keys_on_mariadb(mariadb):
    for request_id, requester in (("r-lower", "ops"), ("r-upper", "OPS")):
        assert audit.record_status(mariadb, request_id, "QUEUED", task="payment_reconciliation", requested_by=requester,
                                   idempotency_key="k-1") == "QUEUED"
    assert [audit.find_by_key(mariadb, who, "k-1")["request_id"] for who in ("ops", "OPS")] == ["r-lower", "r-upper"]
    assert [r["request_id"] for r in audit.list_requests(mariadb, requested_by="OPS")] == ["r-upper"]


def test_schedules_whose_ids_differ_only_in_case_are_two_schedules_on_mariadb(mariadb):
    for schedule_id, cron in (("daily", "0 6 * * *"), ("Daily", "0 7 * * *")):
        assert set_schedule(mariadb, schedule_id, task="payment_reconciliation", cron=cron, sinks=["outbox"])["cron"] == cron
    assert sorted((s["schedule_id"], s["cron"]) for s in list_schedules(mariadb)) == [("Daily", "0 7 * * *"), ("daily", "0 6 * * *")]
    assert [e["schedule_id"] for e in schedule_edits(mariadb, "Daily")] == ["Daily"]


def test_alerts_whose_keys_differ_only_in_case_are_each_held_back_in_the_window_on_mariadb(mariadb):
    # `SELECT DISTINCT alert_key` folded `Acme` and `ACME` into one spelling: the other was sent again
    keys = ["Acme\x1fEXPIRING", "ACME\x1fEXPIRING", "acme \x1fEXPIRING"]
    assert running(mariadb, "first").claim("campaign_alerts", keys, 24) == set()
    assert running(mariadb, "second").claim("campaign_alerts", keys, 24) == set(keys)


COLUMNS = {("task_requests", "requested_by"), ("task_schedules", "schedule_id"), ("task_schedule_edits", "schedule_id"),
           ("task_alert_marks", "alert_key")}



def test_the_migration_keeps_stored_names_and_compares_them_exactly_from_then_on_on_mariadb(fresh_mysql_url):
    engine = make_engine(fresh_mysql_url)
    command.upgrade(_alembic_config(engine), "reports_0007")
    requests_t, schedules_t, edits_t = TaskRequest.__table__, TaskSchedule.__table__, TaskScheduleEdit.__table__
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(requests_t.insert().values(request_id="r-1", task="t", payload={}, trigger="manual", requested_by="ops",
                                                idempotency_key="k-1", status="QUEUED", outputs=[], stats={}))
        conn.execute(schedules_t.insert().values(schedule_id="daily", task="t", cron="0 6 * * *", timezone="UTC", payload={}, sinks=[]))
        conn.execute(edits_t.insert().values(schedule_id="daily", after={}, at=now))
    migrate(engine)
    with engine.begin() as conn:
        assert {column for column, collation in collations(conn, COLUMNS).items() if collation == "utf8mb4_nopad_bin"} == COLUMNS
        for requester in ("ops", "OPS", "ops "):
            found = conn.execute(sa.select(requests_t.c.request_id).where(requests_t.c.requested_by == requester)).all()
            assert found == ([("r-1",)] if requester == "ops" else [])
        assert conn.execute(sa.select(schedules_t.c.schedule_id).where(schedules_t.c.schedule_id == "Daily")).all() == []
        assert conn.execute(sa.select(edits_t.c.schedule_id)).all() == [("daily",)]
    command.downgrade(_alembic_config(engine), "reports_0007")
    with engine.begin() as conn:
        assert "utf8mb4_nopad_bin" not in collations(conn, COLUMNS).values()
        assert conn.execute(sa.select(schedules_t.c.schedule_id)).all() == [("daily",)]
    engine.dispose()
