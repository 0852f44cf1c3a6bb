"""Test harness: real servers on 127.0.0.1, shared by every test module.

- fixtures/databases.py: fresh PostgreSQL and MariaDB databases, an isolated HALO_HOME
- fixtures/servers.py: SMTP (aiosmtpd), FTP (pyftpdlib), SFTP (paramiko), S3 (moto), HTTP fakes
"""

pytest_plugins = [
    "halo_platform_tests.fixtures.databases",
    "halo_platform_tests.fixtures.servers",
]
