"""Every config file (providers, feeds, sinks, warehouses) is read the way YAML 1.2's core schema
reads plain scalars: only true/false are booleans, `21:00` and `2024-01-01` stay the text they
were written as, `045` is 45. PyYAML reads YAML 1.1, where `no` is false, `21:00` the sexagesimal
1260, `045` the octal 37 and `2024-01-01` a date: values were silently changed, or a name written
as `no` became the key False and every lookup of a name a TypeError."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import sqlalchemy as sa

from halo_platform.availability.feeds import load_feeds
from halo_platform.availability.freshness import max_lag_minutes
from halo_platform.availability.slots import resolve_rules
from halo_platform.core.errors import HaloError
from halo_platform.core.settings import read_yaml
from halo_platform.core.warehouses import WarehousesResource
from halo_platform.delivery.config import load_config
from halo_platform.delivery.quiet_hours import QuietHours
from halo_platform.sinks import Delivery, SinksResource


@pytest.mark.parametrize(("written", "read"), [
    ("true", True), ("False", False), ("TRUE", True),
    ("no", "no"), ("NO", "NO"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("y", "y"), ("n", "n"),
    ("1:30", "1:30"), ("21:00", "21:00"), ("21:00:30", "21:00:30"), ("1:30.5", "1:30.5"),
    ("045", 45), ("0777", 777), ("-012", -12), ("+5", 5), ("0", 0), ("0o17", 15), ("0x1F", 31), ("10_485_760", 10485760),
    ("1.5", 1.5), ("-.5", -0.5), ("1e3", 1000.0), ("2.5E-1", 0.25), (".inf", float("inf")), ("-.Inf", float("-inf")),
    ("2024-01-01", "2024-01-01"), ("2024-01-01 10:00", "2024-01-01 10:00"), ("2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z"),
    ("~", None), ("null", None), ("", None),
    ("=", "="), ("0b101", "0b101"), ("._", "._"), ("0x", "0x"),
])
def test_a_config_file_reads_plain_scalars_as_yaml_1_2_core_schema_does(tmp_path, written, read) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"value: {written}\n")
    value = read_yaml(path)["value"]
    assert (value, type(value)) == (read, type(read))


def test_merge_keys_and_quoted_or_tagged_values_keep_their_meaning(tmp_path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("base: &base {port: 21, tls: true}\nftp: {<<: *base, host: h}\nquoted: '045'\nwhen: !!timestamp 2024-01-01\n")
    assert read_yaml(path) == {"base": {"port": 21, "tls": True}, "ftp": {"port": 21, "tls": True, "host": "h"},
                               "quoted": "045", "when": dt.date(2024, 1, 1)}


def test_a_sink_named_no_is_known_and_delivered_to(halo_env, tmp_path) -> None:
    """One sink per country office (`se`, `no`): `no` was the key False, and naming it (a request,
    a schedule, `--sink no`) was a TypeError sorting the known names, never a delivery."""
    path = tmp_path / "sinks.yaml"
    path.write_text(f"sinks:\n  se: {{kind: folder, path: {tmp_path / 'se'}}}\n  no: {{kind: folder, path: {tmp_path / 'no'}}}\n")
    report = tmp_path / "report.csv"
    report.write_text("a\n1\n")
    sinks = SinksResource(sinks_file=str(path), attempts=1)
    assert sinks.names() == ["no", "se"]
    sinks.validate_names(["no"])
    outcome = sinks.deliver("no", Delivery("report", files=[report]))
    assert outcome.status == "DELIVERED"
    assert (tmp_path / "no" / "report.csv").read_text() == "a\n1\n"


def test_a_warehouse_named_no_is_queried(tmp_path) -> None:
    """A warehouse per country (`se`, `no`): `no` was the key False, and a task's query on it a
    TypeError listing the known warehouses."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'no.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (order_id TEXT)"))
        conn.execute(sa.text("INSERT INTO orders VALUES ('O1'), ('O2')"))
    engine.dispose()
    path = tmp_path / "warehouses.yaml"
    path.write_text(f"warehouses:\n  se: {{url: 'sqlite:///{tmp_path / 'se.db'}'}}\n  no: {{url: 'sqlite:///{tmp_path / 'no.db'}'}}\n")
    con = duckdb.connect()
    result = WarehousesResource(warehouses_file=str(path)).load(con, "orders", "no", "SELECT order_id FROM orders")
    assert result.rows == 2


def test_quiet_hours_written_as_hh_mm_unquoted_are_those_times(tmp_path) -> None:
    """`start: 21:00` was the sexagesimal 1260 and the file refused ("needs start and end as HH:MM
    local times", which it was); `08:00` alone was text, since 1.1 numbers do not start with 0.
    Norway's `NO` stays a country code, as the providers file already read it."""
    path = tmp_path / "providers.yaml"
    path.write_text("providers:\n  sms_no: {kind: sandbox, channel: sms, countries: [NO]}\n"
                    "routing:\n  - {channel: sms, country: NO, weights: {sms_no: 1}}\n"
                    "quiet_hours:\n  sms: {start: 21:00, end: 08:00, countries: {NO: {start: 22:30, end: 06:30}}}\n")
    config = load_config(path)
    assert [rule.key for rule in config.rules] == ["sms/NO/*"]
    assert config.providers["sms_no"].countries == ("NO",)
    assert config.quiet_hours_for("sms", "SE") == QuietHours(dt.time(21), dt.time(8))
    assert config.quiet_hours_for("sms", "NO") == QuietHours(dt.time(22, 30), dt.time(6, 30))


def test_zero_padded_slot_rules_are_the_minutes_written(halo_env, tmp_path) -> None:
    """`duration_minutes: 045` was the octal 37: 37-minute appointments every 13 minutes."""
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  acme:\n    format: acme\n    slot_rules:\n"
                    "      default: {duration_minutes: 045, alignment_minutes: 015}\n"
                    "      providers: {0123: {default: {min_notice_minutes: 0120}}}\n")
    rules = resolve_rules("acme", load_feeds(path)["acme"].options["slot_rules"], "0123", None)
    assert (rules.duration_minutes, rules.alignment_minutes, rules.min_notice_minutes) == (45, 15, 120)


def test_a_feed_lag_written_as_hours_and_minutes_is_refused_not_read_as_sexagesimal(halo_env, tmp_path) -> None:
    """`max_lag_minutes: 1:30` was silently 90 (1 h 30 or 1 min 30 s, whichever was meant); it is
    the text it was written as, refused by the feed's check with one clear line."""
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  acme: {format: acme, max_lag_minutes: 1:30}\n")
    with pytest.raises(HaloError, match=r"^feed acme: max_lag_minutes must be a positive number, got '1:30'$"):
        max_lag_minutes(load_feeds(path)["acme"])


def test_a_number_too_large_for_a_float_stays_the_text_it_was_written_as(tmp_path) -> None:
    """YAML 1.2 reads `1e999` as a float, infinity: a setting's error then said `got inf` where the
    file says 1e999 (YAML 1.1 read it as text). It stays its text; `.inf` is still infinity."""
    path = tmp_path / "config.yaml"
    path.write_text("big: 1e999\nsmall: -1E+999\ninf: .inf\nfine: 1e3\n")
    assert read_yaml(path) == {"big": "1e999", "small": "-1E+999", "inf": float("inf"), "fine": 1000.0}
