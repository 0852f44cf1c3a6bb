"""Test harness: real servers on 127.0.0.1, shared by every test module.

- fixtures/databases.py: fresh PostgreSQL and MariaDB databases, an isolated HALO_HOME
- fixtures/browser.py: Debian's chromium driven by Playwright (screenshots under $HALO_SCREENSHOTS)
- fixtures/access.py: API keys and users for the HTTP service's tests
- fixtures/servers.py: SMTP (aiosmtpd), FTP (pyftpdlib), SFTP (paramiko), S3 (moto), HTTP fakes
- fixtures/dagster_webserver.py: one Dagster webserver for the session (runs submitted as under `halo up`)
"""

import gc
import signal
from collections.abc import Iterator

import pytest

pytest_plugins = [
    "halo_platform_tests.fixtures.databases",
    "halo_platform_tests.fixtures.servers",
    "halo_platform_tests.fixtures.browser",
    "halo_platform_tests.fixtures.access",
    "halo_platform_tests.fixtures.dagster_webserver",
]


@pytest.fixture
def caplog(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """pytest's caplog holding this test's records only. What earlier tests left for the garbage
    collector (a SQLite connection never closed, held in a reference cycle) is collected first, in
    the thread that opened it; collected later, in a server thread of this test, SQLite refused to
    close it there and SQLAlchemy logged that with a traceback, which failed a test asserting its
    own log held none (seen once in CI)."""
    gc.collect()
    return caplog


@pytest.fixture
def keep_sigterm() -> Iterator[None]:
    """`halo tasks run --wait` takes SIGTERM as Ctrl-C for its process: this one's is given back."""
    handler = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, handler)


def pytest_collection_finish(session: pytest.Session) -> None:  # noqa: ARG001 - pytest's hook signature
    """What the imports and the collection made (Dagster, the app, every test module: ~300k
    objects) lives as long as the test process: moved out of the collector's sight, so that each
    full collection, automatic or `caplog`'s, walks only what the tests made since."""
    gc.collect()
    gc.freeze()
