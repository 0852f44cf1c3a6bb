"""Review of the warehouses report tasks query: a real MariaDB warehouse, queried into DuckDB."""

import urllib.parse
import uuid
from collections.abc import Iterator

import duckdb
import pytest
import sqlalchemy as sa
import yaml

from halo_platform.core.errors import HaloError
from halo_platform.core.warehouses import WarehouseError, WarehousesResource
from halo_platform_tests.fixtures.databases import MYSQL_ADMIN_URL


def _warehouses(tmp_path, urls: dict[str, str]) -> WarehousesResource:  # noqa: ANN001
    path = tmp_path / "warehouses.yaml"
    path.write_text(yaml.safe_dump({"warehouses": {name: {"url": url} for name, url in urls.items()}}))
    return WarehousesResource(warehouses_file=str(path))


@pytest.fixture
def reader_with_non_ascii_password(migrated_mysql_url) -> Iterator[str]:  # noqa: ANN001
    """The URL of a MariaDB user whose password is `pässwörd` (percent-encoded, as a URL holds it),
    allowed to read the test's database; dropped afterwards."""
    user, password = f"wh17_{uuid.uuid4().hex[:8]}", "pässwörd"
    database = sa.make_url(migrated_mysql_url).database
    admin = sa.create_engine(MYSQL_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY :password"), {"password": password})
        conn.execute(sa.text(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'"))
    try:
        yield sa.make_url(migrated_mysql_url).set(username=user, password=password).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP USER '{user}'@'%'"))
        admin.dispose()


def test_a_mariadb_warehouse_whose_password_is_not_ascii_loads(tmp_path, reader_with_non_ascii_password):
    """A MariaDB warehouse user with the password `pässwörd` (`p%C3%A4ssw%C3%B6rd` in the URL, what the
    mysql client and connectorx send as UTF-8) failed every task querying it: `Access denied for user
    ... (using password: YES)`, from pymysql's look at the query's columns, which sends a text password
    as latin-1. The query now loads."""
    url = reader_with_non_ascii_password
    assert urllib.parse.quote("pässwörd") in url
    con = duckdb.connect()
    result = _warehouses(tmp_path, {"gateway": url}).load(con, "t", "gateway", "SELECT :word AS word", {"word": "Zoë"})
    assert (result.rows, result.driver) == (1, "connectorx-mysql")
    assert con.execute("SELECT word FROM t").fetchall() == [("Zoë",)]


def test_a_failed_query_on_a_duckdb_warehouse_leaves_its_file_free(tmp_path):
    """A query a DuckDB-file warehouse refused (a column it does not have) left the read-only
    connection it was sent on open for as long as its error lived (a caller's, a run's): the process
    could not open the file again otherwise (`Can't open a connection to same database file with a
    different configuration`), e.g. to refresh it. The connection is now closed with the error."""
    path = tmp_path / "marketing.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE campaigns AS SELECT 'C1' AS campaign_id")
    with pytest.raises(duckdb.BinderException) as raised:
        _warehouses(tmp_path, {"marketing": f"duckdb:///{path}"}).load(duckdb.connect(), "t", "marketing", "SELECT nope FROM campaigns")
    assert "nope" in str(raised.value)
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO campaigns VALUES ('C2')")
        assert con.execute("SELECT count(*) FROM campaigns").fetchall() == [(2,)]


def test_a_failed_query_on_a_sqlalchemy_warehouse_closes_its_connection(tmp_path):
    """A query the generic (SQLAlchemy) path sent that failed before its first batch (a column the
    table does not have, a value its column type refuses) left its connection open, to the garbage
    collector; on a server, a session held open. Every connection it opens is now closed."""
    path = tmp_path / "legacy.db"
    with sa.create_engine(f"sqlite:///{path}", poolclass=sa.pool.NullPool).begin() as conn:
        conn.execute(sa.text("CREATE TABLE ledger (amount NUMERIC)"))
        conn.execute(sa.text("INSERT INTO ledger VALUES ('1.50'), ('N/A')"))
    warehouses = _warehouses(tmp_path, {"legacy": f"sqlite:///{path}"})
    opened, closed = [], []

    def on_connect(dbapi_conn, record) -> None:  # noqa: ANN001, ARG001
        opened.append(dbapi_conn)

    def on_close(dbapi_conn, record) -> None:  # noqa: ANN001, ARG001
        closed.append(dbapi_conn)

    sa.event.listen(sa.pool.Pool, "connect", on_connect)
    sa.event.listen(sa.pool.Pool, "close", on_close)
    try:
        with pytest.raises(WarehouseError, match="no such column: nope"):
            warehouses.load(duckdb.connect(), "t", "legacy", "SELECT nope FROM ledger")
        with pytest.raises(HaloError, match="'N/A' in a column declared NUMERIC"):
            warehouses.load(duckdb.connect(), "t", "legacy", "SELECT amount FROM ledger")
    finally:
        sa.event.remove(sa.pool.Pool, "connect", on_connect)
        sa.event.remove(sa.pool.Pool, "close", on_close)
    assert len(opened) == 2
    assert closed == opened


def test_a_query_the_mariadb_server_fails_while_streaming_says_the_servers_error_alone(tmp_path, migrated_mysql_url):
    """A query MariaDB failed only once its rows were being read (a subquery that returns two rows
    for one of them; a LIMIT 0 look at its columns passes) failed the task with connectorx's debug
    text around the server's error: `... server failed the query: cx writer failed:
    Source(MySQLError(MySqlError { ERROR 1242 (21000): Subquery returns more than 1 row }))`. The
    error is now the server's own line, naming the warehouse and the query."""
    warehouses = _warehouses(tmp_path, {"gateway": migrated_mysql_url})
    with pytest.raises(WarehouseError) as raised:
        warehouses.load(duckdb.connect(), "settled", "gateway",
                        "SELECT IF(seq = 2, (SELECT 1 UNION SELECT 2), 1) AS x FROM seq_1_to_3")
    assert str(raised.value) == ("warehouse 'gateway', query settled: the MariaDB/MySQL server failed the query:"
                                 " ERROR 1242 (21000): Subquery returns more than 1 row")
