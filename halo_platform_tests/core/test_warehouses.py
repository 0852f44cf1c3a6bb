"""Warehouses: parameterized queries on real PostgreSQL, MariaDB, SQLite and DuckDB,
streamed as Arrow batches into DuckDB with exact decimals."""

import datetime as dt
import decimal

import duckdb
import pytest
import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.core.warehouses import WarehousesResource, mysql_bound_sql, postgres_bound_sql, stream_query

ROWS = [(f"O{i}", decimal.Decimal(f"{i}.{i % 100:02d}"), dt.datetime(2026, 1, 1) + dt.timedelta(hours=i)) for i in range(1, 2501)]
QUERY = "SELECT order_id, amount, created_at FROM orders WHERE created_at >= :since AND created_at < :until AND order_id <> :skip"
PARAMS = {"since": dt.datetime(2026, 1, 2), "until": dt.datetime(2026, 2, 1), "skip": "O30"}
EXPECTED = [r for r in ROWS if PARAMS["since"] <= r[2] < PARAMS["until"] and r[0] != "O30"]


def _seed_sqlalchemy(url: str) -> None:
    engine = sa.create_engine(url)
    sqlite = url.startswith("sqlite")
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS orders"))
        conn.execute(sa.text("CREATE TABLE orders (order_id VARCHAR(20) PRIMARY KEY, amount NUMERIC(12,2), created_at TIMESTAMP NULL)"))
        conn.execute(sa.text("INSERT INTO orders VALUES (:o, :a, :c)"), [{"o": o, "a": float(a) if sqlite else a, "c": c} for o, a, c in ROWS])
    engine.dispose()


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory, pg_url, mysql_url):
    tmp_path = tmp_path_factory.mktemp("warehouses")
    _seed_sqlalchemy(pg_url)
    _seed_sqlalchemy(mysql_url)
    _seed_sqlalchemy(f"sqlite:///{tmp_path / 'wh.db'}")
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    con.execute("CREATE TABLE orders (order_id VARCHAR PRIMARY KEY, amount DECIMAL(12,2), created_at TIMESTAMP)")
    con.executemany("INSERT INTO orders VALUES (?, ?, ?)", ROWS)
    con.close()
    path = tmp_path / "warehouses.yaml"
    path.write_text(
        "warehouses:\n"
        f"  pg: {{url: \"{pg_url}\"}}\n"
        f"  maria: {{url: \"{mysql_url}\"}}\n"
        f"  lite: {{url: \"sqlite:///{tmp_path / 'wh.db'}\"}}\n"
        f"  duck: {{url: \"duckdb:///{tmp_path / 'wh.duckdb'}\"}}\n"
    )
    return WarehousesResource(warehouses_file=str(path), batch_rows=500)


@pytest.mark.parametrize("name,driver", [("pg", "adbc-postgresql"), ("maria", "connectorx-mysql"),
                                         ("lite", "sqlalchemy"), ("duck", "duckdb")])
def test_each_warehouse_kind_loads_the_bound_query_into_duckdb_exactly(warehouses, name, driver):
    con = duckdb.connect()
    result = warehouses.load(con, "orders_in", name, QUERY, PARAMS)
    assert (result.rows, result.driver) == (len(EXPECTED), driver)
    got = con.execute("SELECT order_id, amount, created_at FROM orders_in ORDER BY created_at").fetchall()
    amount_type = con.execute("SELECT typeof(amount) FROM orders_in LIMIT 1").fetchone()[0]
    assert amount_type.startswith("DECIMAL")
    assert got == EXPECTED


@pytest.mark.parametrize("name", ["pg", "maria", "lite", "duck"])
def test_a_parameter_carrying_sql_is_data_not_code(warehouses, name):
    con = duckdb.connect()
    result = warehouses.load(con, "t", name, "SELECT order_id FROM orders WHERE order_id = :id", {"id": "O1' OR '1'='1"})
    assert result.rows == 0


def test_results_stream_in_batches_of_the_configured_size(warehouses):
    reader, _ = stream_query(warehouses.url("maria"), "SELECT order_id FROM orders", {}, warehouses.batch_rows)
    sizes = [b.num_rows for b in reader]
    assert sum(sizes) == len(ROWS) and max(sizes) <= 500 and len(sizes) >= 5


def test_unknown_warehouse_and_bad_table_names_are_user_errors(warehouses):
    with pytest.raises(HaloError, match="unknown warehouse 'nope'"):
        warehouses.load(duckdb.connect(), "t", "nope", "SELECT 1", {})
    with pytest.raises(HaloError, match="invalid table name"):
        warehouses.load(duckdb.connect(), "t; DROP TABLE x", "pg", "SELECT 1", {})


def test_mysql_binding_writes_text_as_hex_and_keeps_literal_percent_signs():
    sql = mysql_bound_sql("SELECT * FROM t WHERE a = :a AND b LIKE 'x%' AND d >= :d", {"a": "it's", "d": dt.date(2026, 1, 1)})
    assert sql == "SELECT * FROM t WHERE a = _utf8mb4 X'69742773' AND b LIKE 'x%' AND d >= '2026-01-01'"


@pytest.mark.parametrize("sql_mode", ["", "NO_BACKSLASH_ESCAPES"])
def test_mysql_bound_text_means_itself_whatever_the_servers_sql_mode(mysql_url, sql_mode):
    """With NO_BACKSLASH_ESCAPES a backslash-escaped string ends at `\\'`: `' OR 1=1 -- ` matched every row."""
    import pymysql

    url = sa.make_url(mysql_url)
    conn = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "", database=url.database,
                           charset="utf8mb4", autocommit=True)
    names = ["alice", "it's", "back\\slash", "\\' OR 1=1 -- ", "' OR 1=1 -- ", "ü 😀", ""]
    try:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TEMPORARY TABLE people (name VARCHAR(50)) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            cursor.executemany("INSERT INTO people VALUES (%s)", names)
            cursor.execute("SET SESSION sql_mode = %s", (sql_mode,))
            for name in [*names, "nobody"]:
                cursor.execute(mysql_bound_sql("SELECT name FROM people WHERE name = :name", {"name": name}))
                assert [r[0] for r in cursor.fetchall()] == ([name] if name in names else []), name
            cursor.execute(mysql_bound_sql("SELECT count(*) FROM people WHERE name IN :names", {"names": ("alice", "' OR 1=1 -- ")}))
            assert cursor.fetchone()[0] == 2
    finally:
        conn.close()


def test_postgres_binding_uses_typed_psycopg_literals():
    sql = postgres_bound_sql("SELECT * FROM t WHERE a = :a AND b LIKE 'x%' AND d >= :d AND s = :s",
                             {"a": "it's", "d": dt.date(2026, 1, 1), "s": "back\\slash"})
    assert sql == "SELECT * FROM t WHERE a = 'it''s' AND b LIKE 'x%' AND d >= '2026-01-01'::date AND s =  E'back\\\\slash'"


def test_one_duckdb_connection_takes_several_loads_in_a_row(warehouses):
    con = duckdb.connect()
    assert [warehouses.load(con, f"t{i}", "duck", "SELECT * FROM orders", {}).rows for i in range(3)] == [len(ROWS)] * 3
