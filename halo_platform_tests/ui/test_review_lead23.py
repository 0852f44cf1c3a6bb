"""A Control Center page refused for a broken configuration file names the file, not the server's
path to it, as the API's answers do (`core.http.public_error`); the server's log keeps the path."""

from __future__ import annotations

import logging

import pytest

from halo_platform.access import users
from halo_platform.core.store import StoreResource
from halo_platform.http import create_app
from halo_platform_tests.fixtures.access import signed_in_client

PASSWORD = "a long enough password 23"


@pytest.fixture
def viewer(halo_env):  # noqa: ANN001
    store = StoreResource(db_url=halo_env["HALO_DB_URL"])
    users.create_user(store, "vera", "viewer", PASSWORD)
    yield signed_in_client(create_app({"store": store}), "vera", PASSWORD)
    store.dispose()


def test_a_page_refused_for_a_broken_feeds_file_names_the_file_not_its_server_path(viewer, tmp_path, monkeypatch, caplog) -> None:  # noqa: ANN001
    secret_dir = tmp_path / "srv-private-dir"
    secret_dir.mkdir()
    (secret_dir / "emr_feeds.yaml").write_text("feeds:\n  hl7: {format: hl7\n")
    monkeypatch.setenv("HALO_FEEDS_FILE", str(secret_dir / "emr_feeds.yaml"))
    with caplog.at_level(logging.INFO):
        page = viewer.get("/ui/availability")
    assert page.status_code == 422, page.text[:300]
    assert "emr_feeds.yaml: invalid YAML" in page.text
    assert "srv-private-dir" not in page.text
    assert "srv-private-dir" in caplog.text  # the log keeps where the file is
