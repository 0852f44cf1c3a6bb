"""`halo bench reports`: payment reconciliation over N orders, ours vs a naive pandas baseline.

Data: orders + payments generated server-side in PostgreSQL (generate_series), settlements in
MariaDB (the Sequence engine), in a `halo_bench` database of each. Each side then runs in a
subprocess of its own so that its peak RSS is its own:
- ours: `payment_reconciliation` through the same Dagster job as every request (queries
  streamed as Arrow batches into a DuckDB database file capped at `--memory-limit`, which it
  spills past; the staged SQL transform; CSV written by DuckDB; delivered to a folder sink).
  Its figures include the code location's own footprint (Dagster, the definitions, the
  operational store, the drivers), reported apart as measured before any report work;
- baseline: `pandas.read_sql` of each table, `merge`, the same rules vectorised, `to_csv`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import click
import sqlalchemy as sa

PERIOD = ("2024-03-04", "2024-03-11")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/halo_bench"
DEFAULT_MYSQL = "mysql+pymysql://root@127.0.0.1:3306/halo_bench"

# Every order is in the period; ~1% of orders miss a payment, ~1% of payments a settlement,
# ~2% of orders are not PAID, and a few amounts and currencies disagree along the chain. The gateway
# stamps settlements in UTC five minutes after the payment's local (Jakarta) time, so the first
# hours' settlements precede the period start; ~0.5% of settlements have no settled_at yet.
PG_SQL = """
DROP TABLE IF EXISTS payments;
DROP TABLE IF EXISTS orders;
CREATE UNLOGGED TABLE orders(order_id TEXT PRIMARY KEY, user_id TEXT, amount NUMERIC(12,2), currency TEXT,
                             status TEXT, created_at TIMESTAMP);
CREATE UNLOGGED TABLE payments(payment_id TEXT PRIMARY KEY, order_id TEXT, amount NUMERIC(12,2), currency TEXT,
                               paid_at TIMESTAMP, gateway TEXT);
INSERT INTO orders
SELECT 'O' || lpad(i::text, 9, '0'), 'U' || mod(i, 50000), round(10 + mod(i::bigint * 7919, 100000) / 100.0, 2), 'IDR',
       CASE WHEN mod(i, 50) = 0 THEN 'CANCELLED' WHEN mod(i, 53) = 0 THEN 'PENDING' ELSE 'PAID' END,
       timestamp '2024-03-04' + mod(i, 604800) * interval '1 second'
FROM generate_series(1, {n}) AS i;
INSERT INTO payments
SELECT 'P' || lpad(i::text, 9, '0'), 'O' || lpad(i::text, 9, '0'),
       round(10 + mod(i::bigint * 7919, 100000) / 100.0, 2) + CASE WHEN mod(i, 101) = 0 THEN 1 ELSE 0 END,
       CASE WHEN mod(i, 1009) = 0 THEN 'USD' ELSE 'IDR' END,
       timestamp '2024-03-04 00:01' + mod(i, 604800) * interval '1 second', 'xendit'
FROM generate_series(1, {n}) AS i WHERE mod(i, 97) <> 0;
CREATE INDEX ON orders(created_at);
CREATE INDEX ON payments(order_id);
"""

MYSQL_SQL = """
DROP TABLE IF EXISTS settlements;
CREATE TABLE settlements(settlement_id VARCHAR(16) PRIMARY KEY, payment_id VARCHAR(16), amount DECIMAL(12,2),
                         fee DECIMAL(12,2), currency VARCHAR(3), settled_at DATETIME) ENGINE=InnoDB;
INSERT INTO settlements
SELECT CONCAT('S', LPAD(seq, 9, '0')), CONCAT('P', LPAD(seq, 9, '0')),
       ROUND(10 + MOD(seq * 7919, 100000) / 100.0, 2) + IF(mod(seq, 101) = 0, 1, 0) - IF(mod(seq, 103) = 0, 0.5, 0), 1.00,
       CASE WHEN mod(seq, 1013) = 0 THEN 'SGD' WHEN mod(seq, 1009) = 0 THEN 'USD' ELSE 'IDR' END,
       CASE WHEN mod(seq, 211) <> 0 THEN TIMESTAMP '2024-03-03 17:06:00' + INTERVAL mod(seq, 604800) SECOND END
FROM seq_1_to_{n} WHERE mod(seq, 97) <> 0 AND mod(seq, 89) <> 0;
"""


def ensure_database(url: str) -> None:
    """Create the URL's database if the server lacks it (connecting to the server's default)."""
    u = sa.make_url(url)
    admin = u.set(database="postgres" if u.get_backend_name() == "postgresql" else "")
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        if u.get_backend_name() == "postgresql":
            if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": u.database}).first():
                conn.execute(sa.text(f'CREATE DATABASE "{u.database}"'))
        else:
            conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{u.database}`"))
    engine.dispose()


def _run_script(url: str, script: str) -> None:
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        for statement in [s.strip() for s in script.split(";") if s.strip()]:
            conn.exec_driver_sql(statement)
    engine.dispose()


def generate(pg_url: str, mysql_url: str, orders: int) -> float:
    """Create and fill the bench tables; returns the seconds it took."""
    started = time.perf_counter()
    ensure_database(pg_url)
    ensure_database(mysql_url)
    _run_script(pg_url, PG_SQL.format(n=int(orders)))
    # set hint bits and the visibility map now, or whichever side reads first pays for it
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) orders, payments")
    engine.dispose()
    _run_script(mysql_url, MYSQL_SQL.format(n=int(orders)))
    return time.perf_counter() - started


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time of this process (all threads): a figure other load on the machine barely moves."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_ours(pg_url: str, mysql_url: str, out: Path) -> dict:
    """The task through its Dagster job, in an isolated platform home under `out`."""
    import yaml

    home = out / "home"
    (out / "dagster_home").mkdir(parents=True, exist_ok=True)
    (out / "warehouses.yaml").write_text(yaml.safe_dump({"warehouses": {"payments": {"url": pg_url},
                                                                       "gateway": {"url": mysql_url}}}))
    (out / "sinks.yaml").write_text(yaml.safe_dump({"sinks": {"outbox": {"kind": "folder", "path": str(out / "ours")}}}))
    os.environ.update({"HALO_HOME": str(home), "HALO_DB_URL": f"sqlite:///{home / 'halo.db'}",
                       "DAGSTER_HOME": str(out / "dagster_home"), "HALO_WAREHOUSES_FILE": str(out / "warehouses.yaml"),
                       "HALO_SINKS_FILE": str(out / "sinks.yaml")})
    from halo_platform.reports.definitions import defs
    from halo_platform.reports.requests import create_request, dagster_instance

    # setup, not report work: the operational store's migrations, Dagster's storage, the job
    store = defs.resources["store"]
    store.engine  # noqa: B018 - made and migrated on first use
    dagster_instance().get_runs(limit=1)
    defs.resolve_job_def("payment_reconciliation_job")
    import adbc_driver_postgresql  # noqa: F401 - the drivers, loaded by the first query otherwise
    import connectorx  # noqa: F401
    footprint = _peak_rss_mb()
    started, cpu = time.perf_counter(), _cpu_seconds()
    request = create_request(store, "payment_reconciliation", {"period_start": PERIOD[0], "period_end": PERIOD[1]},
                             requested_by="bench", wait=True)
    seconds = time.perf_counter() - started
    if request["status"] != "SUCCEEDED":
        raise SystemExit(f"ours failed: {request['error']}")
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu, "rows": request["row_count"], "peak_rss_mb": _peak_rss_mb(),
            "counts": request["stats"]["counts"], "steps": request["stats"]["seconds"], "footprint_mb": footprint}


def run_pandas(pg_url: str, mysql_url: str, out: Path) -> dict:
    """The naive baseline: read every table whole, merge, flag, write."""
    import pandas as pd

    started, cpu = time.perf_counter(), _cpu_seconds()
    pg = sa.create_engine(pg_url)
    my = sa.create_engine(mysql_url)
    orders = pd.read_sql("SELECT * FROM orders", pg)
    payments = pd.read_sql("SELECT * FROM payments", pg)
    settlements = pd.read_sql("SELECT * FROM settlements", my)
    start, end = pd.Timestamp(PERIOD[0]), pd.Timestamp(PERIOD[1])
    orders = orders[(orders.created_at >= start) & (orders.created_at < end)]
    for frame in (orders, payments, settlements):
        frame["amount"] = pd.to_numeric(frame["amount"]).astype(float)
    j = orders.merge(payments, on="order_id", how="left", suffixes=("", "_p")).merge(
        settlements, on="payment_id", how="left", suffixes=("", "_s"))
    tol = 0.0
    has_p, has_s = j.payment_id.notna(), j.settlement_id.notna()
    masks = {
        "AMOUNT_MISMATCH": has_p & (((j.amount_p - j.amount).abs() > tol + 1e-9) | (has_s & ((j.amount_s - j.amount_p).abs() > tol + 1e-9))),
        "CURRENCY_MISMATCH": (has_p & (j.currency_p != j.currency)) | (has_s & (j.currency_s != j.currency_p)),
        "MISSING_PAYMENT": (j.status == "PAID") & ~has_p,
        "MISSING_SETTLEMENT": has_p & ~has_s,
        "UNEXPECTED_PAYMENT": (j.status != "PAID") & has_p,
    }
    issues = pd.concat([j[m].assign(issue=name) for name, m in masks.items()]).sort_values(["order_id", "issue"])
    issues = issues.rename(columns={"amount": "order_amount", "amount_p": "paid_amount", "amount_s": "settled_amount"})
    path = out / "pandas" / f"payment_reconciliation_{PERIOD[0]}_{PERIOD[1]}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    issues[["order_id", "payment_id", "settlement_id", "issue", "order_amount", "paid_amount", "settled_amount",
            "currency"]].to_csv(path, index=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds() - cpu, "rows": len(issues), "peak_rss_mb": _peak_rss_mb(),
            "counts": {k: int(v.sum()) for k, v in sorted(masks.items())}}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(side: str, pg_url: str, mysql_url: str, out: Path, env: dict[str, str] | None = None) -> dict:
    """Run one side in a fresh interpreter; its own wall time and peak RSS, and the load averages."""
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "halo_platform.lab.bench.reports", side, pg_url, mysql_url, str(out)],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        tail = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()][-1:]
        raise RuntimeError(f"{side} failed: {tail[0] if tail else proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    result["load"] = _load()
    return result


if __name__ == "__main__":
    _side, _pg, _my, _out = sys.argv[1:5]
    _runner = run_ours if _side == "ours" else run_pandas
    print(json.dumps(_runner(_pg, _my, Path(_out))))


@click.command("reports")
@click.option("--orders", default=1_000_000, show_default=True, type=click.IntRange(1, 100_000_000))
@click.option("--pg-url", envvar="HALO_BENCH_PG_URL", default=None, help="PostgreSQL for orders/payments.")
@click.option("--mysql-url", envvar="HALO_BENCH_MYSQL_URL", default=None, help="MariaDB for settlements.")
@click.option("--skip-generate", is_flag=True, help="Reuse the tables of a previous run.")
@click.option("--memory-limit", default="64MB", show_default=True,
              help="Our DuckDB's memory limit (HALO_DUCKDB_MEMORY_LIMIT): past it, DuckDB spills to disk.")
def bench_reports(orders: int, pg_url: str | None, mysql_url: str | None, skip_generate: bool, memory_limit: str) -> None:
    """Payment reconciliation over N orders (PostgreSQL + MariaDB): ours vs pandas."""
    import tempfile
    from pathlib import Path

    pg_url = pg_url or DEFAULT_PG
    mysql_url = mysql_url or DEFAULT_MYSQL
    if not skip_generate:
        seconds = generate(pg_url, mysql_url, orders)
        click.echo(f"generated {orders:,} orders (+ payments in PostgreSQL, settlements in MariaDB) in {seconds:.1f}s")
    with tempfile.TemporaryDirectory(prefix="halo_bench_") as tmp:
        ours = measure("ours", pg_url, mysql_url, Path(tmp), {"HALO_DUCKDB_MEMORY_LIMIT": memory_limit})
        base = measure("pandas", pg_url, mysql_url, Path(tmp))
    for name, r in ((f"ours (Dagster job: ADBC/connectorx -> DuckDB file, memory_limit {memory_limit} -> CSV)", ours),
                    ("pandas read_sql+merge+to_csv", base)):
        click.echo(f"{name}: {r['seconds']:.2f}s work ({r['process_seconds']:.2f}s process, {r['cpu_seconds']:.2f}s CPU), "
                   f"peak RSS {r['peak_rss_mb']:.0f} MB, {r['rows']:,} issue rows (load average {r['load']})")
    click.echo(f"ours: the code location's own footprint (Dagster, definitions, store, drivers) {ours['footprint_mb']:.0f} MB"
               " of that peak, before any report work")
    click.echo("ours by step (s): " + ", ".join(f"{k} {v:.2f}" for k, v in ours["steps"].items())
               + f"; Dagster run overhead {ours['seconds'] - sum(v for k, v in ours['steps'].items() if not k.startswith('load_') or k == 'load_all'):.2f}")
    click.echo(f"speed-up: {base['seconds'] / ours['seconds']:.1f}x; memory: {ours['peak_rss_mb'] / base['peak_rss_mb']:.2f}"
               f" of the baseline's peak RSS; counts agree: {ours['counts'] == base['counts']}")
