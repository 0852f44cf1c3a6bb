"""Review of the settings, the `halo` command and API keys: a setting the platform cannot use is
one `error:` line naming it and a non-zero exit where the settings are read, never a service
that starts and refuses every request or a run that fails later; an expired key frees its name."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from halo_platform.access.keys import check_key, create_key, keys_t, list_keys, revoke_key, signing_key_prefix
from halo_platform.core.definitions import STORE
from halo_platform.core.errors import HaloError
from halo_platform.core.settings import get_settings
from halo_platform_tests.fixtures.ports import closed_port
from halo_platform_tests.test_spec_review_5 import halo


def test_an_expired_key_frees_its_name_for_a_new_key(halo_env) -> None:
    """access.md: an expired key is refused like a revoked one, and `halo keys list` shows it
    `expired`; yet `halo keys create exp1` answered "an active key named 'exp1' exists; revoke it
    first", for a key that is not active. The new key takes the name (its webhooks are signed with
    its secret, `halo keys revoke` revokes it); the expired one stays listed, still refused."""
    old = create_key(STORE, "exp1", ["admin"], expires=dt.date.today() + dt.timedelta(days=2))
    with STORE.write() as conn:
        conn.execute(keys_t.update().values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)))
    assert check_key(STORE, old).refused == "API key expired"

    exit_code, out, err = halo("keys", "create", "exp1", "--scope", "admin", env=halo_env)
    assert (exit_code, err) == (0, []), err
    new = out.strip()
    assert check_key(STORE, new).name == "exp1" and check_key(STORE, old).refused == "API key expired"
    assert signing_key_prefix(STORE, "exp1") == new.split("_")[1]
    assert len(list_keys(STORE)) == 2

    revoke_key(STORE, "exp1")
    assert check_key(STORE, new).refused == "API key revoked"
    with STORE.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(keys_t.c.revoked_at.is_not(None))).scalar() == 1


@pytest.mark.parametrize(("url", "says"), [
    ("foo", "the operational store's URL (HALO_DB_URL) is not one SQLAlchemy can use (ArgumentError)"),
    ("mysql://root@127.0.0.1:3306/halo", "the operational store's URL (HALO_DB_URL) needs the driver MySQLdb, which is not installed; "
                                         "name an installed one (postgresql+psycopg://, mysql+pymysql://)"),
])
def test_halo_serve_refuses_a_store_url_it_cannot_use_in_one_line(halo_env, url, says) -> None:
    """`HALO_DB_URL=foo halo serve` started, logged nothing, and answered every request, `/health`
    included, 422: a monitoring probe saw a client error from a service that can serve nothing."""
    with closed_port() as port:  # held: a serve past its checks fails at once (cannot listen), not at the timeout
        exit_code, out, err = halo("serve", "--port", str(port), env={**halo_env, "HALO_DB_URL": url}, timeout=60)
    assert (exit_code, out, err) == (2, "", [f"error: {says}"])


@pytest.mark.parametrize("args", [["keys", "list"], ["serve", "--port", "1"]])
def test_a_dotenv_line_that_is_not_name_equals_value_is_one_line_naming_the_file_and_line(halo_env, tmp_path, args) -> None:
    """A `.env` line without `=` (`HALO_DB_URL postgresql://...`) was only python-dotenv's warning
    "could not parse statement starting at line 2", naming no file, and the command went on with
    the default SQLite store, exit 0: a typo silently pointed the platform at another database.
    The line is not repeated: it may hold a password."""
    env = {name: value for name, value in halo_env.items() if name != "HALO_DB_URL"}
    (tmp_path / ".env").write_text("HALO_ALERTS=alerts\nHALO_DB_URL postgresql://x:secret@db/halo\n")
    exit_code, out, err = halo(*args, env=env, cwd=tmp_path, timeout=60)
    assert (exit_code, out, err) == (2, "", [f"error: {tmp_path / '.env'}: line 2 is not NAME=value"])


@pytest.mark.parametrize("raw", ["lots", "512", "0MB", "1,5GB", "+1GB", "1PB", "-1GB"])
def test_a_duckdb_memory_limit_duckdb_cannot_read_is_one_error_naming_it(raw) -> None:
    """HALO_DUCKDB_MEMORY_LIMIT=lots was found only when a report ran, which failed with DuckDB's
    "Parser Error: Memory must have a number", naming no setting (`0MB` failed with Out of Memory)."""
    with pytest.raises(HaloError) as caught:
        get_settings({"HALO_DUCKDB_MEMORY_LIMIT": raw})
    assert str(caught.value) == f"HALO_DUCKDB_MEMORY_LIMIT must be a size such as 512MB or 2GiB (KB, MB, GB, TB, KiB, MiB, GiB, TiB), got {raw!r}"


@pytest.mark.parametrize(("raw", "limit"), [("", "512MB"), ("2GiB", "2GiB"), ("1.5 gb", "1.5 gb"), ("100KB", "100KB")])
def test_a_duckdb_memory_limit_with_a_unit_is_read_as_given(raw, limit) -> None:
    assert get_settings({"HALO_DUCKDB_MEMORY_LIMIT": raw}).duckdb_memory_limit == limit
