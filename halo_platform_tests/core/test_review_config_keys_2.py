"""Review of the configuration files operators write by hand (continued): the EMR feeds file and
the warehouses file. A misspelled or unknown key is refused when the file is read, in one line
naming the entry and the key, never ignored: `quarantine_treshold: 0.5` kept the threshold at 0.1,
`max_lag_minute: 30` left the feed without a freshness check, and a misspelled `landing:` landed
the feed's files under $HALO_HOME instead of its S3 prefix."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.availability.feeds import load_feeds
from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.settings import PROJECT_ROOT

FEED_SETTINGS = "format, quarantine_threshold, max_lag_minutes, slot_rules, landing, endpoint_url"


@pytest.mark.parametrize(("entry", "key"), [
    ("{format: hl7, max_lag_minute: 30}", "max_lag_minute"),
    ("{format: hl7, quarantine_treshold: 0.5}", "quarantine_treshold"),
    ("{format: hl7, landng: 's3://emr-landing/clinic-a/', endpoint_url: 'http://127.0.0.1:9'}", "landng"),
    ("{format: hl7, slot_rule: {default: {duration_minutes: 60}}}", "slot_rule"),
])
def test_a_misspelled_feed_setting_is_refused_naming_the_feed_and_the_key(halo_env, tmp_path, monkeypatch, entry, key):  # noqa: ANN001
    """`halo emr ingest` over a feeds file whose hl7 entry holds `key`: each was ignored and its
    default taken (no freshness check, a threshold of 0.1, the file landed locally, default slot
    rules), and the file landed. Now it is one line, and nothing lands."""
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  hl7: {entry}\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(path))
    message = tmp_path / "a.hl7"
    message.write_text("MSH|^~\\&|\r")
    result = CliRunner().invoke(cli, ["emr", "ingest", "--feed", "hl7", str(message)])
    assert (result.exit_code, result.output.splitlines()) == (
        2, [f"error: {path}: feed hl7: unknown key {key!r} (expected {FEED_SETTINGS})"])
    assert not (tmp_path / "halo" / "landing").exists()


def test_a_misspelled_feeds_section_is_refused(halo_env, tmp_path) -> None:  # noqa: ANN001
    """`feed:` for `feeds:` was a file of no feeds."""
    path = tmp_path / "feeds.yaml"
    path.write_text("feed:\n  hl7: {format: hl7}\n")
    with pytest.raises(HaloError) as refused:
        load_feeds(path)
    assert str(refused.value) == f"{path}: unknown key 'feed' (expected feeds)"


@pytest.mark.parametrize(("text", "kind"), [("feeds: [hl7]\n", "list"), ("feeds: hl7\n", "str")])
def test_a_feeds_section_that_is_no_mapping_is_one_line(halo_env, tmp_path, text, kind) -> None:  # noqa: ANN001
    """`feeds: [hl7]` was a bare AttributeError ('list' object has no attribute 'items')."""
    path = tmp_path / "feeds.yaml"
    path.write_text(text)
    with pytest.raises(HaloError) as refused:
        load_feeds(path)
    assert str(refused.value) == f"{path}: feeds: expected a mapping of feed names to their settings, not a {kind}"


@pytest.mark.parametrize(("rules", "error"), [
    ("{defualt: {duration_minutes: 60}}", "slot_rules: unknown key 'defualt' (expected default, types, providers)"),
    ("{types: {new_patient: {duraton_minutes: 60}}}",
     "slot_rules.types.new_patient: unknown slot rule 'duraton_minutes'; known: duration_minutes, buffer_before, buffer_after, "
     "min_notice_minutes, alignment_minutes, max_days_ahead"),
    ("{providers: {DR1: {typs: {new_patient: {duration_minutes: 45}}}}}",
     "slot_rules.providers.DR1: unknown key 'typs' (expected default, types)"),
    ("{providers: {DR1: {default: {buffer_after: 5000}}}}",
     "slot_rules.providers.DR1.default: buffer_after must be a whole number in 0..1440, got 5000"),
])
def test_a_misspelled_slot_rules_section_or_rule_is_refused_when_the_file_is_read(halo_env, tmp_path, rules, error) -> None:  # noqa: ANN001
    """`defualt:` was ignored (the built-in 30-minute rules answered), and a misspelled rule of a type
    or a provider was reported only by a request for that type or provider."""
    path = tmp_path / "feeds.yaml"
    path.write_text(f"feeds:\n  hl7: {{format: hl7, slot_rules: {rules}}}\n")
    with pytest.raises(HaloError) as refused:
        load_feeds(path)
    assert str(refused.value) == f"{path}: feed hl7: {error}"


def test_the_shipped_feeds_file_and_every_documented_setting_still_load(halo_env, tmp_path) -> None:  # noqa: ANN001
    assert sorted(load_feeds(PROJECT_ROOT / "config" / "emr_feeds.yaml")) == ["acme", "fhir", "hl7"]
    path = tmp_path / "feeds.yaml"
    path.write_text("feeds:\n  hl7: {format: hl7, quarantine_threshold: 0.5, max_lag_minutes: 30,"
                    " landing: 's3://emr-landing/in/', endpoint_url: 'http://127.0.0.1:9',"
                    " slot_rules: {default: {duration_minutes: 30}}}\n  acme:\n")
    feeds = load_feeds(path)
    assert (feeds["hl7"].quarantine_threshold, feeds["hl7"].options["max_lag_minutes"], feeds["acme"].format) == (0.5, 30, "acme")


@pytest.mark.parametrize(("entry", "error"), [
    ('{URL: "sqlite:///x.db"}', "unknown key 'URL' (expected url)"),
    ('{url: "sqlite:///x.db", pool_size: 5}', "unknown key 'pool_size' (expected url)"),
    ("{}", "needs a url, the database URL as text"),
    ('"sqlite:///x.db"', "expected a mapping of settings, {url: ...}, not str"),
])
def test_a_warehouse_entry_without_its_url_fails_the_run_in_one_line_naming_the_warehouse(halo_env, tmp_path, monkeypatch,  # noqa: ANN001
                                                                                           entry, error):
    """`{URL: ...}` failed the run of every task with a bare `KeyError: 'url'` (a string entry
    with `TypeError: string indices must be integers`), whichever warehouse the task queried."""
    monkeypatch.chdir(tmp_path)  # where sqlite:///x.db is, were it read
    path = tmp_path / "warehouses.yaml"
    path.write_text(f"warehouses:\n  payments: {entry}\n")
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(path))
    result = CliRunner().invoke(cli, ["tasks", "run", "payment_reconciliation", "--wait"])
    assert result.output.splitlines()[1:] == ["status: FAILED", f"error: {path}: warehouse 'payments': {error}"]


def test_a_misspelled_warehouses_section_is_refused_and_the_shipped_file_still_loads(halo_env, tmp_path) -> None:  # noqa: ANN001
    from halo_platform.core.warehouses import WarehousesResource

    path = tmp_path / "warehouses.yaml"
    path.write_text('warehouse:\n  wh: {url: "sqlite:///x.db"}\n')
    with pytest.raises(HaloError) as refused:
        WarehousesResource(warehouses_file=str(path)).url("wh")
    assert str(refused.value) == f"{path}: unknown key 'warehouse' (expected warehouses)"
    shipped = WarehousesResource(warehouses_file=str(PROJECT_ROOT / "config" / "warehouses.yaml"))
    assert shipped.url("payments") == f"sqlite:///{halo_env['HALO_HOME']}/warehouses/payments.db"


@pytest.mark.parametrize(("text", "error"), [
    ('warehouses: {payments: {url: "sqlite:///WH/p.db"}}\n', "halo demo seeds the warehouses payments, gateway, marketing; this file has no gateway, marketing"),
    ('warehouses: {payments: {url: "sqlite:///WH/p.db"}, gateway: {url: "sqlite:///WH/g.db"}, marketing: {url: "sqlite:///WH/m.db"}}\n',
     "halo demo seeds marketing as a DuckDB file (duckdb:///...)"),
])
def test_halo_demo_with_a_warehouses_file_of_other_warehouses_is_one_line(halo_env, tmp_path, monkeypatch, text, error) -> None:  # noqa: ANN001
    """A warehouses file without the demo's gateway and marketing was a bare KeyError 'gateway' half-way
    through `halo demo` (the payments warehouse already written); a marketing warehouse that is no
    DuckDB file an IndexError."""
    path = tmp_path / "warehouses.yaml"
    path.write_text(text.replace("WH", str(tmp_path)))
    monkeypatch.setenv("HALO_WAREHOUSES_FILE", str(path))
    result = CliRunner().invoke(cli, ["demo"])
    assert (result.exit_code, result.output.splitlines()[-1]) == (2, f"error: {path}: {error}"), result.output
    assert not (tmp_path / "p.db").exists()
