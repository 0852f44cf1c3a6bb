from collections.abc import Iterator

import pytest

from halo_platform.core.store import StoreResource
from halo_platform.http import create_app


@pytest.fixture
def store(halo_env) -> Iterator[StoreResource]:  # noqa: ANN001
    """The isolated platform's store (SQLite under a tmp HALO_HOME)."""
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    yield store
    store.dispose()


@pytest.fixture
def app(store):  # noqa: ANN001, ANN201
    """The HTTP service over the isolated store (sandbox providers and sinks of the default config)."""
    from halo_platform.delivery.resources import ProvidersResource
    from halo_platform.sinks import SinksResource

    providers = ProvidersResource()
    yield create_app({"store": store, "providers": providers, "sinks": SinksResource()})
    providers.close()
