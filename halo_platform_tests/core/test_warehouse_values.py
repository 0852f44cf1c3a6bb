"""Every value a warehouse holds reaches DuckDB as that value, on the real PostgreSQL and MariaDB.

The representation (README, "Values from the warehouses"): a decimal whose declared precision
DuckDB's DECIMAL holds (at most 38 digits) is that DECIMAL(p,s); an unbounded PostgreSQL NUMERIC, a
NUMERIC / DECIMAL of more than 38 digits, and PostgreSQL's NaN / Infinity are the warehouse's own
text of the number (VARCHAR), never a float. Types the drivers cannot hand over as a plain Arrow
value (PostgreSQL uuid, inet, timetz, money, ranges, xml, ...; MariaDB TIME, a duration of up to
+-838 hours) are the warehouse's own text too. Infinite PostgreSQL timestamps and dates are
DuckDB's infinity. A value a driver cannot read at all is a HaloError naming it, never a panic
that escapes `except Exception`."""

from __future__ import annotations

import hashlib

import duckdb
import pytest
import sqlalchemy as sa

from halo_platform.core.errors import HaloError
from halo_platform.core.warehouses import WarehousesResource, stream_query

LONG_TEXT = ("ab😀שלום" * 20_000)[:100_000]  # 100,000 characters, 4-byte UTF-8 among them


def _text_of(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, list]:
    """Per column: (DuckDB type, the value as DuckDB's text) in id order."""
    columns = [name for name, *_ in con.execute(f'DESCRIBE "{table}"').fetchall()]  # noqa: S608 - test tables
    found = {}
    for name in columns:
        found[name] = con.execute(f'SELECT typeof("{name}"), CAST("{name}" AS VARCHAR) FROM "{table}" ORDER BY id').fetchall()  # noqa: S608
    return found


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory, pg_url, mysql_url) -> WarehousesResource:
    pg = sa.create_engine(pg_url)
    with pg.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS fidelity_values"))
        conn.execute(sa.text("""CREATE TABLE fidelity_values (id int PRIMARY KEY, free numeric, wide numeric(38,10),
            huge numeric(50,10), cents numeric(12,2), big bigint, ts timestamp, tstz timestamptz, day date, note text,
            flag boolean)"""))
        conn.execute(sa.text("""INSERT INTO fidelity_values VALUES
            (1, 12345678901234567.89, 12345678901234567.89, 1234567890123456789012345678901234567890.0123456789, 0.10,
             9007199254740993, '1965-03-04 05:06:07.123456', '2026-01-01 23:30:00+07', '1969-12-31',
             '😀 שלום עולם', true),
            (2, 0.1, 0.1, 0.1, NULL, -9223372036854775808, '0001-01-01 00:00:00', '1900-01-01 00:00:00+00', '0001-01-01',
             '', false),
            (3, 'NaN', NULL, NULL, 1, 9223372036854775807, 'infinity', '-infinity', 'infinity', NULL, NULL),
            (4, 0.000000000000000000000000000001, 0.0000000001, NULL, NULL, NULL, '-infinity', 'infinity', '-infinity',
             :long, NULL),
            (5, '-Infinity', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"""), {"long": LONG_TEXT})
    pg.dispose()
    maria = sa.create_engine(mysql_url)
    with maria.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS fidelity_values"))
        conn.execute(sa.text("""CREATE TABLE fidelity_values (id INT PRIMARY KEY, money DECIMAL(30,2), fine DECIMAL(65,30),
            cents DECIMAL(12,2), wide DECIMAL(38,0) UNSIGNED, big BIGINT, ubig BIGINT UNSIGNED, span TIME, ts DATETIME(6),
            day DATE, note MEDIUMTEXT, flag BOOLEAN) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"""))
        conn.execute(sa.text("""INSERT INTO fidelity_values VALUES
            (1, 12345678901234567.89, 0.000000000000000000000000000001, 0.10, 99999999999999999999999999999999999999,
             9007199254740993, 18446744073709551615, '-838:59:59', '1965-03-04 05:06:07.123456', '1969-12-31', :nul, 1),
            (2, 1234567890123456789012345678.91, 12345678901234567890123456789012345.123456789012345678901234567891,
             NULL, 0, -9223372036854775808, 0, '100:00:00', '1000-01-01 00:00:00', '1000-01-01', '', 0),
            (3, 0.1, 0.1, 0.1, NULL, NULL, NULL, '12:34:56', NULL, NULL, NULL, NULL),
            (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, :long, NULL)"""),
                     {"nul": "a\x00b 😀 שלום", "long": LONG_TEXT})
    maria.dispose()
    path = tmp_path_factory.mktemp("fidelity") / "warehouses.yaml"
    path.write_text(f'warehouses:\n  pg: {{url: "{pg_url}"}}\n  maria: {{url: "{mysql_url}"}}\n')
    return WarehousesResource(warehouses_file=str(path), batch_rows=2)  # several batches per column


def _loaded(warehouses: WarehousesResource, warehouse: str, sql: str = "SELECT * FROM fidelity_values") -> dict[str, list]:
    con = duckdb.connect()
    warehouses.load(con, "t", warehouse, sql)
    return _text_of(con, "t")


def test_postgresql_numerics_keep_every_digit_as_decimal_or_as_the_servers_text(warehouses):
    """An unbounded NUMERIC arrived as a DOUBLE: 12345678901234567.89 as 1.2345678901234568e+16 and
    1e-30 as a float; NUMERIC(50,10) did not load at all (Arrow's decimal128 has 38 digits)."""
    got = _loaded(warehouses, "pg")
    assert got["free"] == [("VARCHAR", "12345678901234567.89"), ("VARCHAR", "0.1"), ("VARCHAR", "NaN"),
                           ("VARCHAR", "0.000000000000000000000000000001"), ("VARCHAR", "-Infinity")]
    assert got["wide"] == [("DECIMAL(38,10)", "12345678901234567.8900000000"), ("DECIMAL(38,10)", "0.1000000000"),
                           ("DECIMAL(38,10)", None), ("DECIMAL(38,10)", "0.0000000001"), ("DECIMAL(38,10)", None)]
    assert got["huge"][:2] == [("VARCHAR", "1234567890123456789012345678901234567890.0123456789"), ("VARCHAR", "0.1000000000")]
    assert got["cents"][:3] == [("DECIMAL(12,2)", "0.10"), ("DECIMAL(12,2)", None), ("DECIMAL(12,2)", "1.00")]


def test_postgresql_integers_times_text_and_booleans_arrive_as_held(warehouses):
    """Infinite timestamps and dates came out as the year 290279 BC and 5877612 BC (the driver adds
    the 2000 epoch to PostgreSQL's infinity and wraps around); now they are DuckDB's infinity."""
    got = _loaded(warehouses, "pg")
    assert [v for _, v in got["big"]] == ["9007199254740993", "-9223372036854775808", "9223372036854775807", None, None]
    assert [v for _, v in got["ts"]] == ["1965-03-04 05:06:07.123456", "0001-01-01 00:00:00", "infinity", "-infinity", None]
    assert {t for t, _ in got["tstz"]} == {"TIMESTAMP WITH TIME ZONE"}
    con = duckdb.connect()
    warehouses.load(con, "t", "pg", "SELECT id, tstz FROM fidelity_values")
    assert con.execute("SELECT epoch_us(tstz) FROM t WHERE id IN (1, 2) ORDER BY id").fetchall() == [
        (1767285000000000,), (-2208988800000000,)]  # the instants: 2026-01-01 16:30 UTC, 1900-01-01 00:00 UTC
    assert con.execute("SELECT CAST(tstz AS VARCHAR) FROM t WHERE id IN (3, 4) ORDER BY id").fetchall() == [
        ("-infinity",), ("infinity",)]
    assert [v for _, v in got["day"]] == ["1969-12-31", "0001-01-01", "infinity", "-infinity", None]
    assert [v for _, v in got["note"]][:3] == ["😀 שלום עולם", "", None]
    assert [v for _, v in got["flag"]][:3] == ["true", "false", None]
    assert hashlib.sha256(got["note"][3][1].encode()).digest() == hashlib.sha256(LONG_TEXT.encode()).digest()


@pytest.mark.parametrize("expression,text", [
    ("'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
    ("'192.168.0.1/24'::inet", "192.168.0.1/24"),
    ("'12:00:00+07'::timetz", "12:00:00+07"),
    ("1.50::money", "1.50"),
    ("'[1,5)'::int4range", "[1,5)"),
    ("'{1.5,NaN}'::numeric[]", "{1.5,NaN}"),
    ("'<a>x</a>'::xml", "<a>x</a>"),
    ("B'101'::bit(3)", "101"),
])
def test_postgresql_types_the_driver_sends_in_binary_arrive_as_the_servers_text(warehouses, expression, text):
    """The driver hands these over as PostgreSQL's binary wire format in an opaque column: a uuid
    failed the load (Invalid UTF8 payload), an inet or a range came out as bytes of garbage text,
    and money as its number of cents (150 for 1.50)."""
    got = _loaded(warehouses, "pg", f"SELECT 1 AS id, {expression} AS v, 'kept' AS other")
    assert (got["v"], got["other"]) == ([("VARCHAR", text)], [("VARCHAR", "kept")])


def test_a_postgresql_nan_in_a_bounded_numeric_is_a_clear_error_not_a_driver_trace(warehouses):
    """NUMERIC(12,2) may hold NaN, which no DECIMAL holds: the load says which column and what to do."""
    reader, _ = stream_query(warehouses.url("pg"), "SELECT CAST('NaN' AS numeric(12,2)) AS amount", {})
    with pytest.raises(HaloError, match=r"column amount .*NaN.* DECIMAL\(12,2\).*CAST\(amount AS text\)"):
        reader.read_all()


def test_mariadb_decimals_keep_every_digit_as_decimal_or_as_the_servers_text(warehouses):
    """The driver read every MariaDB DECIMAL as decimal128(38,10): DECIMAL(65,30)'s 1e-30 came out
    as 0 (silently), 12345678901234567.89 in DECIMAL(30,2) failed the load (`decimal scale is not
    equal to expected scale`) and a value of more than 28 digits panicked the driver."""
    got = _loaded(warehouses, "maria")
    assert got["money"] == [("DECIMAL(30,2)", "12345678901234567.89"), ("DECIMAL(30,2)", "1234567890123456789012345678.91"),
                            ("DECIMAL(30,2)", "0.10"), ("DECIMAL(30,2)", None)]
    assert got["fine"][:3] == [
        ("VARCHAR", "0.000000000000000000000000000001"),
        ("VARCHAR", "12345678901234567890123456789012345.123456789012345678901234567891"),
        ("VARCHAR", "0.100000000000000000000000000000"),
    ]
    assert got["cents"][:3] == [("DECIMAL(12,2)", "0.10"), ("DECIMAL(12,2)", None), ("DECIMAL(12,2)", "0.10")]
    assert got["wide"][:2] == [("DECIMAL(38,0)", "99999999999999999999999999999999999999"), ("DECIMAL(38,0)", "0")]


def test_mariadb_integers_times_and_text_arrive_as_held(warehouses):
    """TIME is a duration up to +-838:59:59: the driver panicked on a negative one (a
    BaseException: it went past every `except Exception`). It is the server's text now."""
    got = _loaded(warehouses, "maria")
    assert [v for _, v in got["big"]] == ["9007199254740993", "-9223372036854775808", None, None]
    assert [v for _, v in got["ubig"]] == ["18446744073709551615", "0", None, None]
    assert got["span"][:3] == [("VARCHAR", "-838:59:59"), ("VARCHAR", "100:00:00"), ("VARCHAR", "12:34:56")]
    assert [v for _, v in got["ts"]][:2] == ["1965-03-04 05:06:07.123456", "1000-01-01 00:00:00"]
    assert [v for _, v in got["day"]][:2] == ["1969-12-31", "1000-01-01"]
    assert [v for _, v in got["note"]][:3] == ["a\x00b 😀 שלום", "", None]
    assert hashlib.sha256(got["note"][3][1].encode()).digest() == hashlib.sha256(LONG_TEXT.encode()).digest()
    assert [v for _, v in got["flag"]][:3] == ["1", "0", None]  # BOOLEAN is TINYINT(1) in MariaDB


def test_a_mariadb_value_the_driver_cannot_read_is_a_halo_error_naming_it(mysql_url):
    """A zero date ('0000-00-00', stored under a lax sql_mode) panicked the driver: a
    pyo3 PanicException, a BaseException that no `except Exception` of the run caught."""
    engine = sa.create_engine(mysql_url)
    with engine.begin() as conn:
        conn.execute(sa.text("SET SESSION sql_mode = ''"))
        conn.execute(sa.text("DROP TABLE IF EXISTS fidelity_zero_dates"))
        conn.execute(sa.text("CREATE TABLE fidelity_zero_dates (day DATE)"))
        conn.execute(sa.text("INSERT INTO fidelity_zero_dates VALUES ('0000-00-00')"))
    engine.dispose()
    with pytest.raises(HaloError, match=r"the MariaDB/MySQL driver cannot read a value.*0000-00-00"):
        reader, _ = stream_query(mysql_url, "SELECT day FROM fidelity_zero_dates", {})
        reader.read_all()


def _sqlite(tmp_path, rows: list[tuple]) -> str:
    import sqlite3

    path = tmp_path / "ledger.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount NUMERIC, stamped TIMESTAMP)")
        conn.executemany("INSERT INTO ledger VALUES (?, ?, ?)", rows)
    return f"sqlite:///{path}"


def test_sqlite_numbers_no_decimal_holds_are_their_text_and_offsets_are_kept(tmp_path):
    """A NUMERIC holding NaN (text), an infinite or a 42-digit REAL failed the load with a TypeError
    or 'Rescaling Decimal value would cause data loss'; a TIMESTAMP written with a UTC offset failed
    sqlite3's own converter (`invalid literal for int()`)."""
    url = _sqlite(tmp_path, [(1, "5.25", "2026-01-01 10:00:00+07:00"), (2, "NaN", "2026-01-01T03:00:00+00:00"),
                             (3, float("inf"), None), (4, 1.2345678901234567e41, None)])
    con = duckdb.connect()
    con.register("ledger", stream_query(url, "SELECT id, amount, stamped FROM ledger ORDER BY id", {}, 2)[0])
    assert con.execute("SELECT typeof(amount), CAST(amount AS VARCHAR), epoch(stamped) FROM ledger ORDER BY id").fetchall() == [
        ("VARCHAR", "5.25", 1767236400.0), ("VARCHAR", "NaN", 1767236400.0),
        ("VARCHAR", "Infinity", None), ("VARCHAR", "1.23456789012346E+41", None)]  # SQLite's text of a REAL: 15 digits


def test_sqlite_timestamps_with_and_without_an_offset_in_one_column_are_refused_not_shifted(tmp_path):
    """Now that a timestamp with an offset loads: made one Arrow type with those that have none,
    those would be read as UTC (10:00 local as 10:00 UTC beside 10:00+07:00, i.e. 03:00 UTC)
    without a word. A column mixing both is an error instead, in one batch or across batches."""
    url = _sqlite(tmp_path, [(1, "1", "2026-01-01 10:00:00+07:00"), (2, "1", "2026-01-01 10:00:00"), (3, "1", "2026-01-01 11:00:00")])
    for batch_rows in (10, 1):  # in one batch; in batches of their own
        with pytest.raises(HaloError, match="column stamped holds timestamps with and without a UTC offset"):
            stream_query(url, "SELECT stamped FROM ledger ORDER BY id", {}, batch_rows)[0].read_all()
