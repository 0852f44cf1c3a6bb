"""Test harness: real servers on 127.0.0.1, shared by every test module.

- fixtures/databases.py: fresh PostgreSQL and MariaDB databases, an isolated HALO_HOME
- fixtures/browser.py: Debian's chromium driven by Playwright (screenshots under $HALO_SCREENSHOTS)
- fixtures/access.py: API keys and users for the HTTP service's tests
- fixtures/servers.py: SMTP (aiosmtpd), FTP (pyftpdlib), SFTP (paramiko), S3 (moto), HTTP fakes
- fixtures/dagster_webserver.py: one Dagster webserver for the session (runs submitted as under `halo up`)
"""

pytest_plugins = [
    "halo_platform_tests.fixtures.databases",
    "halo_platform_tests.fixtures.servers",
    "halo_platform_tests.fixtures.browser",
    "halo_platform_tests.fixtures.access",
    "halo_platform_tests.fixtures.dagster_webserver",
]
