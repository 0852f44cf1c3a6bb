"""The store's engine refuses a SQLite library older than the SQL it runs, in one line."""

import pytest

from halo_platform.core import engine
from halo_platform.core.errors import HaloError


def test_a_sqlite_library_too_old_for_the_store_is_refused_in_one_line(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(engine.sqlite3, "sqlite_version_info", (3, 31, 1))  # Ubuntu 20.04's
    monkeypatch.setattr(engine.sqlite3, "sqlite_version", "3.31.1")
    with pytest.raises(HaloError, match=r"^the SQLite library Python uses is 3\.31\.1; the store needs 3\.35\.0 or later"):
        engine.make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    assert not (tmp_path / "ops.db").exists()

