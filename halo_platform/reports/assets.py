"""The one factory: a `Task` declaration -> a Dagster asset (with its checks) and a job.

(No `from __future__ import annotations` here: the asset's `config` parameter is
annotated with the task's own Config class, which Dagster reads at definition time.)
"""

import datetime as dt
import json
import os
import re
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic_core import to_jsonable_python

from halo_platform.alerts.sensors import ALERT_ON_WARN, NO_ALERT_FOR_RUN
from halo_platform.core.errors import MAX_RETRIES_TAG, HaloError, fail_once
from halo_platform.core.failures import masked
from halo_platform.core.redact import mask_text
from halo_platform.core.settings import get_settings
from halo_platform.core.store import StoreResource
from halo_platform.core.warehouses import WarehousesResource, quote_identifier
from halo_platform.reports import audit, rearm
from halo_platform.reports.task import RunContext, Task, TaskCheck, get_task, launchpad_config
from halo_platform.sinks import Delivery, DeliveryOutcome, SinksResource
from halo_platform.sinks.base import name_of_title

DEFAULT_TIMEZONE = "Asia/Jakarta"
GROUP = "reports"
_PARAM = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def job_name(task_name: str) -> str:
    return f"{task_name}_job"


def run_tags(task: Task, trigger: str, requested_by: str | None, payload: Mapping[str, Any],
             idempotency_key: str | None = None) -> dict[str, str]:
    """Tags of a task request's run (the job's own tags come on top)."""
    # shown in the Dagster UI: masked as log lines are, before it is cut (a cut address escapes the masks)
    tags = {"halo/task": task.name, "halo/trigger": trigger, "halo/payload": mask_text(json.dumps(payload, sort_keys=True))[:1000]}
    if requested_by:
        tags["halo/requested_by"] = requested_by
    if idempotency_key is not None:
        tags[audit.KEY_TAG] = idempotency_key
    return tags


def run_config(task: Task, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The run config of a request: the payload validated, in its wire form (dates and money as text)."""
    return {"ops": {task.name: {"config": task.wire_payload(payload)}}}


def run_payload(task_name: str, run: dg.DagsterRun) -> dict[str, Any]:
    """The payload a run of the task was given (its run config) as a request of that payload records
    it (`Task.wire_payload`: the fields given, in their wire form), whoever writes its audit row first
    (the asset, a run-status sensor) and whatever started it (the launchpad, a schedule, the API);
    as given when it does not fit the task (the run fails on it) or the task is gone."""
    given = ((run.run_config or {}).get("ops") or {}).get(task_name, {}).get("config") or {}
    try:
        return get_task(task_name).wire_payload(given)
    except HaloError:
        return dict(given)


def deliver_all(sinks: SinksResource, names: list[str], delivery: Delivery) -> list[DeliveryOutcome]:
    """Deliver to every sink independently: one failing (even unusable) never stops the others.
    Each sink is tried with the sinks resource's retry policy (default: the settings
    `HALO_SINK_ATTEMPTS`, `HALO_SINK_BACKOFF`)."""
    outcomes = []
    for name in names:
        try:
            sinks.get(name)
        except Exception as exc:  # noqa: BLE001 - a misconfigured sink is that sink's failure
            outcomes.append(DeliveryOutcome(name, "FAILED", 0, [], f"unusable: {exc}", permanent=True))
            continue
        outcomes.append(sinks.deliver(name, delivery))
    return outcomes


def deliver_once(store: StoreResource, sinks: SinksResource, names: list[str], delivery: Delivery, request_id: str,
                 root_request_id: str) -> tuple[list[DeliveryOutcome], dict[str, list[str]]]:
    """Deliver to the sinks that do not have the request's output yet: a retry or re-execution
    (same root request) never sends a sink the file twice, also when another one runs at the same
    time (it waits for the other's delivery to that sink: `audit.claim_sink`). Each outcome is
    recorded as soon as it is known. Returns (outcomes now, {sink: targets} delivered before)."""
    outcomes, earlier = [], {}
    for name in names:
        if (targets := audit.claim_sink(store, root_request_id, name, request_id)) is not None:
            earlier[name] = targets
            continue
        (outcome,) = deliver_all(sinks, [name], delivery_for(delivery, root_request_id, name))
        audit.record_deliveries(store, request_id, [outcome])
        outcomes.append(outcome)
    return outcomes, earlier


def delivery_for(delivery: Delivery, root_request_id: str, sink: str) -> Delivery:
    """`delivery` as it goes to `sink`: its key names the request (the root of its re-executions)
    and the sink, so a receiver that deduplicates by it keeps one copy of a delivery sent again."""
    return replace(delivery, key=f"{root_request_id}/{sink}")


def duckdb_connection(workdir: Path):  # noqa: ANN201
    """A DuckDB database file in the run's work folder, capped at `HALO_DUCKDB_MEMORY_LIMIT`
    (default 512MB) with 2 threads: past the cap, loaded tables are evicted to the file and
    operators spill to the work folder, so memory stays bounded whatever the row counts.
    (An in-memory database cannot evict its tables: it fails past the cap instead.)

    Its time zone is UTC for every cursor: DuckDB takes the machine's otherwise, and a timestamp
    with time zone came out of a csv as `23:30:00+07` on one machine and `16:30:00+00` on another
    (and a transform's `CAST(... AS DATE)` of it gave another day)."""
    import duckdb

    config = {
        "memory_limit": get_settings().duckdb_memory_limit,
        "threads": min(2, os.cpu_count() or 1),
        "preserve_insertion_order": False,  # outputs are ORDERed explicitly
        "temp_directory": str(workdir / "spill"),
        # a work file read once: compressing what is evicted to it costs a third of the loads' CPU
        "force_compression": "uncompressed",
    }
    con = duckdb.connect(str(workdir / "report.duckdb"), config=config)
    con.execute("SET GLOBAL TimeZone = 'UTC'")
    return con


def load_queries(con, warehouses: WarehousesResource, task: Task, payload: Mapping[str, Any]) -> dict:  # noqa: ANN001
    """Run the task's queries at once (each waits on its own server) into their DuckDB tables.

    One DuckDB cursor per load: a cursor is a connection of its own to the same database."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, len(task.queries)), thread_name_prefix="halo-load") as pool:
        futures = {
            table: pool.submit(warehouses.load, con.cursor(), table, q.warehouse, q.sql, q.params(payload))
            for table, q in task.queries.items()
        }
        loaded = {table: future.result() for table, future in futures.items()}
    # The batches are in DuckDB now: hand Arrow's freed buffers back to the OS before DuckDB
    # (another allocator) needs memory for the transform, or both peaks add up in the RSS.
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    return loaded


OUTPUT_BATCH_ROWS = 100_000
# The DuckDB types an xlsx cell holds as such (number, boolean, date, text); any other (BLOB, TIME,
# TIME WITH TIME ZONE, INTERVAL, UUID, lists, structs, ...) is written as DuckDB's text of it, the
# text the csv has: a BLOB failed the write, a TIME WITH TIME ZONE lost its offset.
_XLSX_NATIVE = re.compile(r"BOOLEAN|U?(TINYINT|SMALLINT|INTEGER|BIGINT)|HUGEINT|FLOAT|DOUBLE|DECIMAL\(.*\)|DATE"
                          r"|TIMESTAMP(_S|_MS|_NS| WITH TIME ZONE)?|VARCHAR|ENUM\(.*\)")


def _result_select(con, cast) -> str:  # noqa: ANN001
    """`SELECT` of table `result` with each column `cast(duckdb_type)` names (a type) cast to it."""
    items = []
    for name, kind, *_ in con.execute("DESCRIBE result").fetchall():
        quoted = quote_identifier(name)
        target = cast(kind)
        items.append(f"CAST({quoted} AS {target}) AS {quoted}" if target else quoted)
    return f"SELECT {', '.join(items)} FROM result"  # noqa: S608 - names quoted


def _parquet_type(kind: str) -> str | None:
    # DuckDB writes a HUGEINT (a sum of BIGINTs) to parquet as a DOUBLE: 2^53 + 1 lost its last digit.
    # As DECIMAL(38,0) it keeps them all; a value of 39 digits fails the write rather than being rounded.
    # A column of DuckDB's NULL type (an empty result from SQLite, which keeps no column types) was a
    # parquet `null` column where a week with rows has `string`: the weekly files had two schemas.
    return {"HUGEINT": "DECIMAL(38,0)", "UHUGEINT": "DECIMAL(38,0)", '"NULL"': "VARCHAR"}.get(kind)


def _xlsx_type(kind: str) -> str | None:
    return None if _XLSX_NATIVE.fullmatch(kind) else "VARCHAR"


def write_output(con, path: Path, fmt: str) -> dict[str, Any]:  # noqa: ANN001
    """Write DuckDB table `result` to `path`, streamed: csv and parquet by DuckDB's `COPY`, xlsx
    as Arrow batches into `reports.xlsx` (a sheet per 1,048,576 rows, Excel's limit); no format
    holds the rows in Python. Returns what the run's metadata should say about the file.

    Rows come out in the table's order (the transform's ORDER BY): the connection may reorder
    scans for the loads' sake (`preserve_insertion_order` off), never for the output. The csv is
    DuckDB's text of every value, unaltered (a text starting with `=` stays as it is: csv is data)."""
    from halo_platform.reports.xlsx import write_xlsx

    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute("SET preserve_insertion_order = true")
    quoted = str(path).replace("'", "''")
    if fmt == "csv":
        con.execute(f"COPY result TO '{quoted}' (FORMAT CSV, HEADER)")
    elif fmt == "parquet":
        # DuckDB writes a column its statistics prove NULL-free as `required` (arrow `not null`): an
        # empty week's file declared every column NOT NULL, a week with a NULL payment_id did not, and
        # the weekly files had two schemas. Without those statistics every column is `optional`.
        con.execute("SET disabled_optimizers = 'statistics_propagation'")
        con.execute(f"COPY ({_result_select(con, _parquet_type)}) TO '{quoted}' (FORMAT PARQUET)")
    else:
        reader = con.sql(_result_select(con, _xlsx_type)).to_arrow_reader(OUTPUT_BATCH_ROWS)
        return write_xlsx(reader, reader.schema, path)
    return {}


def _params(sql: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload values a task's SQL names (`$name`)."""
    return {name: payload[name] for name in set(_PARAM.findall(sql))}


def _transform(con, task: Task, payload: Mapping[str, Any]) -> None:  # noqa: ANN001
    """Make DuckDB table `result`: from the task's SQL, its stages of SQL (the last one is the
    result), or its function."""
    if isinstance(task.transform, str | Mapping):
        stages = list(task.transform.items()) if isinstance(task.transform, Mapping) else [("result", task.transform)]
        for number, (table, sql) in enumerate(stages, 1):
            # stages in temporary storage: nothing for them to write to the database file
            made = 'TABLE "result"' if number == len(stages) else f'TEMP TABLE "{table}"'
            con.execute(f"CREATE {made} AS {sql}", _params(sql, payload))  # noqa: S608 - task code, not input
        return
    produced = task.transform(con, payload)
    con.register("_halo_result", produced)
    con.execute("CREATE TABLE result AS SELECT * FROM _halo_result")
    con.unregister("_halo_result")


def _run_context(tags: Mapping[str, str], requested_at: dt.datetime | None = None) -> RunContext:
    """A schedule's tick in its timezone; else when the request was made (`requested_at`, now
    without it). A payload's defaults (`today`, the previous week) resolve at that time: a retry
    or a re-execution, days later, reports what its request asked for, not another day."""
    tick = tags.get("halo/tick")
    now = dt.datetime.fromisoformat(tick) if tick else requested_at or dt.datetime.now(dt.UTC)
    return RunContext(now=now, timezone=tags.get("halo/timezone") or DEFAULT_TIMEZONE)


def _trigger(run: dg.DagsterRun) -> str:
    if run.parent_run_id:
        return "retry"
    return run.tags.get("halo/trigger") or "manual"


@dataclass
class Report:
    """What a run produced before delivery."""

    path: Path
    row_count: int
    counts: dict[str, int]  # of the file's rows, by the task's count_by
    found: dict[str, int]  # of the transform's rows, alerts sent within rearm_hours included: what checks judge
    rows: list[dict]  # the first rows, for the task's message
    metadata: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    unjudged: list[str] = field(default_factory=list)  # rows the task could not judge (`Task.unjudged`)
    failing: dict[str, list[str]] = field(default_factory=dict)  # check -> the rows failing it (`TaskCheck.failing`)


def build_report(context, task: Task, resolved: Mapping[str, Any], warehouses: WarehousesResource,  # noqa: ANN001
                 out_dir: Path, marks: rearm.AlertMarks | None = None) -> Report:
    """Queries into DuckDB, the transform, the output file; nothing is delivered yet.
    With `marks`, a task with a `rearm_key` leaves out the alerts sent within `rearm_hours`."""
    with tempfile.TemporaryDirectory(prefix=f"halo_{task.name}_") as workdir:
        con = duckdb_connection(Path(workdir))
        try:
            metadata: dict[str, Any] = {}
            timings: dict[str, float] = {}
            mark = time.perf_counter()
            for table, loaded in load_queries(con, warehouses, task, resolved).items():
                context.log.info(f"{table}: {loaded.rows} rows from {task.queries[table].warehouse}"
                                 f" in {loaded.seconds:.2f}s ({loaded.driver})")
                metadata[f"rows_{table}"] = loaded.rows
                timings[f"load_{table}"] = round(loaded.seconds, 3)
            timings["load_all"] = round(time.perf_counter() - mark, 3)
            mark = time.perf_counter()
            _transform(con, task, resolved)
            found = _counts(con, task)
            failing = {c.name: [str(text) for (text,) in con.execute(c.failing).fetchall()] for c in task.checks if c.failing}
            unjudged = ([str(text) for (text,) in con.execute(task.unjudged, _params(task.unjudged, resolved)).fetchall()]
                        if task.unjudged else [])
            if task.rearm_key and marks is not None:
                metadata["rearm_left_out"] = rearm.apply(con, marks, task.name, task.rearm_key,
                                                         float(resolved.get("rearm_hours") or 0))
            timings["transform"] = round(time.perf_counter() - mark, 3)
            row_count = con.execute("SELECT count(*) FROM result").fetchall()[0][0]
            counts = _counts(con, task) if metadata.get("rearm_left_out") else found
            # the stem may hold payload text (`order_counts_{status}`): its `/` are `_`, never folders (a
            # status `/../../x` wrote the file outside HALO_HOME), so the file stays in the request's folder
            path = out_dir / name_of_title(f"{task.file_stem(resolved)}.{task.format_of(resolved)}")
            mark = time.perf_counter()
            metadata.update(write_output(con, path, task.format_of(resolved)))
            timings["write"] = round(time.perf_counter() - mark, 3)
            rows = []
            if task.message:
                first = con.execute("SELECT * FROM result LIMIT 1000")
                names = [d[0] for d in first.description]
                rows = [dict(zip(names, r, strict=True)) for r in first.fetchall()]
        finally:
            con.close()
    return Report(path, row_count, counts, found, rows, metadata, timings, unjudged, failing)


_UNJUDGED_NAMED = 20


def _rows_named(rows: list[str]) -> str:
    """`rows` in one line: the first `_UNJUDGED_NAMED` of them, then how many more."""
    more = f"; and {len(rows) - _UNJUDGED_NAMED} more" if len(rows) > _UNJUDGED_NAMED else ""
    return "; ".join(rows[:_UNJUDGED_NAMED]) + more


def _unjudged_error(task_name: str, unjudged: list[str]) -> str:
    """One line naming the rows a task could not judge."""
    return f"{task_name}: {len(unjudged)} row(s) could not be judged: {_rows_named(unjudged)}"


def failed_check_said(check: TaskCheck, counts: Mapping[str, int], failing: list[str] | None) -> str:
    """A failed task check in words: the rows failing it, else what it asks and the counts."""
    if failing:
        return f"{len(failing)} row(s) failing {check.name}: {_rows_named(failing)}"
    return f"{check.description} counts: {', '.join(f'{k} {n}' for k, n in counts.items()) or 'none'}"


def _counts(con, task: Task) -> dict[str, int]:  # noqa: ANN001
    """The result's rows by the task's `count_by` column (none without one)."""
    if not task.count_by:
        return {}
    grouped = con.execute(f'SELECT "{task.count_by}", count(*) FROM result GROUP BY 1 ORDER BY 1')  # noqa: S608
    return {str(k): int(v) for k, v in grouped.fetchall()}


def run_task(
    context: dg.AssetExecutionContext,
    task: Task,
    payload: dict[str, Any],
    store: StoreResource,
    warehouses: WarehousesResource,
    sinks: SinksResource,
) -> dg.MaterializeResult:
    """Queries -> DuckDB -> transform -> checks -> file -> sinks, recording every state change:
    BLOCKED when a blocking check fails (nothing delivered), SKIPPED_NO_DATA when the task sends
    nothing for an empty result, SUCCEEDED when every sink has the file, FAILED otherwise.

    `payload` is the wire form, every field (the run's Config); the task works on typed values."""
    run = context.run
    request_id = run.run_id
    root = audit.root_request(store, run)
    audit_kwargs = {"task": task.name, "payload": run_payload(task.name, run), "trigger": _trigger(run), "root_request_id": root,
                    "requested_by": audit.requester(run.tags)}
    if (recorded := audit.record_run_status(store, run, "RUNNING", **audit_kwargs)) in audit.TERMINAL:
        # a repeat of an idempotent request (its cancel did not reach the webserver, or its submission was
        # answered too late and sent again): it runs never, nor does a retry of it (a new run, a new request row),
        # and its failure is no alert: nothing went wrong
        context.instance.add_run_tags(context.run_id, {NO_ALERT_FOR_RUN: context.run_id})
        fail_once(context, f"request {request_id} is {recorded} already: nothing ran, nothing was delivered")
    try:
        typed = task.validate_payload(payload).model_dump()
        resolved = dict(task.resolve(typed, _run_context(run.tags, audit.requested_at(store, root))))
        sink_names = list(payload.get("sinks") or task.default_sinks)
        # not checked against the sinks file here: a sink unknown or unusable by now (removed since the request or
        # the schedule named it) fails alone when delivered to (deliver_all), the others still get the output
        report = build_report(context, task, resolved, warehouses, get_settings().home / "outputs" / request_id,
                              rearm.AlertMarks(store, root, _run_context(run.tags).now))
        found = report.found  # an over-budget campaign already alerted is still over budget
        blocked_by = [c.name for c in task.checks if c.blocking and not c.passed(found)]
        outcomes: list[DeliveryOutcome] = []
        earlier: dict[str, list[str]] = {}
        if blocked_by:
            status = "BLOCKED"
            context.log.warning(f"blocked by failed check(s) {', '.join(blocked_by)}: nothing delivered")
        elif report.row_count or task.deliver_when_empty:
            status = "SUCCEEDED"
            # the message gets the first rows (`build_report`) and, as `row_count`, how many there are
            text = (task.message(report.rows, {**resolved, "row_count": report.row_count}) if task.message
                    else f"{task.name}: {report.row_count} row(s) {report.counts or ''}")
            mark = time.perf_counter()
            delivery = Delivery(subject=f"{task.name}: {report.path.stem}", text=text, files=[report.path])
            outcomes, earlier = deliver_once(store, sinks, sink_names, delivery, request_id, root)
            report.timings["deliver"] = round(time.perf_counter() - mark, 3)
        else:
            status = "SKIPPED_NO_DATA"
            context.log.info("nothing to report: no delivery")
        for name, targets in earlier.items():
            context.log.info(f"sink {name}: already has request {root}'s output {' '.join(targets)}".rstrip())
        for o in outcomes:
            context.log.info(f"sink {o.sink}: {o.status} after {o.attempts} attempt(s) {o.detail}".rstrip())
        outputs = [t for targets in earlier.values() for t in targets] + [t for o in outcomes for t in o.targets]
        failed = [o for o in outcomes if o.status != "DELIVERED"]
        done = {"outputs": outputs, "row_count": report.row_count,
                "stats": {"counts": report.counts, "resolved_payload": to_jsonable_python(resolved), "file": report.path.name,
                          "seconds": report.timings}}
        if failed:
            error = "delivery failed: " + "; ".join(f"{o.sink}: {o.detail}" for o in failed)
            audit.record_status(store, request_id, "FAILED", **audit_kwargs, **done, error=error)
            # a run retry fails the same way, or sends again what a failed sink has in part or may have (an email
            # the server took for some of its recipients, a Slack post not answered), another sink's failure aside
            if all(o.permanent for o in failed) or any(o.maybe_delivered for o in failed):
                context.instance.add_run_tags(context.run_id, {MAX_RETRIES_TAG: "0"})
            raise dg.Failure(description=error, metadata={"outputs": outputs, "row_count": report.row_count})
        if report.unjudged:  # the rest went out; the same data would fail again: not retried
            error = _unjudged_error(task.name, report.unjudged)
            audit.record_status(store, request_id, "FAILED", **audit_kwargs, **done, error=error)
            fail_once(context, error)
        if blocked_by:  # the same data would block again: the run is not retried
            context.instance.add_run_tags(context.run_id, {MAX_RETRIES_TAG: "0"})
            done["error"] = f"blocked by failed check(s): {', '.join(blocked_by)}"
        audit.record_status(store, request_id, status, **audit_kwargs, **done)
    except dg.Failure:
        raise
    except HaloError as exc:  # e.g. a launchpad payload or sink name that does not fit: failed once, not retried
        audit.record_status(store, request_id, "FAILED", **audit_kwargs, error=str(exc))
        fail_once(context, exc)
    except Exception as exc:
        audit.record_status(store, request_id, "FAILED", **audit_kwargs, error=f"{type(exc).__name__}: {exc}")
        raise
    checks = [
        dg.AssetCheckResult(
            check_name=check.name, passed=bool(check.passed(found)), asset_key=dg.AssetKey(task.name),
            severity=dg.AssetCheckSeverity(check.severity),
            # what the alert of a failed check says (`alerts.sensors.alert_for_failed_check`)
            description=None if check.passed(found) else failed_check_said(check, found, report.failing.get(check.name)),
            # the alerting sensor reads its marker on the result (the check spec's metadata does not reach it)
            metadata={"counts": dg.MetadataValue.json(found), **({ALERT_ON_WARN: True} if check.alert else {})},
        )
        for check in task.checks
    ]
    return dg.MaterializeResult(
        metadata={**report.metadata, "row_count": report.row_count, "counts": dg.MetadataValue.json(report.counts),
                  "payload": dg.MetadataValue.json(to_jsonable_python(resolved)), "outputs": dg.MetadataValue.json(outputs),
                  "file": report.path.name, "seconds": dg.MetadataValue.json(report.timings)},
        check_results=checks,
    )


def build_task(task: Task) -> tuple[dg.AssetsDefinition, Any]:
    """The asset (named after the task, with its checks) and its job `<task>_job`."""
    config_cls = launchpad_config(task.config)

    @dg.asset(
        name=task.name,
        description=task.description,
        group_name=GROUP,
        owners=[task.owner],
        kinds={"duckdb", "python"},
        tags=dict(task.tags),
        check_specs=[
            dg.AssetCheckSpec(c.name, asset=task.name, description=c.description, blocking=c.blocking,
                              metadata={ALERT_ON_WARN: c.alert or c.severity == "ERROR"})
            for c in task.checks
        ],
    )
    @masked
    def _asset(
        context: dg.AssetExecutionContext,
        config: config_cls,
        store: StoreResource,
        warehouses: WarehousesResource,
        sinks: SinksResource,
    ) -> dg.MaterializeResult:
        return run_task(context, task, config.model_dump(mode="json"), store, warehouses, sinks)

    job = dg.define_asset_job(
        job_name(task.name),
        selection=dg.AssetSelection.assets(_asset),
        description=task.description,
        tags={"owner": task.owner, "domain": "reports", "halo/task": task.name, **task.tags},
    )
    return _asset, job
