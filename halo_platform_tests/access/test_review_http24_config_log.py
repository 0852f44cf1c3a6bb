"""Review http24: a broken configuration file is logged once per version of it (path, modification
time, size), not once per request, and still refused on each."""

from __future__ import annotations

import logging
import os

from halo_platform_tests.fixtures.access import authorized_client


def _warnings(caplog) -> list[str]:  # noqa: ANN001
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_broken_configuration_file_is_logged_once_per_version_and_refused_each_time(app, tmp_path, monkeypatch, caplog):  # noqa: ANN001
    """A feeds file that is not YAML logged "answered without its server paths: ..." at WARNING on
    every request (three requests, three warnings; a partner polling every second filled the log).
    Each request is still refused with the 422 naming the file; the log names it once per version of
    the file (its path, modification time and size), and again when it is edited and still broken."""
    feeds = tmp_path / "emr_feeds.yaml"
    feeds.write_text("feeds: [acme\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(feeds))
    client = authorized_client(app)
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        answer = client.get("/v1/availability", params={"feed": "acme", "provider_id": "P1"})
        assert answer.status_code == 422 and answer.json()["error"].startswith("emr_feeds.yaml: invalid YAML:"), answer.text
        assert str(tmp_path) not in answer.text
    assert [w for w in _warnings(caplog) if str(feeds) in w] == [f"answered without its server paths: {feeds}: invalid YAML: "
                                                                   "while parsing a flow sequence"]
    caplog.clear()
    feeds.write_text("feeds: [acme, \n")  # edited, still broken the same way: another version
    os.utime(feeds, ns=(feeds.stat().st_atime_ns, feeds.stat().st_mtime_ns + 1_000_000_000))
    for _ in range(2):
        assert client.get("/v1/slots", params={"feed": "acme", "provider_id": "P1"}).status_code == 422
    assert len([w for w in _warnings(caplog) if str(feeds) in w]) == 1, _warnings(caplog)
