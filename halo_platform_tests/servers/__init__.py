"""Real protocol servers on 127.0.0.1 for the test suite, one module per protocol.

Each server is a plain object (host, port, credentials, what it received, failure
switches) started once per session by halo_platform_tests/fixtures/servers.py and
`reset()` before every test, so switches and records never leak between tests.
"""
