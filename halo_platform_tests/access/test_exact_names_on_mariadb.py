"""Names people and callers choose (a user's login, an API key's name) are compared byte for byte
on every store: MariaDB's default collation ignores letter case, accents and trailing spaces, so
`ADA`, `ada ` and `adá` signed in as `ada`, `Ada` could not be made next to `ada`, revoking `OPS`
revoked `ops`, and failed logins of `ADA` locked `ada` out."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from halo_platform.access import keys, users
from halo_platform.access.tables import ApiKey, LoginFailure, User
from halo_platform.core.engine import make_engine
from halo_platform.core.errors import HaloError
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource, _alembic_config, migrate
from halo_platform_tests.fixtures.databases import collations

PASSWORD, OTHER_PASSWORD = "correct horse battery", "another horse battery"


@pytest.fixture
def mariadb(fresh_mysql_url) -> Iterator[StoreResource]:  # noqa: ANN001
    store = StoreResource(db_url=fresh_mysql_url)
    yield store
    store.dispose()


def _signed_in_as(store: StoreResource, name: str, password: str, client: str = "10.0.0.1") -> str:
    return users.session(store, users.login(store, name, password, client)).user


@pytest.mark.parametrize("look_alike", ["ADA", "ada ", "adá"])
def test_a_login_in_other_case_accents_or_with_trailing_spaces_signs_nobody_in_on_mariadb(mariadb, look_alike):
    users.create_user(mariadb, "ada", "viewer", PASSWORD)
    with pytest.raises(HaloError, match=users.WRONG_LOGIN):
        users.login(mariadb, look_alike, PASSWORD, "10.0.0.1")
    assert _signed_in_as(mariadb, "ada", PASSWORD) == "ada"


def test_users_whose_names_differ_only_in_case_are_two_users_on_mariadb(mariadb):
    users.create_user(mariadb, "ada", "viewer", PASSWORD)
    users.create_user(mariadb, "Ada", "admin", OTHER_PASSWORD)
    assert [(u["name"], u["role"]) for u in users.list_users(mariadb)] == [("Ada", "admin"), ("ada", "viewer")]
    assert (_signed_in_as(mariadb, "ada", PASSWORD), _signed_in_as(mariadb, "Ada", OTHER_PASSWORD)) == ("ada", "Ada")
    users.disable_user(mariadb, "Ada")
    users.set_password(mariadb, "ada", OTHER_PASSWORD)  # `ada`'s own row: re-enables nobody else
    assert _signed_in_as(mariadb, "ada", OTHER_PASSWORD) == "ada"
    with pytest.raises(HaloError, match=users.WRONG_LOGIN):
        users.login(mariadb, "Ada", OTHER_PASSWORD, "10.0.0.1")


def test_failed_logins_of_a_name_in_other_case_do_not_throttle_the_user_on_mariadb(mariadb):
    users.create_user(mariadb, "ada", "viewer", PASSWORD)
    for _ in range(users.MAX_FAILURES_PER_NAME):
        with pytest.raises(HaloError, match=users.WRONG_LOGIN):
            users.login(mariadb, "ADA", "a wrong password", "10.0.0.66")
    assert _signed_in_as(mariadb, "ada", PASSWORD, client="10.0.0.66") == "ada"  # failures count per name from an address: the same one


def test_keys_whose_names_differ_only_in_case_are_two_keys_on_mariadb(mariadb):
    lower, upper = (keys.create_key(mariadb, name, ["messages:send"]) for name in ("ops", "OPS"))
    assert keys.signing_key_prefix(mariadb, "OPS") == upper.split("_")[1]
    keys.revoke_key(mariadb, "OPS")
    assert (keys.check_key(mariadb, lower).name, keys.check_key(mariadb, upper).refused) == ("ops", "API key revoked")
    assert keys.signing_key_prefix(mariadb, "ops") == lower.split("_")[1]
    with pytest.raises(HaloError, match="no webhook secret"):
        keys.signing_key_prefix(mariadb, "OPS")



EXACT_NAMES = [("api_keys", "active_name"), ("api_keys", "name"), ("login_failures", "name"), ("users", "name")]


def test_the_migration_keeps_stored_names_and_compares_them_exactly_from_then_on_on_mariadb(fresh_mysql_url):
    engine = make_engine(fresh_mysql_url)
    command.upgrade(_alembic_config(engine), "access_0004")
    users_t, keys_t, failures_t = User.__table__, ApiKey.__table__, LoginFailure.__table__
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(users_t.insert().values(name="ada", password_hash="h", role="viewer", created_at=now))
        conn.execute(keys_t.insert().values(name="ops", active_name="ops", prefix="0123456789ab", hash="h", scopes=[], created_at=now))
        conn.execute(failures_t.insert().values(name="Ada ", client="10.0.0.1", at=now))
        assert conn.execute(sa.select(users_t.c.name).where(users_t.c.name == "ADA")).all() == [("ada",)]
    migrate(engine)
    with engine.begin() as conn:
        assert set(collations(conn, EXACT_NAMES).items()) == {(column, "utf8mb4_nopad_bin") for column in EXACT_NAMES}
        assert conn.execute(sa.select(users_t.c.name)).all() == [("ada",)]
        assert conn.execute(sa.select(keys_t.c.name, keys_t.c.active_name)).all() == [("ops", "ops")]
        assert conn.execute(sa.select(failures_t.c.name)).all() == [("Ada ",)]
        for name in ("ada", "ADA", "ada "):
            assert conn.execute(sa.select(users_t.c.id).where(users_t.c.name == name)).all() == ([(1,)] if name == "ada" else [])
    command.downgrade(_alembic_config(engine), "access_0004")
    with engine.begin() as conn:
        assert "utf8mb4_nopad_bin" not in collations(conn, EXACT_NAMES).values()
        assert conn.execute(sa.select(users_t.c.name)).all() == [("ada",)]
    engine.dispose()
