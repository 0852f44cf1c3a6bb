"""Input hardening the fuzz21 review found: what the `halo` command took from its environment and
options, and from configuration files, without a check."""

from __future__ import annotations

import pytest
import uvicorn
from click.testing import CliRunner

from halo_platform.access.keys import create_key
from halo_platform.cli import cli
from halo_platform.core.errors import HaloError
from halo_platform.core.settings import read_yaml
from halo_platform.core.store import StoreResource
from halo_platform.lab.ports import free_port

ESCAPING_LOGIN = "eve\nfake line \x1b[31mred"


def _recorded(db_url: str) -> list[str]:
    """Who every key and suppression of the store was recorded as created by."""
    store = StoreResource(db_url=db_url)
    with store.read() as conn:
        recorded = conn.exec_driver_sql("SELECT created_by FROM api_keys UNION ALL SELECT created_by FROM suppressions").scalars().all()
    store.dispose()
    return recorded


@pytest.mark.parametrize("variable", ["LOGNAME", "USER"])
@pytest.mark.parametrize("args", [["keys", "create", "escaping", "--scope", "admin"],
                                  ["delivery", "suppress", "sms", "+33612345678", "--reason", "asked"]])
def test_a_login_name_holding_a_line_break_or_an_escape_is_refused_naming_its_variable(halo_env, monkeypatch, variable, args):
    """A command records the login running it (`cli:<login>`), which Python takes from LOGNAME or
    USER as they are: one holding a line break or a terminal escape was stored as is, and `halo
    keys list` printed it as a line of its own or sent the escape to the terminal (commands checking
    the name refused it as a "created_by: ..." the user never gave). It is refused, naming the
    variable to fix, nothing made."""
    monkeypatch.delenv("LOGNAME", raising=False)
    monkeypatch.setenv(variable, ESCAPING_LOGIN)
    result = CliRunner().invoke(cli, args)
    assert (result.exit_code, result.stderr.splitlines()) == (2, [
        f"error: {variable} (the login recorded as who made the change): control character U+000A (1 to 251 characters on one line)"
    ]), result.output
    assert _recorded(halo_env["HALO_DB_URL"]) == []


def test_keys_list_shows_a_creator_recorded_with_control_characters_escaped_on_its_line(halo_env):
    """A key recorded as created by a name with a line break and an escape (before the login was
    checked, or by a caller of `create_key`) is listed on one line, the characters written out."""
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    create_key(store, "escaping", ["admin"], created_by=f"cli:{ESCAPING_LOGIN}")
    store.dispose()
    result = CliRunner().invoke(cli, ["keys", "list"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == 1 and result.output.rstrip().endswith(r"by cli:eve\nfake line \x1b[31mred"), result.output


@pytest.mark.parametrize(("allowed", "says"), [
    ("10.0.0.0/33", "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network"),
    ("10.0.0.1/24", "10.0.0.1/24 has host bits set"),
    ("*,x", "'*' (every address) is given alone"),
    ("proxy.internal", "'proxy.internal' does not appear to be an IPv4 or IPv6 address"),
    ("10.0.0.1,", "'' does not appear to be an IPv4 or IPv6 address"),
])
def test_halo_serve_refuses_a_trusted_proxy_that_is_not_an_address_or_a_network(halo_env, monkeypatch, allowed, says):
    """uvicorn takes a --forwarded-allow-ips entry that is not `*`, an IP address or an IP network
    as a host name, which no peer address equals: the service started and quietly trusted no proxy
    (every client seen as the proxy). It is refused, one line, exit 2, nothing started."""
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(kwargs))
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port()), "--proxy-headers", "--forwarded-allow-ips", allowed])
    assert (result.exit_code, result.stderr.splitlines(), started) == (2, [
        f"error: Invalid value for '--forwarded-allow-ips': {says}; give '*' or comma-separated IP addresses and networks"], []), result.output


@pytest.mark.parametrize(("allowed", "trusted"), [(" * ", "*"), ("10.0.0.1, 10.1.0.0/16,::1", "10.0.0.1,10.1.0.0/16,::1")])
def test_halo_serve_gives_uvicorn_the_trusted_proxies_as_it_reads_them(halo_env, monkeypatch, allowed, trusted):
    """Addresses and networks start the service with them trusted; `*` with blanks around it (which
    uvicorn took as a host name, not every address) is every address."""
    started = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(kwargs))
    result = CliRunner().invoke(cli, ["serve", "--port", str(free_port()), "--proxy-headers", "--forwarded-allow-ips", allowed])
    assert result.exit_code == 0, result.output
    assert [kwargs["forwarded_allow_ips"] for kwargs in started] == [trusted]


def alias_bomb(levels: int) -> str:
    """A YAML list holding `x` 3**`levels` times through aliases, each level the previous one three
    times, written in a few bytes a level."""
    return "[x, x, x]" if levels == 1 else f"[&a{levels - 1} {alias_bomb(levels - 1)}, *a{levels - 1}, *a{levels - 1}]"


def merge_bomb(levels: int) -> str:
    """A YAML mapping merging the previous level's three times (`<<: [*m, *m, *m]`), `levels` deep."""
    lines = ["m0: &m0 {k0: 1, k1: 2}", *(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}, *m{i - 1}]}}" for i in range(1, levels))]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("variable", "args"), [
    ("HALO_PROVIDERS_FILE", ["delivery", "providers"]),
    ("HALO_FEEDS_FILE", ["emr", "spans", "--feed", "acme", "--provider", "P1"]),
    ("HALO_SINKS_FILE", ["tasks", "run", "campaign_alerts", "--sink", "outbox"]),
    ("HALO_WAREHOUSES_FILE", ["demo"]),
])
@pytest.mark.parametrize("text", [f"bomb: {alias_bomb(12)}\n", merge_bomb(12)], ids=["aliases", "merges"])
def test_a_configuration_file_of_nested_aliases_is_one_error_line_not_an_exponential_walk(halo_env, tmp_path, monkeypatch, variable, args, text):
    """PyYAML gives an alias the value of its anchor, so a file of aliases of aliases, a few hundred
    bytes, holds exponentially many values: every reader that walks it (`expand_env` copies it,
    value by value) ran for ever, out of memory; merges of merges (`<<: [*m, *m, *m]`) grew while
    loading. More than 100,000 values is refused as other malformed YAML is, naming the file, exit 2."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(text)
    monkeypatch.setenv(variable, str(bomb))
    result = CliRunner().invoke(cli, args)
    assert (result.exit_code, result.stderr.splitlines()) == (2, [f"error: {bomb}: invalid YAML: too many nodes (aliases?)"]), result.output


@pytest.mark.parametrize("text", [f"bomb: {alias_bomb(40)}\n", "bomb: &a [*a]\n", "bomb: &a {a: *a}\n"],
                         ids=["3**40 values", "a list holding itself", "a mapping holding itself"])
def test_the_values_of_a_configuration_file_are_counted_no_further_than_the_limit(tmp_path, text):
    """The count itself stops at the limit: 3**40 values, or a value holding itself (for ever, or
    a RecursionError from `expand_env`), is refused at once."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(text)
    with pytest.raises(HaloError, match=r"invalid YAML: too many nodes \(aliases\?\)$"):
        read_yaml(bomb)


def test_a_configuration_file_of_many_values_under_the_limit_is_read_whole(tmp_path):
    """A large file, aliases counted once per use, is read as PyYAML reads it."""
    path = tmp_path / "large.yaml"
    path.write_text(f"rows: &r [{', '.join(map(str, range(9_000)))}]\ncopies: [{', '.join(['*r'] * 10)}]\n")
    assert read_yaml(path) == {"rows": list(range(9_000)), "copies": [list(range(9_000))] * 10}


def test_emr_export_refuses_a_dash_for_standard_output_rather_than_writing_a_file_named_dash(halo_env, tmp_path, monkeypatch):
    """`--out -`, the common way of asking for standard output, wrote the CSV to a file named `-`
    in the working folder, saying `wrote N spans to -`; no `halo` option reads `-` so (the spec's
    `--out FILE.csv`), so it is refused, naming /dev/stdout, exit 2, no file written."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["emr", "export", "--out", "-"])
    assert (result.exit_code, result.stderr.splitlines()) == (
        2, ["error: Invalid value for '--out': '-' is not standard output here: give a file, or /dev/stdout"]), result.output
    assert not (tmp_path / "-").exists()
