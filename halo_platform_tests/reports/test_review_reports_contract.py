"""Review of the report task contract (reports.md), driven as a user would: the HTTP API and
the `halo` CLI against the real warehouses and stores."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from halo_platform.cli import cli
from halo_platform.http import create_app
from halo_platform.reports.audit import get_request
from halo_platform.reports.demo import order, payment, settlement, write_payments, write_settlements
from halo_platform.reports.requests import dagster_instance
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.reports.conftest import read_csv

START = dt.datetime(2024, 3, 4, 9, 30)

def _request_count(store) -> int:  # noqa: ANN001
    with store.read() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM task_requests")).scalar_one()


@pytest.mark.parametrize("threshold", ["90.00000000000000001", "89.999999999999999999", "12.34567890123"])
def test_a_budget_threshold_written_with_more_decimals_than_are_compared_is_refused_not_rounded(
        warehouses, halo_env, store, threshold):
    """The threshold is compared exactly as written, and one with more than 10 decimals is refused
    (reports.md's typed payloads): as a decimal string, it was parsed as a float first, so
    "90.00000000000000001" ran as 90 and alerted a campaign at exactly 90% of its budget."""
    client = authorized_client(create_app())
    answer = client.post("/v1/tasks/campaign_alerts/requests",
                         json={"payload": {"as_of": "2024-05-10", "budget_threshold_pct": threshold}})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"] == [{"field": "budget_threshold_pct", "reason": "at most 10 decimal places"}]

    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--wait", "--payload",
                                      f'{{"as_of": "2024-05-10", "budget_threshold_pct": "{threshold}"}}'])
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "error: campaign_alerts: invalid payload: budget_threshold_pct: at most 10 decimal places"]
    assert _request_count(store) == 0
    assert dagster_instance().get_runs() == []


@pytest.mark.parametrize(("payments_on", "gateway_on"), [
    ("mariadb", "postgresql"),  # the payments query failed on MariaDB: CAST(... AS TEXT) is no MariaDB syntax
    ("postgresql", "postgresql"),  # a settlement of 100.00 was read as '1': PostgreSQL's CHAR is CHAR(1)
    ("sqlite", "mariadb"),
])
def test_payment_reconciliation_reads_the_same_amounts_whichever_engine_holds_each_warehouse(
        payments_on, gateway_on, halo_env, store, migrated_pg_url, migrated_mysql_url, tmp_path, monkeypatch):
    """reports.md names the warehouses in a YAML file of SQLAlchemy URLs, and SQLite, PostgreSQL and
    MariaDB behave alike: the built-in tasks' queries read the same amounts from any of them, so a clean order is no issue and a cent off is an AMOUNT_MISMATCH."""
    urls = {"postgresql": migrated_pg_url, "mariadb": migrated_mysql_url, "sqlite": f"sqlite:///{tmp_path / 'wh.db'}"}
    files = tmp_path / "warehouses.yaml"
    files.write_text(yaml.safe_dump({"warehouses": {"payments": {"url": urls[payments_on]},
                                                    "gateway": {"url": urls[gateway_on]}}}))
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(files))
    write_payments(urls[payments_on], [order("O1", "100.00", "PAID", START), order("O2", "250.50", "PAID", START)],
                   [payment("P1", "O1", "100.00", START), payment("P2", "O2", "250.50", START)])
    write_settlements(urls[gateway_on], [settlement("S1", "P1", "100.00", START + dt.timedelta(hours=2)),
                                          settlement("S2", "P2", "250.49", START + dt.timedelta(hours=2))])

    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--wait", "--payload",
                                      '{"period_start": "2024-03-04", "period_end": "2024-03-11"}'])
    assert result.exit_code == 0, result.output
    request = get_request(store, result.stdout.splitlines()[0])
    assert (request["status"], request["row_count"], request["stats"]["counts"]) == ("SUCCEEDED", 1, {"AMOUNT_MISMATCH": 1})
    out = Path(halo_env["HALO_HOME"]) / "outbox" / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    assert read_csv(out) == [{"order_id": "O2", "payment_id": "P2", "settlement_id": "S2", "issue": "AMOUNT_MISMATCH",
                              "order_amount": "250.50", "paid_amount": "250.50", "settled_amount": "250.49",
                              "currency": "IDR"}]


@pytest.mark.parametrize("payments_on", ["mariadb", "postgresql", "sqlite"])
def test_a_payment_pays_only_the_order_whose_id_it_names_exactly_on_every_engine(
        payments_on, halo_env, store, migrated_pg_url, migrated_mysql_url, mysql_url, tmp_path, monkeypatch):
    """Order ids compare byte for byte, as the platform's own ids do on every store: on MariaDB the
    orders-payments join ran in the warehouse under its case- and pad-insensitive collation, so a
    payment of order 'o1' or 'O2 ' paid order O1 or O2 there and hid their MISSING_PAYMENT, where
    PostgreSQL and SQLite report both."""
    urls = {"postgresql": migrated_pg_url, "mariadb": migrated_mysql_url, "sqlite": f"sqlite:///{tmp_path / 'wh.db'}"}
    files = tmp_path / "warehouses.yaml"
    files.write_text(yaml.safe_dump({"warehouses": {"payments": {"url": urls[payments_on]}, "gateway": {"url": mysql_url}}}))
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(files))
    write_payments(urls[payments_on],
                   [order("O1", "100.00", "PAID", START), order("O2", "20.00", "PAID", START), order("O3", "5.00", "PAID", START)],
                   [payment("P1", "o1", "100.00", START), payment("P2", "O2 ", "20.00", START),
                    payment("P3", "O3", "5.00", START)])
    write_settlements(mysql_url, [settlement(f"S{n}", f"P{n}", amount, START + dt.timedelta(hours=2))
                                  for n, amount in ((1, "100.00"), (2, "20.00"), (3, "5.00"))])

    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--wait", "--payload",
                                      '{"period_start": "2024-03-04", "period_end": "2024-03-11"}'])
    assert result.exit_code == 0, result.output
    out = Path(halo_env["HALO_HOME"]) / "outbox" / "payment_reconciliation_2024-03-04_2024-03-11.csv"
    assert [(r["order_id"], r["payment_id"], r["issue"]) for r in read_csv(out)] == [
        ("O1", "", "MISSING_PAYMENT"), ("O2", "", "MISSING_PAYMENT")]


MARKETING_DDL = (
    "CREATE TABLE campaigns(campaign_id VARCHAR(64) PRIMARY KEY, name TEXT, owner_email TEXT, start_date DATE,"
    " end_date DATE, budget NUMERIC(12,2), currency TEXT, status TEXT)",
    "CREATE TABLE campaign_spend(campaign_id VARCHAR(64), spend_date DATE, amount NUMERIC(12,2))",
)


@pytest.mark.parametrize("marketing_on", ["mariadb", "postgresql", "sqlite"])
def test_campaign_alerts_judge_the_campaigns_and_spend_of_exact_ids_and_statuses_on_every_engine(
        marketing_on, halo_env, store, migrated_pg_url, migrated_mysql_url, tmp_path, monkeypatch):
    """Only ACTIVE campaigns are judged, each on its own spend: on MariaDB the status filter and the
    spend's GROUP BY ran under its case-insensitive collation, so a campaign whose status is 'active'
    alerted OVER_BUDGET and the spend of campaign 'c1' counted for C1 (NEAR_BUDGET), where
    PostgreSQL, SQLite and DuckDB judge C3 alone."""
    urls = {"postgresql": migrated_pg_url, "mariadb": migrated_mysql_url, "sqlite": f"sqlite:///{tmp_path / 'mk.db'}"}
    engine = sa.create_engine(urls[marketing_on], poolclass=sa.pool.NullPool)
    end, day = dt.date(2024, 8, 1), dt.date(2024, 5, 1)
    with engine.begin() as conn:
        for ddl in MARKETING_DDL:
            conn.execute(sa.text(ddl))
        conn.execute(sa.text("INSERT INTO campaigns VALUES (:id, 'Campaign', 'o@example.com', :day, :end, :budget, 'IDR', :status)"),
                     [{"id": "C1", "budget": "1000.00", "status": "ACTIVE", "day": day, "end": end},
                      {"id": "C2", "budget": "100.00", "status": "active", "day": day, "end": end},
                      {"id": "C3", "budget": "100.00", "status": "ACTIVE", "day": day, "end": end}])
        conn.execute(sa.text("INSERT INTO campaign_spend VALUES (:id, :day, :amount)"),
                     [{"id": "C1", "day": day, "amount": "500.00"}, {"id": "c1", "day": day, "amount": "400.00"},
                      {"id": "C2", "day": day, "amount": "100.00"}, {"id": "C3", "day": day, "amount": "95.00"}])
    engine.dispose()
    files = tmp_path / "warehouses.yaml"
    files.write_text(yaml.safe_dump({"warehouses": {"marketing": {"url": urls[marketing_on]}}}))
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(files))

    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--wait", "--payload", '{"as_of": "2024-05-10"}'])
    assert result.exit_code == 0, result.output
    out = Path(halo_env["HALO_HOME"]) / "outbox" / "campaign_alerts_2024-05-10.csv"
    assert [(r["campaign_id"], r["alert"], r["spend"]) for r in read_csv(out)] == [("C3", "NEAR_BUDGET", "95.00")]
