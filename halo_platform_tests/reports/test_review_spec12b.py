"""Spec review 12b of reports.md: sinks, schedules and task requests met with unusual but valid
inputs; each test pins a promise the platform broke."""

from __future__ import annotations

import dagster as dg

from halo_platform.http import create_app
from halo_platform.reports.audit import list_requests
from halo_platform.reports.definitions import defs
from halo_platform.reports.schedules import list_schedules, set_schedule
from halo_platform.sinks import Delivery, SinksResource
from halo_platform_tests.fixtures.access import authorized_client


def test_a_folder_in_the_reports_place_in_a_folder_sink_fails_once_naming_it(sinks_file, tmp_path):
    """A folder named as the report in a folder sink's folder (a partner's, holding their
    files): the rename over it can never work, yet it was taken for a transient error, tried
    three times with backoff (and the run retried for it), and reported as the OS's
    'IsADirectoryError: [Errno 21]' on a temporary name. It is a permanent error naming the
    folder, as on FTP and SFTP, and the folder is left as it was."""
    outbox = tmp_path / "outbox"
    sinks_file({"outbox": {"kind": "folder", "path": str(outbox)}})
    report = tmp_path / "out" / "payment_reconciliation_2024-01-01_2024-01-08.csv"
    report.parent.mkdir()
    report.write_text("order_id,issue\n")
    (outbox / report.name).mkdir(parents=True)
    (outbox / report.name / "partner.txt").write_text("theirs")

    outcome = SinksResource().deliver("outbox", Delivery("r", "t", [report]))

    assert (outcome.status, outcome.attempts, outcome.permanent) == ("FAILED", 1, True), outcome
    assert outcome.detail == f"permanent: {report.name} is a folder, in the place of the file: only a file there is replaced"
    assert sorted(p.name for p in outbox.iterdir()) == [report.name]
    assert (outbox / report.name / "partner.txt").read_text() == "theirs"


def test_an_unknown_sink_in_a_request_is_a_422_naming_the_sinks_field(halo_env, store):
    """A request whose `sinks` (beside the payload or in it) names a sink the sinks file does not
    have was refused with the reason and `"detail": null`, where every other field the schema
    refuses is named in `detail` ({field, reason}), as reports.md asks of the API: a client that
    shows each field's error had none for the sinks. Nothing is queued."""
    client = authorized_client(create_app(), raise_server_exceptions=False)
    reason = "unknown sink(s): nowhere; known: alerts, outbox"
    for body in ({"sinks": ["outbox", "nowhere"]}, {"payload": {"sinks": ["nowhere"]}}):
        answer = client.post("/v1/tasks/campaign_alerts/requests", json=body)
        assert (answer.status_code, answer.json()) == (422, {"error": reason, "detail": [{"field": "sinks", "reason": reason}]})
    assert list_requests(store) == []


def test_a_schedule_edit_with_no_sink_is_refused_not_sent_to_the_tasks_defaults(halo_env, store):
    """The `manage_task_schedule` launchpad edit `sinks: []` (every sink removed) was saved as the
    task's default sinks, without a word: a schedule delivering to `alerts` went to `outbox` from
    its next tick, its history reading sinks ['alerts'] -> ['outbox']. The Control Center refuses
    a schedule with no sink ('pick at least one sink'); so does every entry point now, and the
    schedule is left as it was."""
    set_schedule(store, "daily", task="campaign_alerts", cron="0 7 * * *", timezone="Asia/Jakarta", sinks=["alerts"])
    edit = {"schedule_id": "daily", "cron": "0 9 * * *", "sinks": [], "updated_by": "ana"}
    result = defs.resolve_job_def("manage_task_schedule").execute_in_process(
        run_config={"ops": {"edit_task_schedule": {"config": edit}}}, instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False)
    assert not result.success
    assert result.failure_data_for_node("edit_task_schedule").error.message.strip().endswith("sinks: pick at least one sink")
    (row,) = list_schedules(store)
    assert (row["cron"], row["sinks"]) == ("0 7 * * *", ["alerts"])
