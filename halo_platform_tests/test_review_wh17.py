"""Review of the warehouses report tasks query: a real MariaDB warehouse, queried into DuckDB."""

import urllib.parse
import uuid
from collections.abc import Iterator

import duckdb
import pytest
import sqlalchemy as sa
import yaml

from halo_platform.core.warehouses import WarehousesResource
from halo_platform_tests.fixtures.databases import MYSQL_ADMIN_URL


def _warehouses(tmp_path, urls: dict[str, str]) -> WarehousesResource:  # noqa: ANN001
    path = tmp_path / "warehouses.yaml"
    path.write_text(yaml.safe_dump({"warehouses": {name: {"url": url} for name, url in urls.items()}}))
    return WarehousesResource(warehouses_file=str(path))


@pytest.fixture
def reader_with_non_ascii_password(fresh_mysql_url) -> Iterator[str]:  # noqa: ANN001
    """The URL of a MariaDB user whose password is `pässwörd` (percent-encoded, as a URL holds it),
    allowed to read the test's database; dropped afterwards."""
    user, password = f"wh17_{uuid.uuid4().hex[:8]}", "pässwörd"
    database = sa.make_url(fresh_mysql_url).database
    admin = sa.create_engine(MYSQL_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE USER '{user}'@'%' IDENTIFIED BY :password"), {"password": password})
        conn.execute(sa.text(f"GRANT SELECT ON `{database}`.* TO '{user}'@'%'"))
    try:
        yield sa.make_url(fresh_mysql_url).set(username=user, password=password).render_as_string(hide_password=False)
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
