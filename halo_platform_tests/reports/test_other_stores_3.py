"""Reports and alerts on the operational stores other than SQLite: what fits one store must fit the
others (MariaDB's TEXT holds 65,535 bytes, where SQLite and PostgreSQL take any length)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import yaml

from halo_platform.alerts import outbox
from halo_platform.alerts.send import Alert, send_alert
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource
from halo_platform.http import create_app
from halo_platform.reports import audit
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.access import authorized_client
from halo_platform_tests.fixtures.ports import closed_port


@pytest.fixture
def mariadb(halo_env, migrated_mysql_url) -> Iterator[StoreResource]:  # noqa: ANN001, ARG001
    store = StoreResource(db_url=migrated_mysql_url)
    yield store
    store.dispose()


def test_a_long_alert_a_sink_failed_to_take_is_kept_whole_for_its_retry_on_mariadb(mariadb, tmp_path, monkeypatch):
    """The autopilot's alert when a provider serving every country goes down names every rule (its
    title, details, text and JSON record each list them): with 600 rules the record was over 64 kB,
    which MariaDB's TEXT column of `alert_retries` refused ('Data too long'), so the alert a chat
    sink failed to take was logged and lost instead of being sent again."""
    rules = ", ".join(f"sms/C{n:03d}/transactional" for n in range(600))
    alert = Alert(title=f"every provider is down for {rules}", severity="ERROR", job="autopilot_job",
                  error="messages of these rules stay queued until a provider recovers", details={"rules": rules})
    sinks_file = tmp_path / "sinks.yaml"
    with closed_port() as port:
        sinks_file.write_text(yaml.safe_dump({"sinks": {"ops_slack": {"kind": "slack", "webhook_url": f"http://127.0.0.1:{port}/slack"}}}))
        monkeypatch.setenv("HALO_SINKS_FILE", str(sinks_file))
        (outcome,) = send_alert(alert, SinksResource(), to=["ops_slack"], store=mariadb)

    assert outcome.status == "FAILED"  # nothing listens on the webhook's port
    (kept,) = outbox.take_due(mariadb, utcnow() + dt.timedelta(hours=1))
    assert kept.sink == "ops_slack" and len(kept.letter.record.encode()) > 65_535
    assert rules in kept.letter.subject and kept.letter.text.count(rules) == 2 and kept.letter.record.count(rules) == 5


def test_a_request_is_found_by_its_own_id_alone_on_mariadb(mariadb):
    """On MariaDB (default collation: no letter case, accents or trailing spaces) the API and the
    Control Center answered for `ABC-1`, `abc-1 ` and `äbc-1` with the request `abc-1`; on SQLite and
    PostgreSQL, as for any id no request has, the answer is 404."""
    request_id = "abc-1"
    audit.record_status(mariadb, request_id, "QUEUED", task="payment_reconciliation", requested_by="ops")
    audit.record_status(mariadb, request_id, "SUCCEEDED", task="payment_reconciliation")
    with authorized_client(create_app({"store": mariadb})) as client:
        assert client.get(f"/v1/task-requests/{request_id}").json()["status"] == "SUCCEEDED"
        for other in ("ABC-1", "abc-1 ", "äbc-1"):
            assert client.get(f"/v1/task-requests/{other}").status_code == 404, other
    assert [r["request_id"] for r in audit.list_requests(mariadb, requested_by="ops")] == [request_id]
