"""Review of what report tasks produce and how it reaches people (outputs 7): the Control Center's
download route and the failure alerts."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from halo_platform.access import users
from halo_platform.core.settings import get_settings
from halo_platform.http import create_app
from halo_platform.reports.audit import record_status
from halo_platform.sinks import SinksResource

PASSWORD = "correct horse battery staple"


def _viewer(store) -> TestClient:  # noqa: ANN001
    users.create_user(store, "vera", "viewer", PASSWORD)
    client = TestClient(create_app({"store": store, "sinks": SinksResource()}), raise_server_exceptions=False,
                        follow_redirects=False)
    client.cookies.set("halo_session", users.login(store, "vera", PASSWORD, "test"))
    return client


def test_an_output_number_past_pythons_digit_limit_is_a_404_page_not_a_500(store):
    """`int()` refuses text of more than 4,300 digits (ValueError): an output number of 5,000 nines
    (a mangled link) answered 500 where 4,000 nines answer the 404 page."""
    request_id = "R-digits"
    own = get_settings().home / "outputs" / request_id
    own.mkdir(parents=True)
    (own / "r.csv").write_text("a\n1\n")
    record_status(store, request_id, "QUEUED", task="payment_reconciliation", payload={}, requested_by="vera")
    record_status(store, request_id, "SUCCEEDED", task="payment_reconciliation", outputs=[Path(own / "r.csv").as_uri()])
    client = _viewer(store)
    assert client.get(f"/ui/requests/{request_id}/outputs/0").text == "a\n1\n"
    for digits in (4_000, 5_000, 9_000):
        answer = client.get(f"/ui/requests/{request_id}/outputs/{'9' * digits}")
        assert answer.status_code == 404, digits
        assert "text/html" in answer.headers["content-type"] and "no downloadable output" in answer.text
