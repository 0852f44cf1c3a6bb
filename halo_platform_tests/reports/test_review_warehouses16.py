"""Review of the warehouses behind report tasks: real PostgreSQL and MariaDB warehouses, queried
and joined in DuckDB."""

import decimal
import uuid

import duckdb
import pytest
import sqlalchemy as sa
import yaml

from halo_platform.core.errors import HaloError
from halo_platform.core.warehouses import WarehouseError, WarehousesResource, stream_query


def _warehouses(tmp_path, urls: dict[str, str], batch_rows: int = 100_000) -> WarehousesResource:  # noqa: ANN001
    path = tmp_path / "warehouses.yaml"
    path.write_text(yaml.safe_dump({"warehouses": {name: {"url": url} for name, url in urls.items()}}))
    return WarehousesResource(warehouses_file=str(path), batch_rows=batch_rows)


@pytest.fixture(scope="module")
def settlements(mysql_url) -> str:
    """A MariaDB table of settlements (one name per module run, the database is the session's)."""
    table = f"settlements_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(mysql_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE {table} (settlement_id VARCHAR(20) PRIMARY KEY, amount DECIMAL(12,2), payer VARCHAR(40))"
                             " CHARACTER SET utf8mb4"))
        conn.execute(sa.text(f"INSERT INTO {table} VALUES ('S1', 10.50, 'Zoë'), ('S2', 7.25, 'Jürgen')"))  # noqa: S608
    engine.dispose()
    return table


@pytest.mark.parametrize("query", ["charset=utf8mb4", "ssl_disabled=true", "read_timeout=30",
                                   "charset=utf8mb4&connect_timeout=10&write_timeout=30&binary_prefix=true"])
def test_a_mariadb_warehouse_url_with_a_common_driver_option_loads(tmp_path, mysql_url, settlements, query):
    """`?charset=utf8mb4` (what most MariaDB URLs carry) failed every task querying the warehouse:
    `RuntimeError: Unknown URL parameter `charset'` (connectorx knows none of pymysql's options)."""
    warehouses = _warehouses(tmp_path, {"gateway": f"{mysql_url}?{query}"})
    con = duckdb.connect()
    result = warehouses.load(con, "s", "gateway", f"SELECT * FROM {settlements} WHERE amount > :least ORDER BY settlement_id",  # noqa: S608
                             {"least": decimal.Decimal("1")})
    assert result.rows == 2
    assert con.execute("SELECT * FROM s ORDER BY settlement_id").fetchall() == [
        ("S1", decimal.Decimal("10.50"), "Zoë"), ("S2", decimal.Decimal("7.25"), "Jürgen")]


def test_a_querys_own_error_names_the_warehouse_and_the_query(tmp_path, mysql_url, settlements):
    """A task's query naming a column twice failed the run with `the query names a column twice
    (Duplicate column name 'amount'): ...` alone: which of the task's warehouses and queries, the
    README's promise for a load's error, was left to guess. The error now names both, and still
    never the URL."""
    warehouses = _warehouses(tmp_path, {"payments": "sqlite:///" + str(tmp_path / "p.db"), "gateway": mysql_url})
    with pytest.raises(HaloError) as raised:
        warehouses.load(duckdb.connect(), "settled", "gateway", f"SELECT amount, amount FROM {settlements}")  # noqa: S608
    assert str(raised.value) == ("warehouse 'gateway', query settled: the query names a column twice"
                                 " (Duplicate column name 'amount'): give each column its own name")
    with pytest.raises(HaloError) as raised:  # the warehouses file's own errors name the warehouse already
        warehouses.load(duckdb.connect(), "settled", "nope", "SELECT 1")
    assert str(raised.value) == "unknown warehouse 'nope'; known: gateway, payments"


def test_a_value_no_column_type_holds_fails_the_load_as_a_user_error_naming_it(tmp_path, pg_url):
    """A NaN in a PostgreSQL NUMERIC(12,2) (our error, raised while DuckDB reads the stream) came out as
    DuckDB's wrapper of it: `InvalidInputException: ... reading the stream registered as '_halo_incoming'
    failed: Unknown error: column amount holds NaN ... Detail: Python exception: Traceback (most recent
    call last):` in the request's error, and, no user error, the run was retried on the same data.
    It is now our error, naming the warehouse and the query."""
    warehouses = _warehouses(tmp_path, {"payments": pg_url})
    with pytest.raises(HaloError) as raised:
        warehouses.load(duckdb.connect(), "paid", "payments",
                        "SELECT CAST(v AS numeric(12,2)) AS amount FROM (VALUES ('1.50'), ('NaN')) AS t(v)")
    assert str(raised.value) == ("warehouse 'payments', query paid: column amount holds NaN, which DECIMAL(12,2) cannot hold;"
                                 " CAST(amount AS text) in the query reads it as text")


def test_a_mariadb_connection_lost_mid_query_is_the_warehouses_failure_not_a_value_to_cast(tmp_path, mysql_url):
    """The server dropping connectorx's connection mid-stream (a restart, a KILL, a proxy's idle cut)
    said `the MariaDB/MySQL driver cannot read a value: cx writer failed: Source(MySQLError(CodecError
    { IO error: ... })); cast the column in the query`: no column to cast, and a user error, not retried.
    It is now the warehouse's failure (WarehouseError, which a run retries), as PostgreSQL's is."""
    import pymysql

    warehouses = _warehouses(tmp_path, {"gateway": mysql_url}, batch_rows=1000)
    marker = f"lost_{uuid.uuid4().hex[:8]}"
    reader, _ = stream_query(warehouses.url("gateway"), f"SELECT seq AS {marker}, REPEAT('x', 200) AS pad FROM seq_1_to_5000000", {},  # noqa: S608
                             warehouses.batch_rows)
    assert reader.read_next_batch().num_rows > 0  # streaming now
    url = sa.make_url(mysql_url)
    admin = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "", autocommit=True)
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT id FROM information_schema.processlist WHERE info LIKE %s AND id <> CONNECTION_ID()", (f"%{marker}%",))
            (thread,) = cursor.fetchone()
            cursor.execute(f"KILL {int(thread)}")
    finally:
        admin.close()
    with pytest.raises(WarehouseError) as raised:
        for _ in reader:
            pass
    assert str(raised.value).startswith("the MariaDB/MySQL server failed the query: ")
    assert "cast the column" not in str(raised.value)
