"""Reports review 20: task requests' idempotency keys when nobody is named as the requester, the
requester's name as given, the audit log of retired tasks, and a task's default sink missing
from the sinks file."""

from __future__ import annotations

import datetime as dt
import functools
import json

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from halo_platform.access import users
from halo_platform.cli import cli
from halo_platform.core.models import utcnow
from halo_platform.core.store import StoreResource, _alembic_config, migrate
from halo_platform.delivery.resources import ProvidersResource
from halo_platform.http import create_app
from halo_platform.reports import audit
from halo_platform.reports.requests import create_request, prepare_request
from halo_platform.reports.schedules import schedules_t, set_schedule
from halo_platform.reports.sensors import evaluate_schedules
from halo_platform.reports.tables import TaskRequest
from halo_platform.sinks import SinksResource
from halo_platform_tests.fixtures.access import authorized_client, signed_in_client
from halo_platform_tests.fixtures.databases import store_at_revision
from halo_platform_tests.reports.conftest import at_once
from halo_platform_tests.reports.test_requests import _request_count

requests_t = TaskRequest.__table__


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def every_store(request, halo_env):  # noqa: ANN001, ANN201
    """The isolated platform's SQLite store, then a PostgreSQL and a MariaDB database of its own."""
    url = halo_env["HALO_DB_URL"] if request.param == "sqlite" else \
        request.getfixturevalue({"postgresql": "migrated_pg_url", "mariadb": "migrated_mysql_url"}[request.param])
    store = StoreResource(db_url=url)
    yield store
    store.dispose()


def test_two_requests_with_one_key_and_no_requester_recorded_at_once_are_one(every_store):
    """Code in process naming no requester is one requester of its own: the unique index on
    (requester, key) took NULL requesters for distinct ones, so two requests recorded at the same
    instant with one key both kept it and both ran. Now one keeps it and the other is told whose
    it is (`KeyTaken`), as for a named requester; another requester's key is still its own."""
    record = functools.partial(audit.record_status, every_store, status="QUEUED", task="campaign_alerts", idempotency_key="k-1")
    errors = at_once([functools.partial(record, request_id=f"r-{i}") for i in range(2)])
    assert [type(e) for e in errors] == [audit.KeyTaken], errors
    kept = audit.find_by_key(every_store, None, "k-1")
    assert errors[0].request["request_id"] == kept["request_id"]
    assert record(request_id="r-ana", requested_by="ana") == "QUEUED"
    assert audit.find_by_key(every_store, "ana", "k-1")["request_id"] == "r-ana"
    assert audit.find_by_key(every_store, "", "k-1")["request_id"] == kept["request_id"]


def test_two_in_process_requests_with_one_key_and_no_requester_run_once(submitting, on_store):
    """`create_request` with no requester, twice at the same instant with one key, to the real
    Dagster webserver: both submitted a run and both were recorded QUEUED, so the report ran twice.
    Now both answer with one request; the other run is canceled as a repeat, on SQLite and PostgreSQL."""
    answers: list[dict] = []
    call = functools.partial(create_request, on_store, "campaign_alerts", {"as_of": "2024-05-10"}, trigger="api",
                             idempotency_key="no-requester-1")
    assert at_once([lambda: answers.append(call()), lambda: answers.append(call())]) == []
    assert len({a["request_id"] for a in answers}) == 1, answers
    with on_store.read() as conn:
        rows = conn.execute(sa.select(requests_t.c.request_id, requests_t.c.status, requests_t.c.idempotency_key)
                            .order_by(requests_t.c.idempotency_key)).all()
    first = answers[0]["request_id"]
    assert (first, "QUEUED", "no-requester-1") in rows and len(rows) <= 2, rows
    assert all(status == "CANCELED" and key is None for request_id, status, key in rows if request_id != first), rows


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def old_store(request, tmp_path):  # noqa: ANN001, ANN201
    """An empty store migrated up to reports_0012, when a key without a requester was nobody's."""
    yield from store_at_revision(request, tmp_path, "reports_0012")


def _row(request_id: str, key: str | None, requested_by: str | None, at: int) -> dict:
    """A request row with the columns the store had before the migration."""
    return {"request_id": request_id, "root_request_id": request_id, "task": "campaign_alerts", "payload": {},
            "trigger": "api", "requested_by": requested_by, "status": "SUCCEEDED", "outputs": [], "stats": {},
            "created_at": utcnow().replace(microsecond=0, second=at), "idempotency_key": key}


def test_the_migration_scopes_keys_and_keeps_the_first_of_a_key_nobody_held_twice(old_store):
    """A store holding requests (keyed by a requester, keyed twice with no requester, as the bug
    let them, without a key) keeps every row: the first of the twice-used key keeps it, the later
    one's key is cleared (its row stays in the audit log); from then on the key is one requester's.
    A downgrade goes back to the (requester, key) index."""
    with old_store.begin() as conn:
        conn.execute(requests_t.insert(), [_row("r-1", "k-1", "ana", 1), _row("r-2", "k-2", None, 2), _row("r-3", "k-2", None, 3),
                                    _row("r-3b", "k-2", "", 3), _row("r-4", None, None, 4), _row("r-5", "k-2", "ana", 5)])
    migrate(old_store)
    with old_store.begin() as conn:
        assert conn.execute(sa.select(requests_t.c.request_id, requests_t.c.idempotency_key, requests_t.c.idempotency_scope)
                            .order_by(requests_t.c.request_id)).all() == [
            ("r-1", "k-1", "ana"), ("r-2", "k-2", ""), ("r-3", None, None), ("r-3b", None, None), ("r-4", None, None), ("r-5", "k-2", "ana")]
    with pytest.raises(sa.exc.IntegrityError), old_store.begin() as conn:
        conn.execute(requests_t.insert().values({**_row("r-6", "k-2", None, 6), "idempotency_scope": ""}))
    command.downgrade(_alembic_config(old_store), "reports_0012")
    with old_store.begin() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(requests_t)).scalar() == 6
    with pytest.raises(sa.exc.IntegrityError), old_store.begin() as conn:
        conn.execute(requests_t.insert().values(_row("r-6", "k-1", "ana", 6)))


@pytest.mark.parametrize("who", [" ana", "ana ", "\u00a0ana"])
def test_a_requester_name_with_blanks_at_its_ends_is_refused_in_one_line(on_store, who):
    """`--requested-by " ana"` was recorded with its blank, and the Requests page's filter (which
    takes `ana` as typed, blanks stripped) never found it. No API key or user is named with blanks
    at its ends (access: `halo keys create`, `halo users create`), so such a requester is refused
    with one line, before anything is queued, as a name no store keeps on one line is."""
    result = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}', "--requested-by", who])
    assert result.exit_code == 2, result.output
    assert result.stderr == f"error: requested_by: {who!r} has blanks at its start or end (a name as the filters find it)\n"
    assert _request_count(on_store) == 0


def test_a_launchpad_run_tagged_with_a_requester_between_blanks_is_recorded_as_the_filter_finds_it():
    """A run launched from the Dagster UI is recorded, not refused: its requester tag is recorded
    without its blanks at the ends, so the Requests page's filter by requester finds it."""
    assert audit.requester({"halo/requested_by": " ana\t"}) == "ana"
    assert audit.requester({"halo/requested_by": "  ", "dagster/user": " bob "}) == "bob"
    assert audit.requester({"halo/requested_by": " "}) is None


RETIRED = "weekly_export"  # a task whose module was removed: no task of the code location has its name


def test_a_retired_tasks_requests_are_found_by_task_in_halo_tasks_log(store):
    """`halo tasks log --task weekly_export` said `unknown task` once the task's module was gone:
    its requests, still in the audit trail, could not be listed by task. A name that is no current
    task is taken when the audit trail holds requests of it; a name of neither is still refused."""
    audit.record_status(store, "r-retired", "SUCCEEDED", task=RETIRED, requested_by="ana")
    audit.record_status(store, "r-current", "SUCCEEDED", task="campaign_alerts", requested_by="ana")
    listed = CliRunner().invoke(cli, ["tasks", "log", "--task", RETIRED])
    assert listed.exit_code == 0, listed.output
    assert "r-retired" in listed.stdout and "r-current" not in listed.stdout
    refused = CliRunner().invoke(cli, ["tasks", "log", "--task", "weekly_exprt"])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: unknown task 'weekly_exprt'; known: "), refused.output
    assert RETIRED in refused.stderr


def test_the_requests_page_offers_and_filters_by_a_retired_task(store):
    """The Requests page's task filter offered the current tasks only, and `?task=weekly_export`
    was refused as an unknown task (422): a retired task's audit rows were not findable by task.
    The filter offers every task of the audit trail too, and filters by it."""
    audit.record_status(store, "r-retired", "SUCCEEDED", task=RETIRED, requested_by="ana")
    audit.record_status(store, "r-current", "SUCCEEDED", task="campaign_alerts", requested_by="ana")
    users.create_user(store, "vera", "viewer", "a long enough password")
    providers = ProvidersResource()
    try:
        viewer = signed_in_client(create_app({"store": store, "providers": providers, "sinks": SinksResource()}), "vera",
                                  "a long enough password")
        offered = viewer.get("/ui/requests")
        filtered = viewer.get("/ui/requests", params={"task": RETIRED})
        unknown = viewer.get("/ui/requests", params={"task": "weekly_exprt"})
    finally:
        providers.close()
    assert offered.status_code == 200 and f'<option value="{RETIRED}"' in offered.text
    assert filtered.status_code == 200, filtered.text
    assert "r-retired" in filtered.text and "r-current" not in filtered.text
    assert unknown.status_code == 422 and "unknown task" in unknown.text


def test_a_task_default_sink_missing_from_the_sinks_file_is_said_to_be_the_servers_configuration(store, sinks_file, tmp_path):
    """With a sinks file that has no `outbox`, a request of campaign_alerts naming no sinks (its
    default is `outbox`) was a 422 on `sinks`, a field the caller never sent. It is the server's
    configuration: a 503 naming the task's default sink and the sinks file it is missing from, and
    the same line from the CLI; nothing is queued. A sink the caller names is still its own 422."""
    path = sinks_file({"archive": {"kind": "folder", "path": str(tmp_path / "archive")}})
    client = authorized_client(create_app())
    url = "/v1/tasks/campaign_alerts/requests"
    answer = client.post(url, json={"payload": {"as_of": "2024-05-10"}})
    def why(file: object) -> str:
        return (f"task campaign_alerts: its default sink 'outbox' is not in the sinks file {file} (HALO_SINKS_FILE); "
                "name the request's sinks, or add it to that file")
    # an API caller reads the file's name, not the server's path to it (core.http.public_error); the CLI runs on the server
    assert (answer.status_code, answer.json()) == (503, {"error": why(path.name), "detail": None}), answer.text
    cli_answer = CliRunner().invoke(cli, ["tasks", "run", "campaign_alerts", "--payload", '{"as_of": "2024-05-10"}'])
    assert (cli_answer.exit_code, cli_answer.stderr) == (2, f"error: {why(path)}\n"), cli_answer.output
    named = client.post(url, json={"payload": {"as_of": "2024-05-10"}, "sinks": ["outbox"]})
    assert named.status_code == 422 and named.json()["detail"][0]["field"] == "sinks", named.text
    assert _request_count(store) == 0


@pytest.mark.parametrize("sinks", [["gone_since"], []])
def test_the_tasks_form_checks_only_the_sinks_it_names_not_the_tasks_defaults(store, sinks_file, tmp_path, sinks):
    """The Control Center's form always names its sinks: a task's default sink missing from the
    sinks file is not its error. A sink gone from the file, or none ticked, is said beside the
    sinks only, with no form-wide error about the default `outbox`."""
    sinks_file({"archive": {"kind": "folder", "path": str(tmp_path / "archive")}})
    users.create_user(store, "otto", "operator", "a long enough password")
    providers = ProvidersResource()
    try:
        operator = signed_in_client(create_app({"store": store, "providers": providers, "sinks": SinksResource()}), "otto",
                                    "a long enough password")
        page = operator.post("/ui/tasks/campaign_alerts", data={"csrf_token": operator.csrf, "as_of": "2024-05-10", "sinks": sinks})
    finally:
        providers.close()
    assert page.status_code == 422, page.text
    assert "default sink" not in page.text and ("unknown sink(s): gone_since" in page.text) == bool(sinks)
    assert _request_count(store) == 0


def test_a_requests_default_sinks_are_checked_against_one_reading_of_the_sinks_file(sinks_file, tmp_path, monkeypatch):
    """The default sinks of a request naming none were looked up in one reading of the sinks file
    and validated in a second: a file rewritten between the two (a deploy) answered 'unknown
    sink(s): outbox', a 422 on `sinks`, a field the caller never sent, for a sink the first
    reading had. The file is read once, and the request is checked against that reading."""
    from halo_platform import sinks

    kept = {"outbox": {"kind": "folder", "path": str(tmp_path / "outbox")}}
    path = sinks_file(kept)
    reads, read_yaml = [], sinks.read_yaml

    def read_then_rewritten(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        reads.append(read_yaml(*args, **kwargs))
        sinks_file({"archive": {"kind": "folder", "path": str(tmp_path / "archive")}})  # the deploy's file
        return reads[-1]

    monkeypatch.setattr(sinks, "read_yaml", read_then_rewritten)
    task, payload = prepare_request("campaign_alerts", {"as_of": "2024-05-10"}, None)
    assert (task.name, payload, reads) == ("campaign_alerts", {"as_of": "2024-05-10"}, [{"sinks": kept}])
    assert "archive" in path.read_text()


@pytest.mark.parametrize(("stored", "why"), [
    ([], "task campaign_alerts: its default sink 'outbox' is not in the sinks file {path} (HALO_SINKS_FILE); "
         "name the schedule's sinks, or add it to that file"),
    (["outbox"], "unknown sink(s): outbox; known: archive"),
])
def test_a_schedule_whose_task_default_sink_is_missing_is_skipped_naming_the_default(halo_env, store, sinks_file, tmp_path,
                                                                                      stored, why):
    """A schedule row with no sinks of its own (`[]` written by hand: every entry point gives a new
    schedule its task's defaults) runs to the task's default sinks. With `outbox`, the default,
    gone from the sinks file, the sensor skipped it with 'unknown sink(s): outbox', as if the
    schedule named a sink that does not exist, and its alert sent the operator looking for one in
    the schedule. The skip now says it is the task's default sink missing from the sinks file; a
    sink the schedule names itself is still an unknown sink."""
    set_schedule(store, "daily", task="campaign_alerts", cron="* * * * *", timezone="UTC", sinks=["outbox"])
    with store.write() as conn:
        conn.execute(schedules_t.update().values(sinks=stored))
    path = sinks_file({"archive": {"kind": "folder", "path": str(tmp_path / "archive")}})
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1, seconds=30)
    runs, cursor = evaluate_schedules(store, now, None)
    assert (runs, json.loads(cursor)["skipped"]) == ([], {"daily": why.format(path=path)})
