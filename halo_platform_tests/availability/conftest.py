"""Fixtures of the availability tests: the store is injected into the functions under test."""

from collections.abc import Iterator

import pytest

from halo_platform.core.definitions import STORE
from halo_platform.core.store import StoreResource


def _opened(url: str) -> Iterator[StoreResource]:
    resource = StoreResource(db_url=url)
    yield resource
    resource.dispose()


@pytest.fixture
def store(halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    """The isolated platform's SQLite store."""
    yield from _opened(halo_env["HALO_DB_URL"])


@pytest.fixture
def pg_store(halo_env, migrated_pg_url) -> Iterator[StoreResource]:  # noqa: ANN001, ARG001
    """A store on a PostgreSQL database of its own (the landing zone still under HALO_HOME)."""
    yield from _opened(migrated_pg_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request, halo_env, monkeypatch) -> Iterator[StoreResource]:  # noqa: ANN001
    """SQLite, then PostgreSQL. The CLI takes its store from the domain's definitions (the
    environment's URL), so the PostgreSQL URL is also set for it."""
    url = halo_env["HALO_DB_URL"]
    if request.param == "postgresql":
        url = request.getfixturevalue("migrated_pg_url")
        monkeypatch.setenv("HALO_DB_URL", url)
    yield from _opened(url)


@pytest.fixture(autouse=True)
def _shared_store_disposed() -> Iterator[None]:
    """The shared STORE (used by the CLI) keeps its engine between uses: closed after each
    test, so the next test's environment URL is read again."""
    yield
    STORE.dispose()
