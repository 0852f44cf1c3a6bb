"""`halo bench warehouses`: rows/s from PostgreSQL and MariaDB into DuckDB.

Ours (the loader report tasks use) beside the naive way (`pandas.read_sql` through
SQLAlchemy, then into DuckDB) and the row-by-row SQLAlchemy path, all in the same run;
the raw limit is connectorx reading the same rows with no parameters.
"""

from __future__ import annotations

import datetime as dt
import time

import click

BENCH_DB = "halo_bench"
RAW_SQL = "SELECT * FROM wh_bench WHERE created_at >= '2025-01-01'"


def _prepare(pg_admin: str, my_admin: str, rows: int) -> tuple[str, str]:
    import sqlalchemy as sa

    pg = sa.create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with pg.connect() as conn:
        if not conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": BENCH_DB}).first():
            conn.execute(sa.text(f'CREATE DATABASE "{BENCH_DB}"'))
    pg_url = sa.make_url(pg_admin).set(database=BENCH_DB)
    with sa.create_engine(pg_url).begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS wh_bench"))
        conn.execute(sa.text(
            "CREATE TABLE wh_bench AS SELECT 'O' || g AS order_id, 'U' || (g % 50000) AS user_id, "
            "round((g % 100000) / 100.0, 2)::numeric(12,2) AS amount, 'IDR' AS currency, "
            "timestamp '2026-01-01' + g * interval '1 second' AS created_at FROM generate_series(1, :n) g"
        ), {"n": rows})
    my = sa.create_engine(my_admin)
    with my.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE IF NOT EXISTS `{BENCH_DB}`"))
    my_url = sa.make_url(my_admin).set(database=BENCH_DB)
    with sa.create_engine(my_url).begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS wh_bench"))
        conn.execute(sa.text(
            "CREATE TABLE wh_bench AS SELECT CONCAT('O', seq) AS order_id, CONCAT('U', seq % 50000) AS user_id, "
            "CAST((seq % 100000) / 100.0 AS DECIMAL(12,2)) AS amount, 'IDR' AS currency, "
            "TIMESTAMP'2026-01-01 00:00:00' + INTERVAL seq SECOND AS created_at "
            "FROM seq_1_to_50000000 WHERE seq <= :n"
        ), {"n": rows})
    return pg_url.render_as_string(hide_password=False), my_url.render_as_string(hide_password=False)


def _timed(fn) -> tuple[float, int]:  # noqa: ANN001
    started = time.perf_counter()
    n = fn()
    return time.perf_counter() - started, n


def _into_duckdb(reader) -> int:  # noqa: ANN001
    import duckdb

    con = duckdb.connect()
    con.register("incoming", reader)
    con.execute("CREATE TABLE t AS SELECT * FROM incoming")
    return con.execute("SELECT count(*) FROM t").fetchone()[0]


@click.command("warehouses")
@click.option("--rows", default=1_000_000, show_default=True, type=click.IntRange(1000, 50_000_000))
@click.option("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres", show_default=True)
@click.option("--mysql-admin-url", default="mysql+pymysql://root@127.0.0.1:3306/", show_default=True)
@click.option("--skip-naive", is_flag=True, help="Skip the slow pandas and row-by-row baselines.")
def warehouses_bench(rows: int, pg_admin_url: str, mysql_admin_url: str, skip_naive: bool) -> None:
    """Fetch rate into DuckDB: ours vs pandas.read_sql vs row-by-row vs the raw limit."""
    import connectorx as cx
    import pandas as pd
    import sqlalchemy as sa

    from halo_platform.core.warehouses import _sqlalchemy_batches, stream_query

    pg_url, my_url = _prepare(pg_admin_url, mysql_admin_url, rows)
    sql = "SELECT * FROM wh_bench WHERE created_at >= :since"
    params = {"since": dt.datetime(2025, 1, 1)}
    click.echo(f"{rows:,} rows x 5 columns per source, into an in-process DuckDB table")
    click.echo(f"{'source':<11}{'method':<34}{'seconds':>9}{'rows/s':>14}")
    for name, url in (("postgresql", pg_url), ("mariadb", my_url)):
        results = []
        secs, n = _timed(lambda u=url: _into_duckdb(stream_query(u, sql, params)[0]))
        results.append((f"ours ({'adbc' if name == 'postgresql' else 'connectorx'})", secs, n))
        if not skip_naive:
            def naive(u=url) -> int:
                import duckdb

                df = pd.read_sql(sa.text(sql), sa.create_engine(u), params=params)
                con = duckdb.connect()
                con.register("df", df)
                con.execute("CREATE TABLE t AS SELECT * FROM df")
                return con.execute("SELECT count(*) FROM t").fetchone()[0]

            results.append(("naive (pandas.read_sql)", *_timed(naive)))
            results.append(("row-by-row (SQLAlchemy batches)", *_timed(lambda u=url: _into_duckdb(_sqlalchemy_batches(u, sql, params, 100_000)))))
        raw_url = sa.make_url(url).set(drivername="postgresql" if name == "postgresql" else "mysql")
        if raw_url.port is None:
            raw_url = raw_url.set(port=3306 if name == "mariadb" else 5432)
        results.append(("raw limit (connectorx, no params)", *_timed(
            lambda r=raw_url.render_as_string(hide_password=False): cx.read_sql(r, RAW_SQL, return_type="arrow").num_rows)))
        for method, secs, n in results:
            if n != rows:
                raise click.ClickException(f"{name} {method}: fetched {n} rows, expected {rows}")
            click.echo(f"{name:<11}{method:<34}{secs:>9.2f}{n / secs:>14,.0f}")


