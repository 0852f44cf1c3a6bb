"""Input hardening the fuzz21 review found: what the `halo` command took from its environment and
options, and from configuration files, without a check."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from halo_platform.access.keys import create_key
from halo_platform.cli import cli
from halo_platform.core.store import StoreResource

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
