"""Exactly once per sink: a run that failed on its SFTP sink (a wrong password), re-executed from
the failure with Dagster's public re-execution API once the password is fixed, delivers to the
SFTP sink only; the folder and FTP sinks, which had the file, receive nothing again. Re-executing
it once more delivers nothing at all. `task_deliveries` (per root request) decides."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from halo_platform.reports.audit import get_request
from halo_platform.reports.requests import create_request, dagster_instance
from halo_platform_tests.reports.test_reconciliation import seed_two_servers

FILE = "payment_reconciliation_2024-03-04_2024-03-11.csv"
PAYLOAD = {"period_start": "2024-03-04", "period_end": "2024-03-11"}


def payment_reconciliation_job() -> dg.JobDefinition:
    from halo_platform.definitions import defs

    return defs.resolve_job_def("payment_reconciliation_job")


def _reexecute(store, instance: dg.DagsterInstance, options: dg.ReexecutionOptions) -> dict:  # noqa: ANN001
    with dg.execute_job(dg.reconstructable(payment_reconciliation_job), instance, reexecution_options=options,
                        raise_on_error=False) as result:
        return get_request(store, result.run_id)


def test_a_re_execution_after_an_sftp_failure_delivers_to_sftp_only_and_once(
        warehouses, halo_env, sinks_file, ftp_server, sftp_server, store):
    seed_two_servers(warehouses)
    outbox = Path(halo_env["HALO_HOME"]) / "outbox"
    sinks = {
        "outbox": {"kind": "folder", "path": str(outbox)},
        "partner_ftp": {"kind": "ftp", "host": "127.0.0.1", "port": ftp_server.port, "username": ftp_server.username,
                        "password": ftp_server.password, "remote_dir": "/inbound"},
        "partner_sftp": {"kind": "sftp", "host": sftp_server.host, "port": sftp_server.port, "username": sftp_server.username,
                         "password": "wrong", "remote_dir": "/inbound", "known_hosts_path": str(sftp_server.known_hosts_path)},
    }
    sinks_file(sinks)
    failed = create_request(store, "payment_reconciliation", PAYLOAD, sinks=list(sinks), wait=True)
    assert failed["status"] == "FAILED"
    assert [(d["sink"], d["status"]) for d in failed["deliveries"]] == [
        ("outbox", "DELIVERED"), ("partner_ftp", "DELIVERED"), ("partner_sftp", "FAILED")]
    assert len(ftp_server.uploads.snapshot()) == 1 and (outbox / FILE).exists()
    (outbox / FILE).unlink()  # were the folder sink sent the file again, it would be back

    sinks["partner_sftp"]["password"] = sftp_server.password  # the fix
    sinks_file(sinks)
    instance = dagster_instance()
    retry = _reexecute(store, instance, dg.ReexecutionOptions.from_failure(failed["request_id"], instance))
    assert (retry["status"], retry["trigger"], retry["root_request_id"]) == ("SUCCEEDED", "retry", failed["request_id"])
    assert [(d["sink"], d["status"], d["attempts"]) for d in retry["deliveries"]] == [("partner_sftp", "DELIVERED", 1)]
    assert (sftp_server.root / "inbound" / FILE).exists()
    assert not (outbox / FILE).exists() and len(ftp_server.uploads.snapshot()) == 1
    assert sorted(retry["outputs"]) == sorted([*failed["outputs"], f"sftp://127.0.0.1:{sftp_server.port}/inbound/{FILE}"])

    sftp_writes = len([e for e in sftp_server.events.snapshot() if e.op == "write"])
    again = _reexecute(store, instance, dg.ReexecutionOptions(parent_run_id=failed["request_id"],
                                                       step_selection=["payment_reconciliation"]))
    assert (again["status"], again["deliveries"]) == ("SUCCEEDED", [])
    assert len([e for e in sftp_server.events.snapshot() if e.op == "write"]) == sftp_writes
    assert not (outbox / FILE).exists() and len(ftp_server.uploads.snapshot()) == 1
    assert get_request(store, failed["request_id"])["status"] == "FAILED"
